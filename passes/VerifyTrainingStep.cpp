//===- VerifyTrainingStep.cpp - Structural checks of a training step ------===//
//
// The invariants the memory planner relies on, checked on the IR itself so a
// bug in tg-autodiff (or a hand-written step) is reported at the op that
// breaks them instead of surfacing as a wrong plan.
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"

#include "dialects/TG/TGOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringSet.h"

namespace densenet {
#define GEN_PASS_DEF_TGVERIFYTRAININGSTEP
#include "passes/Passes.h.inc"
} // namespace densenet

using namespace mlir;
using namespace densenet;

/// Recomputed clones (tg-rematerialize) run in the backward pass: they are
/// readers like backward ops, and their results are placed right before
/// their readers by construction.
static bool isForwardOp(Operation *op) {
  return !op->hasTrait<tg::BackwardOp>() && !op->hasTrait<tg::UpdateOp>() &&
         !op->hasAttr("tg.recomputed") &&
         !isa<tg::ParameterOp, tg::StateOp, func::ReturnOp>(op);
}

static StringRef nameOf(Operation *op) { return tg::getLayerName(op); }

/// The last op (in block order) that uses `value`.
static Operation *lastUser(Value value) {
  Operation *last = nullptr;
  for (Operation *user : value.getUsers())
    if (!last || last->isBeforeInBlock(user))
      last = user;
  return last;
}

/// The update op kind and operand a persistent tensor must be updated
/// through: parameters as operand 0 of tg.sgd_update, momentum buffers as its
/// operand 2, running statistics as operand 0 or 1 of
/// tg.running_stats_update.
static bool isProperUpdate(Operation *declaration, OpOperand &use) {
  Operation *user = use.getOwner();
  unsigned index = use.getOperandNumber();
  if (isa<tg::ParameterOp>(declaration))
    return isa<tg::SgdUpdateOp>(user) &&
           index == cast<tg::SgdUpdateOp>(user)
                        .getParameterMutable()
                        .getOperandNumber();
  if (auto update = dyn_cast<tg::SgdUpdateOp>(user))
    return index == update.getMomentumBufferMutable().getOperandNumber();
  if (auto update = dyn_cast<tg::RunningStatsUpdateOp>(user))
    return index == update.getRunningMeanMutable().getOperandNumber() ||
           index == update.getRunningVarMutable().getOperandNumber();
  return false;
}

static LogicalResult verifyUpdatesOnce(func::FuncOp function) {
  bool ok = true;
  llvm::StringMap<Operation *> declarations;
  function.walk([&](Operation *op) {
    if (!isa<tg::ParameterOp, tg::StateOp>(op))
      return;
    // Weights and state are saved and loaded by name.
    auto [it, inserted] = declarations.try_emplace(nameOf(op), op);
    if (!inserted) {
      op->emitOpError("declares '")
          << nameOf(op) << "' a second time; state-dict names must be unique";
      ok = false;
    }
    int updates = 0;
    for (OpOperand &use : op->getResult(0).getUses()) {
      auto inPlace = dyn_cast<tg::InPlaceOpInterface>(use.getOwner());
      if (!inPlace)
        continue;
      bool tied = false;
      for (unsigned result = 0; result < use.getOwner()->getNumResults();
           ++result)
        tied |= inPlace.getTiedOperandIndex(result) == use.getOperandNumber();
      if (!tied)
        continue;
      if (!isProperUpdate(op, use)) {
        use.getOwner()->emitOpError("updates '")
            << nameOf(op) << "', which only "
            << (isa<tg::ParameterOp>(op) ? "tg.sgd_update (as its parameter)"
                                         : "its optimizer or batch-norm "
                                           "update")
            << " may update";
        ok = false;
      }
      ++updates;
    }
    if (updates != 1) {
      op->emitOpError("'") << nameOf(op) << "' is updated " << updates
                           << " times in the step; expected exactly once";
      ok = false;
    }
  });
  return success(ok);
}

static LogicalResult verifyTiedOperandsDie(func::FuncOp function) {
  bool ok = true;
  function.walk([&](tg::InPlaceOpInterface update) {
    Operation *op = update.getOperation();
    for (unsigned result = 0; result < op->getNumResults(); ++result) {
      Value buffer = op->getOperand(update.getTiedOperandIndex(result));
      Operation *last = lastUser(buffer);
      if (last != op) {
        last->emitOpError("reads a buffer that '")
            << nameOf(op) << "' (" << op->getName()
            << ") has already updated in place";
        ok = false;
      }
    }
  });
  return success(ok);
}

/// After the forward pass, an activation may be read only by the backward or
/// update ops of the layers that produced or consumed it in the forward
/// pass: a layer's backward needs its own inputs and outputs, nothing else.
static LogicalResult verifyActivationReaders(func::FuncOp function) {
  bool ok = true;
  auto check = [&](Value activation, StringRef producer) {
    llvm::StringSet<> allowed;
    if (!producer.empty())
      allowed.insert(producer);
    for (Operation *user : activation.getUsers())
      if (isForwardOp(user))
        allowed.insert(nameOf(user));
    for (Operation *user : activation.getUsers()) {
      if (isForwardOp(user) || isa<func::ReturnOp>(user) ||
          allowed.contains(nameOf(user)))
        continue;
      user->emitOpError("of '")
          << nameOf(user) << "' reads a forward activation of "
          << (producer.empty() ? StringRef("the input") : producer)
          << ", which only the layers that produce or consume it may read";
      ok = false;
    }
  };
  // Arguments the forward pass reads (the batch, the labels) are activations
  // too; the learning rate is not.
  for (BlockArgument argument : function.getArguments())
    if (llvm::any_of(argument.getUsers(), isForwardOp))
      check(argument, "");
  function.walk([&](Operation *op) {
    if (isForwardOp(op) && !isa<func::FuncOp>(op))
      for (Value result : op->getResults())
        check(result, nameOf(op));
  });
  return success(ok);
}

namespace {

struct TgVerifyTrainingStepPass
    : densenet::impl::TgVerifyTrainingStepBase<TgVerifyTrainingStepPass> {
  void runOnOperation() override {
    bool ok = true;
    for (auto function : getOperation().getOps<func::FuncOp>()) {
      if (!function->hasAttr("tg.training_step"))
        continue;
      // Program order is the schedule: one block, no control flow.
      if (!function.getBody().hasOneBlock()) {
        function.emitError("a training step must be a single block");
        ok = false;
        continue;
      }
      // Run all checks so one run reports every problem.
      ok &= succeeded(verifyUpdatesOnce(function));
      ok &= succeeded(verifyTiedOperandsDie(function));
      ok &= succeeded(verifyActivationReaders(function));
    }
    if (!ok)
      signalPassFailure();
  }
};

} // namespace
