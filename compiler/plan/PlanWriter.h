//===- PlanWriter.h - The plan file and the report --------------*- C++ -*-===//

#ifndef DENSENET_COMPILER_PLAN_PLANWRITER_H
#define DENSENET_COMPILER_PLAN_PLANWRITER_H

#include "compiler/ModelSpec.h"
#include "compiler/Pipeline.h"
#include "compiler/Targets.h"
#include "compiler/plan/Planner.h"

#include <nlohmann/json.hpp>

#include <optional>
#include <string>

namespace densenet::plan {

/// Facts about the model the plan and report mention beside the plan.
struct PlanContext {
  ModelSpec spec;
  int64_t parameters = 0;
  Target target;
  SgdSettings optimizer; // recorded for the runtime
  /// Largest batch that fits the budget with no recompute and with this
  /// policy; unset when not computed (no budget).
  std::optional<int64_t> largestBatchNoRecompute;
  std::optional<int64_t> largestBatchWithPlan;
};

/// The plan file: docs/plan-format.md describes every field.
nlohmann::ordered_json planToJson(const MemoryPlan &plan,
                                  const PlanContext &context);
/// The plan file's text: planToJson(plan, context).dump(1) and a newline,
/// written faster (its two serializations run side by side).
std::string planToText(const MemoryPlan &plan, const PlanContext &context);

/// The human-readable report of --emit report.
std::string renderReport(const MemoryPlan &plan, const PlanContext &context);

} // namespace densenet::plan

#endif // DENSENET_COMPILER_PLAN_PLANWRITER_H
