//===- WeightCopy.h - Where low-precision plans round weights ---*- C++ -*-===//
//
// Shared by the compiler, which sizes workspaces, and the runtime, which uses
// them. A low-precision (bf16, f16) plan keeps f32 master weights, but cuDNN
// and cuBLAS multiply operands of one type; so a convolution or classifier
// step of such a plan first rounds its weight into the activation type at the
// start of its workspace (conv2d_grad_filter and linear_grad: receive the
// weight gradient there, linear_grad once its input gradient has used the
// copy, and widen it into the f32 gradient buffer). The kernels' own scratch
// follows the copy. The copy is thus planned memory, live only for its step.
//
//===----------------------------------------------------------------------===//

#ifndef DENSENET_FORMAT_WEIGHTCOPY_H
#define DENSENET_FORMAT_WEIGHTCOPY_H

#include <cstdint>

namespace densenet::format {

/// The kernels' scratch starts this many bytes into the workspace or later.
inline constexpr int64_t kWeightCopyAlignment = 256;

/// Workspace bytes the copy of a weight of `elements` takes, padded.
inline constexpr int64_t weightCopyBytes(int64_t elements,
                                         int64_t elementBytes) {
  int64_t bytes = elements * elementBytes;
  return (bytes + kWeightCopyAlignment - 1) / kWeightCopyAlignment *
         kWeightCopyAlignment;
}

} // namespace densenet::format

#endif // DENSENET_FORMAT_WEIGHTCOPY_H
