//===- Solver.cpp - Optimal rematerialization over segments ---------------===//
//
// A partial choice is summarised by the bytes it keeps (which later
// segments pay), or, walking backwards, by the bytes it needs above what
// earlier segments keep, and by the objective so far. solveMinPeak walks
// forwards; solveMinTime walks backwards from the end while that stays
// cheap, then forwards to meet it.
//
//===----------------------------------------------------------------------===//

#include "compiler/plan/Solver.h"
#include "compiler/plan/Frontier.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <limits>
#include <memory>
#include <numeric>
#include <optional>

using namespace densenet::plan;
using namespace densenet::plan::detail;

namespace {

constexpr int64_t kNothingNeeded = -(int64_t(1) << 62);
/// Below this many table entries (states times segments) solveMinTime
/// makes its incumbent and its prefix tables one after the other.
constexpr size_t kParallelTables = size_t(1) << 20;

/// The frontier after a walk, and the links to read its choices back.
struct Walk {
  Frontier last;
  /// Per segment walked, the links of its frontier (not zero-filled).
  std::vector<std::unique_ptr<uint32_t[]>> trail;
};

/// The exact dynamic program over the Pareto frontier of (bytes kept,
/// objective) for segments [0, end), for both solvers.
///
/// Deep models keep up to a million states per segment, so a step merges
/// the options' children straight from the parents (stepFrontier), and the
/// walk back keeps 4 bytes per state (parent index above the option's
/// bits).
///
/// `childCost(parent, option)` is the objective: summed seconds, or the
/// peak so far. A child whose objective plus the bound
/// `suffix[p + 1][kept / unit]` on the rest reaches `cutoff` is never made
/// (`suffix` empty: no bounds). Gives up (nullopt) past `maxStates` states
/// in all (counting `*total`, which it advances), and then sets
/// `*abandonedBound` (if given) to the least objective plus bound over the
/// states it held: every plan that beats the cutoff passes through one of
/// them (or one that dominates it), so no plan costs less than that or the
/// cutoff. An empty frontier means nothing beats the cutoff. With
/// `workers`, steps from frontiers of `parallelFrom` states or more are
/// split across them (stepFrontier).
template <typename ChildCost>
std::optional<Walk>
forwardProgram(const std::vector<Segment> &segments, size_t end,
               int64_t limit, ChildCost childCost, int64_t unit,
               const std::vector<std::vector<float>> &suffix,
               double boundScale, double cutoff, size_t maxStates,
               size_t *total, double *abandonedBound = nullptr,
               Workers *workers = nullptr, size_t parallelFrom = 0) {
  LinkCode code(segments);
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
    return r < states ? bound[r] * boundScale : kInfinite;
  };
  Walk walk;
  walk.trail.reserve(end);
  Frontier &current = walk.last, next;
  std::vector<Frontier> pieces; // stepFrontier's slices
  std::unique_ptr<uint32_t[]> links;
  current.reserve(1);
  current.states[0] = State{0, 0, 0};
  current.size = 1;
  for (size_t p = 0; p < end; ++p) {
    const std::vector<SegmentOption> &options = segments[p].options;
    // After the last segment nothing is bounded: no one pays what it keeps
    // (which may pass the table).
    const float *bound = suffix.empty() || p + 1 == segments.size()
                             ? nullptr
                             : suffix[p + 1].data();
    stepFrontier(
        current, options.size(), code,
        [&](size_t o, const State &parent) {
          const SegmentOption &option = options[o];
          return State{parent.kept + option.kept, childCost(parent, option),
                       0};
        },
        [&](size_t o) {
          // Parents are sorted by kept bytes: those that fit come first.
          int64_t room = limit - options[o].peak;
          const State *begin = current.states.get();
          const State *fit = std::partition_point(
              begin, begin + current.size,
              [&](const State &state) { return state.kept <= room; });
          return std::pair<size_t, size_t>(0, fit - begin);
        },
        [&](int64_t kept, double cost) {
          return cost + restAfter(bound, kept) < cutoff;
        },
        next, workers, parallelFrom, &pieces, &links);
    std::swap(current, next);
    *total += current.size;
    if (current.size == 0)
      return walk; // nothing beats the cutoff
    if (*total > maxStates || current.size > code.mostParents()) {
      if (abandonedBound) {
        double least = kInfinite;
        for (size_t s = 0; s < current.size; ++s)
          least = std::min(least, current[s].cost +
                                      restAfter(bound, current[s].kept));
        *abandonedBound = least;
      }
      return std::nullopt;
    }
    walk.trail.push_back(std::move(links));
  }
  return walk;
}

