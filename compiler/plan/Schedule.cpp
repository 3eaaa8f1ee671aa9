//===- Schedule.cpp - A training step as buffers and steps ----------------===//

#include "compiler/plan/Schedule.h"

#include "dialects/TG/TGOps.h"
#include "format/WeightCopy.h"

#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/STLExtras.h"

#include <algorithm>

using namespace mlir;
using namespace densenet;
using namespace densenet::plan;

llvm::StringRef densenet::plan::stringifyPhase(Phase phase) {
  switch (phase) {
  case Phase::Forward:
    return "forward";
  case Phase::Recompute:
    return "recompute";
  case Phase::Backward:
    return "backward";
  case Phase::Update:
    return "update";
  }
  llvm_unreachable("unknown phase");
}

llvm::StringRef densenet::plan::stringifyCategory(Category category) {
  switch (category) {
  case Category::Weights:
    return "weights";
  case Category::WeightGradients:
    return "weight_gradients";
  case Category::OptimizerState:
    return "optimizer_state";
  case Category::BatchNormStatistics:
    return "bn_statistics";
  case Category::Input:
    return "input";
  case Category::Activations:
    return "activations";
  case Category::ActivationGradients:
    return "activation_gradients";
  case Category::Workspace:
    return "workspace";
  }
  llvm_unreachable("unknown category");
}

std::string densenet::plan::segmentOf(llvm::StringRef name) {
  if (name.starts_with("features.denseblock")) {
    size_t layer = name.find(".denselayer");
    if (layer != llvm::StringRef::npos) {
      size_t end = name.find('.', layer + 1);
      return name.take_front(end).str();
    }
  }
  if (name.starts_with("features.transition"))
    return name.take_front(name.find('.', 9)).str();
  for (llvm::StringRef stem : {"features.conv0", "features.norm0",
                               "features.relu0", "features.pool0"})
    if (name == stem || name.starts_with((stem + ".").str()))
      return "stem";
  for (llvm::StringRef head : {"features.norm5", "features.relu5",
                               "features.avgpool", "classifier", "loss"})
    if (name == head || name.starts_with((head + ".").str()))
      return "classifier";
  return name.str();
}

static std::string dtypeName(Type element) {
  if (element.isF32())
    return "f32";
  if (element.isBF16())
    return "bf16";
  if (element.isF16())
    return "f16";
  if (element.isInteger(32))
    return "i32";
  if (element.isInteger(64))
    return "i64";
  llvm_unreachable("tg tensors are f32, bf16, f16, i32 or i64");
}

static bool isConvolution(Operation *op) {
  return isa<tg::Conv2DOp, tg::Conv2DGradInputOp, tg::Conv2DGradFilterOp>(op);
}

static int64_t elementsOf(Value value) {
  return cast<ShapedType>(value.getType()).getNumElements();
}

/// The filter shape [O, I, KH, KW] and the output-sized feature map
/// [N, O, HO, WO] of any of the three convolution ops.
static std::pair<ArrayRef<int64_t>, ArrayRef<int64_t>>
convolutionShapes(Operation *op) {
  auto shape = [](Value value) {
    return cast<ShapedType>(value.getType()).getShape();
  };
  if (auto conv = dyn_cast<tg::Conv2DOp>(op))
    return {shape(conv.getFilter()), shape(conv.getOutput())};
  if (auto grad = dyn_cast<tg::Conv2DGradInputOp>(op))
    return {shape(grad.getFilter()), shape(grad.getOutputGrad())};
  auto grad = cast<tg::Conv2DGradFilterOp>(op);
  return {shape(grad.getFilterGrad()), shape(grad.getOutputGrad())};
}

namespace {

/// Where a value's data lives: its own buffer, or a channel range of the
/// value whose buffer holds it.
struct Placement {
  Value root;
  int64_t channelOffset = 0;
};

/// A gradient's place in an all-reduce bucket.
struct BucketSlot {
  tg::AllReduceOp bucket;
  int64_t byteOffset = 0;
};

class ScheduleBuilder {
public:
  ScheduleBuilder(func::FuncOp function, const Target &target,
                  const ScheduleOptions &options)
      : function(function), target(target), options(options) {}

