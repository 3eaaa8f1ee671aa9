//===- FusedKernels.h - CUDA source of the plan's fused kernels -*- C++ -*-===//
//
// The fused pairs of runtime/backend/Fusion.h as CUDA C++ for NVRTC
// (runtime/cuda/Jit.h), specialized for the plan's shapes: the batch size
// and the plane (h * w) are compile-time constants, so the index arithmetic
// of every element (image and pixel of a flat index) divides by constants.
// The arithmetic is that of Kernels.cu's batch-norm, ReLU and gradient
// kernels, operation for operation, so a fused plan computes the same bits
// as an unfused one. One block per channel, of the shape's thread count,
// fixed reduction order, as there.
//
// Plain host C++: generating the source needs no GPU (tests compile it
// with NVRTC on machines without one).
//
//===----------------------------------------------------------------------===//

#ifndef DENSENET_RUNTIME_CUDA_FUSEDKERNELS_H
#define DENSENET_RUNTIME_CUDA_FUSEDKERNELS_H

#include <cstdint>
#include <string>
#include <vector>

namespace densenet::runtime::cuda {

/// Threads per block of batch norm's per-channel reductions, in the fused
/// kernels and in Kernels.cu's alike (the sums add in a tree over the
/// block's threads, so both must use the same count to give the same
/// bits): 256 unless DENSENET_BN_THREADS says 512 or 1024 (Settings.h). More threads
/// keep more loads in flight per channel; which is faster is the GPU's to
/// say (scripts/gpu-check.sh profiles both).
constexpr int kDefaultReductionThreads = 256;
bool validReductionThreads(int threads);

/// What a fused kernel is specialized for. Map strides stay arguments:
/// they differ from layer to layer, the batch and the plane do not.
struct FusedShape {
  enum Kind { NormRelu, ReluNormGrad } kind = NormRelu;
  /// How the maps' elements are stored (Kernels.h: Storage); the
  /// statistics and parameters are f32 in every case.
  enum StorageKind { F32, BF16, F16 } storage = F32;
  int64_t batch = 0, plane = 0;
  /// Also write the intermediate map (normalized output, or the gradient
  /// the ReLU passes back), because another step reads it.
  bool writeIntermediate = false;
  /// Threads per block (validReductionThreads).
  int threads = kDefaultReductionThreads;

  /// The kernel's name in the generated source.
  std::string name() const;
  bool operator==(const FusedShape &other) const {
    return kind == other.kind && storage == other.storage &&
           batch == other.batch &&
           plane == other.plane &&
           writeIntermediate == other.writeIntermediate &&
           threads == other.threads;
  }
};

/// One translation unit defining a kernel for each shape (duplicates
/// once). The signatures, with `map` the storage type (float, or the 16-bit
/// pattern of a bf16 or f16 value as unsigned short):
///
///   norm_relu_*(const map *input, long long inputStride,
///               const float *weight, const float *bias,
///               map *normalized, long long normalizedStride,
///               map *rectified, long long rectifiedStride,
///               float *mean, float *variance, double epsilon)
///   relu_norm_grad_*(const map *rectifiedGrad, long long rectifiedGradStride,
///                    const map *rectified, long long rectifiedStride,
///                    const map *input, long long inputStride,
///                    const float *weight, const float *mean,
///                    const float *variance,
///                    map *inputGrad, long long inputGradStride,
///                    float *weightGrad, float *biasGrad,
///                    map *normalizedGrad, long long normalizedGradStride,
///                    double epsilon)
///
/// Every map pointer is the map's data (channel 0 of image 0); a stride is
/// the map's imageStride in elements. Launch with one block per channel, of
/// the shape's `threads`.
std::string fusedKernelSource(const std::vector<FusedShape> &shapes);

} // namespace densenet::runtime::cuda

#endif // DENSENET_RUNTIME_CUDA_FUSEDKERNELS_H
