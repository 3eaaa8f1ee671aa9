//===- Rematerialize.cpp - Recompute marked forward ops before use --------===//
//
// Applies a rematerialization decision: results of forward ops marked
// `tg.recompute` die after the forward pass, and the backward pass reads
// clones made just before their first backward reader. Placing each clone
// at its first use keeps its lifetime as short as the backward order allows.
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"

#include "dialects/TG/TGOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/IRMapping.h"

namespace densenet {
#define GEN_PASS_DEF_TGREMATERIALIZE
#include "passes/Passes.h.inc"
} // namespace densenet

using namespace mlir;
using namespace densenet;

namespace {

constexpr StringLiteral kRecompute = "tg.recompute";
constexpr StringLiteral kRecomputed = "tg.recomputed";

bool isMarked(Operation *op) { return op && op->hasAttr(kRecompute); }

/// Clones marked ops on demand, remembering the clone of each so a value is
/// recomputed once however many backward ops read it.
class Rematerializer {
public:
  explicit Rematerializer(MLIRContext *context) : builder(context) {}

  /// The value backward op `reader` should read in place of `value`: a clone
  /// of `value` if its producer is marked, made just before `reader`.
  Value recomputed(Value value, Operation *reader) {
    Operation *producer = value.getDefiningOp();
    if (!isMarked(producer))
      return value;
    if (!mapping.contains(producer->getResult(0))) {
      // Operands first, so the clone's own inputs exist where it goes.
      SmallVector<Value> operands;
      for (Value operand : producer->getOperands())
        operands.push_back(recomputed(operand, reader));
      builder.setInsertionPoint(reader);
      Operation *clone = builder.clone(*producer);
      clone->setOperands(operands);
      clone->removeAttr(kRecompute);
      clone->setAttr(kRecomputed, builder.getUnitAttr());
      for (auto [original, copy] :
           llvm::zip(producer->getResults(), clone->getResults()))
        mapping.map(original, copy);
    }
    return mapping.lookup(value);
  }

private:
  OpBuilder builder;
  IRMapping mapping;
};

struct TgRematerializePass
    : densenet::impl::TgRematerializeBase<TgRematerializePass> {
  void runOnOperation() override {
    for (auto function : getOperation().getOps<func::FuncOp>()) {
      if (!function->hasAttr("tg.training_step"))
        continue;
      for (Operation &op : function.getBody().front()) {
        if (!isMarked(&op))
          continue;
        if (op.hasTrait<tg::BackwardOp>() || op.hasTrait<tg::UpdateOp>() ||
            isa<tg::ParameterOp, tg::StateOp>(op)) {
          op.emitOpError("cannot be recomputed: only forward compute ops can");
          return signalPassFailure();
        }
      }
      Rematerializer rematerializer(&getContext());
      // Backward readers in program order: the first one places the clone.
      SmallVector<Operation *> readers;
      for (Operation &op : function.getBody().front())
        if (op.hasTrait<tg::BackwardOp>())
          readers.push_back(&op);
      for (Operation *reader : readers)
        for (OpOperand &operand : reader->getOpOperands())
          operand.set(rematerializer.recomputed(operand.get(), reader));
    }
  }
};

} // namespace
