//===- CursorTest.cpp - The kernels' cursor agrees with division ----------===//
//
// runtime/cuda/Cursor.h is plain C++: checked here, on every machine,
// against the divisions it replaces in the CUDA kernels.
//
//===----------------------------------------------------------------------===//

#include "runtime/cuda/Cursor.h"

#include <gtest/gtest.h>

using densenet::runtime::cuda::ElementCursor;

namespace {

/// Walks `steps` elements from `first` by `stride` and compares every
/// digit with the division of the element's index.
void expectDivisions(int64_t first, int64_t stride, int64_t channels,
                     int64_t height, int64_t width, int64_t steps) {
  ElementCursor cursor(first, stride, channels, height, width);
  int64_t plane = height * width;
  for (int64_t k = 0; k < steps; ++k) {
    int64_t e = first + k * stride;
    ASSERT_EQ(cursor.index, e);
    ASSERT_EQ(cursor.image, e / (channels * plane))
        << "e=" << e << " stride=" << stride;
    ASSERT_EQ(cursor.channel, e / plane % channels) << "e=" << e;
    ASSERT_EQ(cursor.row, e % plane / width) << "e=" << e;
    ASSERT_EQ(cursor.column, e % width) << "e=" << e;
    ASSERT_EQ(cursor.pixel(), e % plane) << "e=" << e;
    cursor.advance();
  }
}

TEST(ElementCursor, AgreesWithDivisionForKernelShapes) {
  // Shapes of the models' maps: 7x7 to 112x112 planes, 1 to 1024 channels;
  // strides of a block (256), of a grid (65535 x 256), and odd ones.
  for (int64_t side : {1, 2, 7, 14, 28, 32, 56, 112})
    for (int64_t channels : {1, 3, 32, 64, 1024})
      for (int64_t stride : {1, 5, 49, 256, 4096, 65535 * 256})
        for (int64_t first : {0, 1, 255})
          expectDivisions(first, stride, channels, side, side, 300);
}

TEST(ElementCursor, NonSquarePlanesAndLargeIndices) {
  expectDivisions(0, 256, 5, 3, 11, 5000);
  expectDivisions(17, 33, 7, 13, 1, 5000);
  // Past 2^31 elements: a batch of 1024 of 256 x 56 x 56 maps.
  int64_t big = int64_t(1) << 31;
  expectDivisions(big - 3, 65535 * 256, 256, 56, 56, 2000);
}

TEST(ElementCursor, BatchNormsWalkOneChannel) {
  // Batch norm's per-channel loops: [n, 1, h, w], a block's threads apart.
  for (int64_t side : {7, 14, 56})
    for (int64_t thread = 0; thread < 256; thread += 51)
      expectDivisions(thread, 256, 1, side, side, 64 * side * side / 256 + 2);
}

TEST(ElementCursor, EmptyMapsDivideByNothing) {
  // A kernel launched for an empty map builds a cursor, then never loops.
  for (int64_t empty : {0, -1}) {
    ElementCursor cursor(5, 256, empty, 7, 7);
    EXPECT_EQ(cursor.index, 5);
    EXPECT_EQ(cursor.image, 0);
    ElementCursor flat(5, 256, 3, 7, empty);
    EXPECT_EQ(flat.column, 0);
  }
}

} // namespace
