//===- Driver.cpp - The densenetc pipeline --------------------------------===//

#include "compiler/Driver.h"
#include "compiler/Support.h"

#include "compiler/Pipeline.h"
#include "compiler/Sizes.h"
#include "compiler/Stats.h"
#include "compiler/plan/PlanWriter.h"
#include "compiler/plan/Planner.h"
#include "compiler/plan/Visualize.h"
#include "passes/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/raw_ostream.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <thread>

using namespace mlir;
using namespace densenet;


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

static SgdSettings sgdSettings(const DriverOptions &options) {
  SgdSettings settings{options.momentum, options.weightDecay,
                       options.nesterov, options.decayNormAndBias};
  settings.worldSize = options.worldSize;
  if (options.lossScale)
    settings.initialLossScale = *options.lossScale;
  // A bucket size for one rank asks for the all-reduces anyway.
  settings.oneRankBuckets = options.worldSize == 1 && options.bucketSize;
  if (options.bucketSize) {
    if (llvm::Expected<int64_t> bytes = parseByteSize(*options.bucketSize))
      settings.bucketBytes = *bytes;
    else
      llvm::consumeError(bytes.takeError()); // checkSgdOptions reports it
  }
  return settings;
}

static llvm::Error checkSgdOptions(const DriverOptions &options,
                                   const ModelSpec &spec) {
  if (options.lossScale) {
    if (spec.dtype != DType::F16)
      return makeError("--loss-scale applies to f16 plans (dynamic loss "
                       "scaling); this plan's dtype is " +
                       stringifyDType(spec.dtype).str() +
                       ": add --dtype f16 or drop --loss-scale");
    if (!(std::isfinite(*options.lossScale) && *options.lossScale >= 1.0 &&
          *options.lossScale <= 0x1p64))
      return makeError("--loss-scale must be in [1, 2^64], got " +
                       formatNumber(*options.lossScale));
  }
  if (!(options.momentum >= 0.0 && options.momentum <= 1.0))
    return makeError("--momentum must be in [0, 1], got " +
                     formatNumber(options.momentum));
  if (!(options.weightDecay >= 0.0 && std::isfinite(options.weightDecay)))
    return makeError("--weight-decay must be a finite number >= 0, got " +
                     formatNumber(options.weightDecay));
  if (options.nesterov && options.momentum == 0.0)
    return makeError("--nesterov needs --momentum > 0");
  if (options.worldSize < 1 || options.worldSize > 65536)
    return makeError("--world-size must be in [1, 65536], got " +
                     std::to_string(options.worldSize));
  if (options.bucketSize) {
    llvm::Expected<int64_t> bytes = parseByteSize(*options.bucketSize);
    if (!bytes)
      return makeError("--bucket-size: " + llvm::toString(bytes.takeError()));
    if (*bytes < 1)
      return makeError("--bucket-size must be at least 1 byte");
  }
  return llvm::Error::success();
}

static llvm::Expected<plan::Policy> parsePolicy(llvm::StringRef name) {
  for (plan::Policy policy :
       {plan::Policy::Optimal, plan::Policy::Keep, plan::Policy::None,
        plan::Policy::All, plan::Policy::Sqrt})
    if (name == plan::stringifyPolicy(policy))
      return policy;
  return makeError("unknown --policy '" + name +
                   "'; valid: optimal, keep, none, all, sqrt");
}

