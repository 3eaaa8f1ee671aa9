//===- Autodiff.cpp - tg forward graph to a whole training step -----------===//
//
// Reverse-mode differentiation of a tg forward graph, specialised to what
// DenseNet memory planning needs: gradients of concatenations are channel
// ranges of one buffer (updated in place with tg.accumulate), gradients are
// computed only where a parameter is upstream, and each parameter's SGD
// update follows its gradient directly (or, with defer-updates, the whole
// backward pass).
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"

#include "dialects/TG/TGOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/TypeSwitch.h"

#include <cmath>

namespace densenet {
#define GEN_PASS_DEF_TGAUTODIFF
#include "passes/Passes.h.inc"
} // namespace densenet

using namespace mlir;
using namespace densenet;

namespace {

/// Optimizer settings, copied from the pass options.
struct SgdSettings {
  double momentum;
  double weightDecay;
  bool nesterov;
  bool decayNormAndBias;
  bool deferUpdates;
};

/// Where the gradient of a value lives: channels [offset, offset + C) of a
/// gradient buffer, or the whole buffer.
struct GradientRef {
  unsigned buffer;
  int64_t offset;
  bool whole;
};

/// Builds the training step of one function.
class TrainingStepBuilder {
public:
  TrainingStepBuilder(func::FuncOp function, const SgdSettings &settings)
      : function(function), builder(function.getContext()),
        settings(settings) {}

  LogicalResult build();

private:
  LogicalResult checkForwardGraph();
  void computeActivity(Value logits);
  LogicalResult differentiate(Operation *op);

  /// The gradient of `value` as a tensor; `name` names a slice if one is
  /// needed. Null when nothing downstream produced a gradient.
  Value gradientOf(Value value, StringRef name);
  /// Adds `contribution` to the gradient of `value`, in place if it has one.
  void addGradient(Value value, Value contribution, StringRef name);
  /// Makes the gradient of `value` channels [offset, ...) of `buffer`.
  void aliasGradient(Value value, unsigned buffer, int64_t offset,
                     StringRef name);
  /// Called when a parameter's gradient received one more contribution;
  /// emits its update once all have arrived (or queues it, deferUpdates).
  void contributeToParameter(Value parameter, Value gradient);
  void emitUpdate(Value parameter, Value gradient);

  bool isActive(Value value) const { return active.contains(value); }

  func::FuncOp function;
  OpBuilder builder;
  SgdSettings settings;
  Value learningRate;

