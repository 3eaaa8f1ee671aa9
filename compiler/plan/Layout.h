//===- Layout.h - Static offsets for buffers with lifetimes -----*- C++ -*-===//

#ifndef DENSENET_COMPILER_PLAN_LAYOUT_H
#define DENSENET_COMPILER_PLAN_LAYOUT_H

#include <cstdint>
#include <vector>

namespace densenet::plan {

struct LayoutItem {
  int64_t bytes = 0;
  int first = 0, last = 0; // live over steps [first, last]
  bool persistent = false;

  bool operator==(const LayoutItem &other) const {
    return bytes == other.bytes && first == other.first && last == other.last &&
           persistent == other.persistent;
  }
};

struct LayoutResult {
  std::vector<int64_t> offsets; // per item
  int64_t arenaBytes = 0;
};

/// Assigns each item an offset, a multiple of `alignment`, so that two items
/// whose lifetimes overlap never share a byte. Persistent items go first,
/// packed at the bottom; the rest are placed one by one at the lowest offset
/// that fits, visited in four orders (by size, by size x lifetime, by
/// lifetime, and by lifetime with the items of the busiest steps first),
/// and the smallest arena is kept. Where none reaches the most bytes live
/// at a step, a few rounds of repair visit the items that ended above it
/// first (docs/memory-model.md, "Layout"). The orders and rounds run side
/// by side on up to `threads` threads (0: one per core); the result is the
/// same for every count.
LayoutResult layoutBuffers(const std::vector<LayoutItem> &items,
                           int64_t alignment, unsigned threads = 0);

} // namespace densenet::plan

#endif // DENSENET_COMPILER_PLAN_LAYOUT_H
