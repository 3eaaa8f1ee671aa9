//===- Layout.cpp - Static offsets for buffers with lifetimes -------------===//

#include "compiler/plan/Layout.h"

#include <algorithm>
#include <numeric>

using namespace densenet::plan;

static int64_t alignUp(int64_t value, int64_t alignment) {
  return (value + alignment - 1) / alignment * alignment;
}

LayoutResult densenet::plan::layoutBuffers(const std::vector<LayoutItem> &items,
                                           int64_t alignment) {
  LayoutResult result;
  result.offsets.assign(items.size(), -1);
  std::vector<int> order(items.size());
  std::iota(order.begin(), order.end(), 0);

  int64_t base = 0;
  for (int i : order)
    if (items[i].persistent) {
      result.offsets[i] = base;
      base = alignUp(base + items[i].bytes, alignment);
    }

  std::vector<int> rest;
  for (int i : order)
    if (!items[i].persistent)
      rest.push_back(i);
  std::stable_sort(rest.begin(), rest.end(), [&](int a, int b) {
    if (items[a].bytes != items[b].bytes)
      return items[a].bytes > items[b].bytes;
    return items[a].first < items[b].first;
  });

  struct Placed {
    int64_t begin, end;
    int first, last;
  };
  std::vector<Placed> placed;
  std::vector<std::pair<int64_t, int64_t>> busy;
  int64_t top = base;
  for (int i : rest) {
    const LayoutItem &item = items[i];
    int64_t size = alignUp(std::max<int64_t>(item.bytes, 1), alignment);
    busy.clear();
    for (const Placed &other : placed)
      if (other.first <= item.last && item.first <= other.last)
        busy.push_back({other.begin, other.end});
    std::sort(busy.begin(), busy.end());
    // The lowest gap between busy ranges that holds the item.
    int64_t offset = base;
    for (const auto &[begin, end] : busy) {
      if (begin - offset >= size)
        break;
      offset = std::max(offset, end);
    }
    result.offsets[i] = offset;
    placed.push_back({offset, offset + size, item.first, item.last});
    top = std::max(top, offset + size);
  }
  result.arenaBytes = top;
  return result;
}
