//===- Verify.cpp - The rules a plan must satisfy before it runs ----------===//
//
// Everything a kernel will trust is checked here once: shapes and dtypes of
// every operand (so no kernel can index outside a buffer), placement inside
// the arena, single writers and read-after-write order, and the promise of
// the memory model: buffers whose lifetimes overlap never share arena bytes,
// and the live bytes add up to the predicted peak.
//
//===----------------------------------------------------------------------===//

#include "runtime/plan/Verify.h"

#include "format/WeightCopy.h"

#include <algorithm>
#include <sstream>
#include <utility>
#include <vector>

using namespace densenet::runtime;

namespace {

class Verifier {
public:
  explicit Verifier(Plan &plan) : plan(plan) {}

  void run() {
    checkHeader();
    checkBuffers();
    checkInterface();
    for (size_t i = 0; i < plan.steps.size(); ++i)
      checkStep(static_cast<int>(i));
    checkDataFlow();
    checkUpdateOrder();
    checkLiveness();
  }

private:
  [[noreturn]] void fail(const std::string &message) const {
    throw PlanError(plan.source + ": " + message);
  }
  std::string describe(int id) const {
    return "buffer " + std::to_string(id) + " '" + plan.buffers[id].name + "'";
  }
  std::string describeStep(int index) const {
    const Step &step = plan.steps[index];
    return "step " + std::to_string(index) + " (" + step.opName + " '" +
           step.layer + "')";
  }
  /// a + b in a message. The operands come from the file and may be near
  /// the limits of int64 when the check that reports them failed, so the
  /// sum is formed without overflow.
  static std::string sumText(int64_t a, int64_t b) {
    __int128 sum = static_cast<__int128>(a) + b;
    unsigned __int128 magnitude =
        sum < 0 ? -static_cast<unsigned __int128>(sum) : sum;
    std::string digits;
    do {
      digits.insert(digits.begin(), static_cast<char>('0' + magnitude % 10));
      magnitude /= 10;
    } while (magnitude != 0);
    return sum < 0 ? "-" + digits : digits;
  }
  static std::string shapeText(const std::vector<int64_t> &shape) {
    std::string text = "[";
    for (size_t i = 0; i < shape.size(); ++i)
      text += (i ? ", " : "") + std::to_string(shape[i]);
    return text + "]";
  }

  void checkHeader() {
    if (plan.targetKind != "cpu" && plan.targetKind != "cuda")
      fail("target.kind is '" + plan.targetKind + "', expected cpu or cuda");
    if (plan.alignment <= 0 || (plan.alignment & (plan.alignment - 1)))
      fail("target.alignment " + std::to_string(plan.alignment) +
           " is not a positive power of two");
    if (plan.batchSize <= 0)
      fail("batch_size " + std::to_string(plan.batchSize) + " is not positive");
    if (plan.dtype != DType::F32 && plan.dtype != DType::BF16 &&
        plan.dtype != DType::F16)
      fail("dtype must be f32, bf16 or f16");
    if (plan.dtype == DType::F16 && !plan.lossScale)
      fail("an f16 plan needs loss_scale (dynamic loss scaling); recompile "
           "it with densenetc");
    if (plan.dtype != DType::F16 && plan.lossScale)
      fail("loss_scale is for f16 plans, but this plan's dtype is " +
           std::string(stringify(plan.dtype)));
    if (plan.arenaBytes < 0 || plan.reserveBytes < 0 ||
        plan.predictedPeakBytes < plan.reserveBytes)
      fail("arena_bytes, reserve_bytes and predicted_peak_bytes must be "
           "non-negative and the peak at least the reserve");
    plan.predictedLiveBytes = plan.predictedPeakBytes - plan.reserveBytes;
    if (plan.budgetBytes) {
      if (plan.predictedPeakBytes > *plan.budgetBytes)
        fail("predicted_peak_bytes " + std::to_string(plan.predictedPeakBytes) +
             " exceeds budget_bytes " + std::to_string(*plan.budgetBytes));
      // budget >= peak >= reserve >= 0 here, so the difference cannot
      // overflow where the sum could.
      if (plan.arenaBytes > *plan.budgetBytes - plan.reserveBytes)
        fail("arena_bytes + reserve_bytes exceed budget_bytes " +
             std::to_string(*plan.budgetBytes));
    }
  }

