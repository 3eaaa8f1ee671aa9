//===- Planner.cpp - Memory plans for training steps ----------------------===//
//
// Planning in four moves:
//  1. Profile: for each option index k, rematerialize a clone of the step
//     with every segment at its k-th option (capped at its last) and
//     simulate it. Because a segment's own buffers depend only on its own
//     option and shared buffers on none, each simulation yields every
//     segment's kept bytes and peak under that option (Solver.h).
//  2. Decide: by policy, or with the exact solver under the budget.
//  3. Apply: mark the chosen ops, run tg-rematerialize, simulate the real
//     schedule and check the solver predicted its peak exactly.
//  4. Lay out: offsets in one arena; if alignment and fragmentation push the
//     arena over the budget, tighten the solver's limit and decide again.
//
//===----------------------------------------------------------------------===//

#include "compiler/plan/Planner.h"
#include "compiler/Support.h"

#include "compiler/Sizes.h"
#include "compiler/plan/Layout.h"
#include "compiler/plan/Workers.h"
#include "dialects/TG/TGOps.h"
#include "passes/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringSet.h"

#include <atomic>
#include <cmath>
#include <deque>
#include <future>

using namespace mlir;
using namespace densenet;
using namespace densenet::plan;

char InfeasibleBudgetError::ID = 0;

void InfeasibleBudgetError::log(llvm::raw_ostream &os) const {
  os << "budget " << formatBytes(budgetBytes) << " (" << budgetBytes
     << " bytes) is below the smallest feasible budget "
     << formatBytes(minBudgetBytes) << " (" << minBudgetBytes << " bytes)";
}

llvm::StringRef densenet::plan::stringifyPolicy(Policy policy) {
  switch (policy) {
  case Policy::Optimal:
    return "optimal";
  case Policy::Keep:
    return "keep";
  case Policy::None:
    return "none";
  case Policy::All:
    return "all";
  case Policy::Sqrt:
    return "sqrt";
  }
  llvm_unreachable("unknown policy");
}


