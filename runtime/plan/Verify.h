//===- Verify.h - The rules a plan must satisfy before it runs --*- C++ -*-===//
//
// The structural rules of docs/plan-format.md, checked on a parsed plan: the
// same rules scripts/check_plan.py applies independently in the tests. On
// success it fills the plan's derived fields (logits, live bytes per step).
//
//===----------------------------------------------------------------------===//

#ifndef DENSENET_RUNTIME_PLAN_VERIFY_H
#define DENSENET_RUNTIME_PLAN_VERIFY_H

#include "runtime/plan/Plan.h"

namespace densenet::runtime {

/// Throws PlanError naming the first rule broken (with the buffer or step).
void verifyPlan(Plan &plan);

} // namespace densenet::runtime

#endif // DENSENET_RUNTIME_PLAN_VERIFY_H