  void checkBuffers() {
    constexpr int64_t kMaxElements = int64_t(1) << 48;
    for (Buffer &buffer : plan.buffers) {
      int64_t elements = 1;
      for (int64_t dimension : buffer.shape) {
        if (dimension < 0 || dimension > kMaxElements ||
            elements > kMaxElements / std::max<int64_t>(dimension, 1))
          fail(describe(buffer.id) + ": shape " + shapeText(buffer.shape) +
               " is negative or too large");
        elements *= dimension;
      }
      if (buffer.bytes != elements * sizeOf(buffer.dtype))
        fail(describe(buffer.id) + ": bytes " + std::to_string(buffer.bytes) +
             " != " + std::to_string(elements) + " elements of " +
             stringify(buffer.dtype));
      if (!buffer.isView()) {
        if (buffer.offset < 0 || buffer.offset % plan.alignment ||
            buffer.offset > plan.arenaBytes - buffer.bytes)
          fail(describe(buffer.id) + ": offset " +
               std::to_string(buffer.offset) + " with " +
               std::to_string(buffer.bytes) +
               " bytes is not an aligned range inside the arena of " +
               std::to_string(plan.arenaBytes) + " bytes");
        continue;
      }
      const Buffer &root = plan.buffers[buffer.viewOf];
      if (root.isView())
        fail(describe(buffer.id) + ": view_of names " + describe(root.id) +
             ", which is itself a view");
      if (buffer.isContiguousView()) {
        if (buffer.dtype != root.dtype || buffer.byteOffset < 0 ||
            buffer.byteOffset % plan.alignment ||
            buffer.byteOffset > root.bytes - buffer.bytes)
          fail(describe(buffer.id) + ": bytes [" +
               std::to_string(buffer.byteOffset) + ", " +
               sumText(buffer.byteOffset, buffer.bytes) + ") are not an "
               "aligned range of " + describe(root.id) + " (" +
               std::to_string(root.bytes) + " bytes of " +
               stringify(root.dtype) + ")");
        continue;
      }
      if (root.shape.size() != 4 || buffer.shape.size() != 4 ||
          buffer.dtype != root.dtype || buffer.shape[0] != root.shape[0] ||
          buffer.shape[2] != root.shape[2] || buffer.shape[3] != root.shape[3] ||
          buffer.shape[1] != buffer.channels || buffer.channelOffset < 0 ||
          buffer.channels < 0 ||
          buffer.channelOffset > root.shape[1] - buffer.channels)
        fail(describe(buffer.id) + ": not a channel slice of " +
             describe(root.id) + " (shape " + shapeText(buffer.shape) +
             ", channels [" + std::to_string(buffer.channelOffset) + ", " +
             sumText(buffer.channelOffset, buffer.channels) +
             ") of " + shapeText(root.shape) + ")");
    }
  }

  void expectShape(int id, const std::vector<int64_t> &shape, DType dtype,
                   const std::string &what) {
    const Buffer &buffer = plan.buffers[id];
    if (buffer.shape != shape || buffer.dtype != dtype)
      fail(what + " " + describe(id) + " is " + shapeText(buffer.shape) + " " +
           stringify(buffer.dtype) + ", expected " + shapeText(shape) + " " +
           stringify(dtype));
  }
  int checkId(int id, const std::string &what) {
    if (id < 0 || id >= static_cast<int>(plan.buffers.size()))
      fail(what + " names buffer " + std::to_string(id) + ", which does not exist");
    return id;
  }

  void checkInterface() {
    checkId(plan.input, "inputs.input");
    checkId(plan.labels, "inputs.labels");
    checkId(plan.learningRate, "inputs.learning_rate");
    checkId(plan.loss, "outputs.loss");
    checkId(plan.correct, "outputs.correct");
    const Buffer &input = plan.buffers[plan.input];
    if (input.shape.size() != 4 || input.shape[0] != plan.batchSize ||
        input.dtype != plan.dtype)
      fail("inputs.input " + describe(plan.input) + " is not a batch of " +
           std::to_string(plan.batchSize) + " " + stringify(plan.dtype) +
           " images");
    expectShape(plan.labels, {plan.batchSize}, DType::I32, "inputs.labels");
    expectShape(plan.learningRate, {}, DType::F32, "inputs.learning_rate");
    expectShape(plan.loss, {}, DType::F32, "outputs.loss");
    expectShape(plan.correct, {}, DType::I64, "outputs.correct");
  }

