//===- FusedModule.h - The plan's fused kernels, loaded ---------*- C++ -*-===//
//
// Generates the fused kernels for a set of shapes (FusedKernels.h),
// compiles them for the current GPU through the kernel cache (Jit.h), loads
// the cubin (or PTX, which the driver compiles, for a GPU newer than NVRTC),
// and launches them on a stream (so CUDA graph capture records
// them like any kernel).
//
//===----------------------------------------------------------------------===//

#ifndef DENSENET_RUNTIME_CUDA_FUSEDMODULE_H
#define DENSENET_RUNTIME_CUDA_FUSEDMODULE_H

#include "runtime/cuda/FusedKernels.h"
#include "runtime/cuda/Jit.h"
#include "runtime/cuda/Kernels.h"

#include <cuda_runtime.h>

#include <map>
#include <string>
#include <vector>

namespace densenet::runtime::cuda {

class FusedModule {
public:
  /// Compiles (or finds in `cache`) and loads the kernels of `shapes` for
  /// the current device. Throws PlanError on failure.
  FusedModule(const std::vector<FusedShape> &shapes, const KernelCache &cache);
  ~FusedModule();
  FusedModule(const FusedModule &) = delete;
  FusedModule &operator=(const FusedModule &) = delete;

  /// batchNormForward then relu (Kernels.h): `normalized` is written only
  /// when the shape says so.
  void normRelu(const FusedShape &shape, const DeviceMap &input,
                const float *weight, const float *bias,
                const DeviceMap &normalized, const DeviceMap &rectified,
                float *mean, float *variance, double epsilon,
                cudaStream_t stream) const;
  /// reluBackward then batchNormBackward (Kernels.h): `normalizedGrad`, the
  /// ReLU's output gradient, is written only when the shape says so.
  void reluNormGrad(const FusedShape &shape, const DeviceMap &rectifiedGrad,
                    const DeviceMap &rectified, const DeviceMap &input,
                    const float *weight, const float *mean,
                    const float *variance, const DeviceMap &inputGrad,
                    float *weightGrad, float *biasGrad,
                    const DeviceMap &normalizedGrad, double epsilon,
                    cudaStream_t stream) const;

  /// How the kernels were obtained, for the run's log.
  const CompiledKernels &compiled() const { return image; }
  size_t kernelCount() const { return kernels.size(); }

private:
  const void *kernel(const FusedShape &shape) const;

  CompiledKernels image;
  cudaLibrary_t library = nullptr;
  std::map<std::string, cudaKernel_t> kernels;
};

} // namespace densenet::runtime::cuda

#endif // DENSENET_RUNTIME_CUDA_FUSEDMODULE_H
