//===- Layout.cpp - Static offsets for buffers with lifetimes -------------===//

#include "compiler/plan/Layout.h"
#include "compiler/plan/Workers.h"

#include "llvm/ADT/ArrayRef.h"

#include <algorithm>
#include <cassert>
#include <iterator>
#include <optional>

using namespace densenet::plan;

static int64_t alignUp(int64_t value, int64_t alignment) {
  return (value + alignment - 1) / alignment * alignment;
}

namespace {
/// Orders in which greedy placement visits the non-persistent items:
/// largest first, largest bytes x steps first, longest-lived first, and
/// busiest first: by the most bytes live at a step of the item's lifetime,
/// then longest-lived first.
enum class Order { Size, Area, Length, Busiest };
} // namespace

/// Where an item goes among the gaps that hold it: the lowest, or the
/// smallest (best fit).
enum class Fit { Lowest, Best };

/// The non-persistent items in the order `visit` gives. `busiest[i]`: the
/// most bytes live at a step of item i's lifetime.
static std::vector<int> visitOrder(const std::vector<LayoutItem> &items,
                                   Order visit,
                                   const std::vector<int64_t> &busiest) {
  std::vector<int> rest;
  for (size_t i = 0; i < items.size(); ++i)
    if (!items[i].persistent)
      rest.push_back(static_cast<int>(i));
  auto key = [&](int i) -> double {
    double length = items[i].last - items[i].first + 1;
    switch (visit) {
    case Order::Size:
      return double(items[i].bytes);
    case Order::Area:
      return double(items[i].bytes) * length;
    case Order::Length:
    case Order::Busiest:
      return length * 1e18 + double(items[i].bytes);
    }
    return 0;
  };
  std::stable_sort(rest.begin(), rest.end(), [&](int a, int b) {
    if (visit == Order::Busiest && busiest[a] != busiest[b])
      return busiest[a] > busiest[b];
    double ka = key(a), kb = key(b);
    if (ka != kb)
      return ka > kb;
    return items[a].first < items[b].first;
  });
  return rest;
}

static int64_t alignedSize(const LayoutItem &item, int64_t alignment) {
  return alignUp(std::max<int64_t>(item.bytes, 1), alignment);
}

/// Persistent items packed at the bottom, then the items of `rest`, one by
/// one in that order, each where `fit` says among the gaps that hold it.
static LayoutResult place(const std::vector<LayoutItem> &items,
                          int64_t alignment, const std::vector<int> &rest,
                          Fit fit) {
  LayoutResult result;
  result.offsets.assign(items.size(), -1);
  int64_t base = 0;
  for (size_t i = 0; i < items.size(); ++i)
    if (items[i].persistent) {
      result.offsets[i] = base;
      base = alignUp(base + items[i].bytes, alignment);
    }

  // Placed items, by placement, as columns: the scan below reads only the
  // lifetimes of most of them, so those sit densely in their own arrays.
  std::vector<int> placedFirst, placedLast;
  std::vector<int64_t> placedBegin, placedEnd;
  placedFirst.reserve(rest.size());
  placedLast.reserve(rest.size());
  placedBegin.reserve(rest.size());
  placedEnd.reserve(rest.size());
  // Placements sorted by offset, so the lowest gap is found by one scan
  // that stops at the first gap large enough (no per-item sort of the busy
  // ranges); inserting an index moves 4 bytes per later item, not a record.
  // Most items live a few steps, and only the items live in the same steps
  // matter to them: those also go in per-block lists (blocks of
  // kBlockSteps steps), and an item within one block scans that block's
  // list instead of every placement.
  constexpr int kBlockSteps = 64;
  int lastStep = 0;
  for (int i : rest)
    lastStep = std::max(lastStep, items[i].last);
  std::vector<std::vector<int>> blockByBegin(lastStep / kBlockSteps + 1);
  std::vector<int> byBegin;
  byBegin.reserve(rest.size());
  auto insertByBegin = [&](std::vector<int> &list, int id) {
    int64_t begin = placedBegin[id];
    list.insert(std::upper_bound(list.begin(), list.end(), begin,
                                 [&](int64_t value, int placed) {
                                   return value < placedBegin[placed];
                                 }),
                id);
  };
  int64_t top = base;
  for (int i : rest) {
    const LayoutItem &item = items[i];
    int64_t size = alignedSize(item, alignment);
    int firstBlock = item.first / kBlockSteps;
    const std::vector<int> &candidates = firstBlock == item.last / kBlockSteps
                                             ? blockByBegin[firstBlock]
                                             : byBegin;
    // The gaps between the ranges of items live at the same time: the
    // lowest that holds the item, or the smallest; else the top.
    int64_t offset = base;
    int64_t bestOffset = -1, bestGap = 0;
    for (int other : candidates) {
      if (placedFirst[other] > item.last || item.first > placedLast[other])
        continue;
      int64_t gap = placedBegin[other] - offset;
      if (gap >= size) {
        if (fit == Fit::Lowest)
          break;
        if (bestOffset < 0 || gap < bestGap) {
          bestGap = gap;
          bestOffset = offset;
        }
      }
      offset = std::max(offset, placedEnd[other]);
    }
    if (fit == Fit::Best && bestOffset >= 0)
      offset = bestOffset;
    result.offsets[i] = offset;
    int id = static_cast<int>(placedBegin.size());
    placedFirst.push_back(item.first);
    placedLast.push_back(item.last);
    placedBegin.push_back(offset);
    placedEnd.push_back(offset + size);
    insertByBegin(byBegin, id);
    for (int block = firstBlock; block <= item.last / kBlockSteps; ++block)
      insertByBegin(blockByBegin[block], id);
    top = std::max(top, offset + size);
  }
  result.arenaBytes = top;
  return result;
}

