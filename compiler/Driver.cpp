//===- Driver.cpp - The densenetc pipeline --------------------------------===//

#include "compiler/Driver.h"

#include "compiler/BuildDn.h"
#include "compiler/Stats.h"
#include "dialects/DN/DNDialect.h"
#include "dialects/TG/TGDialect.h"
#include "passes/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/FileUtilities.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/ToolOutputFile.h"

#include <nlohmann/json.hpp>

using namespace mlir;
using namespace densenet;

static llvm::Error makeError(const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                 message.str());
}

llvm::Expected<ModelSpec>
densenet::resolveModelSpec(const DriverOptions &options) {
  if (!options.modelFile.empty() && !options.preset.empty())
    return makeError("give a model file or --model " + options.preset +
                     ", not both");
  if (options.modelFile.empty() && options.preset.empty())
    return makeError("no model: give a model.json file or --model NAME "
                     "(densenetc --list-models shows the names)");
  llvm::Expected<ModelSpec> spec = options.preset.empty()
                                       ? loadModelSpec(options.modelFile)
                                       : getPresetSpec(options.preset);
  if (!spec)
    return spec.takeError();

  SpecOverrides overrides;
  overrides.dataset = options.dataset;
  overrides.numClasses = options.numClasses;
  overrides.batchSize = options.batchSize;
  if (options.input) {
    llvm::Expected<InputShape> input = parseInputShape(*options.input);
    if (!input)
      return makeError("--input: " + llvm::toString(input.takeError()));
    overrides.input = *input;
  }
  if (options.dtype) {
    llvm::Expected<DType> dtype = parseDType(*options.dtype);
    if (!dtype)
      return makeError("--dtype: " + llvm::toString(dtype.takeError()));
    overrides.dtype = *dtype;
  }
  if (llvm::Error error = applyOverrides(*spec, overrides))
    return makeError("after command-line overrides: " +
                     llvm::toString(std::move(error)));
  return spec;
}

static void listModels(llvm::raw_ostream &os) {
  os << llvm::formatv("{0,-22} {1,-10} {2,-8} {3}\n", "model", "input",
                      "classes", "description");
  for (const Preset &preset : getPresets()) {
    const ModelSpec &spec = preset.spec;
    std::string input = llvm::formatv("{0}x{1}x{2}", spec.input.channels,
                                      spec.input.height, spec.input.width);
    os << llvm::formatv("{0,-22} {1,-10} {2,-8} {3}\n", preset.name, input,
                        spec.numClasses, preset.description);
  }
}

/// Lowers the dn module in place to the tg forward graph and, with
/// `training`, to the whole training step.
static LogicalResult lower(ModuleOp module, const DriverOptions &options,
                           bool training) {
  PassManager pm(module->getContext());
  pm.addPass(createDnLowerToTg());
  if (training) {
    TgAutodiffOptions sgd;
    sgd.momentum = options.momentum;
    sgd.weightDecay = options.weightDecay;
    sgd.nesterov = options.nesterov;
    sgd.decayNormAndBias = options.decayNormAndBias;
    pm.addPass(createTgAutodiff(sgd));
    pm.addPass(createTgVerifyTrainingStep());
  }
  return pm.run(module);
}

static llvm::Error checkSgdOptions(const DriverOptions &options) {
  if (!(options.momentum >= 0.0 && options.momentum <= 1.0))
    return makeError("--momentum must be in [0, 1], got " +
                     formatNumber(options.momentum));
  if (!(options.weightDecay >= 0.0))
    return makeError("--weight-decay must be >= 0, got " +
                     formatNumber(options.weightDecay));
  if (options.nesterov && options.momentum == 0.0)
    return makeError("--nesterov needs --momentum > 0");
  return llvm::Error::success();
}

static LogicalResult emit(const DriverOptions &options, const ModelSpec &spec,
                          llvm::raw_ostream &os, llvm::raw_ostream &errs) {
  MLIRContext context;
  context.loadDialect<dn::DNDialect, tg::TGDialect, func::FuncDialect>();
  OwningOpRef<ModuleOp> module = buildDnModule(context, spec);
  // The spec was validated, so a verifier failure here is a compiler bug;
  // the diagnostic engine has already printed the op and the reason.
  if (failed(verify(*module))) {
    errs << "densenetc: internal error: the dn module does not verify\n";
    return failure();
  }
  if (options.emit == EmitKind::Mlir) {
    module->print(os);
    return success();
  }
  bool training = options.emit == EmitKind::TrainingMlir;
  if (failed(lower(*module, options, training))) {
    errs << "densenetc: internal error: building the "
         << (training ? "training step" : "forward graph") << " failed\n";
    return failure();
  }
  if (options.emit == EmitKind::ForwardMlir || training) {
    module->print(os);
    return success();
  }
  ForwardStats stats = computeForwardStats(*module);
  os << statsToJson(spec, stats, options.perOp).dump(2) << "\n";
  return success();
}

int densenet::runDensenetc(const DriverOptions &options,
                           llvm::raw_ostream &errs) {
  auto fail = [&](llvm::Error error) {
    errs << "densenetc: error: " << llvm::toString(std::move(error)) << "\n";
    return 1;
  };

  llvm::Expected<ModelSpec> spec = options.listModels
                                       ? llvm::Expected<ModelSpec>(ModelSpec())
                                       : resolveModelSpec(options);
  if (!spec)
    return fail(spec.takeError());
  if (llvm::Error error = checkSgdOptions(options))
    return fail(std::move(error));

  std::string message;
  // ToolOutputFile deletes the file unless keep() is called, so a failed
  // compile never leaves a partial output behind.
  std::unique_ptr<llvm::ToolOutputFile> output =
      openOutputFile(options.outputFile, &message);
  if (!output)
    return fail(makeError(message));
  if (options.listModels) {
    listModels(output->os());
  } else if (failed(emit(options, *spec, output->os(), errs))) {
    return 1;
  }
  output->os().flush();
  if (output->os().has_error())
    return fail(makeError("cannot write '" + options.outputFile +
                          "': " + output->os().error().message()));
  output->keep();
  return 0;
}
