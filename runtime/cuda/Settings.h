//===- Settings.h - The CUDA backend's environment settings -----*- C++ -*-===//
//
// The switches a user or scripts/gpu-check.sh sets for the CUDA backend,
// read once when a backend is made. A value the backend does not know is
// an error that names the variable and what it takes, never a silent
// default. Plain C++, tested on machines without a GPU.
//
//===----------------------------------------------------------------------===//

#ifndef DENSENET_RUNTIME_CUDA_SETTINGS_H
#define DENSENET_RUNTIME_CUDA_SETTINGS_H

#include "runtime/cuda/FusedKernels.h"

#include <functional>

namespace densenet::runtime::cuda {

struct CudaSettings {
  /// DENSENET_FUSION=0: every step runs its own kernel (no fused pairs, no
  /// multi-tensor updates), to compare.
  bool fusion = true;
  /// DENSENET_CUDA_GRAPH=0: the step's kernels run one by one instead of
  /// as a captured CUDA graph.
  bool graphs = true;
  /// DENSENET_TF32=1: f32 plans' convolutions may use TF32 tensor cores
  /// (inputs rounded to 10 mantissa bits, f32 sums), as PyTorch lets cuDNN
  /// by default; off, they compute in f32 like the CPU. The classifier
  /// stays f32 either way, as PyTorch's matmuls do by default.
  bool tf32 = false;
  /// DENSENET_BN_THREADS=256|512|1024: threads per batch-norm channel
  /// block (FusedKernels.h).
  int reductionThreads = kDefaultReductionThreads;

  /// From the process environment. Throws PlanError on a bad value.
  static CudaSettings fromEnvironment();
  /// From `lookup` (a variable's value, or null when unset), for tests.
  static CudaSettings
  from(const std::function<const char *(const char *)> &lookup);
};

} // namespace densenet::runtime::cuda

#endif // DENSENET_RUNTIME_CUDA_SETTINGS_H
