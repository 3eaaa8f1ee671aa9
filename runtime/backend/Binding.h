//===- Binding.h - Resolving a plan's buffers in an arena -------*- C++ -*-===//
//
// What every backend does the same way: turn buffer ids into addresses in
// its arena (roots at their offsets, views as channel slices), and measure
// the peak the memory model promises from the buffers its kernels actually
// touch (Backend::measuredPeakBytes).
//
//===----------------------------------------------------------------------===//

#ifndef DENSENET_RUNTIME_BACKEND_BINDING_H
#define DENSENET_RUNTIME_BACKEND_BINDING_H

#include "runtime/backend/FeatureMap.h"
#include "runtime/plan/Plan.h"

#include <cstdint>
#include <vector>

namespace densenet::runtime {

/// The bytes of one channel of one image of feature map `root` (h * w
/// elements of its dtype): the unit a channel slice moves by.
int64_t channelBytes(const Buffer &root);
/// Where buffer `id`'s first element lies in the arena: a root at its
/// offset, a view at its byte offset or first channel inside its root.
int64_t arenaOffset(const Plan &plan, int id);

class PlanBinding {
public:
  /// `arena` is the base of the backend's one allocation of arena_bytes
  /// (host or device memory; nothing here dereferences it).
  PlanBinding(const Plan &plan, uint8_t *arena) : plan(plan), arena(arena) {}

  int rootOf(int id) const {
    return plan.buffers[id].isView() ? plan.buffers[id].viewOf : id;
  }
  float *pointer(int id) const;
  /// The buffer as a feature map; matrices and vectors as [n, k, 1, 1].
  FeatureMap map(int id) const;
  /// The start of root buffer `id` for a host transfer of `bytes`, which
  /// must be the buffer's size.
  uint8_t *transferTarget(int id, size_t bytes) const;
  /// `<layer><suffix>` (a batch norm's running statistic), for inference.
  int runningStatistic(const Step &step, const char *suffix) const;
  /// The root buffers a step's operands live in, each once.
  std::vector<int> rootsOf(const Step &step) const;
  /// Where each all-reduce must have finished: entry i lists the all-reduce
  /// steps to wait for before step i, the first later step that touches
  /// their bucket (the update reading an averaged gradient); the extra last
  /// entry, those to wait for at the end of the step.
  std::vector<std::vector<int>> allReduceWaits() const;
  /// The tg.sgd_update steps in order: f16 loss scaling checks all their
  /// gradients before the first and moves the scale after the last.
  std::vector<int> updateSteps() const;

private:
  const Plan &plan;
  uint8_t *arena;
};

/// Live bytes over the lifetimes the kernels' operands show: record the
/// roots of every executed step, then finish() computes the peak.
/// Persistent state and the inputs count for the whole step.
class PeakTracker {
public:
  explicit PeakTracker(const Plan &plan);
  void begin();
  void touch(int step, const std::vector<int> &roots);
  void finish();
  int64_t peakBytes() const { return peak; }

private:
  const Plan &plan;
  std::vector<int> first, last;
  int64_t peak = 0;
};

} // namespace densenet::runtime

#endif // DENSENET_RUNTIME_BACKEND_BINDING_H
