//===- PlannerTest.cpp - Plans of real models against enumeration ---------===//
//
// For small DenseNets every combination of per-layer options is simulated
// (the ground truth: schedule, liveness, layout). The solver's model must
// predict each one's peak and recompute time exactly, and its plans must be
// the cheapest that fit.
//
//===----------------------------------------------------------------------===//

#include "compiler/Pipeline.h"
#include "compiler/Targets.h"
#include "compiler/plan/Planner.h"
#include "test/unit/SmallModel.h"

#include "mlir/IR/MLIRContext.h"

#include <gtest/gtest.h>

#include <limits>

using namespace densenet;
using namespace densenet::plan;
using densenet::testing::smallModel;

namespace {

std::vector<std::vector<int>> allChoices(const std::vector<Segment> &segments) {
  std::vector<std::vector<int>> choices;
  std::vector<int> choice(segments.size(), 0);
  while (true) {
    choices.push_back(choice);
    size_t p = 0;
    while (p < segments.size() &&
           ++choice[p] == static_cast<int>(segments[p].options.size()))
      choice[p++] = 0;
    if (p == segments.size())
      return choices;
  }
}

void checkAgainstEnumeration(const ModelSpec &spec, size_t expectedChoices) {
  mlir::MLIRContext context;
  auto module = buildModule(context, spec, SgdSettings(), Stage::Training);
  ASSERT_TRUE(bool(module)) << llvm::toString(module.takeError());
  PlanOptions options;
  options.target = *getTarget("cpu");

  auto segments = profileStep(**module, options);
  ASSERT_TRUE(bool(segments)) << llvm::toString(segments.takeError());
  std::vector<std::vector<int>> choices = allChoices(*segments);
  ASSERT_EQ(choices.size(), expectedChoices);
  auto outcomes = evaluateChoices(**module, options, choices);
  ASSERT_TRUE(bool(outcomes)) << llvm::toString(outcomes.takeError());

  // The model of Solver.h is exact for every choice.
  int64_t smallest = std::numeric_limits<int64_t>::max(), largest = 0;
  for (size_t i = 0; i < choices.size(); ++i) {
    const ChoiceOutcome &outcome = (*outcomes)[i];
    ASSERT_EQ(predictPeak(*segments, choices[i]), outcome.peakLiveBytes)
        << "choice " << i;
    double seconds = 0;
    for (size_t p = 0; p < segments->size(); ++p)
      seconds += (*segments)[p].options[choices[i][p]].seconds;
    EXPECT_NEAR(seconds, outcome.recomputeSeconds, 1e-15) << "choice " << i;
    smallest = std::min(smallest, outcome.peakLiveBytes);
    largest = std::max(largest, outcome.peakLiveBytes);
  }

  // The least-peak plan and, at limits across the range, the cheapest plan
  // that fits are the enumeration's.
  EXPECT_EQ(solveMinPeak(*segments).peak, smallest);
  for (int step = 0; step <= 20; ++step) {
    int64_t limit = smallest + (largest - smallest) * step / 20;
    double best = std::numeric_limits<double>::infinity();
    for (size_t i = 0; i < choices.size(); ++i)
      if ((*outcomes)[i].peakLiveBytes <= limit)
        best = std::min(best, (*outcomes)[i].recomputeSeconds);
    Solution solution = solveMinTime(*segments, limit);
    ASSERT_TRUE(solution.feasible) << "limit " << limit;
    EXPECT_NEAR(solution.seconds, best, 1e-15) << "limit " << limit;
    EXPECT_LE(solution.peak, limit);
  }
  EXPECT_FALSE(solveMinTime(*segments, smallest - 1).feasible);
}

TEST(Planner, BottleneckModelMatchesEnumeration) {
  // stem (2 options), 3 layers (3 each), transition (2), classifier (2).
  checkAgainstEnumeration(smallModel(StemKind::ImageNet, 4, {2, 1}),
                          2 * 27 * 2 * 2);
}

TEST(Planner, PlainModelMatchesEnumeration) {
  // cifar stem (1 option), 5 plain layers (2 each), transition, classifier.
  checkAgainstEnumeration(smallModel(StemKind::Cifar, 0, {3, 2}),
                          32 * 2 * 2);
}

TEST(Planner, PlansFitTheirBudget) {
  mlir::MLIRContext context;
  ModelSpec spec = smallModel(StemKind::ImageNet, 4, {3, 3});
  PlanOptions options;
  options.target = *getTarget("cpu");
  auto probe = buildModule(context, spec, SgdSettings(), Stage::Training);
  ASSERT_TRUE(bool(probe));
  llvm::Expected<int64_t> minimum = minimumBudget(**probe, options);
  ASSERT_TRUE(bool(minimum)) << llvm::toString(minimum.takeError());

  double previousSeconds = std::numeric_limits<double>::infinity();
  for (int step = 0; step <= 10; ++step) {
    auto module = buildModule(context, spec, SgdSettings(), Stage::Training);
    ASSERT_TRUE(bool(module));
    options.budgetBytes = *minimum + *minimum * step / 5;
    llvm::Expected<MemoryPlan> plan = planMemory(**module, options);
    ASSERT_TRUE(bool(plan)) << llvm::toString(plan.takeError());
    EXPECT_LE(plan->predictedPeakBytes, *options.budgetBytes);
    EXPECT_LE(plan->arenaBytes + plan->reserveBytes, *options.budgetBytes);
    // More memory never makes the step slower.
    EXPECT_LE(plan->recomputeSeconds, previousSeconds + 1e-15);
    previousSeconds = plan->recomputeSeconds;
  }

  auto module = buildModule(context, spec, SgdSettings(), Stage::Training);
  ASSERT_TRUE(bool(module));
  options.budgetBytes = *minimum - 1;
  llvm::Expected<MemoryPlan> tooSmall = planMemory(**module, options);
  ASSERT_FALSE(bool(tooSmall));
  bool infeasible = false;
  llvm::handleAllErrors(tooSmall.takeError(),
                        [&](const InfeasibleBudgetError &error) {
                          infeasible = true;
                          EXPECT_EQ(error.minBudgetBytes, *minimum);
                        });
  EXPECT_TRUE(infeasible);
}

/// How many batch-norm gradients' weight or bias gradient shares arena
/// bytes with what the ReLU gradient right before it reads.
int fusedPairClobbers(const MemoryPlan &plan) {
  const Schedule &schedule = plan.schedule;
  auto rootOf = [&](int id) {
    const Buffer &buffer = schedule.buffers[id];
    return buffer.isView() ? buffer.viewOf : id;
  };
  auto overlap = [&](int a, int b) {
    const Buffer &x = schedule.buffers[rootOf(a)],
                 &y = schedule.buffers[rootOf(b)];
    return x.offset < y.offset + y.bytes && y.offset < x.offset + x.bytes;
  };
  int clobbers = 0;
  for (size_t i = 0; i + 1 < schedule.steps.size(); ++i) {
    const Step &relu = schedule.steps[i], &norm = schedule.steps[i + 1];
    if (relu.op != "tg.relu_grad" || norm.op != "tg.batch_norm_grad")
      continue;
    for (size_t w = 1; w < norm.writes.size(); ++w)
      for (int read : relu.reads)
        if (overlap(norm.writes[w], read))
          ++clobbers;
  }
  return clobbers;
}

// The CUDA backend runs a ReLU gradient and the batch-norm gradient after it
// as one kernel when the second's results share no bytes with the pair's
// operands (runtime/backend/Fusion.cpp). On cuda targets the layout keeps
// the weight and bias gradients off what the ReLU gradient reads, at no
// cost to the predicted peak; a cpu target's layout need not.
TEST(Planner, CudaLayoutKeepsFusedGradientsApart) {
  mlir::MLIRContext context;
  ModelSpec spec = smallModel(StemKind::ImageNet, 4, {3, 3});
  int cpuClobbers = 0;
  for (const char *targetName : {"cpu", "h200"}) {
    PlanOptions options;
    options.target = *getTarget(targetName);
    auto probe = buildModule(context, spec, SgdSettings(), Stage::Training);
    ASSERT_TRUE(bool(probe));
    llvm::Expected<int64_t> minimum = minimumBudget(**probe, options);
    ASSERT_TRUE(bool(minimum)) << llvm::toString(minimum.takeError());
    for (int step : {0, 1, 3, 20}) {
      auto module = buildModule(context, spec, SgdSettings(), Stage::Training);
      ASSERT_TRUE(bool(module));
      options.budgetBytes = *minimum + *minimum * step / 10;
      llvm::Expected<MemoryPlan> plan = planMemory(**module, options);
      ASSERT_TRUE(bool(plan)) << llvm::toString(plan.takeError());
      EXPECT_LE(plan->arenaBytes + plan->reserveBytes, *options.budgetBytes);
      int clobbers = fusedPairClobbers(*plan);
      if (options.target.kind == "cuda")
        EXPECT_EQ(clobbers, 0) << targetName << " budget step " << step;
      else
        cpuClobbers += clobbers;
    }
  }
  // The rule matters: without it, the layout does share such bytes.
  EXPECT_GT(cpuClobbers, 0);
}

} // namespace
