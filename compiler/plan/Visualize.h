//===- Visualize.h - Memory timeline of a plan ------------------*- C++ -*-===//

#ifndef DENSENET_COMPILER_PLAN_VISUALIZE_H
#define DENSENET_COMPILER_PLAN_VISUALIZE_H

#include "compiler/plan/Planner.h"

#include <nlohmann/json.hpp>

#include <string>

namespace densenet::plan {

/// Chrome trace / Perfetto JSON: one span per step (thread per phase) on the
/// predicted time line, and counter tracks of live bytes by category.
nlohmann::ordered_json planToTrace(const MemoryPlan &plan);

/// An SVG of live bytes by category over the steps, with the budget, the
/// reserve and the recompute steps marked. `title` heads the picture.
std::string planToSvg(const MemoryPlan &plan, const std::string &title);

} // namespace densenet::plan

#endif // DENSENET_COMPILER_PLAN_VISUALIZE_H