  Schedule build();

private:
  void placeInPlaceConcats();
  void placeBuckets();
  int bucketBuffer(tg::AllReduceOp bucket);
  int bufferFor(Value value);
  int newBuffer(Value value, std::string name, Category category,
                bool persistent);
  Category categoryOf(Value value);
  void addStep(Operation *op, Type activation);
  /// Bytes of scratch a convolution step gets on this target.
  int64_t convolutionWorkspace(Operation *op) const;
  /// Bytes at the start of a step's workspace for its weight in the
  /// activation type (format/WeightCopy.h); 0 for f32 plans and other ops.
  int64_t weightCopyBytes(Operation *op, Type activation) const;

  func::FuncOp function;
  const Target &target;
  ScheduleOptions options;
  Schedule schedule;
  llvm::DenseMap<Value, Placement> placements;
  llvm::DenseSet<Operation *> inPlaceConcats;
  llvm::DenseMap<Value, int> buffers;
  llvm::DenseMap<Value, BucketSlot> bucketSlots;
  llvm::DenseMap<Operation *, int64_t> bucketBytes;
  llvm::DenseMap<Operation *, int> bucketBuffers;
};

/// The storage a value is written into first: in-place results are their
/// tied operand's buffer, back to the op that created it.
static Value storageOrigin(Value value) {
  while (auto result = dyn_cast<OpResult>(value)) {
    auto inPlace = dyn_cast<tg::InPlaceOpInterface>(result.getOwner());
    if (!inPlace)
      break;
    value = result.getOwner()->getOperand(
        inPlace.getTiedOperandIndex(result.getResultNumber()));
  }
  return value;
}

/// The gradients of each all-reduce, back to back (each aligned) in one
/// bucket buffer, so a bucket is reduced by one collective. The bucket is
/// live from its first gradient's write to its last update's read.
void ScheduleBuilder::placeBuckets() {
  function.walk([&](tg::AllReduceOp bucket) {
    int64_t offset = 0;
    for (Value gradient : bucket.getGradients()) {
      offset = (offset + target.alignment - 1) / target.alignment *
               target.alignment;
      bucketSlots[storageOrigin(gradient)] = {bucket, offset};
      offset += tg::getStorageBytes(gradient.getType());
    }
    bucketBytes[bucket] = offset;
  });
}

int ScheduleBuilder::bucketBuffer(tg::AllReduceOp bucket) {
  if (auto it = bucketBuffers.find(bucket); it != bucketBuffers.end())
    return it->second;
  Buffer buffer;
  buffer.id = static_cast<int>(schedule.buffers.size());
  buffer.name = bucket.getName().str();
  buffer.bytes = bucketBytes.lookup(bucket);
  buffer.shape = {buffer.bytes / 4};
  buffer.dtype = "f32";
  buffer.category = Category::WeightGradients;
  schedule.buffers.push_back(buffer);
  bucketBuffers[bucket] = buffer.id;
  return buffer.id;
}

/// Concatenations whose operands can be written straight into the result.
/// Walking backwards lets a chain of concats (a dense block) collapse into
/// the last one's buffer: every earlier result is already placed inside it.
void ScheduleBuilder::placeInPlaceConcats() {
  if (!options.inPlaceConcat)
    return;
  SmallVector<tg::ConcatOp> concats;
  function.walk([&](tg::ConcatOp concat) { concats.push_back(concat); });
  auto placeable = [](Value operand) {
    Operation *producer = operand.getDefiningOp();
    if (!producer || isa<tg::ParameterOp, tg::StateOp, tg::SliceOp>(producer) ||
        isa<tg::InPlaceOpInterface>(producer))
      return false;
    return llvm::count_if(operand.getUsers(), [](Operation *user) {
             return isa<tg::ConcatOp>(user);
           }) == 1;
  };
  for (tg::ConcatOp concat : llvm::reverse(concats)) {
    if (!llvm::all_of(concat.getInputs(), placeable))
      continue;
    inPlaceConcats.insert(concat);
    Placement result = placements.lookup(concat.getOutput());
    if (!result.root)
      result = {concat.getOutput(), 0};
    int64_t offset = result.channelOffset;
    for (Value input : concat.getInputs()) {
      placements[input] = {result.root, offset};
      offset += cast<RankedTensorType>(input.getType()).getDimSize(1);
    }
  }
}

Category ScheduleBuilder::categoryOf(Value value) {
  Operation *producer = value.getDefiningOp();
  if (!producer)
    return Category::Input;
  if (isa<tg::ParameterOp>(producer))
    return Category::Weights;
  if (isa<tg::StateOp>(producer)) {
    bool momentum = llvm::any_of(value.getUses(), [](OpOperand &use) {
      auto update = dyn_cast<tg::SgdUpdateOp>(use.getOwner());
      return update && use.get() == update.getMomentumBuffer();
    });
    return momentum ? Category::OptimizerState
                    : Category::BatchNormStatistics;
  }
  if (isa<tg::Conv2DGradFilterOp>(producer))
    return Category::WeightGradients;
  if (auto norm = dyn_cast<tg::BatchNormGradOp>(producer))
    return value == norm.getInputGrad() ? Category::ActivationGradients
                                        : Category::WeightGradients;
  if (auto linear = dyn_cast<tg::LinearGradOp>(producer))
    return value == linear.getInputGrad() ? Category::ActivationGradients
                                          : Category::WeightGradients;
  if (producer->hasTrait<tg::BackwardOp>())
    return Category::ActivationGradients;
  return Category::Activations;
}

int ScheduleBuilder::newBuffer(Value value, std::string name,
                               Category category, bool persistent) {
  auto type = cast<RankedTensorType>(value.getType());
  Buffer buffer;
  buffer.id = static_cast<int>(schedule.buffers.size());
  buffer.name = std::move(name);
  buffer.bytes = tg::getStorageBytes(type);
  buffer.shape.assign(type.getShape().begin(), type.getShape().end());
  buffer.dtype = dtypeName(type.getElementType());
  buffer.category = category;
  buffer.persistent = persistent;
  schedule.buffers.push_back(std::move(buffer));
  return schedule.buffers.back().id;
}

/// The buffer of a value, created on first request. Names say where the
/// tensor comes from: "<op name>" or "<op name>#<result>", "input#<n>".
int ScheduleBuilder::bufferFor(Value value) {
  if (auto it = buffers.find(value); it != buffers.end())
    return it->second;

  Operation *producer = value.getDefiningOp();
  int id;
  if (auto inPlace = dyn_cast_or_null<tg::InPlaceOpInterface>(producer)) {
    // A tied result is its operand's buffer after the update.
    unsigned operand =
        inPlace.getTiedOperandIndex(cast<OpResult>(value).getResultNumber());
    id = bufferFor(producer->getOperand(operand));
  } else if (auto slice = dyn_cast_or_null<tg::SliceOp>(producer)) {
    int source = bufferFor(slice.getSource());
    const Buffer &parent = schedule.buffers[source];
    int root = parent.isView() ? parent.viewOf : source;
    int64_t base = parent.isView() ? parent.channelOffset : 0;
    id = newBuffer(value, slice.getName().str(), categoryOf(value), false);
    Buffer &view = schedule.buffers[id];
    view.viewOf = root;
    view.channelOffset = base + slice.getOffsetAttr().getInt();
    view.channels = view.shape[1];
  } else if (auto slot = bucketSlots.find(value); slot != bucketSlots.end()) {
    int root = bucketBuffer(slot->second.bucket);
    std::string name = producer->getAttrOfType<StringAttr>("name").str();
    if (producer->getNumResults() > 1)
      name += "#" + std::to_string(cast<OpResult>(value).getResultNumber());
    id = newBuffer(value, name, categoryOf(value), false);
    Buffer &view = schedule.buffers[id];
    view.viewOf = root;
    view.byteOffset = slot->second.byteOffset;
  } else if (auto placement = placements.lookup(value);
             placement.root && placement.root != value) {
    int root = bufferFor(placement.root);
    std::string name;
    if (producer)
      name = producer->getAttrOfType<StringAttr>("name").str();
    id = newBuffer(value, name, categoryOf(value), false);
    Buffer &view = schedule.buffers[id];
    view.viewOf = root;
    view.channelOffset = placement.channelOffset;
    view.channels = view.shape[1];
  } else if (!producer) {
    unsigned index = cast<BlockArgument>(value).getArgNumber();
    static const char *names[] = {"input", "labels", "learning_rate"};
    id = newBuffer(value, index < 3 ? names[index] : "argument" + std::to_string(index),
                   Category::Input, false);
  } else if (isa<tg::ParameterOp, tg::StateOp>(producer)) {
    id = newBuffer(value, producer->getAttrOfType<StringAttr>("name").str(),
                   categoryOf(value), true);
  } else {
    std::string name = producer->getAttrOfType<StringAttr>("name").str();
    if (producer->getNumResults() > 1)
      name += "#" + std::to_string(cast<OpResult>(value).getResultNumber());
    id = newBuffer(value, name, categoryOf(value), false);
  }
  buffers[value] = id;
  return id;
}

void ScheduleBuilder::addStep(Operation *op, Type activation) {
  Step step;
  step.op = op->getName().getStringRef().str();
  step.layer = op->getAttrOfType<StringAttr>("name").str();
  step.segment = segmentOf(step.layer);
  if (op->hasAttr("tg.recomputed"))
    step.phase = Phase::Recompute;
  else if (op->hasTrait<tg::BackwardOp>())
    step.phase = Phase::Backward;
  else if (op->hasTrait<tg::UpdateOp>())
    step.phase = Phase::Update;

  llvm::SmallDenseSet<unsigned> tied;
  if (auto inPlace = dyn_cast<tg::InPlaceOpInterface>(op))
    for (unsigned result = 0; result < op->getNumResults(); ++result)
      tied.insert(inPlace.getTiedOperandIndex(result));
  auto addUnique = [](std::vector<int> &ids, int id) {
    if (!llvm::is_contained(ids, id))
      ids.push_back(id);
  };
  for (OpOperand &operand : op->getOpOperands()) {
    int id = bufferFor(operand.get());
    addUnique(tied.contains(operand.getOperandNumber()) ? step.updates
                                                        : step.reads,
              id);
  }
  if (!isa<tg::InPlaceOpInterface>(op))
    for (Value result : op->getResults())
      addUnique(step.writes, bufferFor(result));

  for (NamedAttribute attribute : op->getAttrs()) {
    llvm::StringRef key = attribute.getName().getValue();
    if (key == "name" || key.starts_with("tg."))
      continue;
    Attribute value = attribute.getValue();
    if (auto array = dyn_cast<DenseI64ArrayAttr>(value))
      step.attributes[key.str()] = std::vector<int64_t>(array.asArrayRef());
    else if (auto number = dyn_cast<FloatAttr>(value))
      step.attributes[key.str()] = number.getValueAsDouble();
    else if (auto integer = dyn_cast<IntegerAttr>(value))
      step.attributes[key.str()] = integer.getInt();
    else if (isa<UnitAttr>(value))
      step.attributes[key.str()] = true;
  }

  auto cost = cast<tg::CostOpInterface>(op);
  step.flops = cost.getFlops();
  step.bytesRead = cost.getBytesRead();
  step.bytesWritten = cost.getBytesWritten();
  // Low precision: the weight's copy in the activation type is written and
  // read once more (format/WeightCopy.h).
  int64_t weightCopy = weightCopyBytes(op, activation);
  if (weightCopy > 0) {
    step.bytesRead += weightCopy;
    step.bytesWritten += weightCopy;
  }
  DType dtype = activation.isF32() ? DType::F32 : DType::BF16;
  double flopRate = target.peakFlops(dtype);
  double computeSeconds = flopRate > 0 ? step.flops / flopRate : 0.0;
  double memorySeconds =
      target.bandwidth > 0 ? (step.bytesRead + step.bytesWritten) /
                                 target.bandwidth
                           : 0.0;
  step.seconds = std::max(computeSeconds, memorySeconds);
  if (auto bucket = dyn_cast<tg::AllReduceOp>(op)) {
    // A ring all-reduce sends and receives 2 (n - 1) / n of the bucket.
    double ranks = static_cast<double>(bucket.getWorldSize());
    double wire = 2.0 * (ranks - 1.0) / ranks * bucketBytes.lookup(bucket);
    if (target.linkBandwidth > 0)
      step.seconds = std::max(step.seconds, wire / target.linkBandwidth);
  }

  int64_t workspaceBytes =
      weightCopy + (isConvolution(op) ? convolutionWorkspace(op) : 0);
  if (workspaceBytes > 0) {
    // A convolution's scratch is a buffer of its own that lives for the step.
    Buffer workspace;
    workspace.id = static_cast<int>(schedule.buffers.size());
    workspace.name = step.layer + ".workspace";
    workspace.bytes = workspaceBytes;
    workspace.shape = {workspaceBytes};
    workspace.dtype = "u8";
    workspace.category = Category::Workspace;
    schedule.buffers.push_back(workspace);
    step.workspaceBytes = workspace.bytes;
    step.writes.push_back(workspace.id);
  }
  schedule.steps.push_back(std::move(step));
}

int64_t ScheduleBuilder::weightCopyBytes(Operation *op,
                                         Type activation) const {
  if (activation.isF32())
    return 0;
  int64_t elements = 0;
  if (isConvolution(op))
    elements = ShapedType::getNumElements(convolutionShapes(op).first);
  else if (auto linear = dyn_cast<tg::LinearOp>(op))
    elements = elementsOf(linear.getWeight());
  else if (auto grad = dyn_cast<tg::LinearGradOp>(op))
    elements = elementsOf(grad.getWeight());
  else
    return 0;
  return format::weightCopyBytes(elements,
                                 activation.getIntOrFloatBitWidth() / 8);
}

int64_t ScheduleBuilder::convolutionWorkspace(Operation *op) const {
  if (target.imageSlots <= 0)
    return target.convWorkspaceBytes;
  auto [filter, output] = convolutionShapes(op);
  int64_t slots = std::min(target.imageSlots, output[0]);
  auto stride = op->getAttrOfType<DenseI64ArrayAttr>("stride").asArrayRef();
  auto padding = op->getAttrOfType<DenseI64ArrayAttr>("padding").asArrayRef();
  bool plainGemm = filter[2] == 1 && filter[3] == 1 && stride[0] == 1 &&
                   stride[1] == 1 && padding[0] == 0 && padding[1] == 0;
  // One image's column matrix, [I * KH * KW] x [HO * WO], in the element
  // type of the feature maps, per slot.
  int64_t elementBytes =
      cast<ShapedType>(op->getOperand(0).getType()).getElementTypeBitWidth() /
      8;
  int64_t filterElements = filter[0] * filter[1] * filter[2] * filter[3];
  int64_t columns = plainGemm ? 0
                              : filter[1] * filter[2] * filter[3] * output[2] *
                                    output[3] * elementBytes;
  int64_t partialSums = isa<tg::Conv2DGradFilterOp>(op)
                            ? (slots - 1) * filterElements * int64_t(sizeof(float))
                            : 0;
  return slots * columns + partialSums;
}

Schedule ScheduleBuilder::build() {
  placeInPlaceConcats();
  placeBuckets();
  Type activation = cast<ShapedType>(function.getArgument(0).getType())
                        .getElementType();
  // Arguments first, in order, so their ids are stable (0 = input batch).
  for (BlockArgument argument : function.getArguments())
    bufferFor(argument);
  for (Operation &op : function.getBody().front()) {
    if (auto returnOp = dyn_cast<func::ReturnOp>(op)) {
      for (Value result : returnOp.getOperands())
        schedule.results.push_back(bufferFor(result));
      continue;
    }
    if (isa<tg::ParameterOp, tg::StateOp>(op)) {
      bufferFor(op.getResult(0));
      continue;
    }
    // Views cost nothing: their data is written by the ops that produce the
    // underlying buffer.
    if (isa<tg::SliceOp>(op) || inPlaceConcats.contains(&op)) {
      for (Value result : op.getResults())
        bufferFor(result);
      continue;
    }
    addStep(&op, activation);
  }
  return std::move(schedule);
}

} // namespace