/// The planning options the flags describe.
static llvm::Expected<plan::PlanOptions>
resolvePlanOptions(const DriverOptions &options) {
  plan::PlanOptions planOptions;
  llvm::Expected<Target> target = getTarget(options.target);
  if (!target)
    return makeError("--target: " + llvm::toString(target.takeError()));
  planOptions.target = *target;
  if (options.reserve) {
    llvm::Expected<int64_t> reserve = parseByteSize(*options.reserve);
    if (!reserve)
      return makeError("--reserve: " + llvm::toString(reserve.takeError()));
    planOptions.target.reserveBytes = *reserve;
  }
  if (options.memBudget) {
    llvm::Expected<int64_t> budget = parseByteSize(*options.memBudget);
    if (!budget)
      return makeError("--mem-budget: " + llvm::toString(budget.takeError()));
    planOptions.budgetBytes = *budget;
  }
  llvm::Expected<plan::Policy> policy = parsePolicy(options.policy);
  if (!policy)
    return policy.takeError();
  planOptions.policy = *policy;
  if (options.proveOptimal)
    planOptions.searchStates = plan::kProofSearchStates;
  if (options.threads > 1024)
    return makeError("-j must be at most 1024 (0: one per core), got " +
                     std::to_string(options.threads));
  planOptions.threads = options.threads;
  SgdSettings settings = sgdSettings(options);
  planOptions.worldSize = settings.worldSize;
  planOptions.bucketBytes = settings.bucketBytes;
  planOptions.oneRankBuckets = settings.oneRankBuckets;
  return planOptions;
}

/// The smallest budget `policy` needs for `spec` at `batch`.
static llvm::Expected<int64_t> minBudgetAt(const ModelSpec &spec,
                                           int64_t batch,
                                           const DriverOptions &options,
                                           plan::PlanOptions planOptions,
                                           plan::Policy policy) {
  ModelSpec resized = spec;
  resized.batchSize = batch;
  if (llvm::Error error = validateModelSpec(resized)) {
    llvm::consumeError(std::move(error));
    return std::numeric_limits<int64_t>::max();
  }
  MLIRContext context;
  auto module = buildModule(context, resized, sgdSettings(options), Stage::Training);
  if (!module)
    return module.takeError();
  planOptions.policy = policy;
  return plan::minimumBudget(**module, planOptions);
}

/// A batch size and the smallest budget it needs.
struct BudgetPoint {
  int64_t batch;
  int64_t bytes;
};

/// The largest batch whose smallest budget under `policy` is within
/// `budget` (0 when not even the smallest batch fits). The smallest budget
/// grows with the batch, and nearly in proportion (weights and optimizer
/// state stay, activations scale), so a line through the smallest batch
/// and `known` (or a second point) predicts the answer, and secant steps
/// through the latest two probes close in on it. Each probe plans the whole
/// model, so this takes four to six probes in all (densenet264 at 12 GB:
/// 4 and 6; a gallop and bisection from the first prediction took 4 and 11).
static llvm::Expected<int64_t>
largestBatch(const ModelSpec &spec, int64_t budget,
             const DriverOptions &options, const plan::PlanOptions &planOptions,
             plan::Policy policy, std::optional<BudgetPoint> known) {
  constexpr int64_t kLimit = 1 << 20;
  llvm::DenseMap<int64_t, int64_t> needed; // batch -> smallest budget
  if (known)
    needed[known->batch] = known->bytes;
  auto neededAt = [&](int64_t batch) -> llvm::Expected<int64_t> {
    auto it = needed.find(batch);
    if (it != needed.end())
      return it->second;
    llvm::Expected<int64_t> bytes =
        minBudgetAt(spec, batch, options, planOptions, policy);
    if (bytes)
      needed[batch] = *bytes;
    return bytes;
  };
  auto fits = [&](int64_t batch) -> llvm::Expected<bool> {
    llvm::Expected<int64_t> bytes = neededAt(batch);
    if (!bytes)
      return bytes.takeError();
    return *bytes <= budget;
  };

  // Batch norm needs two values per channel, so a model whose last block is
  // 1x1 starts at batch 2: begin at the smallest batch the model accepts.
  int64_t smallest = 1;
  while (smallest < 64) {
    ModelSpec resized = spec;
    resized.batchSize = smallest;
    if (llvm::Error error = validateModelSpec(resized)) {
      llvm::consumeError(std::move(error));
      ++smallest;
      continue;
    }
    break;
  }
  llvm::Expected<int64_t> first = neededAt(smallest);
  if (!first)
    return first.takeError();
  if (*first > budget)
    return 0;
  int64_t otherBatch =
      known && known->batch != smallest ? known->batch : smallest * 16;
  llvm::Expected<int64_t> other = neededAt(otherBatch);
  if (!other)
    return other.takeError();

  // The largest batch within the budget on the line through two measured
  // batches (kLimit where it does not rise).
  auto onLine = [&](int64_t a, int64_t b) {
    double slope = double(needed[b] - needed[a]) / double(b - a);
    if (!(slope > 0))
      return kLimit;
    double batch = double(a) + std::floor(double(budget - needed[a]) / slope);
    return static_cast<int64_t>(
        std::clamp(batch, double(smallest), double(kLimit)));
  };
  // Secant steps: each probe is the prediction of the line through the two
  // latest points, kept strictly inside the bracket (`low` fits, `high`
  // does not or passes the limit), so that a prediction on the answer is
  // confirmed by its neighbour. Locally the line is nearly exact, so this
  // takes two to four probes past the first two; if it has not closed the
  // bracket after a few, halving (or doubling, while nothing failed) does.
  constexpr int kSecantSteps = 6;
  int64_t low = smallest, high = kLimit + 1;
  if (*other <= budget)
    low = std::max(low, otherBatch);
  else
    high = otherBatch;
  int64_t previous = smallest, latest = otherBatch;
  for (int step = 0; high - low > 1; ++step) {
    int64_t probe = onLine(previous, latest);
    if (step >= kSecantSteps)
      probe = high > kLimit ? std::min(kLimit, 2 * low) : low + (high - low) / 2;
    probe = std::clamp(probe, low + 1, std::min(high, kLimit + 1) - 1);
    llvm::Expected<bool> ok = fits(probe);
    if (!ok)
      return ok.takeError();
    (*ok ? low : high) = probe;
    previous = latest;
    latest = probe;
    if (low == kLimit)
      break;
  }
  return low;
}

