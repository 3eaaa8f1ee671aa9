//===- Fusion.cpp - Steps a backend may run as one kernel -----------------===//

#include "runtime/backend/Fusion.h"

using namespace densenet::runtime;

namespace {

/// How many steps read each buffer, counting a read of a view as a read of
/// its root too; and which buffers have views.
struct Readers {
  std::vector<int> count;
  std::vector<bool> hasViews;

  explicit Readers(const Plan &plan)
      : count(plan.buffers.size(), 0), hasViews(plan.buffers.size(), false) {
    for (const Buffer &buffer : plan.buffers)
      if (buffer.isView())
        hasViews[buffer.viewOf] = true;
    for (const Step &step : plan.steps)
      for (int id : step.reads) {
        ++count[id];
        if (plan.buffers[id].isView())
          ++count[plan.buffers[id].viewOf];
      }
  }

  /// Whether anything but the one step that consumes `id` needs its bytes.
  bool readElsewhere(const Plan &plan, int id) const {
    return count[id] > 1 || hasViews[id] || plan.buffers[id].isView();
  }
};

} // namespace

Fusions densenet::runtime::findFusions(const Plan &plan) {
  Fusions fusions;
  Readers readers(plan);
  for (size_t i = 0; i + 1 < plan.steps.size(); ++i) {
    const Step &first = plan.steps[i], &second = plan.steps[i + 1];
    if (first.op == OpKind::BatchNorm && second.op == OpKind::Relu &&
        !first.writes.empty() && second.reads.size() == 1 &&
        second.reads[0] == first.writes[0]) {
      NormReluFusion fusion;
      fusion.norm = static_cast<int>(i);
      fusion.relu = static_cast<int>(i + 1);
      fusion.writeNormalized = readers.readElsewhere(plan, first.writes[0]);
      fusions.forward.push_back(fusion);
      ++i; // a step is in one pair at most
      continue;
    }
    if (first.op == OpKind::ReluGrad && second.op == OpKind::BatchNormGrad &&
        !first.writes.empty() && !second.reads.empty() &&
        second.reads[0] == first.writes[0]) {
      ReluNormGradFusion fusion;
      fusion.reluGrad = static_cast<int>(i);
      fusion.normGrad = static_cast<int>(i + 1);
      fusion.writeGradient = readers.readElsewhere(plan, first.writes[0]);
      fusions.backward.push_back(fusion);
      ++i;
    }
  }
  return fusions;
}
