//===- Plan.h - A training plan as the runtime sees it ----------*- C++ -*-===//
//
// The in-memory form of a plan file (docs/plan-format.md). `loadPlan` parses
// and verifies it completely before anything runs: format, version,
// checksum, buffer placement, single writers, lifetimes that never share
// arena bytes, the predicted peak, and the operands of every step against
// the op's rules. Backends receive only verified plans, so their kernels may
// trust every shape and offset.
//
//===----------------------------------------------------------------------===//

#ifndef DENSENET_RUNTIME_PLAN_PLAN_H
#define DENSENET_RUNTIME_PLAN_PLAN_H

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace densenet::runtime {

/// A plan that cannot be run; the message names the field, buffer or step.
class PlanError : public std::runtime_error {
  using std::runtime_error::runtime_error;
};

enum class DType { F32, BF16, F16, I32, I64, U8 };
const char *stringify(DType dtype);
int64_t sizeOf(DType dtype);

enum class Phase { Forward, Recompute, Backward, Update };

/// The ops of docs/training-semantics.md that appear as steps.
enum class OpKind {
  Conv2d,
  Conv2dGradInput,
  Conv2dGradFilter,
  BatchNorm,
  BatchNormGrad,
  RunningStatsUpdate,
  Relu,
  ReluGrad,
  Concat,
  MaxPool,
  MaxPoolGrad,
  AvgPool,
  AvgPoolGrad,
  GlobalAvgPool,
  GlobalAvgPoolGrad,
  Linear,
  LinearGrad,
  Dropout,
  DropoutGrad,
  SoftmaxCrossEntropy,
  SoftmaxCrossEntropyGrad,
  Accumulate,
  SgdUpdate,
  AllReduce,
};

struct Buffer {
  int id = 0;
  std::string name;
  int64_t bytes = 0;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  std::string category;
  bool persistent = false;
  /// A root has an arena offset; a view is channels
  /// [channelOffset, channelOffset + channels) of root `viewOf`, or, when
  /// byteOffset >= 0, its bytes [byteOffset, byteOffset + bytes) (a gradient
  /// in an all-reduce bucket).
  int64_t offset = -1;
  int viewOf = -1;
  int64_t channelOffset = 0;
  int64_t channels = 0;
  int64_t byteOffset = -1;

  bool isView() const { return viewOf >= 0; }
  bool isContiguousView() const { return viewOf >= 0 && byteOffset >= 0; }
  int64_t elements() const;
};

/// The parameters of a step (`attributes` in the file), defaulted when the
/// op has none of them.
struct Attributes {
  std::vector<int64_t> stride{1, 1}, padding{0, 0}, kernel{1, 1};
  double epsilon = 1e-5, momentum = 0, rate = 0, weightDecay = 0;
  int64_t offset = 0, samples = 0, worldSize = 1;
  bool nesterov = false;
};

struct Step {
  OpKind op = OpKind::Relu;
  std::string opName; // as in the file: "tg.conv2d"
  std::string layer;
  Phase phase = Phase::Forward;
  std::vector<int> reads, writes, updates;
  int64_t flops = 0;
  int64_t workspaceBytes = 0;
  int workspace = -1; // buffer id of the workspace, -1 when none
  Attributes attributes;
};

struct Plan {
  std::string source; // the file it came from, for messages
  std::string checksum;
  std::string targetName, targetKind;
  int64_t alignment = 64;
  nlohmann::json model; // the resolved model description
  int64_t batchSize = 0;
  DType dtype = DType::F32;
  std::string policy;
  struct Optimizer {
    double momentum = 0, weightDecay = 0;
    bool nesterov = false, decayNormAndBias = true;
  } optimizer;
  /// Dynamic loss scaling (f16 plans; docs/training-semantics.md): the
  /// loss gradient is multiplied by the scale; a step with a gradient that is
  /// not finite updates nothing and multiplies the scale by `backoff`;
  /// `interval` finite steps in a row multiply it by `growth`.
  struct LossScale {
    double initial = 65536, growth = 2, backoff = 0.5;
    int64_t interval = 2000;
  };
  std::optional<LossScale> lossScale;
  /// Ranks the plan averages gradients over (mpirun -np worldSize), and the
  /// bucket size it was planned with.
  int64_t worldSize = 1, bucketBytes = 0;
  std::optional<int64_t> budgetBytes;
  int64_t arenaBytes = 0, reserveBytes = 0, predictedPeakBytes = 0;
  int64_t minBudgetBytes = 0;
  std::vector<std::string> recomputedLayers;
  double predictedStepSeconds = 0;
  int input = -1, labels = -1, learningRate = -1;
  int loss = -1, correct = -1;
  std::vector<Buffer> buffers;
  std::vector<Step> steps;

  // Derived by verification.
  int logits = -1;                  // the classifier output (loss step input)
  int64_t predictedLiveBytes = 0;   // predictedPeakBytes - reserveBytes
  std::vector<int64_t> liveBytesPerStep;

  /// The model's input image shape (channels, height, width) and classes.
  int64_t inputChannels() const { return buffers[input].shape[1]; }
  int64_t inputHeight() const { return buffers[input].shape[2]; }
  int64_t inputWidth() const { return buffers[input].shape[3]; }
  int64_t classes() const { return buffers[logits].shape[1]; }
  /// The buffer named `name`, or -1.
  int find(const std::string &name) const;
};

/// Parses and verifies the plan in `text`; `source` names it in messages.
Plan parsePlan(const std::string &text, const std::string &source);
/// Reads, parses and verifies a plan file.
Plan loadPlan(const std::string &path);

} // namespace densenet::runtime

#endif // DENSENET_RUNTIME_PLAN_PLAN_H