Schedule densenet::plan::buildSchedule(func::FuncOp step, const Target &target,
                                       const ScheduleOptions &options) {
  return ScheduleBuilder(step, target, options).build();
}

Liveness densenet::plan::computeLiveness(const Schedule &schedule) {
  Liveness liveness;
  int numSteps = static_cast<int>(schedule.steps.size());
  int numBuffers = static_cast<int>(schedule.buffers.size());
  liveness.first.assign(numBuffers, -1);
  liveness.last.assign(numBuffers, -1);
  auto rootOf = [&](int id) {
    const Buffer &buffer = schedule.buffers[id];
    return buffer.isView() ? buffer.viewOf : id;
  };
  auto touch = [&](int id, int step) {
    int root = rootOf(id);
    if (liveness.first[root] < 0 || step < liveness.first[root])
      liveness.first[root] = step;
    liveness.last[root] = std::max(liveness.last[root], step);
  };
  for (int i = 0; i < numSteps; ++i) {
    const Step &step = schedule.steps[i];
    for (const std::vector<int> *ids : {&step.reads, &step.writes, &step.updates})
      for (int id : *ids)
        touch(id, i);
  }
  for (const Buffer &buffer : schedule.buffers) {
    if (buffer.isView())
      continue;
    // State persists across steps; the runtime fills inputs before step 0.
    if (buffer.persistent || buffer.category == Category::Input) {
      liveness.first[buffer.id] = 0;
      if (buffer.persistent)
        liveness.last[buffer.id] = numSteps - 1;
    }
  }
  for (int result : schedule.results)
    liveness.last[rootOf(result)] = numSteps - 1;

  // Sum live bytes per step with a difference array per category.
  std::vector<std::array<int64_t, kNumCategories>> delta(
      numSteps + 1, std::array<int64_t, kNumCategories>{});
  for (const Buffer &buffer : schedule.buffers) {
    if (buffer.isView() || liveness.first[buffer.id] < 0)
      continue;
    int category = static_cast<int>(buffer.category);
    delta[liveness.first[buffer.id]][category] += buffer.bytes;
    delta[liveness.last[buffer.id] + 1][category] -= buffer.bytes;
  }
  liveness.liveBytes.assign(numSteps, 0);
  liveness.liveByCategory.assign(numSteps, {});
  std::array<int64_t, kNumCategories> running{};
  for (int i = 0; i < numSteps; ++i) {
    int64_t total = 0;
    for (int c = 0; c < kNumCategories; ++c) {
      running[c] += delta[i][c];
      total += running[c];
    }
    liveness.liveByCategory[i] = running;
    liveness.liveBytes[i] = total;
    if (total > liveness.peakBytes) {
      liveness.peakBytes = total;
      liveness.peakStep = i;
    }
  }
  return liveness;
}
