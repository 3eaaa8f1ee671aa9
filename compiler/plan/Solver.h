//===- Solver.h - Optimal rematerialization over segments -------*- C++ -*-===//
//
// The decision problem, free of IR. A training step is a sequence of
// segments (stem, dense layers, transitions, classifier) in forward order;
// each has options (keep its intermediates, recompute some, recompute all).
// With the forward pass in order, the backward pass in reverse and
// recomputation inside a segment's own backward, the bytes live during
// segment p are
//
//     sum over j < p of kept_j(d_j)  +  peak_p(d_p)
//
// where kept_j is what segment j holds from its forward to its backward and
// peak_p the most that is live during p's own steps apart from what earlier
// segments keep (shared buffers, p's own working set). A plan fits a limit
// when every such sum does.
//
// solveMinTime minimises the summed recompute time subject to that, exactly,
// by branch and bound over the exact Pareto frontiers of partial plans,
// walked from both ends:
//  - a dynamic program over bytes kept in coarse units, with sizes rounded
//    up, gives a plan that certainly fits (the incumbent), and with sizes
//    rounded down, lower bounds on the time of any prefix or suffix;
//  - from the last segment backwards, the frontier of (bytes a suffix needs
//    above the prefix, time) collapses wherever a segment's own peak covers
//    what follows: in a DenseNet's last block it stays hundreds of times
//    smaller than the forward frontier there. The walk goes on while it
//    stays small;
//  - from the first segment forwards, the frontier of (bytes kept, time),
//    dropping every partial plan whose time plus the bound on the rest
//    cannot beat the incumbent, where the rest's bound is exact past the
//    meeting point (the backward frontier);
//  - the two frontiers meet in one merge.
// If the search outgrows its budget of states (see kDefaultSearchStates),
// the incumbent stands with its proven lower bound.
//
//===----------------------------------------------------------------------===//

#ifndef DENSENET_COMPILER_PLAN_SOLVER_H
#define DENSENET_COMPILER_PLAN_SOLVER_H

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace densenet::plan {

struct SegmentOption {
  std::string name;     // "keep", "recompute-norm-relu", "recompute-layer"
  int64_t kept = 0;     // bytes held from the forward to the backward
  int64_t peak = 0;     // most bytes live during the segment's steps,
                        // excluding what earlier segments keep
  double seconds = 0;   // recompute time this option adds
  int64_t recomputeFlops = 0;
};

struct Segment {
  std::string name;
  std::vector<SegmentOption> options; // options[0] keeps everything
};

struct Solution {
  bool feasible = false;
  std::vector<int> choice; // option index per segment
  int64_t peak = 0;        // predicted most live bytes
  double seconds = 0;      // summed recompute time
  /// Proven bound: no fitting plan recomputes for less than this. Equal to
  /// `seconds` when the solution is proven optimal.
  double lowerBoundSeconds = 0;
};

/// The peak of a given choice: max over p of (kept before p + peak_p).
int64_t predictPeak(const std::vector<Segment> &segments,
                    const std::vector<int> &choice);

/// The recompute time of a given choice: the sum of its options' seconds.
double predictSeconds(const std::vector<Segment> &segments,
                      const std::vector<int> &choice);

/// How many partial plans the exact search of solveMinTime may keep, in
/// all, before it settles for its incumbent and the proven bound. Deep
/// models at budgets between the extremes have hundreds of thousands of
/// near-equal partial plans per segment that no bound separates, so a proof
/// there costs millions of states: with the walk from both ends, up to 11
/// million for densenet264 and 14 million for densenet-bc-250 at batch 64
/// (0.3 and 0.4 s per solve here), so the default proves every preset's
/// plans. Deeper models (DenseNet-BC-400 and beyond) need more:
/// kProofSearchStates (densenetc --prove-optimal) proves some, at up to
/// ~2 s and ~700 MB. docs/memory-model.md has the measurements.
constexpr size_t kDefaultSearchStates = size_t(1) << 24;
constexpr size_t kProofSearchStates = size_t(1) << 26;

/// The most states per segment the backward walk of solveMinTime keeps
/// before the forward walk takes over. A DenseNet's last block stays under
/// it (densenet-bc-250: 14,000); 2^12 stopped inside it and tripled the
/// solve's time, 2^16 and 2^18 were no faster.
constexpr size_t kReverseStates = size_t(1) << 14;

/// How solveMinTime searches.
struct SearchOptions {
  /// Partial plans it may keep before settling (kDefaultSearchStates).
  size_t maxStates = kDefaultSearchStates;
  /// Moves the walks' meeting point (see kReverseStates; 0: forward only).
  size_t reverseStates = kReverseStates;
  /// Threads for the search's largest steps (0: one per core). The result
  /// is the same for every count.
  unsigned threads = 0;
  /// Steps from frontiers of at least this many partial plans are split
  /// across the threads; smaller ones cost more to split than they save.
  size_t parallelFrom = size_t(1) << 13;
};

/// The choice with the least recompute time whose peak is at most `limit`
/// (among equal times, not necessarily the one with the smaller peak);
/// infeasible when none fits. Proven optimal
/// (lowerBoundSeconds == seconds) unless the search outgrew `maxStates`.
/// `reverseStates` moves the walks' meeting point (tests use small values,
/// 0 for a forward walk only).
Solution solveMinTime(const std::vector<Segment> &segments, int64_t limit,
                      const SearchOptions &search);
Solution solveMinTime(const std::vector<Segment> &segments, int64_t limit,
                      size_t maxStates = kDefaultSearchStates,
                      size_t reverseStates = kReverseStates);

/// The choice with the smallest peak (ties: the least time), by dynamic
/// programming over the Pareto frontier of (bytes kept, peak so far).
Solution solveMinPeak(const std::vector<Segment> &segments);

} // namespace densenet::plan

#endif // DENSENET_COMPILER_PLAN_SOLVER_H
