//===- Pipeline.cpp - From a model spec to IR -----------------------------===//

#include "compiler/Pipeline.h"

#include "compiler/BuildDn.h"
#include "compiler/Support.h"
#include "dialects/DN/DNDialect.h"
#include "dialects/TG/TGDialect.h"
#include "passes/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Pass/PassManager.h"

using namespace mlir;
using namespace densenet;

llvm::Expected<OwningOpRef<ModuleOp>>
densenet::buildModule(MLIRContext &context, const ModelSpec &spec,
                      const SgdSettings &sgd, Stage stage,
                      TimingScope *timing) {
  context.loadDialect<dn::DNDialect, tg::TGDialect, func::FuncDialect>();
  TimingScope building = timing ? timing->nest("build the dn model")
                                : TimingScope();
  llvm::Expected<OwningOpRef<ModuleOp>> built = buildDnModule(context, spec);
  if (!built)
    return built.takeError();
  OwningOpRef<ModuleOp> module = std::move(*built);
  if (failed(verify(*module)))
    return makeError("internal error: the dn module does not verify");
  building.stop();
  if (stage == Stage::Dn)
    return std::move(module);
  PassManager pm(&context);
  if (timing)
    pm.enableTiming(*timing);
  pm.addPass(createDnLowerToTg());
  if (stage == Stage::Training) {
    TgAutodiffOptions options;
    options.momentum = sgd.momentum;
    options.weightDecay = sgd.weightDecay;
    options.nesterov = sgd.nesterov;
    options.decayNormAndBias = sgd.decayNormAndBias;
    options.deferUpdates = spec.dtype == DType::F16;
    pm.addPass(createTgAutodiff(options));
    pm.addPass(createTgVerifyTrainingStep());
  }
  if (failed(pm.run(*module)))
    return makeError(stage == Stage::Training
                         ? "internal error: building the training step failed"
                         : "internal error: building the forward graph failed");
  return std::move(module);
}
