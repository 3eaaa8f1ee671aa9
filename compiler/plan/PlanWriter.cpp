//===- PlanWriter.cpp - The plan file and the report ----------------------===//

#include "compiler/plan/PlanWriter.h"
#include "format/PlanChecksum.h"

#include "compiler/Sizes.h"

#include "llvm/ADT/StringMap.h"
#include "llvm/Support/FormatVariadic.h"

#include <cassert>
#include <future>

using namespace densenet;
using namespace densenet::plan;
using Json = nlohmann::ordered_json;

static Json bytesOrNull(const std::optional<int64_t> &bytes) {
  return bytes ? Json(*bytes) : Json(nullptr);
}

/// The proof covers the plan when its lower bound reaches the plan's time,
/// up to the rounding of summing the same doubles in another order.
static bool provenOptimal(const MemoryPlan &plan) {
  return plan.recomputeLowerBoundSeconds &&
         *plan.recomputeLowerBoundSeconds >=
             plan.recomputeSeconds * (1 - 1e-9) - 1e-15;
}

static Json buffersToJson(const Schedule &schedule) {
  Json buffers = Json::array();
  for (const Buffer &buffer : schedule.buffers) {
    Json entry = {{"id", buffer.id},
                  {"name", buffer.name},
                  {"bytes", buffer.bytes},
                  {"dtype", buffer.dtype},
                  {"shape", buffer.shape},
                  {"category", stringifyCategory(buffer.category).str()},
                  {"persistent", buffer.persistent}};
    if (buffer.isContiguousView()) {
      entry["view_of"] = buffer.viewOf;
      entry["byte_offset"] = buffer.byteOffset;
    } else if (buffer.isView()) {
      entry["view_of"] = buffer.viewOf;
      entry["channel_offset"] = buffer.channelOffset;
      entry["channels"] = buffer.channels;
    } else {
      entry["offset"] = buffer.offset;
    }
    buffers.push_back(std::move(entry));
  }
  return buffers;
}

static Json stepsToJson(const Schedule &schedule) {
  Json steps = Json::array();
  for (const Step &step : schedule.steps)
    steps.push_back({{"op", step.op},
                     {"layer", step.layer},
                     {"phase", stringifyPhase(step.phase).str()},
                     {"reads", step.reads},
                     {"writes", step.writes},
                     {"updates", step.updates},
                     {"flops", step.flops},
                     {"workspace_bytes", step.workspaceBytes},
                     {"attributes", step.attributes}});
  return steps;
}

