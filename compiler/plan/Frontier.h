//===- Frontier.h - Pareto frontiers of partial plans ----------*- C++ -*-===//
//
// The data structure of the solver's walks (Solver.cpp): a frontier of
// partial plans, each a (bytes, objective) pair with a link to the plan it
// extends, and the step that makes the next frontier from one segment's
// options, on one thread or split across several (Workers.h). Separate from
// the solver so that the step can be tested on its own.
//
//===----------------------------------------------------------------------===//

#ifndef DENSENET_COMPILER_PLAN_FRONTIER_H
#define DENSENET_COMPILER_PLAN_FRONTIER_H

#include "compiler/plan/Solver.h"
#include "compiler/plan/Workers.h"

#include <algorithm>
#include <cassert>
#include <cstdint>
#include <limits>
#include <memory>
#include <utility>
#include <vector>

namespace densenet::plan::detail {

constexpr double kInfinite = std::numeric_limits<double>::infinity();
constexpr int64_t kEnd = std::numeric_limits<int64_t>::max();

/// A partial plan: the bytes it keeps (forward) or needs above the prefix
/// (backward, see Solver.cpp's reverseProgram), its objective, and how it
/// was reached.
struct State {
  int64_t kept;
  double cost;
  uint32_t link;
};

/// A frontier with a size. Its storage only grows, geometrically, and
/// neither keeps its contents when it does nor zero-fills: a frontier is
/// written in full before it is read, and deep models' frontiers are tens
/// of megabytes, where copying and clearing cost as much as the search.
struct Frontier {
  std::unique_ptr<State[]> states;
  size_t capacity = 0, size = 0;
  void reserve(size_t n) {
    if (capacity >= n)
      return;
    capacity = std::max(n, capacity * 2);
    states.reset(new State[capacity]);
  }
  const State &operator[](size_t i) const { return states[i]; }
};

/// The most options any segment has (at least 1).
inline size_t mostOptionsOf(const std::vector<Segment> &segments) {
  size_t most = 1;
  for (const Segment &segment : segments) {
    assert(!segment.options.empty() && "a segment needs an option");
    most = std::max(most, segment.options.size());
  }
  return most;
}

/// How the 32-bit links of a walk encode (parent index, option).
struct LinkCode {
  unsigned optionBits = 0;
  explicit LinkCode(size_t mostOptions) {
    while ((size_t(1) << optionBits) < mostOptions)
      ++optionBits;
  }
  explicit LinkCode(const std::vector<Segment> &segments)
      : LinkCode(mostOptionsOf(segments)) {}
  size_t mostParents() const { return size_t(1) << (32 - optionBits); }
  uint32_t encode(size_t parent, size_t option) const {
    return static_cast<uint32_t>(parent << optionBits | option);
  }
  int option(uint32_t link) const {
    return static_cast<int>(link & ((uint32_t(1) << optionBits) - 1));
  }
  size_t parent(uint32_t link) const { return link >> optionBits; }
};

/// The parents each option's children come from, [first, last).
using Ranges = std::vector<std::pair<size_t, size_t>>;

/// Merges the children of `parents` under every option o, from the parents
/// in `ranges[o]`, into `out`: sorted by kept, cost strictly falling, and
/// only children that cost less than `best` (which it lowers). Returns how
/// many it wrote.
///
/// The children of one option are the parents, each moved by the option, in
/// the same order (`child(o, parent)`, monotone in the parent's kept), so
/// the options' children are merged straight from the parents: one cursor
/// per option. A child is skipped unseen when it costs no less than the
/// last state kept (which keeps fewer bytes), or when `wanted(kept, cost)`
/// says no (the bounds), in that order, since the first test is the
/// cheaper.
template <typename Child, typename Wanted>
size_t mergeChildren(const Frontier &parents, const Ranges &ranges,
                     const LinkCode &code, Child child, Wanted wanted,
                     double best, State *out) {
  struct Cursor {
    size_t at, last;
    int64_t kept; // kEnd: no more children
    double cost;
  };
  size_t optionCount = ranges.size();
  std::vector<Cursor> cursors(optionCount);
  // Moves a cursor to its next child worth merging.
  auto seek = [&](size_t o, Cursor &cursor) {
    for (; cursor.at < cursor.last; ++cursor.at) {
      State made = child(o, parents[cursor.at]);
      if (made.cost >= best || !wanted(made.kept, made.cost))
        continue;
      cursor.kept = made.kept;
      cursor.cost = made.cost;
      return;
    }
    cursor.kept = kEnd;
  };
  for (size_t o = 0; o < optionCount; ++o) {
    cursors[o].at = ranges[o].first;
    cursors[o].last = ranges[o].second;
    seek(o, cursors[o]);
  }
  size_t n = 0;
  while (true) {
    // The least (kept, cost); the first option among equals.
    size_t pick = 0;
    for (size_t o = 1; o < optionCount; ++o) {
      const Cursor &a = cursors[o], &b = cursors[pick];
      if (a.kept < b.kept || (a.kept == b.kept && a.cost < b.cost))
        pick = o;
    }
    Cursor &cursor = cursors[pick];
    if (cursor.kept == kEnd)
      break;
    if (cursor.cost < best) {
      best = cursor.cost;
      out[n++] = State{cursor.kept, cursor.cost, code.encode(cursor.at, pick)};
    }
    ++cursor.at;
    seek(pick, cursor);
  }
  return n;
}


/// One step of a walk: the Pareto frontier of the children of `parents`
/// (sorted by kept, cost strictly falling) under every option, into `next`,
/// from the parents `range(o)` for option o. A state that keeps more bytes
/// and costs no less than another can never do better, so only the frontier
/// survives.
///
/// With `workers`, a large step is split by the children's kept bytes into
/// one slice per thread, each merged on its own (mergeChildren); a slice's
/// states are then dropped where an earlier slice holds one no dearer,
/// which, as costs fall within a slice, is a prefix of it. The result is
/// the one-thread result exactly provided each option's children keep
/// strictly more bytes from one parent to the next (the forward walk's do:
/// a constant added to a frontier's strictly rising bytes); with equal
/// bytes a slice could keep a state the one-thread merge skips. The
/// backward walk, whose children take a max, is never split. `pieces` holds the slices between steps.
/// With `links`, it also gets a copy of the new frontier's links (the walk's
/// trail), made as the slices are gathered.
template <typename Child, typename Range, typename Wanted>
void stepFrontier(const Frontier &parents, size_t optionCount,
                  const LinkCode &code, Child child, Range range,
                  Wanted wanted, Frontier &next, Workers *workers = nullptr,
                  size_t parallelFrom = 0,
                  std::vector<Frontier> *pieces = nullptr,
                  std::unique_ptr<uint32_t[]> *links = nullptr) {
  Ranges ranges(optionCount);
  size_t children = 0;
  for (size_t o = 0; o < optionCount; ++o) {
    ranges[o] = range(o);
    children += ranges[o].second - ranges[o].first;
  }
  size_t threads = workers ? workers->size() : 1;
  if (threads == 1 || parents.size < parallelFrom) {
    next.reserve(std::max<size_t>(children, 1));
    next.size = mergeChildren(parents, ranges, code, child, wanted, kInfinite,
                              next.states.get());
    if (links) {
      links->reset(new uint32_t[next.size]);
      for (size_t i = 0; i < next.size; ++i)
        (*links)[i] = next.states[i].link;
    }
    return;
  }
#ifndef NDEBUG
  for (size_t o = 0; o < optionCount; ++o)
    for (size_t i = ranges[o].first + 1; i < ranges[o].second; ++i)
      assert(child(o, parents[i - 1]).kept < child(o, parents[i]).kept &&
             "a split step needs each option's children strictly rising");
#endif
  // Slice boundaries: weighted quantiles of the children's kept bytes,
  // from a sample of every option's children.
  constexpr size_t kSamples = 64;
  std::vector<std::pair<int64_t, size_t>> sample; // (kept, children it stands for)
  for (size_t o = 0; o < optionCount; ++o) {
    auto [first, last] = ranges[o];
    size_t count = last - first;
    for (size_t k = 0; k < std::min(count, kSamples); ++k) {
      size_t at = first + k * count / std::min(count, kSamples);
      sample.push_back({child(o, parents[at]).kept,
                        count / std::min(count, kSamples)});
    }
  }
  std::sort(sample.begin(), sample.end());
  std::vector<int64_t> bounds; // slice t holds kept in [bounds[t], bounds[t+1])
  bounds.push_back(std::numeric_limits<int64_t>::min());
  size_t seen = 0, sampled = 0;
  for (const auto &item : sample)
    sampled += item.second;
  for (const auto &[kept, weight] : sample) {
    seen += weight;
    if (bounds.size() < threads && seen * threads >= sampled * bounds.size() &&
        kept > bounds.back())
      bounds.push_back(kept);
  }
  bounds.push_back(kEnd);
  size_t slices = bounds.size() - 1;
  pieces->resize(std::max(pieces->size(), slices));
  std::vector<Ranges> sliceRanges(slices, Ranges(optionCount));
  std::vector<size_t> made(slices);
  workers->run([&](unsigned t) {
    for (size_t slice = t; slice < slices; slice += threads) {
      size_t capacity = 0;
      for (size_t o = 0; o < optionCount; ++o) {
        auto [first, last] = ranges[o];
        auto below = [&](int64_t bound) {
          size_t lo = first, hi = last;
          while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (child(o, parents[mid]).kept < bound)
              lo = mid + 1;
            else
              hi = mid;
          }
          return lo;
        };
        sliceRanges[slice][o] = {below(bounds[slice]), below(bounds[slice + 1])};
        capacity += sliceRanges[slice][o].second - sliceRanges[slice][o].first;
      }
      Frontier &piece = (*pieces)[slice];
      piece.reserve(std::max<size_t>(capacity, 1));
      made[slice] = mergeChildren(parents, sliceRanges[slice], code, child,
                                  wanted, kInfinite, piece.states.get());
    }
  });
  // What survives of each slice, and where it goes.
  std::vector<size_t> from(slices), offset(slices + 1, 0);
  double best = kInfinite;
  for (size_t slice = 0; slice < slices; ++slice) {
    const State *states = (*pieces)[slice].states.get();
    from[slice] = std::partition_point(states, states + made[slice],
                                       [&](const State &state) {
                                         return state.cost >= best;
                                       }) -
                  states;
    if (from[slice] < made[slice])
      best = states[made[slice] - 1].cost;
    offset[slice + 1] = offset[slice] + made[slice] - from[slice];
  }
  next.reserve(std::max<size_t>(offset[slices], 1));
  next.size = offset[slices];
  if (links)
    links->reset(new uint32_t[next.size]);
  workers->run([&](unsigned t) {
    for (size_t slice = t; slice < slices; slice += threads) {
      const State *piece = (*pieces)[slice].states.get();
      State *out = next.states.get() + offset[slice];
      uint32_t *link = links ? links->get() + offset[slice] : nullptr;
      for (size_t i = from[slice]; i < made[slice]; ++i, ++out) {
        *out = piece[i];
        if (link)
          *link++ = piece[i].link;
      }
    }
  });
}

} // namespace densenet::plan::detail

#endif // DENSENET_COMPILER_PLAN_FRONTIER_H