  DenseSet<Value> active;
  DenseMap<Value, GradientRef> gradients;
  SmallVector<Value> buffers; // current SSA version of each gradient buffer
  DenseMap<Value, unsigned> pendingContributions;
  DenseSet<Value> updatedParameters;
  /// deferUpdates: (parameter, gradient) in the order gradients completed.
  SmallVector<std::pair<Value, Value>> deferred;
};

LogicalResult TrainingStepBuilder::checkForwardGraph() {
  if (function->hasAttr("tg.training_step"))
    return function.emitError("is already a training step");
  if (!function.getBody().hasOneBlock())
    return function.emitError("needs a single-block forward graph");
  auto result = function.getFunctionType().getResults();
  auto logits = result.size() == 1 ? dyn_cast<RankedTensorType>(result[0])
                                   : RankedTensorType();
  if (!logits || logits.getRank() != 2 || !logits.hasStaticShape() ||
      !(logits.getElementType().isF32() || logits.getElementType().isBF16() ||
        logits.getElementType().isF16()))
    return function.emitError("must return exactly the logits (a static "
                              "rank-2 f32, bf16 or f16 tensor) to be trained");
  for (Operation &op : function.getBody().front()) {
    if (isa<func::ReturnOp>(op))
      continue;
    if (op.getDialect() != builder.getContext()->getLoadedDialect<tg::TGDialect>())
      return op.emitOpError("cannot be differentiated: a forward graph holds "
                            "only tg ops");
    if (op.hasTrait<tg::BackwardOp>() || isa<tg::SgdUpdateOp>(op))
      return op.emitOpError("is already part of a backward pass");
  }
  return success();
}

/// A value is active when a parameter is upstream of it and the logits
/// downstream: only active values need gradients, and only their uses
/// contribute one.
void TrainingStepBuilder::computeActivity(Value logits) {
  DenseSet<Value> fromParameters;
  for (Operation &op : function.getBody().front()) {
    if (isa<tg::ParameterOp>(op)) {
      fromParameters.insert(op.getResult(0));
      continue;
    }
    // Running statistics are state, not a function of the parameters that
    // gradients flow through.
    if (op.hasTrait<tg::UpdateOp>())
      continue;
    if (llvm::any_of(op.getOperands(), [&](Value operand) {
          return fromParameters.contains(operand);
        }))
      for (Value result : op.getResults())
        fromParameters.insert(result);
  }
  DenseSet<Value> toLogits = {logits};
  for (Operation &op : llvm::reverse(function.getBody().front())) {
    if (op.hasTrait<tg::UpdateOp>() || isa<func::ReturnOp>(op))
      continue;
    if (llvm::any_of(op.getResults(),
                     [&](Value result) { return toLogits.contains(result); }))
      for (Value operand : op.getOperands())
        toLogits.insert(operand);
  }
  for (Value value : fromParameters)
    if (toLogits.contains(value))
      active.insert(value);
}

/// Uses of `value` that will contribute a gradient: those by an op with an
/// active result.
static unsigned countContributingUses(Value value,
                                      const DenseSet<Value> &active) {
  unsigned count = 0;
  for (Operation *user : value.getUsers())
    if (llvm::any_of(user->getResults(),
                     [&](Value result) { return active.contains(result); }))
      ++count;
  return count;
}

Value TrainingStepBuilder::gradientOf(Value value, StringRef name) {
  auto it = gradients.find(value);
  if (it == gradients.end())
    return {};
  GradientRef ref = it->second;
  Value buffer = buffers[ref.buffer];
  if (ref.whole)
    return buffer;
  return builder.create<tg::SliceOp>(
      value.getLoc(), value.getType(), builder.getStringAttr(name), buffer,
      builder.getI64IntegerAttr(ref.offset));
}

void TrainingStepBuilder::addGradient(Value value, Value contribution,
                                      StringRef name) {
  if (!isActive(value))
    return;
  auto it = gradients.find(value);
  if (it == gradients.end()) {
    gradients[value] = {static_cast<unsigned>(buffers.size()), 0, true};
    buffers.push_back(contribution);
  } else {
    GradientRef ref = it->second;
    Value &buffer = buffers[ref.buffer];
    buffer = builder.create<tg::AccumulateOp>(
        value.getLoc(), buffer.getType(), builder.getStringAttr(name), buffer,
        contribution, builder.getI64IntegerAttr(ref.offset));
  }
  if (isa_and_nonnull<tg::ParameterOp>(value.getDefiningOp()))
    contributeToParameter(value, buffers[gradients[value].buffer]);
}

void TrainingStepBuilder::aliasGradient(Value value, unsigned buffer,
                                        int64_t offset, StringRef name) {
  if (!isActive(value))
    return;
  if (isa_and_nonnull<tg::ParameterOp>(value.getDefiningOp())) {
    // A parameter's gradient is a buffer of its own (the optimizer reads
    // it whole), so it takes a copy of its channel range.
    Value slice = builder.create<tg::SliceOp>(
        value.getLoc(), value.getType(), builder.getStringAttr(name),
        buffers[buffer], builder.getI64IntegerAttr(offset));
    addGradient(value, slice, name);
    return;
  }
  auto it = gradients.find(value);
  if (it != gradients.end()) {
    // A consumer processed earlier produced a gradient of its own: move it
    // into the shared buffer rather than keep two.
    Value existing = gradientOf(value, name);
    Value &target = buffers[buffer];
    target = builder.create<tg::AccumulateOp>(
        value.getLoc(), target.getType(), builder.getStringAttr(name), target,
        existing, builder.getI64IntegerAttr(offset));
  }
  gradients[value] = {buffer, offset, false};
}

void TrainingStepBuilder::contributeToParameter(Value parameter,
                                                Value gradient) {
  unsigned &pending = pendingContributions[parameter];
  assert(pending > 0 && "more gradient contributions than parameter uses");
  if (--pending > 0)
    return;
  updatedParameters.insert(parameter);
  if (settings.deferUpdates)
    deferred.emplace_back(parameter, gradient);
  else
    emitUpdate(parameter, gradient);
}

void TrainingStepBuilder::emitUpdate(Value parameter, Value gradient) {
  auto declaration = cast<tg::ParameterOp>(parameter.getDefiningOp());
  StringRef name = declaration.getName();
  // Batch-norm weights and biases and linear biases are the parameters
  // frameworks commonly exempt from weight decay.
  bool isNormOrBias = llvm::any_of(parameter.getUses(), [](OpOperand &use) {
    Operation *user = use.getOwner();
    if (auto norm = dyn_cast<tg::BatchNormOp>(user))
      return use.get() != norm.getInput();
    if (auto linear = dyn_cast<tg::LinearOp>(user))
      return use.get() == linear.getBias();
    return false;
  });
  double weightDecay =
      isNormOrBias && !settings.decayNormAndBias ? 0.0 : settings.weightDecay;

  Location loc = declaration.getLoc();
  Value momentumBuffer = builder.create<tg::StateOp>(
      loc, parameter.getType(),
      builder.getStringAttr(name + ".momentum_buffer"));
  builder.create<tg::SgdUpdateOp>(
      loc, TypeRange{parameter.getType(), parameter.getType()},
      builder.getStringAttr(name), parameter, gradient, momentumBuffer,
      learningRate, builder.getF64FloatAttr(settings.momentum),
      builder.getF64FloatAttr(weightDecay),
      settings.nesterov ? builder.getUnitAttr() : UnitAttr());
}

LogicalResult TrainingStepBuilder::differentiate(Operation *op) {
  StringRef name = tg::getLayerName(op);
  Location loc = op->getLoc();
  auto strAttr = builder.getStringAttr(name);

  return llvm::TypeSwitch<Operation *, LogicalResult>(op)
      .Case<tg::ParameterOp, tg::StateOp, tg::RunningStatsUpdateOp>(
          [](Operation *) { return success(); })
      .Case([&](tg::Conv2DOp conv) {
        Value dy = gradientOf(conv.getOutput(), name);
        if (!dy)
          return success();
        // Both gradients are computed before either is handed on: the
        // filter's update must follow every read of the filter (the input
        // gradient), and an in-place accumulation of the input gradient must
        // follow every read of dy, which may be a slice of the same buffer.
        Value dx, dw;
        if (isActive(conv.getInput()))
          dx = builder.create<tg::Conv2DGradInputOp>(
              loc, conv.getInput().getType(), strAttr, dy, conv.getFilter(),
              conv.getStrideAttr(), conv.getPaddingAttr());
        if (isActive(conv.getFilter()))
          dw = builder.create<tg::Conv2DGradFilterOp>(
              loc, conv.getFilter().getType(), strAttr, conv.getInput(), dy,
              conv.getStrideAttr(), conv.getPaddingAttr());
        if (dx)
          addGradient(conv.getInput(), dx, name);
        if (dw)
          addGradient(conv.getFilter(), dw, name);
        return success();
      })
      .Case([&](tg::BatchNormOp norm) {
        Value dy = gradientOf(norm.getOutput(), name);
        if (!dy)
          return success();
        auto grad = builder.create<tg::BatchNormGradOp>(
            loc,
            TypeRange{norm.getInput().getType(), norm.getWeight().getType(),
                      norm.getBias().getType()},
            strAttr, dy, norm.getInput(), norm.getWeight(), norm.getMean(),
            norm.getVariance(), norm.getEpsilonAttr());
        addGradient(norm.getWeight(), grad.getWeightGrad(), name);
        addGradient(norm.getBias(), grad.getBiasGrad(), name);
        addGradient(norm.getInput(), grad.getInputGrad(), name);
        return success();
      })
      .Case([&](tg::ReluOp relu) {
        if (Value dy = gradientOf(relu.getOutput(), name))
          addGradient(relu.getInput(),
                      builder.create<tg::ReluGradOp>(
                          loc, relu.getInput().getType(), strAttr, dy,
                          relu.getOutput()),
                      name);
        return success();
      })
      .Case([&](tg::ConcatOp concat) {
        // Make sure the result's gradient is a buffer of its own or a range
        // of one, then hand out consecutive channel ranges of it.
        auto it = gradients.find(concat.getOutput());
        if (it == gradients.end())
          return success();
        GradientRef ref = it->second;
        int64_t offset = ref.offset;
        for (Value input : concat.getInputs()) {
          aliasGradient(input, ref.buffer, offset, name);
          offset += cast<RankedTensorType>(input.getType()).getDimSize(1);
        }
        return success();
      })
      .Case([&](tg::MaxPoolOp pool) {
        if (Value dy = gradientOf(pool.getOutput(), name))
          addGradient(pool.getInput(),
                      builder.create<tg::MaxPoolGradOp>(
                          loc, pool.getInput().getType(), strAttr, dy,
                          pool.getInput(), pool.getOutput(),
                          pool.getKernelAttr(), pool.getStrideAttr(),
                          pool.getPaddingAttr()),
                      name);
        return success();
      })
      .Case([&](tg::AvgPoolOp pool) {
        if (Value dy = gradientOf(pool.getOutput(), name))
          addGradient(pool.getInput(),
                      builder.create<tg::AvgPoolGradOp>(
                          loc, pool.getInput().getType(), strAttr, dy,
                          pool.getKernelAttr(), pool.getStrideAttr(),
                          pool.getPaddingAttr()),
                      name);
        return success();
      })
      .Case([&](tg::GlobalAvgPoolOp pool) {
        if (Value dy = gradientOf(pool.getOutput(), name))
          addGradient(pool.getInput(),
                      builder.create<tg::GlobalAvgPoolGradOp>(
                          loc, pool.getInput().getType(), strAttr, dy),
                      name);
        return success();
      })
      .Case([&](tg::LinearOp linear) {
        Value dy = gradientOf(linear.getOutput(), name);
        if (!dy)
          return success();
        auto grad = builder.create<tg::LinearGradOp>(
            loc,
            TypeRange{linear.getInput().getType(), linear.getWeight().getType(),
                      linear.getBias().getType()},
            strAttr, dy, linear.getInput(), linear.getWeight());
        addGradient(linear.getWeight(), grad.getWeightGrad(), name);
        addGradient(linear.getBias(), grad.getBiasGrad(), name);
        addGradient(linear.getInput(), grad.getInputGrad(), name);
        return success();
      })
      .Case([&](tg::DropoutOp dropout) {
        if (Value dy = gradientOf(dropout.getOutput(), name))
          addGradient(dropout.getInput(),
                      builder.create<tg::DropoutGradOp>(
                          loc, dropout.getInput().getType(), strAttr, dy,
                          dropout.getRateAttr()),
                      name);
        return success();
      })
      .Default([&](Operation *other) -> LogicalResult {
        if (llvm::none_of(other->getResults(), [&](Value result) {
              return gradients.count(result);
            }))
          return success();
        return other->emitOpError("has no gradient rule");
      });
}

LogicalResult TrainingStepBuilder::build() {
  if (failed(checkForwardGraph()))
    return failure();
  Block &body = function.getBody().front();
  auto returnOp = cast<func::ReturnOp>(body.getTerminator());
  Value logits = returnOp.getOperand(0);
  auto logitsType = cast<RankedTensorType>(logits.getType());
  MLIRContext *context = function.getContext();
  Location loc = function.getLoc();

  SmallVector<Operation *> forwardOps;
  for (Operation &op : body.without_terminator())
    forwardOps.push_back(&op);
  computeActivity(logits);
  for (Operation *op : forwardOps)
    if (auto parameter = dyn_cast<tg::ParameterOp>(op))
      pendingContributions[parameter.getResult()] =
          countContributingUses(parameter.getResult(), active);

  // New arguments: the labels of the batch and the step's learning rate.
  auto labelsType = RankedTensorType::get({logitsType.getDimSize(0)},
                                          IntegerType::get(context, 32));
  auto scalarType = RankedTensorType::get({}, Float32Type::get(context));
  unsigned labelsIndex = function.getNumArguments();
  function.insertArgument(labelsIndex, labelsType, {}, loc);
  function.insertArgument(labelsIndex + 1, scalarType, {}, loc);
  Value labels = function.getArgument(labelsIndex);
  learningRate = function.getArgument(labelsIndex + 1);

  builder.setInsertionPoint(returnOp);
  auto countType = RankedTensorType::get({}, IntegerType::get(context, 64));
  auto lossName = builder.getStringAttr("loss");
  auto loss = builder.create<tg::SoftmaxCrossEntropyOp>(
      loc, TypeRange{scalarType, countType}, lossName, logits, labels);

  if (isActive(logits)) {
    Value seed = builder.create<tg::SoftmaxCrossEntropyGradOp>(
        loc, logitsType, lossName, logits, labels);
    addGradient(logits, seed, "loss");
  }
  for (Operation *op : llvm::reverse(forwardOps))
    if (failed(differentiate(op)))
      return failure();
  for (auto [parameter, gradient] : deferred)
    emitUpdate(parameter, gradient);

  for (Operation *op : forwardOps)
    if (isa<tg::ParameterOp>(op) && !updatedParameters.contains(op->getResult(0)))
      return op->emitOpError("'")
             << tg::getLayerName(op)
             << "' receives no gradient from the loss: it would never be "
                "trained";

  builder.create<func::ReturnOp>(loc, loss.getResults());
  returnOp.erase();
  function.setType(FunctionType::get(
      context, function.getArgumentTypes(), {scalarType, countType}));
  function->setAttr("tg.training_step", UnitAttr::get(context));
  return success();
}

struct TgAutodiffPass : densenet::impl::TgAutodiffBase<TgAutodiffPass> {
  using TgAutodiffBase::TgAutodiffBase;

  void runOnOperation() override {
    if (!(momentum >= 0.0 && momentum <= 1.0) ||
        !(std::isfinite(weightDecay) && weightDecay >= 0.0)) {
      getOperation().emitError("tg-autodiff needs momentum in [0, 1] and "
                               "weight-decay >= 0");
      return signalPassFailure();
    }
    if (nesterov && momentum == 0.0) {
      getOperation().emitError("tg-autodiff: Nesterov momentum requires "
                               "momentum > 0");
      return signalPassFailure();
    }
    SgdSettings settings{momentum, weightDecay, nesterov, decayNormAndBias,
                         deferUpdates};
    for (auto function :
         llvm::to_vector(getOperation().getOps<func::FuncOp>()))
      if (!function.isDeclaration() &&
          failed(TrainingStepBuilder(function, settings).build()))
        return signalPassFailure();
  }
};

} // namespace
