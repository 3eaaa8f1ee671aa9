//===- Binding.cpp - Resolving a plan's buffers in an arena ---------------===//

#include "runtime/backend/Binding.h"

#include <algorithm>

using namespace densenet::runtime;

int64_t densenet::runtime::channelBytes(const Buffer &root) {
  // Channels are planes of h * w elements of the root's dtype (2 bytes in
  // bf16 and f16 plans).
  return root.shape[2] * root.shape[3] * sizeOf(root.dtype);
}

int64_t densenet::runtime::arenaOffset(const Plan &plan, int id) {
  const Buffer &buffer = plan.buffers[id];
  if (!buffer.isView())
    return buffer.offset;
  const Buffer &root = plan.buffers[buffer.viewOf];
  if (buffer.isContiguousView())
    return root.offset + buffer.byteOffset;
  return root.offset + buffer.channelOffset * channelBytes(root);
}

float *PlanBinding::pointer(int id) const {
  return reinterpret_cast<float *>(arena + arenaOffset(plan, id));
}

FeatureMap PlanBinding::map(int id) const {
  const Buffer &buffer = plan.buffers[id];
  FeatureMap result;
  result.data = pointer(id);
  if (buffer.shape.size() == 4) {
    result.n = buffer.shape[0];
    result.c = buffer.shape[1];
    result.h = buffer.shape[2];
    result.w = buffer.shape[3];
    result.imageStride = buffer.isContiguousView()
                             ? result.c * result.h * result.w
                             : plan.buffers[rootOf(id)].shape[1] * result.h *
                                   result.w;
    return result;
  }
  result.n = buffer.shape.empty() ? 1 : buffer.shape[0];
  result.c = buffer.elements() / std::max<int64_t>(result.n, 1);
  result.h = result.w = 1;
  result.imageStride = result.c;
  return result;
}

uint8_t *PlanBinding::transferTarget(int id, size_t bytes) const {
  if (id < 0 || id >= static_cast<int>(plan.buffers.size()) ||
      plan.buffers[id].isView() ||
      static_cast<int64_t>(bytes) != plan.buffers[id].bytes)
    throw PlanError("internal error: host transfer of " +
                    std::to_string(bytes) + " bytes to buffer " +
                    std::to_string(id));
  return arena + plan.buffers[id].offset;
}

int PlanBinding::runningStatistic(const Step &step, const char *suffix) const {
  int id = plan.find(step.layer + suffix);
  if (id < 0 || plan.buffers[id].shape != plan.buffers[step.reads[1]].shape)
    throw PlanError(plan.source + ": batch norm '" + step.layer +
                    "' has no buffer '" + step.layer + suffix +
                    "' for inference");
  return id;
}

std::vector<std::vector<int>> PlanBinding::allReduceWaits() const {
  size_t count = plan.steps.size();
  std::vector<std::vector<int>> waits(count + 1);
  for (size_t index = 0; index < count; ++index) {
    if (plan.steps[index].op != OpKind::AllReduce)
      continue;
    int bucket = rootOf(plan.steps[index].updates[0]);
    size_t next = index + 1;
    for (; next < count; ++next) {
      std::vector<int> roots = rootsOf(plan.steps[next]);
      if (std::find(roots.begin(), roots.end(), bucket) != roots.end())
        break;
    }
    waits[next].push_back(static_cast<int>(index));
  }
  return waits;
}

std::vector<int> PlanBinding::rootsOf(const Step &step) const {
  std::vector<int> roots;
  for (const auto *ids : {&step.reads, &step.writes, &step.updates})
    for (int id : *ids)
      roots.push_back(rootOf(id));
  std::sort(roots.begin(), roots.end());
  roots.erase(std::unique(roots.begin(), roots.end()), roots.end());
  return roots;
}

PeakTracker::PeakTracker(const Plan &plan)
    : plan(plan), first(plan.buffers.size(), -1),
      last(plan.buffers.size(), -1) {}

void PeakTracker::begin() {
  std::fill(first.begin(), first.end(), -1);
  std::fill(last.begin(), last.end(), -1);
}

void PeakTracker::touch(int step, const std::vector<int> &roots) {
  for (int root : roots) {
    if (first[root] < 0)
      first[root] = step;
    last[root] = step;
  }
}

void PeakTracker::finish() {
  int final = static_cast<int>(plan.steps.size()) - 1;
  std::vector<int64_t> delta(plan.steps.size() + 1, 0);
  for (const Buffer &buffer : plan.buffers) {
    if (buffer.isView() || buffer.bytes == 0)
      continue;
    int begin = first[buffer.id], end = last[buffer.id];
    bool input = buffer.id == plan.input || buffer.id == plan.labels ||
                 buffer.id == plan.learningRate || buffer.category == "input";
    if (buffer.persistent || input)
      begin = 0;
    if (buffer.persistent || buffer.id == plan.loss ||
        buffer.id == plan.correct)
      end = final;
    if (input && end < 0)
      end = 0;
    if (begin < 0 || end < 0)
      continue;
    delta[begin] += buffer.bytes;
    delta[end + 1] -= buffer.bytes;
  }
  int64_t live = 0;
  for (size_t step = 0; step < plan.steps.size(); ++step) {
    live += delta[step];
    peak = std::max(peak, live);
  }
}

std::vector<int> PlanBinding::updateSteps() const {
  std::vector<int> steps;
  for (size_t index = 0; index < plan.steps.size(); ++index)
    if (plan.steps[index].op == OpKind::SgdUpdate)
      steps.push_back(static_cast<int>(index));
  return steps;
}