/// The choices of segments [0, trail.size()) that lead to state `index`.
void readForward(const Walk &walk, const LinkCode &code, size_t index,
                 std::vector<int> &choice) {
  for (size_t p = walk.trail.size(); p-- > 0;) {
    uint32_t link = walk.trail[p][index];
    choice[p] = code.option(link);
    index = code.parent(link);
  }
}

/// The same program backwards, from the last segment down to `*begin`, for
/// the summed seconds. A plan of segments [b, n) needs `need` bytes above
/// whatever the segments before b keep:
///
///     need_b = max(peak_b(d_b), kept_b(d_b) + need_{b+1})
///
/// (nothing after the last segment: its peak alone), and the whole plan fits
/// when kept before b plus need_b is within the limit. A state whose cost
/// plus the bound `prefix[b][(limit - need) / unit]` on the segments before
/// reaches `cutoff` is dropped. The frontier of (need, seconds) stays small
/// where a segment's own peak covers what the rest needs, since every such
/// rest collapses to one state: in a DenseNet's last block hundreds of
/// times smaller than the forward frontier there, in the middle blocks far
/// larger. So the walk stops before its frontier would pass `mostStates`
/// (or the states in all `maxTotal`, counting `*total`), and `*begin` says
/// where; the forward program meets it there (see solveMinTime).
/// `trail[b - *begin]` links each state to the next segment's frontier.
Walk reverseProgram(const std::vector<Segment> &segments, int64_t limit,
                    int64_t unit, const std::vector<std::vector<float>> &prefix,
                    double boundScale, double cutoff, size_t mostStates,
                    size_t maxTotal, size_t *total, size_t *begin) {
  LinkCode code(segments);
  Walk walk;
  Frontier &current = walk.last, next;
  current.reserve(1);
  // After the last segment nothing is needed: what it keeps is freed by
  // its own backward, so it counts in no later segment's peak.
  current.states[0] = State{kNothingNeeded, 0, 0};
  current.size = 1;
  std::unique_ptr<uint32_t[]> links;
  size_t b = segments.size();
  for (; b > 0; --b) {
    const std::vector<SegmentOption> &options = segments[b - 1].options;
    const std::vector<float> &before = prefix[b - 1];
    stepFrontier(
        current, options.size(), code,
        [&](size_t o, const State &parent) {
          const SegmentOption &option = options[o];
          return State{std::max(option.peak, option.kept + parent.kept),
                       parent.cost + option.seconds, 0};
        },
        [&](size_t o) {
          const SegmentOption &option = options[o];
          const State *first = current.states.get();
          const State *end = first + current.size;
          if (option.peak > limit)
            return std::pair<size_t, size_t>(0, 0);
          // The parents whose need the option's peak covers all become one
          // child, of which the last (the cheapest) is the only one worth
          // merging; past the limit none fits.
          const State *covered = std::partition_point(
              first, end, [&](const State &state) {
                return option.kept + state.kept <= option.peak;
              });
          const State *fit = std::partition_point(
              covered, end, [&](const State &state) {
                return option.kept + state.kept <= limit;
              });
          size_t from = covered == first ? 0 : covered - first - 1;
          return std::pair<size_t, size_t>(from, fit - first);
        },
        [&](int64_t need, double cost) {
          size_t r = std::min<size_t>(
              static_cast<size_t>((limit - need) / unit), before.size() - 1);
          return cost + before[r] * boundScale < cutoff;
        },
        next, /*workers=*/nullptr, /*parallelFrom=*/0, /*pieces=*/nullptr,
        &links);
    if (next.size > mostStates || next.size > code.mostParents() ||
        *total + next.size > maxTotal)
      break; // the forward program takes it from here
    *total += next.size;
    std::swap(current, next);
    walk.trail.push_back(std::move(links));
    if (current.size == 0) {
      --b;
      break; // nothing fits
    }
  }
  *begin = b;
  std::reverse(walk.trail.begin(), walk.trail.end());
  return walk;
}

