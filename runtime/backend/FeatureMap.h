//===- FeatureMap.h - A feature map where the plan put it -------*- C++ -*-===//
//
// An NCHW feature map that may be a channel slice of a larger buffer (the
// in-place concatenation of a dense block): within an image the channels
// are contiguous, between images they are `imageStride` elements apart.
// Both backends' kernels take their operands in this form.
//
//===----------------------------------------------------------------------===//

#ifndef DENSENET_RUNTIME_BACKEND_FEATUREMAP_H
#define DENSENET_RUNTIME_BACKEND_FEATUREMAP_H

#include <cstdint>

namespace densenet::runtime {

/// Image i, channel j starts at data + i * imageStride + j * h * w elements.
/// The elements are f32 on the CPU; the CUDA backend also runs bf16 and f16
/// plans and reads `data` as the address of elements of the buffer's dtype
/// (runtime/cuda/Kernels.h: DeviceMap).
struct FeatureMap {
  float *data = nullptr;
  int64_t n = 0, c = 0, h = 0, w = 0;
  int64_t imageStride = 0;

  int64_t plane() const { return h * w; }
  float *image(int64_t i) const { return data + i * imageStride; }
  float *channel(int64_t i, int64_t j) const {
    return data + i * imageStride + j * plane();
  }
};

} // namespace densenet::runtime

#endif // DENSENET_RUNTIME_BACKEND_FEATUREMAP_H