  // ---------------------------------------------------------------------
  // Steps: arity, shapes and dtypes per op.

  void arity(int index, size_t reads, size_t writes, size_t updates) {
    Step &step = plan.steps[index];
    for (int id : step.reads) checkId(id, describeStep(index) + " reads");
    for (int id : step.writes) checkId(id, describeStep(index) + " writes");
    for (int id : step.updates) checkId(id, describeStep(index) + " updates");
    size_t writeCount = step.writes.size();
    if (step.workspaceBytes < 0)
      fail(describeStep(index) + ": negative workspace_bytes");
    if (step.workspaceBytes > 0) {
      int workspace = step.writes.empty() ? -1 : step.writes.back();
      if (workspace < 0 || plan.buffers[workspace].category != "workspace" ||
          plan.buffers[workspace].bytes < step.workspaceBytes ||
          plan.buffers[workspace].isView())
        fail(describeStep(index) + ": workspace_bytes is " +
             std::to_string(step.workspaceBytes) +
             " but its last write is not a workspace buffer of that size");
      step.workspace = workspace;
      --writeCount;
    }
    if (step.reads.size() != reads || writeCount != writes ||
        step.updates.size() != updates)
      fail(describeStep(index) + ": expected " + std::to_string(reads) +
           " reads, " + std::to_string(writes) + " writes and " +
           std::to_string(updates) + " updates, found " +
           std::to_string(step.reads.size()) + ", " +
           std::to_string(writeCount) + " and " +
           std::to_string(step.updates.size()));
  }
  const std::vector<int64_t> &shape(int id) { return plan.buffers[id].shape; }
  /// Low precision: the step's workspace must begin with room for its
  /// f32 weight in the plan's dtype (format/WeightCopy.h).
  void weightCopy(int index, int weight) {
    if (plan.dtype == DType::F32)
      return;
    int64_t needed = densenet::format::weightCopyBytes(
        plan.buffers[weight].elements(), sizeOf(plan.dtype));
    if (plan.steps[index].workspaceBytes < needed)
      fail(describeStep(index) + ": needs at least " +
           std::to_string(needed) + " bytes of workspace for its weight in " +
           stringify(plan.dtype) + " (the plan's dtype), found " + std::to_string(plan.steps[index].workspaceBytes) +
           "; recompile the plan with densenetc");
  }
  void featureMap(int index, int id) {
    if (shape(id).size() != 4 || plan.buffers[id].dtype != plan.dtype)
      fail(describeStep(index) + ": " + describe(id) + " is " +
           shapeText(shape(id)) + " " + stringify(plan.buffers[id].dtype) +
           ", expected an NCHW " + stringify(plan.dtype) + " feature map");
    if (shape(id)[0] != plan.batchSize)
      fail(describeStep(index) + ": " + describe(id) +
           " does not hold the batch of " + std::to_string(plan.batchSize));
  }
  void same(int index, int a, int b) {
    if (shape(a) != shape(b) || plan.buffers[a].dtype != plan.buffers[b].dtype)
      fail(describeStep(index) + ": " + describe(a) + " " +
           shapeText(shape(a)) + " and " + describe(b) + " " +
           shapeText(shape(b)) + " must have the same shape and dtype");
  }
  void vector(int index, int id, int64_t length) {
    expectShape(id, {length}, DType::F32, describeStep(index) + ":");
  }
  /// The spatial size of a windowed op's output, checked against `output`.
  void window(int index, int input, int output, int64_t kernelHeight,
              int64_t kernelWidth) {
    const Attributes &attributes = plan.steps[index].attributes;
    const auto &in = shape(input), &out = shape(output);
    for (int axis = 0; axis < 2; ++axis) {
      int64_t kernel = axis ? kernelWidth : kernelHeight;
      int64_t stride = attributes.stride[axis];
      int64_t padding = attributes.padding[axis];
      if (stride < 1 || kernel < 1 || padding >= kernel)
        fail(describeStep(index) + ": stride, kernel and padding are not valid");
      int64_t expected = (in[2 + axis] + 2 * padding - kernel) / stride + 1;
      if (in[2 + axis] + 2 * padding < kernel || out[2 + axis] != expected)
        fail(describeStep(index) + ": output " + describe(output) + " " +
             shapeText(out) + " does not match input " + shapeText(in) +
             " with kernel " + std::to_string(kernel) + ", stride " +
             std::to_string(stride) + ", padding " + std::to_string(padding));
    }
  }

