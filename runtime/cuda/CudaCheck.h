//===- CudaCheck.h - One checking macro for CUDA library calls --*- C++ -*-===//
//
// Every CUDA runtime, cuDNN, cuBLAS and NCCL call goes through DENSENET_CHECK, which
// turns a failure into a PlanError naming the file, the line and the call
// (DESIGN.md: one checking macro).
//
//===----------------------------------------------------------------------===//

#ifndef DENSENET_RUNTIME_CUDA_CUDACHECK_H
#define DENSENET_RUNTIME_CUDA_CUDACHECK_H

#include "runtime/plan/Plan.h"

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>
#if DENSENET_HAVE_NCCL
#include <nccl.h>
#endif

#include <string>

namespace densenet::runtime::cuda {

inline const char *errorText(cudaError_t status) {
  return cudaGetErrorString(status);
}
inline const char *errorText(cudnnStatus_t status) {
  return cudnnGetErrorString(status);
}
inline const char *errorText(cublasStatus_t status) {
  return cublasGetStatusString(status);
}
#if DENSENET_HAVE_NCCL
inline const char *errorText(ncclResult_t status) {
  return ncclGetErrorString(status);
}
inline bool succeeded(ncclResult_t status) { return status == ncclSuccess; }
#endif
inline bool succeeded(cudaError_t status) { return status == cudaSuccess; }
inline bool succeeded(cudnnStatus_t status) {
  return status == CUDNN_STATUS_SUCCESS;
}
inline bool succeeded(cublasStatus_t status) {
  return status == CUBLAS_STATUS_SUCCESS;
}

template <typename Status>
void check(Status status, const char *call, const char *file, int line) {
  if (!succeeded(status))
    throw PlanError(std::string(file) + ":" + std::to_string(line) + ": " +
                    call + " failed: " + errorText(status));
}

} // namespace densenet::runtime::cuda

#define DENSENET_CHECK(call)                                                   \
  ::densenet::runtime::cuda::check((call), #call, __FILE__, __LINE__)

/// After every kernel launch: a launch that cannot run (a bad configuration,
/// too few resources) is reported only by cudaGetLastError, and would
/// otherwise show as a later call's failure, or as a graph capture
/// invalidated with no hint of the kernel.
#define DENSENET_LAUNCHED() DENSENET_CHECK(cudaGetLastError())

#endif // DENSENET_RUNTIME_CUDA_CUDACHECK_H