namespace {

/// What each option of a segment recomputes: the names of its forward ops.
/// Options are cumulative: a later one recomputes a superset.
struct SegmentSpec {
  std::string name;
  std::vector<std::string> optionNames;
  std::vector<llvm::StringSet<>> recompute; // per option
};

func::FuncOp trainingStep(ModuleOp module) {
  for (auto function : module.getOps<func::FuncOp>())
    if (function->hasAttr("tg.training_step"))
      return function;
  return {};
}

bool isForwardCompute(Operation &op) {
  return isa<tg::CostOpInterface>(op) && !op.hasTrait<tg::BackwardOp>() &&
         !op.hasTrait<tg::UpdateOp>() && !op.hasAttr("tg.recomputed");
}

/// The segments of a step in forward order, with the options the model
/// structure allows (DESIGN: keep / recompute norm1+relu1 / recompute the
/// whole layer; the stem, transitions and classifier keep or recompute their
/// norm and ReLU).
std::vector<SegmentSpec> segmentSpecs(func::FuncOp step) {
  std::vector<SegmentSpec> specs;
  llvm::StringMap<size_t> index;
  llvm::StringMap<llvm::StringSet<>> forwardNames;
  for (Operation &op : step.getBody().front()) {
    auto name = op.getAttrOfType<StringAttr>("name");
    if (!name || !isa<tg::CostOpInterface>(op))
      continue;
    std::string segment = segmentOf(name.getValue());
    if (!index.count(segment)) {
      index[segment] = specs.size();
      specs.push_back({segment, {"keep"}, {llvm::StringSet<>()}});
    }
    if (isForwardCompute(op))
      forwardNames[segment].insert(name.getValue());
  }
  for (SegmentSpec &spec : specs) {
    const llvm::StringSet<> &present = forwardNames[spec.name];
    auto addOption = [&](llvm::StringRef optionName,
                         std::vector<std::string> suffixes) {
      llvm::StringSet<> ops = spec.recompute.back();
      for (const std::string &suffix : suffixes) {
        std::string opName =
            suffix.front() == '.' ? spec.name + suffix : suffix;
        if (!present.contains(opName))
          return false;
        ops.insert(opName);
      }
      spec.optionNames.push_back(optionName.str());
      spec.recompute.push_back(std::move(ops));
      return true;
    };
    llvm::StringRef name = spec.name;
    if (name.starts_with("features.denseblock")) {
      if (addOption("recompute-norm-relu", {".norm1", ".relu1"}))
        addOption("recompute-layer", {".conv1", ".norm2", ".relu2"});
    } else if (name.starts_with("features.transition")) {
      addOption("recompute-norm-relu", {".norm", ".relu"});
    } else if (name == "stem") {
      addOption("recompute",
                {"features.conv0", "features.norm0", "features.relu0"});
    } else if (name == "classifier") {
      addOption("recompute-norm-relu", {"features.norm5", "features.relu5"});
    }
  }
  return specs;
}

/// Marks the ops the choice recomputes and applies tg-rematerialize;
/// `verify` also runs tg-verify-training-step (for the plan that is kept:
/// trial plans on clones skip it for speed).
LogicalResult applyChoice(ModuleOp module,
                          const std::vector<SegmentSpec> &specs,
                          const std::vector<int> &choice, bool verify,
                          const PlanOptions *buckets, TimingScope &timing) {
  func::FuncOp step = trainingStep(module);
  llvm::StringMap<int> segmentIndex;
  for (size_t i = 0; i < specs.size(); ++i)
    segmentIndex[specs[i].name] = static_cast<int>(i);
  UnitAttr unit = UnitAttr::get(module.getContext());
  for (Operation &op : step.getBody().front()) {
    auto name = op.getAttrOfType<StringAttr>("name");
    if (!name || !isForwardCompute(op))
      continue;
    auto it = segmentIndex.find(segmentOf(name.getValue()));
    if (it == segmentIndex.end())
      continue;
    if (specs[it->second].recompute[choice[it->second]].contains(
            name.getValue()))
      op.setAttr("tg.recompute", unit);
  }
  PassManager pm(module.getContext());
  std::string name = "TgRematerialize";
  pm.addPass(createTgRematerialize());
  if (buckets && buckets->hasBuckets()) {
    TgBucketGradientsOptions bucketOptions;
    bucketOptions.worldSize = buckets->worldSize;
    bucketOptions.bucketBytes = buckets->bucketBytes;
    bucketOptions.oneRank = buckets->oneRankBuckets;
    pm.addPass(createTgBucketGradients(bucketOptions));
    name += ", TgBucketGradients";
  }
  if (verify) {
    pm.addPass(createTgVerifyTrainingStep());
    name += ", TgVerifyTrainingStep";
  }
  // Timed under the passes' names: MLIR's pass timing keys its timers by
  // pass instance, so the pass managers profile() runs side by side would
  // each get a line of their own.
  TimingScope passes = timing.nest(name);
  return pm.run(module);
}

/// Loads the dialects the passes applyChoice runs may need. PassManager::run
/// loads them otherwise, which must not happen while other threads use the
/// context (Planner::profile runs it on several at once).
void loadPassDialects(MLIRContext *context) {
  PassManager pm(context);
  pm.addPass(createTgRematerialize());
  pm.addPass(createTgBucketGradients());
  pm.addPass(createTgVerifyTrainingStep());
  DialectRegistry registry;
  pm.getDependentDialects(registry);
  context->appendDialectRegistry(registry);
  for (llvm::StringRef name : registry.getDialectNames())
    context->getOrLoadDialect(name);
}

/// A simulated schedule split by segment: the quantities the solver needs.
struct SegmentProfile {
  int64_t kept = 0;
  int64_t peak = 0;
  double recomputeSeconds = 0;
  int64_t recomputeFlops = 0;
};

/// Measures every segment of one simulated schedule (Solver.h's model).
llvm::Expected<std::vector<SegmentProfile>>
profileSegments(const Schedule &schedule, const Liveness &liveness,
                const std::vector<SegmentSpec> &specs) {
  llvm::StringMap<int> segmentIndex;
  for (size_t i = 0; i < specs.size(); ++i)
    segmentIndex[specs[i].name] = static_cast<int>(i);
  int numSegments = static_cast<int>(specs.size());
  int numSteps = static_cast<int>(schedule.steps.size());

  // Each segment's steps must form a forward run and a backward run. Update
  // steps neither join nor break a run: f16 plans defer them all to the end
  // of the step (tg-autodiff defer-updates), where the live bytes only fall.
  std::vector<int> stepSegment(numSteps);
  std::vector<std::vector<std::pair<int, int>>> runs(numSegments);
  int previous = -1; // the last step that is not an update
  for (int i = 0; i < numSteps; ++i) {
    int s = segmentIndex.lookup(schedule.steps[i].segment);
    stepSegment[i] = s;
    if (schedule.steps[i].phase == Phase::Update)
      continue;
    if (!runs[s].empty() && runs[s].back().second == previous)
      runs[s].back().second = i;
    else
      runs[s].push_back({i, i});
    previous = i;
  }
  for (int s = 0; s < numSegments; ++s)
    if (runs[s].size() > 2)
      return makeError("internal error: the steps of " + specs[s].name +
                       " are not one forward and one backward run");

  // A root buffer only one segment touches is that segment's own.
  std::vector<int> owner(schedule.buffers.size(), -2);
  auto touch = [&](int id, int s) {
    const Buffer &buffer = schedule.buffers[id];
    int root = buffer.isView() ? buffer.viewOf : id;
    owner[root] = owner[root] == -2 || owner[root] == s ? s : -1;
  };
  for (int i = 0; i < numSteps; ++i)
    for (const std::vector<int> *ids :
         {&schedule.steps[i].reads, &schedule.steps[i].writes,
          &schedule.steps[i].updates})
      for (int id : *ids)
        touch(id, stepSegment[i]);
  for (int result : schedule.results)
    owner[result] = -1;

  std::vector<SegmentProfile> profiles(numSegments);
  for (const Buffer &buffer : schedule.buffers) {
    int s = owner[buffer.id];
    if (buffer.isView() || s < 0 || buffer.persistent ||
        buffer.category == Category::Input || runs[s].size() < 2)
      continue;
    if (liveness.first[buffer.id] <= runs[s][0].second &&
        liveness.last[buffer.id] >= runs[s][1].first)
      profiles[s].kept += buffer.bytes;
  }
  // Segments appear in forward order, so "earlier" is a lower index.
  int64_t keptBefore = 0;
  for (int s = 0; s < numSegments; ++s) {
    for (auto [begin, end] : runs[s])
      for (int i = begin; i <= end; ++i) {
        profiles[s].peak =
            std::max(profiles[s].peak, liveness.liveBytes[i] - keptBefore);
        if (schedule.steps[i].phase == Phase::Recompute) {
          profiles[s].recomputeSeconds += schedule.steps[i].seconds;
          profiles[s].recomputeFlops += schedule.steps[i].flops;
        }
      }
    keptBefore += profiles[s].kept;
  }
  return profiles;
}

/// A schedule, its liveness and its layout.
struct Realized {
  Schedule schedule;
  Liveness liveness;
  int64_t arenaBytes = 0;
};

/// The layouts computed so far in one planning run, by their items. The
/// plan finally emitted is one of the trials realized again, and laying out
/// a deep model's thousands of buffers costs more than scheduling them.
class LayoutMemo {
public:
  explicit LayoutMemo(unsigned threads) : threads(threads) {}
  const LayoutResult &layout(const std::vector<LayoutItem> &items,
                             int64_t alignment) {
    for (const Entry &entry : entries)
      if (entry.alignment == alignment && entry.items == items)
        return entry.result;
    entries.push_back(
        {items, alignment, layoutBuffers(items, alignment, threads)});
    return entries.back().result;
  }

private:
  unsigned threads; // for layoutBuffers
  struct Entry {
    std::vector<LayoutItem> items;
    int64_t alignment;
    LayoutResult result;
  };
  std::deque<Entry> entries; // stable references
};

/// The step from which the layout keeps each root buffer's bytes apart:
/// its first live step, or earlier where a backend runs two steps as one
/// kernel. The CUDA backend runs a ReLU gradient and the batch-norm
/// gradient that reads it as one kernel (runtime/backend/Fusion.cpp),
/// which reads the first step's operands while it writes the second's
/// results. Per-step lifetimes let the batch norm's weight and bias
/// gradients (a few KB) take bytes the ReLU gradient read last, and such a
/// pair then runs as two kernels; laid out from the ReLU gradient's step,
/// they cannot. Only the layout sees this: the liveness, and so the
/// predicted peak, stay the steps' own.
std::vector<int> layoutFirst(const Schedule &schedule,
                             const Liveness &liveness, const Target &target) {
  std::vector<int> first = liveness.first;
  if (target.kind != "cuda")
    return first;
  const std::vector<Step> &steps = schedule.steps;
  for (size_t i = 0; i + 1 < steps.size(); ++i) {
    const Step &relu = steps[i], &norm = steps[i + 1];
    if (relu.op != "tg.relu_grad" || norm.op != "tg.batch_norm_grad" ||
        relu.writes.empty() || norm.reads.empty() ||
        norm.reads[0] != relu.writes[0])
      continue;
    // writes: the input gradient, then the weight and bias gradients. A
    // gradient inside an all-reduce bucket (a view) is left alone: the
    // bucket is large.
    for (size_t w = 1; w < norm.writes.size(); ++w) {
      int id = norm.writes[w];
      if (!schedule.buffers[id].isView() && first[id] == int(i + 1))
        first[id] = int(i);
    }
  }
  return first;
}

/// Schedules `step` and computes its liveness; lays out its buffers too
/// unless `layouts` is null (profiling needs the liveness only).
Realized realize(func::FuncOp step, const Target &target, bool inPlace,
                 LayoutMemo *layouts, TimingScope &timing) {
  Realized result;
  ScheduleOptions scheduleOptions;
  scheduleOptions.inPlaceConcat = inPlace;
  TimingScope scheduling = timing.nest("schedule");
  result.schedule = buildSchedule(step, target, scheduleOptions);
  scheduling.stop();
  TimingScope living = timing.nest("liveness");
  result.liveness = computeLiveness(result.schedule);
  living.stop();
  if (!layouts)
    return result;
  TimingScope layingOut = timing.nest("layout");
  std::vector<LayoutItem> items;
  std::vector<int> roots;
  std::vector<int> first =
      layoutFirst(result.schedule, result.liveness, target);
  for (const Buffer &buffer : result.schedule.buffers) {
    if (buffer.isView())
      continue;
    LayoutItem item;
    item.bytes = buffer.bytes;
    item.first = std::max(first[buffer.id], 0);
    item.last = std::max(result.liveness.last[buffer.id], item.first);
    item.persistent = buffer.persistent;
    items.push_back(item);
    roots.push_back(buffer.id);
  }
  const LayoutResult &layout = layouts->layout(items, target.alignment);
  for (size_t i = 0; i < roots.size(); ++i)
    result.schedule.buffers[roots[i]].offset = layout.offsets[i];
  result.arenaBytes = layout.arenaBytes;
  return result;
}

/// The planner's grid of solver limits (Planner::plan): geometric steps of
/// 0.1% above the smallest peak, tried from the largest below `cap` down.
constexpr double kGridStep = 1.001;
int gridTop(int64_t cap, int64_t smallestPeak) {
  return static_cast<int>(std::floor(
      std::log(double(cap) / double(std::max<int64_t>(smallestPeak, 1))) /
      std::log(kGridStep)));
}
int64_t gridLimit(int64_t cap, int64_t smallestPeak, int k) {
  return std::min<int64_t>(
      cap, static_cast<int64_t>(smallestPeak * std::pow(kGridStep, k)));
}

class Planner {
public:
  Planner(ModuleOp module, const PlanOptions &options)
      : module(module), options(options), layouts(options.threads),
        timing(options.timing ? options.timing : &untimed) {}