  void checkStep(int index) {
    Step &step = plan.steps[index];
    const std::vector<int> &r = step.reads, &w = step.writes, &u = step.updates;
    switch (step.op) {
    case OpKind::Conv2d:
    case OpKind::Conv2dGradInput:
    case OpKind::Conv2dGradFilter: {
      arity(index, 2, 1, 0);
      int input, filter, output;
      if (step.op == OpKind::Conv2d) {
        input = r[0]; filter = r[1]; output = w[0];
      } else if (step.op == OpKind::Conv2dGradInput) {
        output = r[0]; filter = r[1]; input = w[0];
      } else {
        input = r[0]; output = r[1]; filter = w[0];
      }
      featureMap(index, input);
      featureMap(index, output);
      const auto &f = shape(filter);
      if (f.size() != 4 || plan.buffers[filter].dtype != DType::F32 ||
          f[0] != shape(output)[1] || f[1] != shape(input)[1])
        fail(describeStep(index) + ": filter " + describe(filter) + " " +
             shapeText(f) + " does not map " + std::to_string(shape(input)[1]) +
             " to " + std::to_string(shape(output)[1]) + " channels");
      window(index, input, output, f[2], f[3]);
      weightCopy(index, filter);
      break;
    }
    case OpKind::BatchNorm: {
      arity(index, 3, 3, 0);
      featureMap(index, r[0]);
      same(index, r[0], w[0]);
      int64_t channels = shape(r[0])[1];
      for (int id : {r[1], r[2], w[1], w[2]})
        vector(index, id, channels);
      if (!(step.attributes.epsilon > 0))
        fail(describeStep(index) + ": epsilon must be positive");
      break;
    }
    case OpKind::BatchNormGrad: {
      arity(index, 5, 3, 0);
      featureMap(index, r[0]);
      same(index, r[0], r[1]);
      same(index, r[0], w[0]);
      int64_t channels = shape(r[0])[1];
      for (int id : {r[2], r[3], r[4], w[1], w[2]})
        vector(index, id, channels);
      if (!(step.attributes.epsilon > 0))
        fail(describeStep(index) + ": epsilon must be positive");
      break;
    }
    case OpKind::RunningStatsUpdate: {
      arity(index, 2, 0, 2);
      int64_t channels = shape(r[0]).empty() ? -1 : shape(r[0])[0];
      for (int id : {r[0], r[1], u[0], u[1]})
        vector(index, id, channels);
      if (step.attributes.samples < 2)
        fail(describeStep(index) + ": samples must be at least 2");
      break;
    }
    case OpKind::Relu:
    case OpKind::Dropout:
      arity(index, 1, 1, 0);
      same(index, r[0], w[0]);
      if (plan.buffers[r[0]].dtype != plan.dtype)
        fail(describeStep(index) + ": operand is not " + stringify(plan.dtype));
      if (step.op == OpKind::Dropout) {
        featureMap(index, r[0]);
        if (!(step.attributes.rate >= 0 && step.attributes.rate < 1))
          fail(describeStep(index) + ": dropout rate must be in [0, 1)");
      }
      break;
    case OpKind::ReluGrad:
      arity(index, 2, 1, 0);
      same(index, r[0], r[1]);
      same(index, r[0], w[0]);
      if (plan.buffers[r[0]].dtype != plan.dtype)
        fail(describeStep(index) + ": operand is not " + stringify(plan.dtype));
      break;
    case OpKind::DropoutGrad:
      arity(index, 1, 1, 0);
      featureMap(index, r[0]);
      same(index, r[0], w[0]);
      if (!(step.attributes.rate >= 0 && step.attributes.rate < 1))
        fail(describeStep(index) + ": dropout rate must be in [0, 1)");
      break;
    case OpKind::Concat: {
      if (r.empty() || w.size() != 1 || !u.empty() || step.workspaceBytes)
        fail(describeStep(index) + ": expected operands and one result");
      arity(index, r.size(), 1, 0);
      featureMap(index, w[0]);
      int64_t channels = 0;
      for (int id : r) {
        featureMap(index, id);
        if (shape(id)[2] != shape(w[0])[2] || shape(id)[3] != shape(w[0])[3])
          fail(describeStep(index) + ": " + describe(id) +
               " differs in spatial size from the result");
        channels += shape(id)[1];
      }
      if (channels != shape(w[0])[1])
        fail(describeStep(index) + ": the operands' channels do not add up to "
                                   "the result's");
      break;
    }
    case OpKind::MaxPool:
    case OpKind::AvgPool:
      arity(index, 1, 1, 0);
      featureMap(index, r[0]);
      featureMap(index, w[0]);
      if (shape(r[0])[1] != shape(w[0])[1])
        fail(describeStep(index) + ": pooling changes the channel count");
      window(index, r[0], w[0], step.attributes.kernel[0],
             step.attributes.kernel[1]);
      break;
    case OpKind::MaxPoolGrad:
      arity(index, 3, 1, 0);
      featureMap(index, r[1]);
      featureMap(index, r[2]);
      same(index, r[0], r[2]);
      same(index, r[1], w[0]);
      if (shape(r[1])[1] != shape(r[2])[1])
        fail(describeStep(index) + ": pooling changes the channel count");
      window(index, r[1], r[2], step.attributes.kernel[0],
             step.attributes.kernel[1]);
      break;
    case OpKind::AvgPoolGrad:
      arity(index, 1, 1, 0);
      featureMap(index, r[0]);
      featureMap(index, w[0]);
      if (shape(r[0])[1] != shape(w[0])[1])
        fail(describeStep(index) + ": pooling changes the channel count");
      window(index, w[0], r[0], step.attributes.kernel[0],
             step.attributes.kernel[1]);
      break;
    case OpKind::GlobalAvgPool:
    case OpKind::GlobalAvgPoolGrad: {
      arity(index, 1, 1, 0);
      int map = step.op == OpKind::GlobalAvgPool ? r[0] : w[0];
      int matrix = step.op == OpKind::GlobalAvgPool ? w[0] : r[0];
      featureMap(index, map);
      expectShape(matrix, {plan.batchSize, shape(map)[1]}, plan.dtype,
                  describeStep(index) + ":");
      break;
    }
    case OpKind::Linear: {
      arity(index, 3, 1, 0);
      const auto &x = shape(r[0]), &weight = shape(r[1]);
      if (x.size() != 2 || x[0] != plan.batchSize || weight.size() != 2 ||
          weight[1] != x[1] || plan.buffers[r[1]].dtype != DType::F32 ||
          plan.buffers[r[0]].dtype != plan.dtype)
        fail(describeStep(index) + ": input " + shapeText(x) +
             " and weight " + shapeText(weight) + " do not fit");
      vector(index, r[2], weight[0]);
      expectShape(w[0], {plan.batchSize, weight[0]}, plan.dtype,
                  describeStep(index) + ":");
      weightCopy(index, r[1]);
      break;
    }
    case OpKind::LinearGrad: {
      arity(index, 3, 3, 0);
      const auto &x = shape(r[1]), &weight = shape(r[2]);
      if (x.size() != 2 || x[0] != plan.batchSize || weight.size() != 2 ||
          weight[1] != x[1] || plan.buffers[r[2]].dtype != DType::F32 ||
          plan.buffers[r[1]].dtype != plan.dtype)
        fail(describeStep(index) + ": input " + shapeText(x) +
             " and weight " + shapeText(weight) + " do not fit");
      expectShape(r[0], {plan.batchSize, weight[0]}, plan.dtype,
                  describeStep(index) + ":");
      same(index, w[0], r[1]);
      expectShape(w[1], weight, DType::F32, describeStep(index) + ":");
      vector(index, w[2], weight[0]);
      weightCopy(index, r[2]);
      break;
    }
    case OpKind::SoftmaxCrossEntropy:
    case OpKind::SoftmaxCrossEntropyGrad: {
      arity(index, 2, step.op == OpKind::SoftmaxCrossEntropy ? 2 : 1, 0);
      const auto &logits = shape(r[0]);
      if (logits.size() != 2 || logits[0] != plan.batchSize || logits[1] < 1 ||
          plan.buffers[r[0]].dtype != plan.dtype)
        fail(describeStep(index) + ": logits " + describe(r[0]) +
             " are not a [batch, classes] matrix");
      expectShape(r[1], {plan.batchSize}, DType::I32,
                  describeStep(index) + ": labels");
      if (step.op == OpKind::SoftmaxCrossEntropy) {
        expectShape(w[0], {}, DType::F32, describeStep(index) + ": loss");
        expectShape(w[1], {}, DType::I64, describeStep(index) + ": correct");
        if (plan.logits >= 0)
          fail(describeStep(index) + ": a second loss step");
        plan.logits = r[0];
      } else {
        same(index, r[0], w[0]);
      }
      break;
    }
    case OpKind::Accumulate: {
      arity(index, 1, 0, 1);
      featureMap(index, r[0]);
      featureMap(index, u[0]);
      const auto &value = shape(r[0]), &target = shape(u[0]);
      if (value[2] != target[2] || value[3] != target[3] ||
          step.attributes.offset < 0 ||
          step.attributes.offset > target[1] - value[1])
        fail(describeStep(index) + ": channels [" +
             std::to_string(step.attributes.offset) + ", " +
             sumText(step.attributes.offset, value[1]) + ") of " +
             describe(u[0]) + " " + shapeText(target) + " do not hold " +
             shapeText(value));
      break;
    }
    case OpKind::AllReduce: {
      arity(index, 0, 0, u.size());
      if (u.empty())
        fail(describeStep(index) + ": an all-reduce updates its bucket's "
             "gradients and reads and writes nothing else");
      if (step.attributes.worldSize != plan.worldSize)
        fail(describeStep(index) + ": averages over " +
             std::to_string(step.attributes.worldSize) +
             " ranks, but data_parallel.world_size is " +
             std::to_string(plan.worldSize));
      int bucket = plan.buffers[u[0]].viewOf;
      for (int id : u)
        if (!plan.buffers[id].isContiguousView() ||
            plan.buffers[id].viewOf != bucket ||
            plan.buffers[id].dtype != DType::F32)
          fail(describeStep(index) + ": " + describe(id) +
               " is not an f32 gradient in the bucket of " + describe(u[0]));
      // The backends wait for the average where a later step reads or
      // updates the bucket, and the bucket lives until then: with no such
      // step, its bytes could be laid out anew while the average runs.
      if (lastUse().at(size_t(bucket)) <= index)
        fail(describeStep(index) + ": no later step reads or updates the "
             "gradients of " + describe(bucket) + ", so nothing awaits their "
             "average; recompile the plan with densenetc");
      break;
    }
    case OpKind::SgdUpdate:
      arity(index, 2, 0, 2);
      for (int id : {r[0], u[0], u[1]})
        if (plan.buffers[id].dtype != DType::F32)
          fail(describeStep(index) + ": " + describe(id) + " is not f32");
      same(index, r[0], u[0]);
      same(index, r[0], u[1]);
      if (!plan.buffers[u[0]].persistent || !plan.buffers[u[1]].persistent)
        fail(describeStep(index) + ": updates a buffer that is not persistent");
      expectShape(r[1], {}, DType::F32, describeStep(index) + ": learning rate");
      break;
    }
  }

