//===- Solver.cpp - Optimal rematerialization over segments ---------------===//
//
// Both solvers walk the segments in forward order. A partial choice is
// summarised by the bytes it keeps (which later segments pay) and by the
// objective so far.
//
//===----------------------------------------------------------------------===//

#include "compiler/plan/Solver.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <limits>
#include <numeric>
#include <optional>

using namespace densenet::plan;

namespace {

/// The exact dynamic program over the Pareto frontier of (bytes kept,
/// objective), for both solvers. A partial choice that keeps more bytes and
/// has no smaller objective than another can never do better, so only the
/// frontier survives: sorted by kept bytes, objective strictly falling.
///
/// Deep models keep up to a million states per segment, so frontiers are
/// columns (no per-state record), the children of each option are made in
/// one tight pass (a sorted frontier plus a constant stays sorted) and
/// merged, and the walk back keeps 4 bytes per state (parent index above
/// the option's bits).
///
/// `childCost(parentCost, option, childPeak)` is the objective: summed
/// seconds, or the peak so far. A child whose objective plus the bound
/// `suffix[p + 1][kept / unit]` on the rest reaches `cutoff` is never made
/// (`suffix` empty: no bounds). Gives up (nullopt) past `maxStates` states
/// in all, and then sets `*abandonedBound` (if given) to the least
/// objective plus bound over the states it held: every plan that beats the
/// cutoff passes through one of them (or one that dominates it), so no plan
/// costs less than that or the cutoff. An infeasible solution means nothing
/// beats the cutoff. Among equal objectives the smaller peak wins.
template <typename ChildCost>
std::optional<Solution>
frontierProgram(const std::vector<Segment> &segments, int64_t limit,
                ChildCost childCost, int64_t unit,
                const std::vector<std::vector<float>> &suffix, double cutoff,
                size_t maxStates, double *abandonedBound = nullptr) {
  constexpr double kInfinite = std::numeric_limits<double>::infinity();
  constexpr int64_t kEnd = std::numeric_limits<int64_t>::max();
  // Columns with a size; the vectors only grow (resizing zero-fills).
  struct Frontier {
    std::vector<int64_t> kept, peak;
    std::vector<double> cost;
    std::vector<uint32_t> link;
    size_t size = 0;
    void reserve(size_t n) {
      if (kept.size() >= n)
        return;
      kept.resize(n);
      peak.resize(n);
      cost.resize(n);
      link.resize(n);
    }
  };
  size_t count = segments.size();
  size_t mostOptions = 1;
  for (const Segment &segment : segments) {
    assert(!segment.options.empty() && "a segment needs an option");
    mostOptions = std::max(mostOptions, segment.options.size());
  }
  // A link is parent << optionBits | option, in 32 bits.
  unsigned optionBits = 0;
  while ((size_t(1) << optionBits) < mostOptions)
    ++optionBits;
  size_t mostParents = size_t(1) << (32 - optionBits);
  uint32_t optionMask = (uint32_t(1) << optionBits) - 1;
  size_t states = suffix.empty() ? 0 : suffix[0].size();
  // kept / unit, rounded down or one less at a boundary: the bound grows
  // with the bytes kept, so a smaller index only weakens it, and a
  // multiplication is much cheaper than a division.
  double perUnit = (1.0 / static_cast<double>(unit)) * (1 - 1e-12);
  // The bound on what follows for `kept` bytes kept (none: 0).
  auto restAfter = [&](const float *bound, int64_t kept) -> double {
    if (!bound)
      return 0.0;
    size_t r = static_cast<size_t>(static_cast<double>(kept) * perUnit);
    return r < states ? bound[r] : kInfinite;
  };
  std::vector<std::vector<uint32_t>> trail;
  trail.reserve(count);
  size_t total = 0;
  Frontier current, next;
  current.reserve(1);
  current.kept[0] = current.peak[0] = 0;
  current.cost[0] = 0;
  current.size = 1;
  std::vector<Frontier> runs(mostOptions);
  std::vector<size_t> head(mostOptions);
  for (size_t p = 0; p < count; ++p) {
    const std::vector<SegmentOption> &options = segments[p].options;
    size_t optionCount = options.size();
    const float *bound =
        p + 1 == count || suffix.empty() ? nullptr : suffix[p + 1].data();
    const int64_t *inKept = current.kept.data(), *inPeak = current.peak.data();
    const double *inCost = current.cost.data();
    for (size_t o = 0; o < optionCount; ++o) {
      const SegmentOption &option = options[o];
      Frontier &run = runs[o];
      run.reserve(current.size + 1);
      int64_t *outKept = run.kept.data(), *outPeak = run.peak.data();
      double *outCost = run.cost.data();
      uint32_t *outLink = run.link.data();
      size_t n = 0;
      for (size_t s = 0; s < current.size; ++s) {
        int64_t peakHere = inKept[s] + option.peak;
        if (peakHere > limit)
          break; // the frontier is sorted by kept bytes
        int64_t childKept = inKept[s] + option.kept;
        int64_t childPeak = std::max(inPeak[s], peakHere);
        double cost = childCost(inCost[s], option, childPeak);
        if (cost + restAfter(bound, childKept) >= cutoff)
          continue;
        outKept[n] = childKept;
        outCost[n] = cost;
        outPeak[n] = childPeak;
        outLink[n] = static_cast<uint32_t>(s << optionBits | o);
        ++n;
      }
      outKept[n] = kEnd; // a sentinel: the merge needs no bounds checks
      run.size = n;
    }
    // Merge the runs in (kept, objective, peak, option) order; a state
    // survives if it beats every state before it.
    size_t most = 0;
    for (size_t o = 0; o < optionCount; ++o)
      most += runs[o].size;
    next.reserve(most);
    size_t survivors = 0;
    std::fill(head.begin(), head.end(), 0);
    double best = kInfinite;
    while (true) {
      size_t pick = 0;
      for (size_t o = 1; o < optionCount; ++o) {
        const Frontier &a = runs[o], &b = runs[pick];
        size_t i = head[o], j = head[pick];
        if (a.kept[i] < b.kept[j] ||
            (a.kept[i] == b.kept[j] && a.kept[i] != kEnd &&
             (a.cost[i] < b.cost[j] ||
              (a.cost[i] == b.cost[j] && a.peak[i] < b.peak[j]))))
          pick = o;
      }
      const Frontier &run = runs[pick];
      size_t i = head[pick]++;
      if (run.kept[i] == kEnd)
        break;
      if (run.cost[i] < best) {
        best = run.cost[i];
        next.kept[survivors] = run.kept[i];
        next.cost[survivors] = run.cost[i];
        next.peak[survivors] = run.peak[i];
        next.link[survivors] = run.link[i];
        ++survivors;
      }
    }
    next.size = survivors;
    std::swap(current, next);
    total += current.size;
    if (current.size == 0)
      return Solution{}; // nothing beats the cutoff
    if (total > maxStates || current.size > mostParents) {
      if (abandonedBound) {
        double least = kInfinite;
        for (size_t s = 0; s < current.size; ++s)
          least = std::min(least,
                           current.cost[s] + restAfter(bound, current.kept[s]));
        *abandonedBound = least;
      }
      return std::nullopt;
    }
    trail.emplace_back(current.link.begin(),
                       current.link.begin() + current.size);
  }
  // The best final state (ties: the smaller peak), then its choices.
  size_t chosen = 0;
  for (size_t s = 1; s < current.size; ++s)
    if (current.cost[s] < current.cost[chosen] ||
        (current.cost[s] == current.cost[chosen] &&
         current.peak[s] < current.peak[chosen]))
      chosen = s;
  Solution solution;
  solution.feasible = true;
  solution.peak = current.peak[chosen];
  solution.choice.assign(count, 0);
  size_t index = chosen;
  for (size_t p = count; p-- > 0;) {
    uint32_t link = trail[p][index];
    solution.choice[p] = static_cast<int>(link & optionMask);
    index = link >> optionBits;
  }
  for (size_t p = 0; p < count; ++p)
    solution.seconds += segments[p].options[solution.choice[p]].seconds;
  return solution;
}

} // namespace

