//===- Shapes.h - Spatial shape arithmetic shared by dn and tg -*- C++ -*-===//
//
// One definition of how convolutions, pools and transitions change shapes, so
// the model front end, the dn verifiers, the lowering and the tg verifiers can
// never disagree about a size.
//
//===----------------------------------------------------------------------===//

#ifndef DENSENET_DIALECTS_COMMON_SHAPES_H
#define DENSENET_DIALECTS_COMMON_SHAPES_H

#include <cmath>
#include <cstdint>

namespace densenet {

/// Output extent of a convolution or pooling window along one axis, as in
/// PyTorch (floor mode). Returns a value <= 0 when the window does not fit.
inline int64_t windowOutputSize(int64_t input, int64_t kernel, int64_t stride,
                                int64_t padding) {
  int64_t span = input + 2 * padding - kernel;
  if (span < 0)
    return 0;
  return span / stride + 1;
}

/// Channels leaving a transition layer: floor(channels * compression), the
/// rule of both torchvision (`num_features // 2`) and Huang et al.'s code.
inline int64_t transitionChannels(int64_t channels, double compression) {
  // The epsilon keeps products such as 0.3 * 10 = 2.9999999999999996 at 3.
  return static_cast<int64_t>(std::floor(channels * compression + 1e-9));
}

/// Width of the bottleneck (conv1) output of a dense layer.
inline int64_t bottleneckChannels(int64_t growthRate, int64_t bnSize) {
  return bnSize * growthRate;
}

// The fixed geometry of the two stems and the transitions.
namespace geometry {
constexpr int64_t kImageNetConvKernel = 7, kImageNetConvStride = 2,
                  kImageNetConvPadding = 3;
constexpr int64_t kImageNetPoolKernel = 3, kImageNetPoolStride = 2,
                  kImageNetPoolPadding = 1;
constexpr int64_t kCifarConvKernel = 3, kCifarConvStride = 1,
                  kCifarConvPadding = 1;
constexpr int64_t kTransitionPoolKernel = 2, kTransitionPoolStride = 2;
constexpr int64_t kDenseConvKernel = 3, kDenseConvPadding = 1;
} // namespace geometry

} // namespace densenet

#endif // DENSENET_DIALECTS_COMMON_SHAPES_H