/// --min-budget, the plan and the report.
/// Files written besides -o: (path, contents).
using ExtraFiles = std::vector<std::pair<std::string, std::string>>;

static llvm::Error emitPlanning(const DriverOptions &options,
                                const ModelSpec &spec, ModuleOp module,
                                std::string &planText, std::string &stdoutText,
                                ExtraFiles &extraFiles, TimingScope &timing) {
  llvm::Expected<plan::PlanOptions> planOptions = resolvePlanOptions(options);
  if (!planOptions)
    return planOptions.takeError();
  TimingScope planning = timing.nest("plan");
  planOptions->timing = &planning;
  std::string where = spec.name + " at batch " +
                      std::to_string(spec.batchSize) + " with policy " +
                      plan::stringifyPolicy(planOptions->policy).str() +
                      " on " + planOptions->target.name;
  if (options.minBudget) {
    llvm::Expected<int64_t> minimum = plan::minimumBudget(module, *planOptions);
    if (!minimum)
      return minimum.takeError();
    stdoutText = llvm::formatv("{0}: smallest feasible budget {1} ({2} bytes)\n",
                               where, formatBytes(*minimum), *minimum)
                     .str();
    return llvm::Error::success();
  }

  ForwardStats stats = computeForwardStats(module);
  llvm::Expected<plan::MemoryPlan> memoryPlan =
      plan::planMemory(module, *planOptions);
  planning.stop();
  planOptions->timing = nullptr;
  if (!memoryPlan) {
    std::optional<plan::InfeasibleBudgetError> infeasible;
    llvm::Error rest = llvm::handleErrors(
        memoryPlan.takeError(), [&](const plan::InfeasibleBudgetError &error) {
          infeasible.emplace(error.budgetBytes, error.minBudgetBytes);
        });
    if (rest)
      return rest;
    TimingScope searching = timing.nest("largest batches");
    llvm::Expected<int64_t> batch =
        largestBatch(spec, infeasible->budgetBytes, options, *planOptions,
                     planOptions->policy,
                     BudgetPoint{spec.batchSize, infeasible->minBudgetBytes});
    if (!batch)
      return batch.takeError();
    std::string advice =
        *batch > 0 ? "the largest batch that fits is " + std::to_string(*batch) +
                         " (--batch-size " + std::to_string(*batch) + ")"
                   : "not even batch 1 fits; use a smaller model or input";
    return makeError(llvm::formatv("{0} needs at least {1} ({2} bytes); the "
                                   "budget is {3} ({4} bytes). At this "
                                   "budget {5}",
                                   where, formatBytes(infeasible->minBudgetBytes),
                                   infeasible->minBudgetBytes,
                                   formatBytes(infeasible->budgetBytes),
                                   infeasible->budgetBytes, advice)
                         .str());
  }

  plan::PlanContext context;
  context.spec = spec;
  context.parameters = stats.parameters;
  context.target = planOptions->target;
  context.optimizer = sgdSettings(options);
  if (options.emit == EmitKind::Report && planOptions->budgetBytes) {
    TimingScope searching = timing.nest("largest batches");
    // The two searches share nothing (each probe builds its model in its
    // own MLIRContext), so they run side by side.
    std::optional<llvm::Expected<int64_t>> keepBatch;
    std::thread keepSearch([&] {
      keepBatch.emplace(largestBatch(spec, *planOptions->budgetBytes, options,
                                     *planOptions, plan::Policy::Keep,
                                     std::nullopt));
    });
    llvm::Expected<int64_t> planBatch =
        largestBatch(spec, *planOptions->budgetBytes, options, *planOptions,
                     planOptions->policy,
                     BudgetPoint{spec.batchSize, memoryPlan->minBudgetBytes});
    keepSearch.join();
    if (!*keepBatch) {
      llvm::consumeError(planBatch.takeError());
      return keepBatch->takeError();
    }
    if (!planBatch)
      return planBatch.takeError();
    context.largestBatchNoRecompute = **keepBatch;
    context.largestBatchWithPlan = *planBatch;
  }
  TimingScope writing = timing.nest("write the plan");
  planText = plan::planToText(*memoryPlan, context);
  if (options.trace)
    extraFiles.push_back(
        {*options.trace, plan::planToTrace(*memoryPlan).dump() + "\n"});
  if (options.memoryPlot)
    extraFiles.push_back(
        {*options.memoryPlot,
         plan::planToSvg(*memoryPlan,
                         where + (planOptions->budgetBytes
                                      ? ", budget " +
                                            formatBytes(*planOptions->budgetBytes)
                                      : std::string(", no budget")))});
  if (options.emit == EmitKind::Report)
    stdoutText = plan::renderReport(*memoryPlan, context);
  return llvm::Error::success();
}