int64_t densenet::plan::predictPeak(const std::vector<Segment> &segments,
                                    const std::vector<int> &choice) {
  int64_t kept = 0, peak = 0;
  for (size_t p = 0; p < segments.size(); ++p) {
    const SegmentOption &option = segments[p].options[choice[p]];
    peak = std::max(peak, kept + option.peak);
    kept += option.kept;
  }
  return peak;
}

namespace {

/// Least recompute time with kept bytes rounded up to `unit`-byte units and
/// every constraint relaxed by `slack` bytes. Returns the choice and its
/// rounded objective; infeasible when no choice passes.
Solution solveRounded(const std::vector<Segment> &segments, int64_t limit,
                      int64_t unit, int64_t slack) {
  constexpr double kUnreachable = std::numeric_limits<double>::infinity();
  int64_t capacity = limit + slack;
  if (capacity < 0 || segments.empty())
    return Solution{};
  // A state past capacity / unit fails every later check (peaks are at
  // least zero); the last segment's kept bytes no one pays, so its choice
  // is made without a next state.
  auto unitsOf = [&](const SegmentOption &option) {
    return static_cast<size_t>((option.kept + unit - 1) / unit);
  };
  // No prefix exceeds every segment keeping its most.
  size_t reachable = 0;
  for (const Segment &segment : segments) {
    size_t most = 0;
    for (const SegmentOption &option : segment.options)
      most = std::max(most, unitsOf(option));
    reachable += most;
  }
  size_t states =
      std::min(static_cast<size_t>(capacity / unit), reachable) + 1;
  std::vector<double> cost(states, kUnreachable), next(states);
  cost[0] = 0;
  // choices[p][r]: the option that reached r units after segment p.
  size_t last = segments.size() - 1;
  std::vector<std::vector<uint8_t>> choices(last);
  double bestCost = kUnreachable;
  size_t bestState = 0;
  int bestOption = -1;
  for (size_t p = 0; p < segments.size(); ++p) {
    const std::vector<SegmentOption> &options = segments[p].options;
    // Option o fits after prefix r while r * unit + peak <= capacity.
    auto lastFitting = [&](const SegmentOption &option) -> int64_t {
      if (option.peak > capacity)
        return -1;
      return std::min<int64_t>(static_cast<int64_t>(states) - 1,
                               (capacity - option.peak) / unit);
    };
    if (p == last) {
      std::vector<int64_t> fits(options.size());
      for (size_t o = 0; o < options.size(); ++o)
        fits[o] = lastFitting(options[o]);
      for (size_t r = 0; r < states; ++r) {
        if (cost[r] == kUnreachable)
          continue;
        for (size_t o = 0; o < options.size(); ++o) {
          if (static_cast<int64_t>(r) > fits[o])
            continue;
          double value = cost[r] + options[o].seconds;
          if (value < bestCost) {
            bestCost = value;
            bestState = r;
            bestOption = static_cast<int>(o);
          }
        }
      }
      break;
    }
    std::fill(next.begin(), next.end(), kUnreachable);
    choices[p].assign(states, 0xFF);
    // One pass per option, each a shifted min over the prefix array (which
    // vectorises). Visiting the options by decreasing shift, then index,
    // makes the first of equal values win as a pass over r would: the
    // smaller prefix first.
    std::vector<size_t> byShift(options.size());
    std::iota(byShift.begin(), byShift.end(), 0);
    std::stable_sort(byShift.begin(), byShift.end(), [&](size_t a, size_t b) {
      return unitsOf(options[a]) > unitsOf(options[b]);
    });
    uint8_t *chosen = choices[p].data();
    for (size_t o : byShift) {
      size_t shift = unitsOf(options[o]);
      int64_t fits = lastFitting(options[o]);
      if (fits < 0 || shift >= states)
        continue;
      size_t end =
          std::min<size_t>(static_cast<size_t>(fits) + 1, states - shift);
      double seconds = options[o].seconds;
      for (size_t r = 0; r < end; ++r) {
        double value = cost[r] + seconds;
        if (value < next[r + shift]) {
          next[r + shift] = value;
          chosen[r + shift] = static_cast<uint8_t>(o);
        }
      }
    }
    cost.swap(next);
  }
  if (bestOption < 0)
    return Solution{};
  Solution solution;
  solution.feasible = true;
  solution.seconds = bestCost;
  solution.choice.assign(segments.size(), 0);
  solution.choice[last] = bestOption;
  size_t r = bestState;
  for (size_t p = last; p-- > 0;) {
    int option = choices[p][r];
    solution.choice[p] = option;
    r -= unitsOf(segments[p].options[option]);
  }
  return solution;
}

} // namespace