/// The plan without its checksum. The buffers and the steps, most of a deep
/// model's plan, are built side by side.
static Json unsealedPlan(const MemoryPlan &plan, const PlanContext &context) {
  const Schedule &schedule = plan.schedule;
  std::future<Json> steps =
      std::async(std::launch::async, stepsToJson, std::cref(schedule));
  Json buffers = buffersToJson(schedule);
  Json model = modelSpecToJson(context.spec);
  model["parameters"] = context.parameters;

  Json decisions = Json::array();
  for (size_t s = 0; s < plan.segments.size(); ++s)
    decisions.push_back(
        {{"layer", plan.segments[s].name},
         {"option", plan.segments[s].options[plan.choice[s]].name}});

  Json breakdown = Json::object();
  if (plan.liveness.peakStep >= 0)
    for (int c = 0; c < kNumCategories; ++c)
      breakdown[stringifyCategory(static_cast<Category>(c)).str()] =
          plan.liveness.liveByCategory[plan.liveness.peakStep][c];
  breakdown["reserve"] = plan.reserveBytes;

  const Target &target = context.target;
  Json json{
      {"format", "densenet-plan"},
      {"version", format::kPlanFormatVersion},
      {"target",
       {{"name", target.name},
        {"kind", target.kind},
        {"device_bytes", target.deviceBytes},
        {"alignment", target.alignment},
        {"layout", target.layout}}},
      {"model", std::move(model)},
      {"batch_size", context.spec.batchSize},
      {"dtype", stringifyDType(context.spec.dtype).str()},
      {"policy", stringifyPolicy(plan.policy).str()},
      {"optimizer",
       {{"momentum", context.optimizer.momentum},
        {"weight_decay", context.optimizer.weightDecay},
        {"nesterov", context.optimizer.nesterov},
        {"decay_norm_and_bias", context.optimizer.decayNormAndBias}}},
      {"loss_scale",
       context.spec.dtype == DType::F16
           ? Json{{"initial", context.optimizer.initialLossScale},
                  {"growth_factor", context.optimizer.lossScaleGrowth},
                  {"backoff_factor", context.optimizer.lossScaleBackoff},
                  {"growth_interval", context.optimizer.lossScaleGrowthInterval}}
           : Json(nullptr)},
      {"data_parallel",
       {{"world_size", context.optimizer.worldSize},
        {"bucket_bytes", context.optimizer.bucketBytes}}},
      {"budget_bytes", bytesOrNull(plan.budgetBytes)},
      {"arena_bytes", plan.arenaBytes},
      {"reserve_bytes", plan.reserveBytes},
      {"predicted_peak_bytes", plan.predictedPeakBytes},
      {"min_budget_bytes", plan.minBudgetBytes},
      {"fragmentation", plan.fragmentation()},
      {"peak_step", plan.liveness.peakStep},
      {"peak_breakdown", breakdown},
      {"recomputed_layers", plan.recomputedLayers},
      {"solver",
       {{"proven_optimal", provenOptimal(plan)},
        {"recompute_lower_bound_seconds",
         plan.recomputeLowerBoundSeconds
             ? Json(*plan.recomputeLowerBoundSeconds)
             : Json(nullptr)},
        {"live_limit_bytes", bytesOrNull(plan.solverLimitBytes)}}},
      {"decisions", decisions},
      {"cost",
       {{"forward_flops", plan.forwardFlops},
        {"backward_flops", plan.backwardFlops},
        {"recompute_flops", plan.recomputeFlops},
        {"predicted_step_seconds", plan.stepSeconds},
        {"recompute_seconds", plan.recomputeSeconds}}},
      {"inputs", {{"input", 0}, {"labels", 1}, {"learning_rate", 2}}},
      {"outputs",
       {{"loss", schedule.results.size() > 0 ? schedule.results[0] : -1},
        {"correct", schedule.results.size() > 1 ? schedule.results[1] : -1}}},
  };
  // Moved in after the rest (an initializer list copies its values; these
  // two are most of the plan). The object keeps insertion order.
  json["buffers"] = std::move(buffers);
  json["steps"] = steps.get();
  return json;
}

Json densenet::plan::planToJson(const MemoryPlan &plan,
                                const PlanContext &context) {
  Json json = unsealedPlan(plan, context);
  // Sealed last, over everything above (format/PlanChecksum.h).
  json["checksum"] = format::planChecksum(json.dump());
  return json;
}

std::string densenet::plan::planToText(const MemoryPlan &plan,
                                       const PlanContext &context) {
  const Json json = unsealedPlan(plan, context);
  // The checksum needs the compact text, the file the indented one: the
  // two are written side by side, and the checksum, the last field, is then
  // put where json["checksum"] = ... would have put it.
  std::future<std::string> checksum = std::async(std::launch::async, [&json] {
    return format::planChecksum(json.dump());
  });
  std::string text = json.dump(1);
  // An object dumped with indent 1 ends in "\n}"; its last field would end
  // with a comma before it.
  assert(text.size() >= 2 && text.compare(text.size() - 2, 2, "\n}") == 0);
  text.insert(text.size() - 2, ",\n \"checksum\": \"" + checksum.get() + "\"");
  text += "\n";
  return text;
}

static std::string bytesText(int64_t bytes) {
  return llvm::formatv("{0} ({1} bytes)", formatBytes(bytes), bytes).str();
}

