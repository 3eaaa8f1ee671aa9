//===- Schedule.h - A training step as buffers and steps --------*- C++ -*-===//
//
// The planner's view of a (rematerialized) training step: every tensor is a
// buffer with a size, a category and either its own storage or a channel
// range of another buffer (a view); every op that does work is a step that
// reads, writes and updates buffers, in program order. This is the shape of
// the plan file, and the one structure liveness, the solver's profiles, the
// layout and the plan writer all read.
//
//===----------------------------------------------------------------------===//

#ifndef DENSENET_COMPILER_PLAN_SCHEDULE_H
#define DENSENET_COMPILER_PLAN_SCHEDULE_H

#include "compiler/Targets.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"

#include <nlohmann/json.hpp>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace densenet::plan {

enum class Phase { Forward, Recompute, Backward, Update };
llvm::StringRef stringifyPhase(Phase phase);

/// What a buffer holds, for the report's breakdown of the budget.
enum class Category {
  Weights,
  WeightGradients,
  OptimizerState,
  BatchNormStatistics,
  Input,
  Activations,
  ActivationGradients,
  Workspace,
};
constexpr int kNumCategories = 8;
llvm::StringRef stringifyCategory(Category category);

struct Buffer {
  int id = -1;
  std::string name;
  int64_t bytes = 0;
  std::vector<int64_t> shape;
  std::string dtype;
  Category category = Category::Activations;
  bool persistent = false;
  /// A view is channels [channelOffset, channelOffset + channels) of
  /// `viewOf` (always a root buffer, never another view), or, when
  /// byteOffset >= 0, the contiguous bytes [byteOffset, byteOffset + bytes)
  /// of it (a gradient inside an all-reduce bucket).
  int viewOf = -1;
  int64_t channelOffset = 0;
  int64_t channels = 0;
  int64_t byteOffset = -1;
  /// Arena offset of a root buffer, set by the layout.
  int64_t offset = -1;

  bool isView() const { return viewOf >= 0; }
  bool isContiguousView() const { return viewOf >= 0 && byteOffset >= 0; }
};

struct Step {
  std::string op;      // "tg.conv2d"
  std::string layer;   // the op's name: "features.denseblock1.denselayer1.conv1"
  std::string segment; // the unit of rematerialization decisions
  Phase phase = Phase::Forward;
  std::vector<int> reads, writes, updates;
  int64_t flops = 0;
  int64_t bytesRead = 0;
  int64_t bytesWritten = 0;
  int64_t workspaceBytes = 0;
  double seconds = 0.0; // roofline time on the target
  /// The op's attributes the runtime needs (stride, epsilon, rate, ...).
  nlohmann::ordered_json attributes = nlohmann::ordered_json::object();
};

struct Schedule {
  std::vector<Buffer> buffers;
  std::vector<Step> steps;
  /// Buffer ids of the function's results (loss, correct count): they live
  /// to the end of the step.
  std::vector<int> results;
};

struct ScheduleOptions {
  /// Place the operands of each concatenation inside its result (one block
  /// buffer per dense block). Off for the naive `none` policy, whose
  /// concatenations copy.
  bool inPlaceConcat = true;
};

/// Builds the schedule of a verified training step (after
/// tg-rematerialize, if any), with per-step costs for `target`.
Schedule buildSchedule(mlir::func::FuncOp step, const Target &target,
                       const ScheduleOptions &options);

/// The rematerialization unit an op belongs to, from its torchvision name:
/// "features.denseblock2.denselayer5", "features.transition1", "stem",
/// "classifier"; another name is its own segment.
std::string segmentOf(llvm::StringRef opName);

/// Live ranges of root buffers and the bytes live at each step.
struct Liveness {
  std::vector<int> first, last;        // per buffer id (roots only; -1 for views)
  std::vector<int64_t> liveBytes;      // per step
  std::vector<std::array<int64_t, kNumCategories>> liveByCategory; // per step
  int64_t peakBytes = 0;
  int peakStep = -1;
};

/// Simulates the schedule: a root buffer is live from the first step that
/// writes it or one of its views to the last step that reads or updates it
/// or a view; persistent buffers and results live throughout.
Liveness computeLiveness(const Schedule &schedule);

} // namespace densenet::plan

#endif // DENSENET_COMPILER_PLAN_SCHEDULE_H