/// The solver's input: every segment with every option profiled
/// (Solver.h), for bench/solver and for looking into a plan's decisions.
static llvm::Error emitSegments(const DriverOptions &options,
                                const ModelSpec &spec, ModuleOp module,
                                llvm::raw_ostream &os, TimingScope &timing) {
  llvm::Expected<plan::PlanOptions> planOptions = resolvePlanOptions(options);
  if (!planOptions)
    return planOptions.takeError();
  TimingScope profiling = timing.nest("plan");
  planOptions->timing = &profiling;
  llvm::Expected<std::vector<plan::Segment>> segments =
      plan::profileStep(module, *planOptions);
  profiling.stop();
  if (!segments)
    return segments.takeError();
  nlohmann::ordered_json json = {{"format", "densenet-segments"},
                                 {"model", spec.name},
                                 {"batch_size", spec.batchSize},
                                 {"target", planOptions->target.name},
                                 {"reserve_bytes",
                                  planOptions->target.reserveBytes},
                                 {"segments", nlohmann::ordered_json::array()}};
  for (const plan::Segment &segment : *segments) {
    nlohmann::ordered_json item = {{"name", segment.name},
                                   {"options", nlohmann::ordered_json::array()}};
    for (const plan::SegmentOption &option : segment.options)
      item["options"].push_back({{"name", option.name},
                                 {"kept_bytes", option.kept},
                                 {"peak_bytes", option.peak},
                                 {"seconds", option.seconds},
                                 {"recompute_flops", option.recomputeFlops}});
    json["segments"].push_back(std::move(item));
  }
  os << json.dump(1) << "\n";
  return llvm::Error::success();
}