  llvm::Expected<MemoryPlan> plan();
  llvm::Expected<int64_t> minimumBudget();
  llvm::Expected<std::vector<Segment>> profiled() {
    if (llvm::Error error = profile())
      return std::move(error);
    return segments;
  }
  llvm::Expected<std::vector<ChoiceOutcome>>
  evaluate(const std::vector<std::vector<int>> &choices) {
    if (llvm::Error error = profile())
      return std::move(error);
    std::vector<ChoiceOutcome> outcomes;
    for (const std::vector<int> &choice : choices) {
      if (choice.size() != specs.size())
        return makeError("a choice needs one option per segment");
      llvm::Expected<Realized> realized = realizeOnClone(choice, true);
      if (!realized)
        return realized.takeError();
      ChoiceOutcome outcome;
      outcome.peakLiveBytes = realized->liveness.peakBytes;
      outcome.arenaBytes = realized->arenaBytes;
      for (const Step &step : realized->schedule.steps)
        if (step.phase == Phase::Recompute)
          outcome.recomputeSeconds += step.seconds;
      outcomes.push_back(outcome);
    }
    return outcomes;
  }

private:
  /// Times a phase, nested in the current one, for the guard's lifetime
  /// (densenetc --timing). Phases of the same name add up.
  class Timed {
  public:
    Timed(Planner &planner, llvm::StringRef name)
        : planner(planner), scope(planner.timing->nest(name)),
          outer(planner.timing) {
      planner.timing = &scope;
    }
    ~Timed() { planner.timing = outer; }