/// The choices of segments [begin, n) from the reverse walk's state `index`.
void readReverse(const Walk &walk, const LinkCode &code, size_t begin,
                 size_t index, std::vector<int> &choice) {
  for (size_t i = 0; i < walk.trail.size(); ++i) {
    uint32_t link = walk.trail[i][index];
    choice[begin + i] = code.option(link);
    index = code.parent(link);
  }
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

double densenet::plan::predictSeconds(const std::vector<Segment> &segments,
                                      const std::vector<int> &choice) {
  double seconds = 0;
  for (size_t p = 0; p < segments.size(); ++p)
    seconds += segments[p].options[choice[p]].seconds;
  return seconds;
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

/// An option as the bound tables see it, in `unit`-byte units rounded
/// down (which only loosens every check): a prefix of r units moves to
/// r + shift, and the option fits after it for r < fits (none when the
/// option's peak alone passes the limit); in a table of `states` entries
/// the moved prefix stays inside for r < stop (past it, more than the limit
/// or than every segment keeping its most, a prefix is unreachable). Its
/// time is rounded down to a float.
struct RoundedOption {
  size_t shift, fits, stop;
  float seconds;
};
static RoundedOption roundDown(const SegmentOption &option, int64_t limit,
                               int64_t unit, size_t states) {
  if (option.peak > limit)
    return {0, 0, 0, 0.0f};
  size_t fits = std::min<size_t>(
      states, static_cast<size_t>((limit - option.peak) / unit) + 1);
  size_t shift = static_cast<size_t>(option.kept / unit);
  return {shift, fits, shift < states ? std::min(fits, states - shift) : 0,
          std::nextafter(static_cast<float>(option.seconds), 0.0f)};
}

/// Lower bounds on the recompute time of the segments before b: prefix[b][r]
/// is at most the least time of segments [0, b) for any choice of them that
/// keeps at most r units and fits. Kept sizes are rounded down, which only
/// loosens every check.
static std::vector<std::vector<float>>
prefixBounds(const std::vector<Segment> &segments, int64_t limit,
             int64_t unit, size_t states) {
  constexpr float kInfiniteF = std::numeric_limits<float>::infinity();
  size_t count = segments.size();
  std::vector<std::vector<float>> prefix(count + 1);
  // exact[r]: the least time that keeps exactly r units.
  std::vector<float> exact(states, kInfiniteF), next(states);
  exact[0] = 0;
  auto store = [&](size_t b) {
    std::vector<float> &row = prefix[b];
    row.resize(states);
    float least = kInfiniteF;
    for (size_t r = 0; r < states; ++r)
      row[r] = least = std::min(least, exact[r]);
  };
  store(0);
  for (size_t p = 0; p < count; ++p) {
    std::fill(next.begin(), next.end(), kInfiniteF);
    for (const SegmentOption &option : segments[p].options) {
      auto [shift, fits, stop, seconds] =
          roundDown(option, limit, unit, states);
      for (size_t r = 0; r < stop; ++r)
        next[r + shift] = std::min(next[r + shift], exact[r] + seconds);
    }
    exact.swap(next);
    store(p + 1);
  }
  return prefix;
}

/// Lower bounds on the recompute time of segments [p, end) and beyond:
/// suffix[p][r] is at most the least time of segments p.. for any prefix
/// that keeps at least r units. Kept sizes are rounded down, which only
/// loosens every check. Past `end`, the exact frontier `rest` of the
/// backward walk (need rising, seconds falling) says what the rest costs.
static std::vector<std::vector<float>>
suffixBounds(const std::vector<Segment> &segments, size_t end,
             const Frontier &rest, int64_t limit, int64_t unit,
             size_t states) {
  constexpr float kInfiniteF = std::numeric_limits<float>::infinity();
  std::vector<std::vector<float>> suffix(end + 1,
                                         std::vector<float>(states));
  // A prefix of r units or more leaves at most limit - r * unit bytes; the
  // cheapest rest that needs no more is the last such state.
  std::vector<float> &last = suffix[end];
  size_t i = rest.size;
  for (size_t r = 0; r < states; ++r) {
    int64_t room = limit - static_cast<int64_t>(r) * unit;
    while (i > 0 && rest[i - 1].kept > room)
      --i;
    last[r] = i == 0 ? kInfiniteF
                     : std::nextafter(static_cast<float>(rest[i - 1].cost),
                                      0.0f);
  }
  for (size_t p = end; p-- > 0;) {
    std::vector<float> &here = suffix[p];
    std::fill(here.begin(), here.end(), kInfiniteF);
    const std::vector<float> &after = suffix[p + 1];
    for (const SegmentOption &option : segments[p].options) {
      auto [shift, fits, stop, seconds] =
          roundDown(option, limit, unit, states);
      if (p + 1 == segments.size()) {
        // What the last segment keeps no one pays: only its peak must fit.
        for (size_t r = 0; r < fits; ++r)
          here[r] = std::min(here[r], seconds);
        continue;
      }
      for (size_t r = 0; r < stop; ++r)
        here[r] = std::min(here[r], seconds + after[r + shift]);
    }
  }
  return suffix;
}

Solution densenet::plan::solveMinTime(const std::vector<Segment> &segments,
                                      int64_t limit, size_t maxStates,
                                      size_t reverseStates) {
  SearchOptions search;
  search.maxStates = maxStates;
  search.reverseStates = reverseStates;
  return solveMinTime(segments, limit, search);
}

Solution densenet::plan::solveMinTime(const std::vector<Segment> &segments,
                                      int64_t limit,
                                      const SearchOptions &search) {
  size_t maxStates = search.maxStates;
  if (limit < 0)
    return Solution{};
  // No step holds 2^61 bytes; the cap keeps sums of needs from overflowing.
  limit = std::min(limit, int64_t(1) << 61);
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
  size_t states = static_cast<size_t>(std::min(limit, mostKept) / unit) + 1;
  Workers workers(search.threads);
  // The incumbent and the prefix tables (for step 2) do not depend on each
  // other: where they are large, they are made side by side.
  Solution incumbent;
  std::vector<std::vector<float>> prefix;
  auto tables = [&](unsigned t) {
    if (t == 0)
      incumbent = solveRounded(segments, limit, unit, 0);
    else if (t == 1)
      prefix = prefixBounds(segments, limit, unit, states);
  };
  if (workers.size() > 1 && states * segments.size() >= kParallelTables) {
    workers.run(tables);
  } else {
    tables(0);
    tables(1);
  }
  if (!incumbent.feasible) {
    incumbent = solveMinPeak(segments);
    if (incumbent.peak > limit)
      return Solution{};
    incumbent.seconds = predictSeconds(segments, incumbent.choice);
  }
  incumbent.peak = predictPeak(segments, incumbent.choice);
  double cutoff = incumbent.seconds * (1 - 1e-12) - 1e-15;

  // 2. The exact frontier of the last segments, walked backwards while it
  //    stays small (reverseProgram).
  size_t begin = 0, total = 0;
  // Sums of n floats carry at most n roundings of 2^-24 each.
  double boundScale = 1 - static_cast<double>(segments.size() + 1) * 0x1p-23;
  Walk back = reverseProgram(segments, limit, unit, prefix, boundScale,
                             cutoff, search.reverseStates, maxStates / 2,
                             &total, &begin);

  // 3. Branch and bound over the exact Pareto frontier of (bytes kept,
  //    time) of the segments before: a partial plan whose time plus the
  //    bound on what remains cannot beat the incumbent is dropped, which
  //    keeps the frontier small. The bound is the exact backward frontier
  //    past `begin`, and a table before it.
  std::vector<std::vector<float>> suffix =
      suffixBounds(segments, begin, back.last, limit, unit, states);
  double lowerBound = suffix[0][0] * boundScale;
  double frontierBound = 0;
  std::optional<Walk> front = forwardProgram(
      segments, begin, limit,
      [](const State &parent, const SegmentOption &option) {
        return parent.cost + option.seconds;
      },
      unit, suffix, boundScale, cutoff, maxStates, &total, &frontierBound,
      &workers, search.parallelFrom);

  Solution best = incumbent;
  if (!front) {
    // Proven only to within a bound: the table's at the start, or the
    // tighter one over the frontier where the search stopped. (Going on
    // with a beam past that point tightens it by a few thousandths: the
    // partial plans it would drop are as near the optimum.)
    lowerBound = std::max(lowerBound, std::min(frontierBound, cutoff));
    best.lowerBoundSeconds = std::min(lowerBound, incumbent.seconds);
    return best;
  }
  // 4. Where the walks meet, every forward state (kept rising, time
  //    falling) pairs best with the backward states that fit beside it:
  //    for each backward state the forward state keeping the most that
  //    fits. Nothing under the cutoff: the incumbent is the optimum.
  const Frontier &ahead = front->last, &behind = back.last;
  LinkCode code(segments);
  auto choiceOf = [&](size_t forward, size_t backward) {
    std::vector<int> choice(segments.size(), 0);
    readForward(*front, code, forward, choice);
    readReverse(back, code, begin, backward, choice);
    return choice;
  };
  double bestSeconds = cutoff;
  bool improved = false;
  size_t i = ahead.size;
  for (size_t j = 0; j < behind.size; ++j) {
    int64_t room = limit - behind[j].kept;
    while (i > 0 && ahead[i - 1].kept > room)
      --i;
    if (i == 0)
      break;
    double seconds = ahead[i - 1].cost + behind[j].cost;
    if (seconds > bestSeconds || (!improved && seconds == bestSeconds))
      continue;
    // Equal times (rare: equal sums of different options): the smaller peak.
    std::vector<int> choice = choiceOf(i - 1, j);
    if (seconds < bestSeconds ||
        predictPeak(segments, choice) < predictPeak(segments, best.choice)) {
      bestSeconds = seconds;
      best.choice = std::move(choice);
      improved = true;
    }
  }
  best.peak = predictPeak(segments, best.choice);
  best.seconds = predictSeconds(segments, best.choice);
  best.lowerBoundSeconds = best.seconds;
  return best;
}

Solution densenet::plan::solveMinPeak(const std::vector<Segment> &segments) {
  // Minimising the peak pushes every state towards keeping little, so the
  // frontier of (kept, peak) stays small: no bounds, no state budget.
  size_t total = 0;
  std::optional<Walk> walk = forwardProgram(
      segments, segments.size(), std::numeric_limits<int64_t>::max(),
      [](const State &parent, const SegmentOption &option) {
        return std::max(parent.cost,
                        static_cast<double>(parent.kept + option.peak));
      },
      /*unit=*/1, /*suffix=*/{}, /*boundScale=*/1, kInfinite,
      std::numeric_limits<size_t>::max(), &total);
  assert(walk && walk->last.size > 0 && "a frontier past 2^30 states");
  // The frontier's peaks fall as the bytes kept rise: the last state has
  // the least.
  size_t chosen = walk->last.size - 1;
  Solution solution;
  solution.feasible = true;
  solution.choice.assign(segments.size(), 0);
  readForward(*walk, LinkCode(segments), chosen, solution.choice);
  solution.peak = predictPeak(segments, solution.choice);
  solution.seconds = predictSeconds(segments, solution.choice);
  solution.lowerBoundSeconds = solution.seconds;
  return solution;
}