/// Lower bounds on the recompute time still to come: suffix[p][r] is at most
/// the least time of segments p.. for any prefix that keeps at least r
/// units. Kept sizes are rounded down, which only loosens every check.
static std::vector<std::vector<float>>
suffixBounds(const std::vector<Segment> &segments, int64_t limit,
             int64_t unit, size_t states) {
  constexpr float kInfinite = std::numeric_limits<float>::infinity();
  size_t count = segments.size();
  std::vector<std::vector<float>> suffix(count + 1,
                                         std::vector<float>(states, 0.0f));
  for (size_t p = count; p-- > 0;) {
    std::vector<float> &here = suffix[p];
    std::fill(here.begin(), here.end(), kInfinite);
    for (const SegmentOption &option : segments[p].options) {
      if (option.peak > limit)
        continue;
      size_t fits = std::min<size_t>(
          states, static_cast<size_t>((limit - option.peak) / unit) + 1);
      size_t shift = static_cast<size_t>(option.kept / unit);
      // Round down so the bound stays below the true sum.
      float seconds = std::nextafter(static_cast<float>(option.seconds), 0.0f);
      if (p + 1 == count) {
        for (size_t r = 0; r < fits; ++r)
          here[r] = std::min(here[r], seconds);
        continue;
      }
      // Past the table, the rest is unreachable (infinite) and changes
      // nothing.
      const std::vector<float> &rest = suffix[p + 1];
      size_t end = shift < states ? std::min(fits, states - shift) : 0;
      for (size_t r = 0; r < end; ++r)
        here[r] = std::min(here[r], seconds + rest[r + shift]);
    }
  }
  return suffix;
}