  // ---------------------------------------------------------------------
  // Data flow: one writer per buffer, nothing read before it is written.

  /// Dynamic loss scaling skips a step as a whole, so an f16 plan may not
  /// update a parameter before the last gradient is computed.
  void checkUpdateOrder() {
    if (!plan.lossScale)
      return;
    int lastGradient = -1;
    for (size_t i = 0; i < plan.steps.size(); ++i)
      if (plan.steps[i].phase == Phase::Backward ||
          plan.steps[i].phase == Phase::Recompute)
        lastGradient = static_cast<int>(i);
    for (int i = 0; i < lastGradient; ++i)
      if (plan.steps[i].op == OpKind::SgdUpdate)
        fail(describeStep(i) + " updates a parameter before the backward pass "
             "ends (step " + std::to_string(lastGradient) +
             "), which loss scaling cannot skip; recompile the plan with "
             "densenetc");
  }

  void checkDataFlow() {
    if (plan.logits < 0)
      fail("no tg.softmax_cross_entropy step: the plan computes no loss");
    size_t count = plan.buffers.size();
    std::vector<int> writer(count, -1);
    // Channels of each root written so far (by the root itself or a view),
    // as sorted, disjoint, non-adjacent ranges [begin, end). Not one flag per
    // channel: the channel count comes from the file, and a hand-written
    // plan can declare 2^40 channels in a few bytes.
    using Range = std::pair<int64_t, int64_t>;
    std::vector<std::vector<Range>> written(count);
    std::vector<char> everWritten(count, 0);
    // Feature maps are tracked by channel, other roots (buckets) by byte.
    auto channelsOf = [&](int root) {
      const Buffer &buffer = plan.buffers[root];
      return buffer.shape.size() == 4 ? buffer.shape[1] : buffer.bytes;
    };
    auto rangeOf = [&](const Buffer &buffer, int root) {
      if (buffer.isContiguousView())
        return Range(buffer.byteOffset, buffer.byteOffset + buffer.bytes);
      return buffer.isView() ? Range(buffer.channelOffset,
                                     buffer.channelOffset + buffer.channels)
                             : Range(0, channelsOf(root));
    };
    auto markWritten = [&](int id) {
      const Buffer &buffer = plan.buffers[id];
      int root = buffer.isView() ? buffer.viewOf : id;
      everWritten[root] = 1;
      Range range = rangeOf(buffer, root);
      if (range.first >= range.second)
        return;
      std::vector<Range> &ranges = written[root];
      ranges.push_back(range);
      std::sort(ranges.begin(), ranges.end());
      std::vector<Range> merged;
      for (const Range &next : ranges) {
        if (!merged.empty() && next.first <= merged.back().second)
          merged.back().second = std::max(merged.back().second, next.second);
        else
          merged.push_back(next);
      }
      ranges = std::move(merged);
    };
    auto isDefined = [&](int id) {
      const Buffer &buffer = plan.buffers[id];
      int root = buffer.isView() ? buffer.viewOf : id;
      if (plan.buffers[root].persistent || root == plan.input ||
          root == plan.labels || root == plan.learningRate)
        return true;
      // A root of no channels counts as never written, as before any write.
      if (!everWritten[root] || channelsOf(root) == 0)
        return false;
      Range range = rangeOf(buffer, root);
      if (range.first >= range.second)
        return true;
      // Ranges are merged, so a covered range lies inside one of them.
      return std::any_of(written[root].begin(), written[root].end(),
                         [&](const Range &done) {
                           return done.first <= range.first &&
                                  range.second <= done.second;
                         });
    };
    for (int id : {plan.input, plan.labels, plan.learningRate})
      if (plan.buffers[id].isView())
        fail("input " + describe(id) + " must be a root buffer");
    for (size_t index = 0; index < plan.steps.size(); ++index) {
      const Step &step = plan.steps[index];
      for (int id : step.reads)
        if (!isDefined(id))
          fail(describeStep(index) + " reads " + describe(id) +
               " before any step writes it");
      for (int id : step.updates)
        if (!isDefined(id))
          fail(describeStep(index) + " updates " + describe(id) +
               " before any step writes it");
      for (int id : step.writes) {
        const Buffer &buffer = plan.buffers[id];
        if (buffer.persistent || id == plan.input || id == plan.labels ||
            id == plan.learningRate)
          fail(describeStep(index) + " writes " + describe(id) +
               ", which is filled before the step, not by a step");
        if (writer[id] >= 0)
          fail(describe(id) + " is written by step " +
               std::to_string(writer[id]) + " and again by " +
               describeStep(index) + "; every buffer has one writer");
        writer[id] = static_cast<int>(index);
        markWritten(id);
      }
    }
    for (int id : {plan.loss, plan.correct})
      if (writer[id] < 0)
        fail("output " + describe(id) + " is never written");
  }

