//===- Planner.h - Memory plans for training steps --------------*- C++ -*-===//
//
// Turns a verified training step into a memory plan: which intermediates to
// recompute (by policy, or the optimum under a byte budget), the schedule
// with recomputation in place, every buffer's arena offset, and the
// predicted peak and time. The IR is rewritten with tg-rematerialize; the
// plan's numbers come from simulating the final schedule, and the solver's
// prediction is checked against that simulation.
//
//===----------------------------------------------------------------------===//

#ifndef DENSENET_COMPILER_PLAN_PLANNER_H
#define DENSENET_COMPILER_PLAN_PLANNER_H

#include "compiler/Targets.h"
#include "compiler/plan/Schedule.h"
#include "compiler/plan/Solver.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Support/Timing.h"
#include "llvm/Support/Error.h"

#include <optional>

namespace densenet::plan {

/// optimal: least recompute time under the budget. keep: nothing
/// recomputed. none: the naive baseline, nothing recomputed and every
/// concatenation copied. all: every dense layer recomputed (TensorFlow's
/// recompute_grad). sqrt: Chen et al.'s sqrt(n) checkpoints.
enum class Policy { Optimal, Keep, None, All, Sqrt };
llvm::StringRef stringifyPolicy(Policy policy);

struct PlanOptions {
  Policy policy = Policy::Optimal;
  std::optional<int64_t> budgetBytes; // none: unlimited
  Target target;
  /// Data parallelism (tg-bucket-gradients): every realized plan averages
  /// gradients over `worldSize` ranks in buckets of `bucketBytes`, and the
  /// buckets' memory counts against the budget.
  int64_t worldSize = 1;
  int64_t bucketBytes = 25 << 20;
  bool oneRankBuckets = false; // all-reduces even for one rank (tests)
  /// Partial plans the solver may explore to prove a plan optimal
  /// (densenetc --prove-optimal raises it to kProofSearchStates).
  size_t searchStates = kDefaultSearchStates;
  /// Threads for the solver and the layout (0: one per core). Plans do not
  /// depend on it.
  unsigned threads = 0;
  /// When set, the planner's phases are timed under this scope
  /// (densenetc --timing); the scope must outlive the call.
  mlir::TimingScope *timing = nullptr;

  bool hasBuckets() const { return worldSize > 1 || oneRankBuckets; }
};

struct MemoryPlan {
  Policy policy = Policy::Optimal;
  Schedule schedule;
  Liveness liveness;
  std::vector<Segment> segments;
  std::vector<int> choice;              // option per segment
  int64_t arenaBytes = 0;
  int64_t reserveBytes = 0;
  int64_t predictedPeakBytes = 0;       // max live bytes + reserve
  int64_t minBudgetBytes = 0;           // smallest budget this policy fits
  std::optional<int64_t> budgetBytes;
  double stepSeconds = 0;               // roofline time of every step
  double recomputeSeconds = 0;
  int64_t forwardFlops = 0, backwardFlops = 0, recomputeFlops = 0;
  std::vector<std::string> recomputedLayers; // segments that recompute
  /// The solver's proof: no plan that fits recomputes for less than this.
  /// Equal to the plan's recompute time when it is proven optimal (always,
  /// unless the branch and bound gave up); not set for fixed policies.
  std::optional<double> recomputeLowerBoundSeconds;
  /// The limit on live bytes the bound holds for: the budget less the
  /// reserve and what the layout's alignment and fragmentation need, for
  /// the solver's own plan; the whole budget less the reserve where the
  /// least-peak plan or a baseline stands.
  std::optional<int64_t> solverLimitBytes;

  double fragmentation() const {
    int64_t live = predictedPeakBytes - reserveBytes;
    return live > 0 ? double(arenaBytes) / double(live) - 1.0 : 0.0;
  }
};

/// The error planMemory returns when the budget is below the smallest one
/// the policy can meet; the driver turns it into advice.
class InfeasibleBudgetError : public llvm::ErrorInfo<InfeasibleBudgetError> {
public:
  static char ID;
  InfeasibleBudgetError(int64_t budgetBytes, int64_t minBudgetBytes)
      : budgetBytes(budgetBytes), minBudgetBytes(minBudgetBytes) {}
  void log(llvm::raw_ostream &os) const override;
  std::error_code convertToErrorCode() const override {
    return llvm::inconvertibleErrorCode();
  }
  int64_t budgetBytes;
  int64_t minBudgetBytes;
};

/// Plans the training step in `module` (built by tg-autodiff) and rewrites
/// it with the chosen recomputation: the module's body may be replaced by
/// that of a clone the planner realized, so handles to operations inside
/// the module taken before the call do not survive it. Fails with
/// InfeasibleBudgetError when the budget cannot be met.
llvm::Expected<MemoryPlan> planMemory(mlir::ModuleOp module,
                                      const PlanOptions &options);

/// The smallest budget any plan of the policy fits (arena plus reserve).
/// The module is not changed.
llvm::Expected<int64_t> minimumBudget(mlir::ModuleOp module,
                                      const PlanOptions &options);

/// The segments of the step with every option profiled: what the solver
/// sees. For tests and benchmarks.
llvm::Expected<std::vector<Segment>> profileStep(mlir::ModuleOp module,
                                                 const PlanOptions &options);

/// What a choice really does, by simulating its schedule on a clone of the
/// module: the ground truth the solver's model is checked against.
struct ChoiceOutcome {
  int64_t peakLiveBytes = 0; // without the reserve
  int64_t arenaBytes = 0;
  double recomputeSeconds = 0;
};
llvm::Expected<std::vector<ChoiceOutcome>>
evaluateChoices(mlir::ModuleOp module, const PlanOptions &options,
                const std::vector<std::vector<int>> &choices);

} // namespace densenet::plan

#endif // DENSENET_COMPILER_PLAN_PLANNER_H