Solution densenet::plan::solveMinTime(const std::vector<Segment> &segments,
                                      int64_t limit, size_t maxStates) {
  if (limit < 0)
    return Solution{};
  if (segments.empty()) {
    Solution nothing;
    nothing.feasible = true;
    return nothing;
  }
  // 1. An incumbent: the rounded DP's plan certainly fits; near the
  //    smallest peak, where rounding up loses every plan, the least-peak
  //    plan does if anything does.
  // The unit depends on the model, not on the limit, so that a larger
  // limit never makes the rounded problem coarser: plans improve
  // monotonically with the budget.
  constexpr int64_t kStates = int64_t(1) << 16;
  int64_t mostKept = 0;
  for (const Segment &segment : segments) {
    int64_t most = 0;
    for (const SegmentOption &option : segment.options)
      most = std::max(most, option.kept);
    mostKept += most;
  }
  int64_t unit = std::max<int64_t>(1, (mostKept + kStates - 1) / kStates);
  Solution incumbent = solveRounded(segments, limit, unit, 0);
  if (!incumbent.feasible) {
    incumbent = solveMinPeak(segments);
    if (incumbent.peak > limit)
      return Solution{};
    incumbent.seconds = 0;
    for (size_t p = 0; p < segments.size(); ++p)
      incumbent.seconds += segments[p].options[incumbent.choice[p]].seconds;
  }
  incumbent.peak = predictPeak(segments, incumbent.choice);

  // 2. Branch and bound over the exact Pareto frontier of (bytes kept,
  //    time): a partial plan whose time plus the bound on what remains
  //    cannot beat the incumbent is dropped, which keeps the frontier small.
  size_t states = static_cast<size_t>(std::min(limit, mostKept) / unit) + 1;
  std::vector<std::vector<float>> suffix =
      suffixBounds(segments, limit, unit, states);
  double lowerBound = suffix[0][0];
  double cutoff = incumbent.seconds * (1 - 1e-12) - 1e-15;
  double frontierBound = 0;
  std::optional<Solution> better = frontierProgram(
      segments, limit,
      [](double parentCost, const SegmentOption &option, int64_t) {
        return parentCost + option.seconds;
      },
      unit, suffix, cutoff, maxStates, &frontierBound);
  bool abandoned = !better;

  Solution best = incumbent;
  if (abandoned) {
    // Proven only to within a bound: the table's at the start, or the
    // tighter one over the frontier where the search stopped. (Going on
    // with a beam past that point tightens it by a few thousandths: the
    // partial plans it would drop are as near the optimum.)
    lowerBound = std::max(lowerBound, std::min(frontierBound, cutoff));
    best.lowerBoundSeconds = std::min(lowerBound, incumbent.seconds);
  } else {
    if (better->feasible && better->seconds < incumbent.seconds)
      best = *better;
    // Nothing survived the cutoff, or the survivor is the optimum.
    best.lowerBoundSeconds = 0;
  }
  best.peak = predictPeak(segments, best.choice);
  best.seconds = 0;
  for (size_t p = 0; p < segments.size(); ++p)
    best.seconds += segments[p].options[best.choice[p]].seconds;
  if (!abandoned)
    best.lowerBoundSeconds = best.seconds;
  return best;
}

Solution densenet::plan::solveMinPeak(const std::vector<Segment> &segments) {
  // Minimising the peak pushes every state towards keeping little, so the
  // frontier of (kept, peak) stays small: no bounds, no state budget.
  std::optional<Solution> solution = frontierProgram(
      segments, std::numeric_limits<int64_t>::max(),
      [](double, const SegmentOption &, int64_t peak) {
        return static_cast<double>(peak);
      },
      /*unit=*/1, /*suffix=*/{}, std::numeric_limits<double>::infinity(),
      std::numeric_limits<size_t>::max());
  assert(solution && "a frontier past 2^30 states");
  solution->lowerBoundSeconds = solution->seconds;
  return *solution;
}