  // ---------------------------------------------------------------------
  // Liveness: overlapping lifetimes never share bytes; the peak adds up.

  void checkLiveness() {
    size_t count = plan.buffers.size();
    int last = static_cast<int>(plan.steps.size()) - 1;
    std::vector<int> first(count, -1), final(count, -1);
    auto touch = [&](int id, int index) {
      int root = plan.buffers[id].isView() ? plan.buffers[id].viewOf : id;
      if (first[root] < 0)
        first[root] = index;
      final[root] = std::max(final[root], index);
    };
    for (int index = 0; index <= last; ++index) {
      const Step &step = plan.steps[index];
      for (const auto *ids : {&step.reads, &step.writes, &step.updates})
        for (int id : *ids)
          touch(id, index);
    }
    for (size_t id = 0; id < count; ++id) {
      const Buffer &buffer = plan.buffers[id];
      if (buffer.isView())
        continue;
      bool isInput = buffer.category == "input" ||
                     static_cast<int>(id) == plan.input ||
                     static_cast<int>(id) == plan.labels ||
                     static_cast<int>(id) == plan.learningRate;
      if (buffer.persistent || isInput)
        first[id] = 0;
      if (buffer.persistent || static_cast<int>(id) == plan.loss ||
          static_cast<int>(id) == plan.correct)
        final[id] = last;
      if (isInput && final[id] < 0)
        final[id] = 0;
    }

    // Roots that share arena bytes must not be live at the same time.
    std::vector<int> roots;
    for (size_t id = 0; id < count; ++id)
      if (!plan.buffers[id].isView() && first[id] >= 0 &&
          plan.buffers[id].bytes > 0)
        roots.push_back(static_cast<int>(id));
    std::sort(roots.begin(), roots.end(), [&](int a, int b) {
      return plan.buffers[a].offset < plan.buffers[b].offset;
    });
    for (size_t i = 0; i < roots.size(); ++i) {
      const Buffer &a = plan.buffers[roots[i]];
      for (size_t j = i + 1; j < roots.size(); ++j) {
        const Buffer &b = plan.buffers[roots[j]];
        if (b.offset >= a.offset + a.bytes)
          break;
        bool disjointInTime =
            final[a.id] < first[b.id] || final[b.id] < first[a.id];
        if (!disjointInTime)
          fail(describe(a.id) + " (steps " + std::to_string(first[a.id]) +
               "-" + std::to_string(final[a.id]) + ") and " + describe(b.id) +
               " (steps " + std::to_string(first[b.id]) + "-" +
               std::to_string(final[b.id]) +
               ") are live at the same time and share arena bytes");
      }
    }

    // Live bytes per step, and the peak the plan promises.
    std::vector<int64_t> delta(plan.steps.size() + 1, 0);
    for (int id : roots) {
      delta[first[id]] += plan.buffers[id].bytes;
      delta[final[id] + 1] -= plan.buffers[id].bytes;
    }
    plan.liveBytesPerStep.assign(plan.steps.size(), 0);
    int64_t live = 0, peak = 0;
    for (size_t index = 0; index < plan.steps.size(); ++index) {
      live += delta[index];
      plan.liveBytesPerStep[index] = live;
      peak = std::max(peak, live);
    }
    if (peak != plan.predictedLiveBytes)
      fail("predicted_peak_bytes is " +
           std::to_string(plan.predictedPeakBytes) +
           " but the buffers' lifetimes give a peak of " +
           std::to_string(peak) + " live bytes + " +
           std::to_string(plan.reserveBytes) + " reserve = " +
           sumText(peak, plan.reserveBytes));
  }

  /// For each root buffer, the last step that reads or updates it or one of
  /// its views (-1: none). Made once, in time linear in the plan's size: a
  /// per-step search would be quadratic on a plan with many all-reduces.
  const std::vector<int> &lastUse() {
    if (lastUses.empty()) {
      lastUses.assign(plan.buffers.size(), -1);
      for (size_t index = 0; index < plan.steps.size(); ++index)
        for (const std::vector<int> *ids :
             {&plan.steps[index].reads, &plan.steps[index].updates})
          for (int id : *ids) {
            // A later step's ids are checked with that step (checkId).
            if (id < 0 || id >= int(plan.buffers.size()))
              continue;
            const Buffer &buffer = plan.buffers[id];
            lastUses[buffer.isView() ? buffer.viewOf : id] = int(index);
          }
    }
    return lastUses;
  }

  Plan &plan;
  std::vector<int> lastUses;
};

} // namespace

void densenet::runtime::verifyPlan(Plan &plan) { Verifier(plan).run(); }