  private:
    Planner &planner;
    TimingScope scope;
    TimingScope *outer;
  };
  /// Under a budget: the bytes the solver may keep live (budget - reserve),
  /// and whether the plan that recomputes nothing fits, which then stands
  /// without a search (plan()).
  int64_t liveCap() const {
    return *options.budgetBytes - options.target.reserveBytes;
  }
  bool keepAllFits() const {
    return keepArenaBytes + options.target.reserveBytes <= *options.budgetBytes;
  }
  SearchOptions search() const {
    SearchOptions search;
    search.maxStates = options.searchStates;
    search.threads = options.threads;
    return search;
  }
  /// solveMinTime, timed; the solve started ahead, if it was at `limit`.
  Solution solve(int64_t limit) {
    if (ahead && ahead->first == limit) {
      Solution solution = ahead->second.get();
      ahead.reset();
      return solution;
    }
    Timed timed(*this, "solve");
    return solveMinTime(segments, limit, search());
  }

  /// The segments and their options (cheap: no realization).
  llvm::Error findSegments();
  /// findSegments, then each option's kept bytes, peak and recompute time,
  /// from one realization per option level.
  llvm::Error profile();
  std::vector<int> policyChoice(Policy policy) const;
  /// Realizes a choice as the runtime would run it: with the all-reduce
  /// buckets of a data-parallel plan, unless `buckets` is false (profiling
  /// measures segments of the step without them).
  /// Without `layout`, the buffers get no offsets and no arena size.
  /// With `keep`, the clone is kept there.
  llvm::Expected<Realized> realizeOnClone(const std::vector<int> &choice,
                                          bool inPlace, bool buckets = true,
                                          bool layout = true,
                                          OwningOpRef<ModuleOp> *keep = nullptr);
  llvm::Expected<Realized>
  realizeInPlace(ModuleOp target, const std::vector<int> &choice, bool inPlace,
                 bool verify, bool buckets = true, bool layout = true);