/// Everything densenetc prints: the text for -o (or stdout) and, for the
/// report, the text for stdout.
static llvm::Error compile(const DriverOptions &options, const ModelSpec &spec,
                           std::string &outputText, std::string &stdoutText,
                           ExtraFiles &extraFiles, TimingScope &timing) {
  MLIRContext context;
  Stage stage = Stage::Training;
  if (options.emit == EmitKind::Mlir)
    stage = Stage::Dn;
  else if (options.emit == EmitKind::ForwardMlir ||
           options.emit == EmitKind::Stats)
    stage = Stage::Forward;
  auto module =
      buildModule(context, spec, sgdSettings(options), stage, &timing);
  if (!module)
    return module.takeError();

  llvm::raw_string_ostream os(outputText);
  switch (options.emit) {
  case EmitKind::TrainingMlir:
    if (SgdSettings settings = sgdSettings(options);
        settings.worldSize > 1 || settings.oneRankBuckets) {
      // The step as a data-parallel plan runs it; the planner applies the
      // same pass after choosing what to recompute.
      PassManager pm(&context);
      TgBucketGradientsOptions buckets;
      buckets.worldSize = settings.worldSize;
      buckets.bucketBytes = settings.bucketBytes;
      buckets.oneRank = settings.oneRankBuckets;
      pm.addPass(createTgBucketGradients(buckets));
      pm.addPass(createTgVerifyTrainingStep());
      if (failed(pm.run(**module)))
        return makeError("internal error: bucketing the gradients failed");
    }
    (*module)->print(os);
    return llvm::Error::success();
  case EmitKind::Mlir:
  case EmitKind::ForwardMlir:
    (*module)->print(os);
    return llvm::Error::success();
  case EmitKind::Stats:
    os << statsToJson(spec, computeForwardStats(**module), options.perOp)
              .dump(2)
       << "\n";
    return llvm::Error::success();
  case EmitKind::Segments:
    return emitSegments(options, spec, **module, os, timing);
  case EmitKind::Plan:
  case EmitKind::Report:
    return emitPlanning(options, spec, **module, outputText, stdoutText,
                        extraFiles, timing);
  }
  llvm_unreachable("unknown emit kind");
}

int densenet::runDensenetc(const DriverOptions &options,
                           llvm::raw_ostream &errs) {
  auto fail = [&](llvm::Error error) {
    errs << "densenetc: error: " << llvm::toString(std::move(error)) << "\n";
    return 1;
  };

  if ((options.trace || options.memoryPlot) &&
      (options.listModels || (options.emit != EmitKind::Plan &&
                              options.emit != EmitKind::Report) ||
       options.minBudget))
    return fail(makeError("--trace and --memory-plot describe a plan: use them "
                          "with --emit plan or --emit report"));
  std::string outputText, stdoutText;
  ExtraFiles extraFiles;
  // MLIR's timing report (--timing), printed to stderr when the manager
  // goes, after everything else.
  DefaultTimingManager timingManager;
  timingManager.setEnabled(options.timing);
  TimingScope timing = timingManager.getRootScope();
  if (options.listModels) {
    llvm::raw_string_ostream os(outputText);
    listModels(os);
  } else {
    llvm::Expected<ModelSpec> spec = resolveModelSpec(options);
    if (!spec)
      return fail(spec.takeError());
    if (llvm::Error error = checkSgdOptions(options, *spec))
      return fail(std::move(error));
    if (llvm::Error error = compile(options, *spec, outputText, stdoutText,
                                    extraFiles, timing))
      return fail(std::move(error));
  }

  // The report goes to stdout; the plan goes to -o only when one was given.
  bool reportOnly = options.emit == EmitKind::Report && options.outputFile == "-";
  if (!outputText.empty() && !reportOnly)
    extraFiles.insert(extraFiles.begin(), {options.outputFile, outputText});
  TimingScope writing = timing.nest("write files");
  for (const auto &[path, text] : extraFiles) {
    // writeToOutput writes a temporary file and renames it into place.
    if (llvm::Error error =
            llvm::writeToOutput(path, [&](llvm::raw_ostream &os) {
              os << text;
              return llvm::Error::success();
            }))
      return fail(makeError("cannot write '" + path + "': " +
                            llvm::errorToErrorCode(std::move(error)).message()));
  }
  llvm::outs() << stdoutText;
  return 0;
}
