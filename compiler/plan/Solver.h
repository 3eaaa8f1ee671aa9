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
// by branch and bound: a dynamic program over bytes kept in coarse units,
// with sizes rounded up, gives a plan that certainly fits (the incumbent);
// the same program backwards with sizes rounded down gives, for every
// segment and bytes kept so far, a lower bound on the time still to come.
// The exact dynamic program over the Pareto frontier of (bytes kept, time)
// then drops every partial plan that cannot beat the incumbent, which keeps
// the frontier small. If it still outgrows its budget of states (see
// kDefaultSearchStates), the incumbent stands with
// its proven lower bound.
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

/// How many partial plans the exact search of solveMinTime may keep, in
/// all, before it settles for its incumbent and the proven bound. Deep
/// models at budgets between the extremes have hundreds of thousands of
/// near-equal partial plans per segment that no bound separates, so a proof
/// there costs tens of millions of states. The default keeps one solve of
/// densenet264 under ~0.15 s here; kProofSearchStates proved every preset's
/// plans at 41 budgets each (densenet264: up to 1.2 s and 330 MB per solve,
/// densenet-bc-250: up to 3 s and 1 GB). docs/memory-model.md has the
/// measurements.
constexpr size_t kDefaultSearchStates = 2'000'000;
constexpr size_t kProofSearchStates = size_t(1) << 26;

/// The choice with the least recompute time whose peak is at most `limit`
/// (ties: the smaller peak); infeasible when none fits. Proven optimal
/// (lowerBoundSeconds == seconds) unless the search outgrew `maxStates`.
Solution solveMinTime(const std::vector<Segment> &segments, int64_t limit,
                      size_t maxStates = kDefaultSearchStates);

/// The choice with the smallest peak (ties: the least time), by dynamic
/// programming over the Pareto frontier of (bytes kept, peak so far).
Solution solveMinPeak(const std::vector<Segment> &segments);

} // namespace densenet::plan

#endif // DENSENET_COMPILER_PLAN_SOLVER_H