  ModuleOp module;
  PlanOptions options;
  std::vector<SegmentSpec> specs;
  std::vector<Segment> segments;
  std::vector<int> smallestChoice; // the least-peak plan, for the fallback
  int64_t keepArenaBytes = 0;      // arena of the plan that recomputes nothing
  LayoutMemo layouts;
  bool planning = false; // plan(), not minimumBudget() alone
  TimingScope untimed; // a scope that times nothing
  TimingScope *timing; // the current phase
  /// The grid's first solve (its limit, its result to come), started
  /// beside the smallest budget's layouts, which it does not need.
  std::optional<std::pair<int64_t, std::future<Solution>>> ahead;
};

llvm::Error Planner::findSegments() {
  func::FuncOp step = trainingStep(module);
  if (!step)
    return makeError("the module holds no training step (run tg-autodiff)");
  specs = segmentSpecs(step);
  return llvm::Error::success();
}

llvm::Error Planner::profile() {
  Timed timed(*this, "profile segments");
  if (llvm::Error error = findSegments())
    return error;
  segments.assign(specs.size(), Segment());
  size_t maxOptions = 0;
  for (size_t s = 0; s < specs.size(); ++s) {
    segments[s].name = specs[s].name;
    segments[s].options.resize(specs[s].optionNames.size());
    for (size_t o = 0; o < specs[s].optionNames.size(); ++o)
      segments[s].options[o].name = specs[s].optionNames[o];
    maxOptions = std::max(maxOptions, specs[s].optionNames.size());
  }
  // One realization per option level k (option k, or the last, in every
  // segment). Level 0 recomputes nothing: only its arena is needed, with
  // the all-reduce buckets the plan will run with; the other levels are
  // profiled by their liveness alone.
  struct Level {
    std::vector<int> choice;
    bool buckets, layout;
    OwningOpRef<ModuleOp> clone;
    std::optional<llvm::Expected<Realized>> realized;
  };
  std::vector<Level> levels(maxOptions);
  for (size_t k = 0; k < maxOptions; ++k) {
    Level &level = levels[k];
    level.choice.resize(specs.size());
    for (size_t s = 0; s < specs.size(); ++s)
      level.choice[s] = static_cast<int>(
          std::min(k, specs[s].optionNames.size() - 1));
    level.buckets = false;
    level.layout = k == 0 && !options.hasBuckets();
  }
  if (options.hasBuckets())
    levels.push_back({levels[0].choice, true, true, nullptr, std::nullopt});
  // The realizations share only the module they start from, so they run
  // side by side. The clones are made here, one thread reading the module;
  // each helper then rewrites and measures its own clone (the MLIRContext
  // is thread-safe for that, as for MLIR's parallel pass manager). Only
  // one realization lays out, so the layout memo stays on one thread.
  {
    TimingScope cloning = timing->nest("clone");
    for (Level &level : levels)
      level.clone = module.clone();
  }
  loadPassDialects(module.getContext());
  std::atomic<size_t> next{0};
  Workers workers(std::min<unsigned>(Workers::resolve(options.threads),
                                     static_cast<unsigned>(levels.size())));
  workers.run([&](unsigned) {
    for (size_t i = next++; i < levels.size(); i = next++) {
      Level &level = levels[i];
      level.realized.emplace(realizeInPlace(*level.clone, level.choice,
                                            /*inPlace=*/true, /*verify=*/false,
                                            level.buckets, level.layout));
    }
  });
  // Every Expected is looked at, failed or not, before the first error is
  // returned.
  llvm::Error failure = llvm::Error::success();
  for (Level &level : levels)
    if (!*level.realized)
      failure = llvm::joinErrors(std::move(failure),
                                 level.realized->takeError());
  if (failure)
    return failure;
  // The one laid out: level 0, with the buckets where the plan has them.
  for (Level &level : levels)
    if (level.layout)
      keepArenaBytes = (*level.realized)->arenaBytes;
  for (size_t k = 0; k < maxOptions; ++k) {
    const Realized &realized = **levels[k].realized;
    llvm::Expected<std::vector<SegmentProfile>> profiles =
        profileSegments(realized.schedule, realized.liveness, specs);
    if (!profiles)
      return profiles.takeError();
    for (size_t s = 0; s < specs.size(); ++s) {
      if (static_cast<size_t>(levels[k].choice[s]) != k)
        continue;
      SegmentOption &option = segments[s].options[k];
      option.kept = (*profiles)[s].kept;
      option.peak = (*profiles)[s].peak;
      option.seconds = (*profiles)[s].recomputeSeconds;
      option.recomputeFlops = (*profiles)[s].recomputeFlops;
    }
  }
  return llvm::Error::success();
}

/// The fixed choices of the baseline policies.
std::vector<int> Planner::policyChoice(Policy policy) const {
  std::vector<int> choice(specs.size(), 0);
  if (policy == Policy::All || policy == Policy::Sqrt) {
    std::vector<size_t> layers;
    for (size_t s = 0; s < specs.size(); ++s)
      if (llvm::StringRef(specs[s].name).starts_with("features.denseblock"))
        layers.push_back(s);
    // Chen et al.'s sqrt(n) checkpoints on the chain of dense layers: every
    // ceil(sqrt(n))-th layer keeps its intermediates, the others recompute.
    size_t stride = policy == Policy::Sqrt
                        ? static_cast<size_t>(std::ceil(
                              std::sqrt(static_cast<double>(layers.size()))))
                        : 0;
    for (size_t i = 0; i < layers.size(); ++i) {
      size_t s = layers[i];
      bool checkpoint = stride > 0 && (i + 1) % stride == 0;
      choice[s] = checkpoint ? 0
                             : static_cast<int>(specs[s].optionNames.size() - 1);
    }
  }
  return choice;
}

llvm::Expected<Realized> Planner::realizeInPlace(ModuleOp target,
                                                 const std::vector<int> &choice,
                                                 bool inPlace, bool verify,
                                                 bool buckets, bool layout) {
  if (failed(applyChoice(target, specs, choice, verify,
                         buckets ? &options : nullptr, *timing)))
    return makeError("internal error: rematerialization failed");
  return realize(trainingStep(target), options.target, inPlace,
                 layout ? &layouts : nullptr, *timing);
}

llvm::Expected<Realized> Planner::realizeOnClone(const std::vector<int> &choice,
                                                 bool inPlace, bool buckets,
                                                 bool layout,
                                                 OwningOpRef<ModuleOp> *keep) {
  TimingScope cloning = timing->nest("clone");
  OwningOpRef<ModuleOp> clone(module.clone());
  cloning.stop();
  llvm::Expected<Realized> realized = realizeInPlace(
      *clone, choice, inPlace, /*verify=*/false, buckets, layout);
  if (keep)
    *keep = std::move(clone);
  return realized;
}

llvm::Expected<int64_t> Planner::minimumBudget() {
  Timed timed(*this, "smallest budget");
  int64_t reserve = options.target.reserveBytes;
  if (options.policy != Policy::Optimal) {
    // A fixed policy's choice needs the segments, not their profiles.
    if (llvm::Error error = findSegments())
      return std::move(error);
    llvm::Expected<Realized> realized = realizeOnClone(
        policyChoice(options.policy), options.policy != Policy::None);
    if (!realized)
      return realized.takeError();
    return realized->arenaBytes + reserve;
  }
  if (llvm::Error error = profile())
    return std::move(error);
  // The least peak, and among plans with that peak the least recompute
  // time; of the two, the smaller arena (then the faster plan) sets the
  // smallest budget.
  TimingScope leastPeak = timing->nest("solve least peak");
  Solution smallest = solveMinPeak(segments);
  leastPeak.stop();
  Solution cheapest = solve(smallest.peak);
  // A plan under a budget solves first at the top of the grid below it
  // (plan()), which needs the least peak, not the layouts below: on
  // another thread, it runs beside them. Only where the grid will run:
  // the plan that recomputes nothing does not fit, and the least peak does.
  if (planning && options.budgetBytes && !keepAllFits() &&
      liveCap() >= smallest.peak) {
    int64_t cap = liveCap();
    int64_t limit = gridLimit(cap, smallest.peak, gridTop(cap, smallest.peak));
    auto firstSolve = [this, limit, search = search(),
                       scope = timing->nest("solve, beside")]() mutable {
      Solution solution = solveMinTime(segments, limit, search);
      scope.stop();
      return solution;
    };
    ahead.emplace(limit, std::async(std::launch::async, std::move(firstSolve)));
  }
  llvm::Expected<Realized> realized = realizeOnClone(smallest.choice, true);
  if (!realized)
    return realized.takeError();
  smallestChoice = smallest.choice;
  int64_t arena = realized->arenaBytes;
  if (cheapest.feasible && cheapest.seconds < smallest.seconds) {
    llvm::Expected<Realized> faster = realizeOnClone(cheapest.choice, true);
    if (!faster)
      return faster.takeError();
    if (faster->arenaBytes <= arena) {
      smallestChoice = cheapest.choice;
      arena = faster->arenaBytes;
    }
  }
  return arena + reserve;
}

llvm::Expected<MemoryPlan> Planner::plan() {
  planning = true;
  // The plan reports every segment's options, whatever the policy.
  if (options.policy != Policy::Optimal)
    if (llvm::Error error = profile())
      return std::move(error);
  llvm::Expected<int64_t> minBudget = minimumBudget();
  if (!minBudget)
    return minBudget.takeError();
  int64_t reserve = options.target.reserveBytes;
  std::optional<int64_t> budget = options.budgetBytes;
  if (budget && *budget < *minBudget)
    return llvm::make_error<InfeasibleBudgetError>(*budget, *minBudget);

  std::vector<int> choice = policyChoice(options.policy);
  bool inPlace = options.policy != Policy::None;
  std::optional<double> lowerBound;
  std::optional<int64_t> solverLimit;
  // The trial that became the plan, realized on its clone: the plan is
  // moved in from there instead of being realized again.
  std::optional<std::pair<OwningOpRef<ModuleOp>, Realized>> accepted;
  if (options.policy == Policy::Optimal && !budget)
    lowerBound = 0.0; // nothing needs recomputing
  if (options.policy == Policy::Optimal && budget) {
    // The solver bounds live bytes; the arena adds alignment and
    // fragmentation on top. Limits are tried from a grid that depends on the
    // model only (geometric steps of 0.1% above the smallest peak), from the
    // largest below budget - reserve down, and the first plan whose arena
    // fits wins. Because the grid is the same for every budget, a larger
    // budget can only find the same plan or a cheaper one: the step time
    // never grows with the budget.
    constexpr int kMaxAttempts = 64;
    int64_t smallestPeak = predictPeak(segments, smallestChoice);
    int64_t cap = liveCap();
    choice = smallestChoice; // fits: min_budget_bytes was measured on it
    double smallestSeconds = predictSeconds(segments, smallestChoice);
    // Recomputing nothing costs nothing: if that plan's arena fits, it is
    // the answer, whatever the grid says.
    std::vector<int> keepAll(segments.size(), 0);
    if (keepAllFits()) {
      choice = keepAll;
      lowerBound = 0.0;
      solverLimit = cap;
    } else if (cap >= smallestPeak) {
      Timed timed(*this, "fit the budget");
      int top = gridTop(cap, smallestPeak);
      for (int k = top; k >= 0 && k > top - kMaxAttempts; --k) {
        int64_t limit = gridLimit(cap, smallestPeak, k);
        Solution solution = solve(limit);
        // Lower limits only cost more; the least-peak plan is the floor.
        if (!solution.feasible || solution.seconds >= smallestSeconds)
          break;
        OwningOpRef<ModuleOp> trialModule;
        llvm::Expected<Realized> trial =
            realizeOnClone(solution.choice, true, true, true, &trialModule);
        if (!trial)
          return trial.takeError();
        if (trial->arenaBytes + reserve <= *budget) {
          accepted.emplace(std::move(trialModule), std::move(*trial));
          choice = solution.choice;
          lowerBound = solution.lowerBoundSeconds;
          solverLimit = limit;
          break;
        }
        if (options.hasBuckets()) {
          // The buckets add memory the solver does not model; skip the
          // limits that cannot absorb this trial's overshoot.
          int64_t overshoot = trial->arenaBytes + reserve - *budget;
          int64_t lower = std::max<int64_t>(limit - overshoot, 1);
          int jump = static_cast<int>(std::floor(
              std::log(double(lower) /
                       double(std::max<int64_t>(smallestPeak, 1))) /
              std::log(kGridStep)));
          k = std::min(k, jump + 1);
        }
      }
    }
  }

  if (options.policy == Policy::Optimal && budget) {
    // The fixed baselines are plans too: where one fits and beats the grid's
    // (the grid is 0.1% coarse, fragmentation finer), it wins. Their arenas
    // do not depend on the budget, so this keeps the time monotone.
    Timed timed(*this, "baselines and bound");
    for (Policy baseline : {Policy::Sqrt, Policy::All}) {
      std::vector<int> candidate = policyChoice(baseline);
      if (predictSeconds(segments, candidate) >=
          predictSeconds(segments, choice))
        continue;
      llvm::Expected<Realized> trial = realizeOnClone(candidate, true);
      if (!trial)
        return trial.takeError();
      if (trial->arenaBytes + reserve <= *budget) {
        accepted.reset();
        choice = candidate;
        lowerBound.reset();
        solverLimit.reset();
      }
    }
    // Where the least-peak plan or a baseline stands, the solver at the
    // whole budget bounds it: a plan that fits has at most budget - reserve
    // bytes live, so none recomputes less than the optimum at that limit.
    if (!lowerBound) {
      Solution bound = solve(*budget - reserve);
      if (bound.feasible) {
        lowerBound = std::min(bound.lowerBoundSeconds,
                              predictSeconds(segments, choice));
        solverLimit = *budget - reserve;
      }
    }
  }

  Timed timed(*this, "realize the plan");
  Realized realized;
  if (accepted) {
    module.getBodyRegion().takeBody(accepted->first->getBodyRegion());
    PassManager pm(module.getContext());
    pm.enableTiming(*timing);
    pm.addPass(createTgVerifyTrainingStep());
    if (failed(pm.run(module)))
      return makeError("internal error: the plan's training step does not "
                       "verify");
    realized = std::move(accepted->second);
  } else {
    llvm::Expected<Realized> fresh =
        realizeInPlace(module, choice, inPlace, /*verify=*/true);
    if (!fresh)
      return fresh.takeError();
    realized = std::move(*fresh);
  }
  // The solver's model has no buckets; without them it is exact.
  if (inPlace && !options.hasBuckets()) {
    int64_t predicted = predictPeak(segments, choice);
    if (predicted != realized.liveness.peakBytes)
      return makeError("internal error: the solver predicted a peak of " +
                       llvm::Twine(predicted) + " bytes, the schedule has " +
                       llvm::Twine(realized.liveness.peakBytes));
  }
  if (budget && realized.arenaBytes + reserve > *budget)
    return llvm::make_error<InfeasibleBudgetError>(*budget, *minBudget);

  MemoryPlan plan;
  plan.policy = options.policy;
  plan.schedule = std::move(realized.schedule);
  plan.liveness = std::move(realized.liveness);
  plan.segments = segments;
  plan.choice = choice;
  plan.arenaBytes = realized.arenaBytes;
  plan.reserveBytes = reserve;
  plan.predictedPeakBytes = plan.liveness.peakBytes + reserve;
  plan.minBudgetBytes = *minBudget;
  plan.budgetBytes = budget;
  for (const Step &step : plan.schedule.steps) {
    plan.stepSeconds += step.seconds;
    switch (step.phase) {
    case Phase::Forward:
      plan.forwardFlops += step.flops;
      break;
    case Phase::Backward:
    case Phase::Update:
      plan.backwardFlops += step.flops;
      break;
    case Phase::Recompute:
      plan.recomputeFlops += step.flops;
      plan.recomputeSeconds += step.seconds;
      break;
    }
  }
  for (size_t s = 0; s < specs.size(); ++s)
    if (choice[s] != 0)
      plan.recomputedLayers.push_back(specs[s].name);
  plan.recomputeLowerBoundSeconds = lowerBound;
  plan.solverLimitBytes = solverLimit;
  return plan;
}

} // namespace

llvm::Expected<MemoryPlan> densenet::plan::planMemory(ModuleOp module,
                                                      const PlanOptions &options) {
  return Planner(module, options).plan();
}

llvm::Expected<int64_t>
densenet::plan::minimumBudget(ModuleOp module, const PlanOptions &options) {
  return Planner(module, options).minimumBudget();
}

llvm::Expected<std::vector<Segment>>
densenet::plan::profileStep(ModuleOp module, const PlanOptions &options) {
  return Planner(module, options).profiled();
}

llvm::Expected<std::vector<ChoiceOutcome>>
densenet::plan::evaluateChoices(ModuleOp module, const PlanOptions &options,
                                const std::vector<std::vector<int>> &choices) {
  return Planner(module, options).evaluate(choices);
}