/// The bytes (aligned) live at every step, persistent items included: no
/// layout is smaller than their most.
static std::vector<int64_t> liveBytes(const std::vector<LayoutItem> &items,
                                      int64_t alignment) {
  int last = 0;
  for (const LayoutItem &item : items)
    last = std::max(last, item.last);
  std::vector<int64_t> live(last + 2, 0);
  int64_t persistent = 0;
  for (const LayoutItem &item : items) {
    int64_t size = alignedSize(item, alignment);
    if (item.persistent) {
      persistent += size;
      continue;
    }
    live[item.first] += size;
    live[item.last + 1] -= size;
  }
  live.pop_back();
  int64_t sum = persistent;
  for (int64_t &bytes : live)
    bytes = sum += bytes;
  return live;
}

/// The next visit order of a repair round: the items that `layout` (of
/// `order`) left above `bound` go first, then the others in their order.
/// With `containers`, so do the items visited before one of those whose
/// lifetime holds its lifetime: moving an item ahead of the long-lived
/// items around it may only push them up instead.
static std::vector<int> promote(const std::vector<LayoutItem> &items,
                                int64_t alignment,
                                const std::vector<int> &order,
                                const LayoutResult &layout, int64_t bound,
                                bool containers) {
  std::vector<int> tops; // by position in `order`
  for (size_t k = 0; k < order.size(); ++k) {
    int i = order[k];
    if (layout.offsets[i] + alignedSize(items[i], alignment) > bound)
      tops.push_back(static_cast<int>(k));
  }
  std::vector<char> promoted(order.size(), 0);
  for (int k : tops)
    promoted[k] = 1;
  if (containers)
    for (int k : tops) {
      const LayoutItem &top = items[order[k]];
      for (int j = 0; j < k; ++j) {
        const LayoutItem &item = items[order[j]];
        if (item.first <= top.first && item.last >= top.last)
          promoted[j] = 1;
      }
    }
  std::vector<int> next;
  next.reserve(order.size());
  for (size_t k = 0; k < order.size(); ++k)
    if (promoted[k])
      next.push_back(order[k]);
  for (size_t k = 0; k < order.size(); ++k)
    if (!promoted[k])
      next.push_back(order[k]);
  return next;
}

/// A sequence of repair rounds: each lays the items out again in the order
/// `promote` gives after the previous round's layout. Keeps the least
/// arena so far.
struct Repair {
  std::vector<int> order;
  LayoutResult current, best;
  bool containers = false;
  int roundsLeft = 0;

  void round(const std::vector<LayoutItem> &items, int64_t alignment,
             int64_t bound) {
    order = promote(items, alignment, order, current, bound, containers);
    current = place(items, alignment, order, Fit::Lowest);
    if (current.arenaBytes < best.arenaBytes)
      best = current;
    --roundsLeft;
  }
};

