//===- Driver.h - The densenetc pipeline ------------------------*- C++ -*-===//

#ifndef DENSENET_COMPILER_DRIVER_H
#define DENSENET_COMPILER_DRIVER_H

#include "compiler/ModelSpec.h"

#include "llvm/Support/raw_ostream.h"

#include <optional>
#include <string>

namespace densenet {

enum class EmitKind {
  Plan,
  Report,
  Stats,
  Segments,
  Mlir,
  ForwardMlir,
  TrainingMlir
};

/// Everything densenetc's command line says, unparsed where the driver owns
/// the error message (shapes, dtypes).
struct DriverOptions {
  std::string modelFile;             // positional model.json, "" if none
  std::string preset;                // --model NAME, "" if none
  bool listModels = false;
  EmitKind emit = EmitKind::Plan;
  std::string outputFile = "-";
  bool perOp = false;                // --per-op: stats for every op
  std::optional<std::string> dataset;
  std::optional<std::string> input;  // "CxHxW"
  std::optional<int64_t> numClasses;
  std::optional<int64_t> batchSize;
  std::optional<std::string> dtype;
  // SGD settings of the training step (torch.optim.SGD's meaning).
  double momentum = 0.9;
  double weightDecay = 1e-4;
  bool nesterov = false;
  bool decayNormAndBias = true;
  // f16 plans: the initial dynamic loss scale (default 65536).
  std::optional<double> lossScale;
  // Data parallelism: ranks and all-reduce bucket size ("25MiB").
  int64_t worldSize = 1;
  std::optional<std::string> bucketSize;
  // Memory planning.
  std::optional<std::string> memBudget; // "12GB"; none: unlimited
  std::string target = "cuda";
  std::optional<std::string> reserve;   // overrides the target's
  std::string policy = "optimal";
  bool minBudget = false;               // print the smallest budget, exit
  bool proveOptimal = false;            // search until proven (slower)
  std::optional<std::string> trace;      // Chrome trace JSON of the plan
  std::optional<std::string> memoryPlot; // SVG of memory over the steps
  bool timing = false; // print the time of each phase to stderr
  unsigned threads = 0; // -j: for the planner; 0: one per core
};

/// Runs densenetc: resolves the model, builds and lowers the IR, plans
/// memory, writes what `--emit` asks for. Returns the process exit code;
/// errors go to `errs` as "densenetc: error: ...". The output file is
/// replaced atomically, so a failed run leaves no partial file and an
/// existing one untouched.
int runDensenetc(const DriverOptions &options, llvm::raw_ostream &errs);

/// The model the options describe (file or preset, then overrides).
llvm::Expected<ModelSpec> resolveModelSpec(const DriverOptions &options);

} // namespace densenet

#endif // DENSENET_COMPILER_DRIVER_H
