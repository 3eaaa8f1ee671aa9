//===- Fusion.cpp - Steps a backend may run as one kernel -----------------===//

#include "runtime/backend/Fusion.h"
#include "runtime/backend/Binding.h"

using namespace densenet::runtime;

namespace {

/// How many steps read each buffer (an update reads it too), counting a
/// read of a view as a read of its root too; and which buffers have views.
struct Readers {
  std::vector<int> count;
  std::vector<bool> hasViews;

  explicit Readers(const Plan &plan)
      : count(plan.buffers.size(), 0), hasViews(plan.buffers.size(), false) {
    for (const Buffer &buffer : plan.buffers)
      if (buffer.isView())
        hasViews[buffer.viewOf] = true;
    for (const Step &step : plan.steps)
      for (const std::vector<int> *ids : {&step.reads, &step.updates})
        for (int id : *ids) {
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

/// Where a buffer's bytes are in the arena: [begin, begin + length) in each
/// of `images` images `stride` bytes apart (one image for a root or a
/// contiguous view; a channel slice has one run per image of its root).
struct Region {
  int root;
  int64_t begin, length, stride, images;

  int64_t end() const { return begin + (images - 1) * stride + length; }
  /// The same bytes in the same runs (of any roots).
  bool sameBytes(const Region &other) const {
    return begin == other.begin && length == other.length &&
           stride == other.stride && images == other.images;
  }
};

Region regionOf(const Plan &plan, int id) {
  const Buffer &buffer = plan.buffers[id];
  if (!buffer.isView() || buffer.isContiguousView())
    return {buffer.isView() ? buffer.viewOf : id, arenaOffset(plan, id),
            buffer.bytes, buffer.bytes, 1};
  const Buffer &root = plan.buffers[buffer.viewOf];
  if (root.shape.size() != 4) // not a feature map: all of the root, to be safe
    return {buffer.viewOf, root.offset, root.bytes, root.bytes, 1};
  int64_t channel = channelBytes(root);
  return {buffer.viewOf, arenaOffset(plan, id), buffer.channels * channel,
          root.shape[1] * channel, root.shape[0]};
}

/// Whether two regions share a byte (conservatively: by their whole span,
/// unless both are channel ranges of one root, whose images interleave
/// alike).
bool overlaps(const Region &a, const Region &b) {
  if (a.length == 0 || b.length == 0 || a.end() <= b.begin ||
      b.end() <= a.begin)
    return false;
  if (a.root == b.root && a.stride == b.stride && a.images == b.images)
    return a.begin < b.begin + b.length && b.begin < a.begin + a.length;
  return true;
}

/// Whether running `second`'s work inside `first`'s kernel could overwrite
/// bytes the kernel still reads. The plan's lifetimes are per step: what
/// `first` reads last may share bytes with what `second` writes, which is
/// safe for two kernels one after the other, not for one kernel that reads
/// the first's operands while it writes the second's results. Only the
/// same elements in the same layout may coincide: a fused kernel reads each
/// element before the thread that owns it writes it.
bool clobbers(const Plan &plan, const Step &first, const Step &second) {
  std::vector<int> operands = first.reads;
  operands.insert(operands.end(), first.writes.begin(), first.writes.end());
  operands.insert(operands.end(), second.reads.begin(), second.reads.end());
  for (int written : second.writes) {
    Region out = regionOf(plan, written);
    for (int operand : operands) {
      if (operand == written)
        continue;
      Region in = regionOf(plan, operand);
      if (!overlaps(out, in))
        continue;
      const Buffer &a = plan.buffers[written], &b = plan.buffers[operand];
      bool sameElements =
          out.sameBytes(in) && a.dtype == b.dtype && a.shape == b.shape;
      if (!sameElements)
        return true;
    }
  }
  return false;
}

} // namespace

Fusions densenet::runtime::findFusions(const Plan &plan) {
  Fusions fusions;
  Readers readers(plan);
  for (size_t i = 0; i + 1 < plan.steps.size(); ++i) {
    const Step &first = plan.steps[i], &second = plan.steps[i + 1];
    bool forwardPair = first.op == OpKind::BatchNorm &&
                       second.op == OpKind::Relu && !first.writes.empty() &&
                       second.reads.size() == 1 &&
                       second.reads[0] == first.writes[0];
    bool backwardPair = first.op == OpKind::ReluGrad &&
                        second.op == OpKind::BatchNormGrad &&
                        !first.writes.empty() && !second.reads.empty() &&
                        second.reads[0] == first.writes[0];
    if ((forwardPair || backwardPair) && clobbers(plan, first, second)) {
      ++fusions.refused;
      continue;
    }
    if (forwardPair) {
      NormReluFusion fusion;
      fusion.norm = static_cast<int>(i);
      fusion.relu = static_cast<int>(i + 1);
      fusion.writeNormalized = readers.readElsewhere(plan, first.writes[0]);
      fusions.forward.push_back(fusion);
      ++i; // a step is in one pair at most
      continue;
    }
    if (backwardPair) {
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