LayoutResult densenet::plan::layoutBuffers(const std::vector<LayoutItem> &items,
                                           int64_t alignment,
                                           unsigned threads) {
  // No layout is smaller than the most bytes live at one step.
  std::vector<int64_t> live = liveBytes(items, alignment);
  int64_t bound = live.empty() ? 0 : *std::max_element(live.begin(), live.end());
  std::vector<int64_t> busiest(items.size(), 0);
  for (size_t i = 0; i < items.size(); ++i) {
    assert(items[i].first >= 0 && items[i].first <= items[i].last &&
           "an item lives over a non-empty range of steps");
    if (!items[i].persistent)
      busiest[i] = *std::max_element(live.begin() + items[i].first,
                                     live.begin() + items[i].last + 1);
  }
  // No single order wins on every schedule: by size is the classic; by size
  // times lifetime places the long-lived block buffers and kept tensors
  // first (densenet264: 2.7% -> 0.1% over the bound). Those leave holes at
  // the busiest steps, where a hole costs arena, on some schedules; placing
  // the items of the busiest steps first leaves none on most (densenet264's
  // tight optimal plans: 1.4 to 7 MB over the bound -> 0; its least-peak
  // plan: 218 MB -> 0). The first that reaches the bound wins, else the
  // smallest (the first of equals in this order).
  enum : size_t { kSize, kArea, kLength, kBusiest, kOrders };
  const Order orders[kOrders] = {Order::Size, Order::Area, Order::Length,
                                 Order::Busiest};
  std::vector<std::vector<int>> visits(kOrders);
  for (size_t o = 0; o < kOrders; ++o)
    visits[o] = visitOrder(items, orders[o], busiest);
  // At most four layouts are made at once: one thread each.
  Workers workers(std::min(Workers::resolve(threads), unsigned(kOrders)));
  // Runs task(0) .. task(count - 1), independent, side by side.
  auto sideBySide = [&](size_t count, auto task) {
    workers.run([&](unsigned t) {
      for (size_t i = t; i < count; i += workers.size())
        task(i);
    });
  };
  // Lays the items out in the orders `which` into their places in
  // `results`, side by side.
  auto greedy = [&](Fit fit, llvm::ArrayRef<size_t> which,
                    std::vector<LayoutResult> &results) {
    sideBySide(which.size(), [&](size_t w) {
      results[which[w]] = place(items, alignment, visits[which[w]], fit);
    });
  };
  std::optional<LayoutResult> best;
  auto pick = [&](const std::vector<LayoutResult> &candidates,
                  llvm::ArrayRef<size_t> which) {
    for (size_t w : which) {
      if (best && best->arenaBytes <= bound)
        return;
      if (!best || candidates[w].arenaBytes < best->arenaBytes)
        best = candidates[w];
    }
  };
  // Busiest first reaches the bound alone on most schedules (173 of 240
  // distinct layouts of six models' trials and least-peak plans; the other
  // orders on 26 of the rest), so it goes first and the others only where
  // it misses.
  const size_t all[] = {kSize, kArea, kLength, kBusiest};
  std::vector<LayoutResult> lowest(kOrders);
  greedy(Fit::Lowest, {kBusiest}, lowest);
  pick(lowest, {kBusiest});
  if (best->arenaBytes > bound) {
    greedy(Fit::Lowest, {kSize, kArea, kLength}, lowest);
    best.reset();
    pick(lowest, all);
  }
  // Best fit wins where lowest fit leaves holes (densenet264's least-peak
  // plan: 3.9% -> 0.15%) and loses elsewhere (densenet121's: 0.3% -> 4.5%),
  // so it is tried too, unless the arena is already within 0.1% of the
  // bound.
  if (best->arenaBytes > bound * 1.001) {
    std::vector<LayoutResult> bestFit(kOrders);
    greedy(Fit::Best, all, bestFit);
    pick(bestFit, all);
  }
  if (best->arenaBytes <= bound)
    return std::move(*best);

  // Where every pass leaves holes under the peak, rounds of repair in the
  // manner of squeaky-wheel optimization, each from one order's lowest-fit
  // layout: the items that ended above the bound are visited first next
  // time, in some sequences with the long-lived items around them. No
  // sequence wins everywhere. Over 69 such layouts (the trials of
  // densenet121, -161, -201, -264 and DenseNet-BC-190/-250 at 19 budgets
  // each, and the least-peak plans of the presets at batch 16, 64 and 256)
  // the passes left a mean 8.7 MB over the bound; busiest first with the
  // long-lived items alone a mean 1.4 MB (19 at the bound), these four
  // sequences 0.22 MB (44 at the bound, 62 within 0.5 MB; the least-peak
  // plans of densenet121 to -264 at batch 16 go from 4.8 MB over to 0).
  // More sequences or rounds gained little. The slowest layout among them
  // took 53 ms in all.
  struct Sequence {
    size_t start;
    bool containers;
    int rounds;
  };
  const Sequence sequences[] = {{kSize, true, 8},
                                {kBusiest, true, 4},
                                {kBusiest, false, 4},
                                {kArea, true, 4}};
  constexpr size_t kSequences = std::size(sequences);
  std::vector<Repair> repairs(kSequences);
  for (size_t q = 0; q < kSequences; ++q) {
    const Sequence &sequence = sequences[q];
    repairs[q].order = visits[sequence.start];
    repairs[q].current = repairs[q].best = lowest[sequence.start];
    repairs[q].containers = sequence.containers;
    repairs[q].roundsLeft = sequence.rounds;
  }
  // The sequences go round by round together, and all stop after the round
  // in which one reaches the bound: the rest would be wasted, and stopping
  // at round boundaries keeps the result independent of the threads.
  auto reached = [&] {
    return std::any_of(repairs.begin(), repairs.end(), [&](const Repair &r) {
      return r.best.arenaBytes <= bound;
    });
  };
  while (!reached()) {
    std::vector<Repair *> going;
    for (Repair &repair : repairs)
      if (repair.roundsLeft > 0)
        going.push_back(&repair);
    if (going.empty())
      break;
    sideBySide(going.size(), [&](size_t g) {
      going[g]->round(items, alignment, bound);
    });
  }
  // The first of the least (nothing is below the bound).
  for (Repair &repair : repairs)
    if (repair.best.arenaBytes < best->arenaBytes)
      best = std::move(repair.best);
  return std::move(*best);
}
