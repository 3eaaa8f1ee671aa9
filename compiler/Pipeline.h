//===- Pipeline.h - From a model spec to IR ---------------------*- C++ -*-===//

#ifndef DENSENET_COMPILER_PIPELINE_H
#define DENSENET_COMPILER_PIPELINE_H

#include "compiler/ModelSpec.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"
#include "mlir/Support/Timing.h"
#include "llvm/Support/Error.h"

namespace densenet {

/// torch.optim.SGD settings of the training step (dampening 0).
struct SgdSettings {
  double momentum = 0.9;
  double weightDecay = 1e-4;
  bool nesterov = false;
  bool decayNormAndBias = true;
  /// Data parallelism: the update reads gradients averaged over `worldSize`
  /// ranks, all-reduced in buckets of at least `bucketBytes`. The memory
  /// planner applies tg-bucket-gradients to every plan it realizes (after
  /// rematerialization); buildModule does not, since the planner profiles
  /// the step without buckets. 1 = one process, no communication.
  int64_t worldSize = 1;
  int64_t bucketBytes = 25 << 20;
  /// All-reduce buckets even for one rank (a test of the all-reduce path).
  bool oneRankBuckets = false;
  /// Dynamic loss scaling of f16 plans (torch.amp.GradScaler's defaults):
  /// the loss gradient is multiplied by the scale; a step whose gradients
  /// are not all finite is skipped and the scale multiplied by `backoff`;
  /// after `growthInterval` finite steps in a row it is multiplied by
  /// `growth`. f16 plans update every parameter after the whole backward
  /// pass, so that a step can be skipped as a whole.
  double initialLossScale = 65536.0;
  double lossScaleGrowth = 2.0;
  double lossScaleBackoff = 0.5;
  int64_t lossScaleGrowthInterval = 2000;
};

/// How far to take the IR: the dn model, the tg forward graph, or the whole
/// training step (tg-autodiff, checked by tg-verify-training-step).
enum class Stage { Dn, Forward, Training };

/// Builds the model's IR up to `stage`. A failure after validation is a
/// compiler bug; the diagnostic engine has already printed where. With
/// `timing`, the passes are timed under it.
llvm::Expected<mlir::OwningOpRef<mlir::ModuleOp>>
buildModule(mlir::MLIRContext &context, const ModelSpec &spec,
            const SgdSettings &sgd, Stage stage,
            mlir::TimingScope *timing = nullptr);

} // namespace densenet

#endif // DENSENET_COMPILER_PIPELINE_H
