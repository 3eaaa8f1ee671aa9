//===- Cursor.h - Feature-map indices without a divide per element -*- C++ -*-===//
//
// The kernels of Kernels.cu visit the elements e = first, first + stride,
// first + 2 stride, ... of an [n, c, h, w] feature map (grid-stride loops,
// and the per-channel loops of batch norm), and need each element's image,
// channel, row and column. Computing them as e / (c h w), e / (h w) % c, ...
// costs several 64-bit divisions per element, which the GPU has no
// instruction for: a software routine of dozens of instructions each, more
// than the element's memory traffic takes. The cursor divides once, at the
// start, and then adds the stride's own digits in the same mixed radix,
// carrying as in long addition. It visits exactly the same elements in the
// same order, so sums add up to the same bits.
//
// Plain C++ (host and device), so that the host tests check it against the
// divisions.
//
//===----------------------------------------------------------------------===//

#ifndef DENSENET_RUNTIME_CUDA_CURSOR_H
#define DENSENET_RUNTIME_CUDA_CURSOR_H

#include <cstdint>

#if defined(__CUDACC__)
#define DN_HOST_DEVICE __host__ __device__
#else
#define DN_HOST_DEVICE
#endif

namespace densenet::runtime::cuda {

class ElementCursor {
public:
  /// At element `first` of a [*, channels, height, width] map, to advance
  /// by `stride` elements (both >= 0). A map with an empty extent has no
  /// elements: the digits stay 0 (no division by zero) and a loop bounded
  /// by the element count never runs.
  DN_HOST_DEVICE ElementCursor(int64_t first, int64_t stride,
                               int64_t channels, int64_t height,
                               int64_t width)
      : index(first), stride(stride), channels(channels), height(height),
        width(width) {
    if (channels <= 0 || height <= 0 || width <= 0)
      return;
    split(first, image, channel, row, column);
    split(stride, imageStep, channelStep, rowStep, columnStep);
  }

  /// The next element, `stride` further on.
  DN_HOST_DEVICE void advance() {
    index += stride;
    // Each digit and each step's digit is below its radix, so a sum plus a
    // carry is below twice the radix: one subtraction normalizes it.
    column += columnStep;
    int64_t carry = column >= width;
    column -= carry * width;
    row += rowStep + carry;
    carry = row >= height;
    row -= carry * height;
    channel += channelStep + carry;
    carry = channel >= channels;
    channel -= carry * channels;
    image += imageStep + carry;
  }

  /// The element's index within its channel's plane: row * width + column.
  DN_HOST_DEVICE int64_t pixel() const { return row * width + column; }

  int64_t index;                                    // the element, e
  int64_t image = 0, channel = 0, row = 0, column = 0; // its digits

private:
  DN_HOST_DEVICE void split(int64_t e, int64_t &i, int64_t &c, int64_t &y,
                            int64_t &x) const {
    x = e % width;
    e /= width;
    y = e % height;
    e /= height;
    c = e % channels;
    i = e / channels;
  }

  int64_t stride, channels, height, width;
  int64_t imageStep = 0, channelStep = 0, rowStep = 0, columnStep = 0;
};

} // namespace densenet::runtime::cuda

#endif // DENSENET_RUNTIME_CUDA_CURSOR_H