std::string densenet::plan::renderReport(const MemoryPlan &plan,
                                         const PlanContext &context) {
  std::string text;
  llvm::raw_string_ostream os(text);
  const ModelSpec &spec = context.spec;
  os << spec.name << " on " << context.target.name << " ("
     << context.target.description << "), batch " << spec.batchSize << ", "
     << stringifyDType(spec.dtype) << ", policy "
     << stringifyPolicy(plan.policy) << "\n\n";

  os << llvm::formatv("{0,-22}{1}\n", "budget",
                      plan.budgetBytes ? bytesText(*plan.budgetBytes)
                                       : std::string("unlimited"));
  os << llvm::formatv("{0,-22}{1} = arena {2} + reserve {3}\n",
                      "predicted peak", bytesText(plan.predictedPeakBytes),
                      formatBytes(plan.arenaBytes),
                      formatBytes(plan.reserveBytes));
  os << llvm::formatv("{0,-22}{1}\n", "smallest budget",
                      bytesText(plan.minBudgetBytes));
  os << llvm::formatv("{0,-22}{1:P2} (arena / peak live bytes - 1)\n",
                      "fragmentation", plan.fragmentation());

  double stepSeconds = plan.stepSeconds;
  int64_t totalFlops = plan.forwardFlops + plan.backwardFlops +
                       plan.recomputeFlops;
  os << llvm::formatv("{0,-22}{1:F4} s predicted (roofline on {2})\n",
                      "step time", stepSeconds, context.target.name);
  os << llvm::formatv(
      "{0,-22}{1:F4} s = {2:P2} of the step; {3:F2} GFLOP = {4:P2} of all "
      "FLOPs\n",
      "recompute", plan.recomputeSeconds,
      stepSeconds > 0 ? plan.recomputeSeconds / stepSeconds : 0.0,
      plan.recomputeFlops / 1e9,
      totalFlops > 0 ? double(plan.recomputeFlops) / totalFlops : 0.0);
  if (plan.recomputeLowerBoundSeconds)
    os << llvm::formatv(
        "{0,-22}{1}\n", "optimality",
        provenOptimal(plan)
            ? (plan.solverLimitBytes
                   ? "proven: no plan with at most " +
                         formatBytes(*plan.solverLimitBytes) +
                         " live recomputes less"
                   : std::string("proven: nothing needs recomputing"))
            : llvm::formatv("recompute time within {0:P4} of the optimum "
                            "(proven lower bound {1:F6} s for {2} live; "
                            "--prove-optimal searches until proven)",
                            plan.recomputeSeconds > 0
                                ? (plan.recomputeSeconds -
                                   *plan.recomputeLowerBoundSeconds) /
                                      plan.recomputeSeconds
                                : 0.0,
                            *plan.recomputeLowerBoundSeconds,
                            plan.solverLimitBytes
                                ? formatBytes(*plan.solverLimitBytes)
                                : std::string("-"))
                  .str());
  if (context.spec.dtype == DType::F16)
    os << llvm::formatv("{0,-22}dynamic, from {1} (a step whose gradients "
                        "overflow is skipped and the scale halved; x{2} "
                        "after {3} finite steps)\n",
                        "loss scaling",
                        formatNumber(context.optimizer.initialLossScale),
                        formatNumber(context.optimizer.lossScaleGrowth),
                        context.optimizer.lossScaleGrowthInterval);
  if (context.largestBatchNoRecompute || context.largestBatchWithPlan) {
    auto batchText = [](const std::optional<int64_t> &batch) {
      return batch ? (*batch > 0 ? std::to_string(*batch)
                                 : std::string("none fits"))
                   : std::string("-");
    };
    os << llvm::formatv("{0,-22}{1} with no recompute, {2} with this "
                        "policy\n",
                        "largest batch", batchText(context.largestBatchNoRecompute),
                        batchText(context.largestBatchWithPlan));
  }

  os << "\nmemory at the peak (step " << plan.liveness.peakStep;
  if (plan.liveness.peakStep >= 0) {
    const Step &step = plan.schedule.steps[plan.liveness.peakStep];
    os << ", " << step.layer << " " << stringifyPhase(step.phase);
  }
  os << ")\n";
  if (plan.liveness.peakStep >= 0)
    for (int c = 0; c < kNumCategories; ++c)
      os << llvm::formatv(
          "  {0,-22}{1,12}\n", stringifyCategory(static_cast<Category>(c)),
          formatBytes(plan.liveness.liveByCategory[plan.liveness.peakStep][c]));
  os << llvm::formatv("  {0,-22}{1,12}\n", "reserve",
                      formatBytes(plan.reserveBytes));

  // Decisions: a count per option, then every layer that recomputes.
  llvm::StringMap<int> counts;
  for (size_t s = 0; s < plan.segments.size(); ++s)
    ++counts[plan.segments[s].options[plan.choice[s]].name];
  os << "\ndecisions (" << plan.segments.size() << " layers):";
  for (const char *option :
       {"keep", "recompute-norm-relu", "recompute-layer", "recompute"})
    if (counts.count(option))
      os << " " << counts[option] << " " << option << ";";
  os << "\n";
  for (size_t s = 0; s < plan.segments.size(); ++s) {
    const SegmentOption &option = plan.segments[s].options[plan.choice[s]];
    os << llvm::formatv("  {0,-40}{1}\n", plan.segments[s].name, option.name);
  }
  return text;
}
