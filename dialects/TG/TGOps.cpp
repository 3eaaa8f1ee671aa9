//===- TGOps.cpp - tg dialect operations ----------------------------------===//

#include "dialects/TG/TGOps.h"

#include "dialects/Common/Shapes.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/TypeUtilities.h"

using namespace mlir;
using namespace densenet;
using namespace densenet::tg;

#define GET_OP_CLASSES
#include "dialects/TG/TGOps.cpp.inc"

//===----------------------------------------------------------------------===//
// Helpers
//===----------------------------------------------------------------------===//

static int64_t numElements(Value value) {
  return cast<ShapedType>(value.getType()).getNumElements();
}

static LogicalResult verifyCommon(Operation *op, StringRef name) {
  if (name.empty())
    return op->emitOpError("needs a non-empty name");
  auto isStatic = [](Type type) {
    return cast<ShapedType>(type).hasStaticShape();
  };
  for (Value value : op->getOperands())
    if (!isStatic(value.getType()))
      return op->emitOpError("needs statically shaped tensors, got ")
             << value.getType();
  for (Type type : op->getResultTypes())
    if (!isStatic(type))
      return op->emitOpError("needs statically shaped tensors, got ") << type;
  return success();
}

/// Activations keep one dtype through an op; weights may be f32 masters.
static LogicalResult verifyWeightElementType(Operation *op, Type activation,
                                             Type weight, StringRef what) {
  Type activationElement = getElementTypeOrSelf(activation);
  Type weightElement = getElementTypeOrSelf(weight);
  if (weightElement != activationElement && !weightElement.isF32())
    return op->emitOpError() << what << " element type " << weightElement
                             << " must be f32 or the activation type "
                             << activationElement;
  return success();
}

static LogicalResult verifyWindow(Operation *op, StringRef what,
                                  ArrayRef<int64_t> values, int64_t minimum) {
  if (values.size() != 2)
    return op->emitOpError() << what << " needs 2 values (height, width), got "
                             << values.size();
  for (int64_t value : values)
    if (value < minimum)
      return op->emitOpError() << what << " values must be >= " << minimum
                               << ", got " << value;
  return success();
}

/// Checks `output` against the window arithmetic applied to `input`, keeping
/// `channels` channels (the filter count for a convolution).
static LogicalResult verifyWindowedShape(Operation *op, RankedTensorType input,
                                         RankedTensorType output,
                                         int64_t channels,
                                         ArrayRef<int64_t> kernel,
                                         ArrayRef<int64_t> stride,
                                         ArrayRef<int64_t> padding) {
  int64_t height =
      windowOutputSize(input.getDimSize(2), kernel[0], stride[0], padding[0]);
  int64_t width =
      windowOutputSize(input.getDimSize(3), kernel[1], stride[1], padding[1]);
  if (height <= 0 || width <= 0)
    return op->emitOpError("window ")
           << kernel[0] << "x" << kernel[1] << " does not fit the input "
           << input;
  SmallVector<int64_t> expected{input.getDimSize(0), channels, height, width};
  if (output.getShape() != ArrayRef<int64_t>(expected))
    return op->emitOpError("expected output shape ")
           << expected[0] << "x" << expected[1] << "x" << expected[2] << "x"
           << expected[3] << ", got " << output;
  if (output.getElementType() != input.getElementType())
    return op->emitOpError("input and output element types differ");
  return success();
}

//===----------------------------------------------------------------------===//
// ParameterOp / StateOp
//===----------------------------------------------------------------------===//

LogicalResult ParameterOp::verify() { return verifyCommon(*this, getName()); }
LogicalResult StateOp::verify() { return verifyCommon(*this, getName()); }

//===----------------------------------------------------------------------===//
// Conv2DOp
//===----------------------------------------------------------------------===//

LogicalResult Conv2DOp::verify() {
  if (failed(verifyCommon(*this, getName())) ||
      failed(verifyWindow(*this, "stride", getStride(), 1)) ||
      failed(verifyWindow(*this, "pad", getPadding(), 0)) ||
      failed(verifyWeightElementType(*this, getInput().getType(),
                                     getFilter().getType(), "filter")))
    return failure();
  auto input = getInput().getType();
  auto filter = getFilter().getType();
  if (filter.getDimSize(1) != input.getDimSize(1))
    return emitOpError("filter expects ")
           << filter.getDimSize(1) << " input channels, the input has "
           << input.getDimSize(1);
  SmallVector<int64_t> kernel{filter.getDimSize(2), filter.getDimSize(3)};
  return verifyWindowedShape(*this, input, getOutput().getType(),
                             filter.getDimSize(0), kernel, getStride(),
                             getPadding());
}

int64_t Conv2DOp::getFlops() {
  auto filter = getFilter().getType();
  int64_t perOutput =
      filter.getDimSize(1) * filter.getDimSize(2) * filter.getDimSize(3);
  return 2 * numElements(getOutput()) * perOutput;
}

//===----------------------------------------------------------------------===//
// BatchNormOp
//===----------------------------------------------------------------------===//

LogicalResult BatchNormOp::verify() {
  if (failed(verifyCommon(*this, getName())))
    return failure();
  int64_t channels = getInput().getType().getDimSize(1);
  for (Value vector : {getWeight(), getBias(), getRunningMean(),
                       getRunningVar(), getMean(), getInvStd()}) {
    int64_t size = cast<RankedTensorType>(vector.getType()).getDimSize(0);
    if (size != channels)
      return emitOpError("per-channel tensors must have ")
             << channels << " elements, got " << vector.getType();
  }
  if (getOutput().getType() != getInput().getType())
    return emitOpError("output type ")
           << getOutput().getType() << " differs from input type "
           << getInput().getType();
  if (getEpsilon().convertToDouble() <= 0.0)
    return emitOpError("epsilon must be > 0");
  double momentum = getMomentum().convertToDouble();
  if (!(momentum >= 0.0 && momentum <= 1.0))
    return emitOpError("momentum must be in [0, 1], got ") << momentum;
  return success();
}

int64_t BatchNormOp::getFlops() { return 5 * numElements(getInput()); }

// Training-mode batch norm reads its input twice: once for the statistics,
// once to normalize.
int64_t BatchNormOp::getBytesRead() {
  return sumStorageBytes(getOperation()->getOperandTypes()) +
         getStorageBytes(getInput().getType());
}

//===----------------------------------------------------------------------===//
// ReluOp
//===----------------------------------------------------------------------===//

LogicalResult ReluOp::verify() { return verifyCommon(*this, getName()); }

int64_t ReluOp::getFlops() { return numElements(getInput()); }

//===----------------------------------------------------------------------===//
// ConcatOp
//===----------------------------------------------------------------------===//

LogicalResult ConcatOp::verify() {
  if (failed(verifyCommon(*this, getName())))
    return failure();
  if (getInputs().empty())
    return emitOpError("needs at least one input");
  auto output = getOutput().getType();
  int64_t channels = 0;
  for (Value input : getInputs()) {
    auto type = cast<RankedTensorType>(input.getType());
    if (type.getElementType() != output.getElementType() ||
        type.getDimSize(0) != output.getDimSize(0) ||
        type.getDimSize(2) != output.getDimSize(2) ||
        type.getDimSize(3) != output.getDimSize(3))
      return emitOpError("input ")
             << type << " does not match the output " << output
             << " in element type, batch or spatial size";
    channels += type.getDimSize(1);
  }
  if (channels != output.getDimSize(1))
    return emitOpError("inputs have ")
           << channels << " channels in all, the output has "
           << output.getDimSize(1);
  return success();
}

int64_t ConcatOp::getFlops() { return 0; }

//===----------------------------------------------------------------------===//
// MaxPoolOp / AvgPoolOp
//===----------------------------------------------------------------------===//

template <typename PoolOp>
static LogicalResult verifyPool(PoolOp op) {
  if (failed(verifyCommon(op, op.getName())) ||
      failed(verifyWindow(op, "kernel", op.getKernel(), 1)) ||
      failed(verifyWindow(op, "stride", op.getStride(), 1)) ||
      failed(verifyWindow(op, "pad", op.getPadding(), 0)))
    return failure();
  // PyTorch's rule: padding beyond half the window would make windows that
  // see only padding.
  for (auto [kernel, padding] : llvm::zip(op.getKernel(), op.getPadding()))
    if (2 * padding > kernel)
      return op.emitOpError("pad ")
             << padding << " must be at most half the kernel " << kernel;
  auto input = op.getInput().getType();
  return verifyWindowedShape(op, input, op.getOutput().getType(),
                             input.getDimSize(1), op.getKernel(),
                             op.getStride(), op.getPadding());
}

LogicalResult MaxPoolOp::verify() { return verifyPool(*this); }
LogicalResult AvgPoolOp::verify() { return verifyPool(*this); }

int64_t MaxPoolOp::getFlops() {
  return numElements(getOutput()) * getKernel()[0] * getKernel()[1];
}

int64_t AvgPoolOp::getFlops() {
  return numElements(getOutput()) * (getKernel()[0] * getKernel()[1] + 1);
}

//===----------------------------------------------------------------------===//
// GlobalAvgPoolOp
//===----------------------------------------------------------------------===//

LogicalResult GlobalAvgPoolOp::verify() {
  if (failed(verifyCommon(*this, getName())))
    return failure();
  auto input = getInput().getType();
  auto output = getOutput().getType();
  auto expected = RankedTensorType::get(
      {input.getDimSize(0), input.getDimSize(1)}, input.getElementType());
  if (output != expected)
    return emitOpError("expected output ") << expected << ", got " << output;
  return success();
}

int64_t GlobalAvgPoolOp::getFlops() {
  auto input = getInput().getType();
  return numElements(getOutput()) * (input.getDimSize(2) * input.getDimSize(3) + 1);
}

//===----------------------------------------------------------------------===//
// LinearOp
//===----------------------------------------------------------------------===//

LogicalResult LinearOp::verify() {
  if (failed(verifyCommon(*this, getName())) ||
      failed(verifyWeightElementType(*this, getInput().getType(),
                                     getWeight().getType(), "weight")) ||
      failed(verifyWeightElementType(*this, getInput().getType(),
                                     getBias().getType(), "bias")))
    return failure();
  auto input = getInput().getType();
  auto weight = getWeight().getType();
  auto output = getOutput().getType();
  if (weight.getDimSize(1) != input.getDimSize(1))
    return emitOpError("weight expects ")
           << weight.getDimSize(1) << " input features, the input has "
           << input.getDimSize(1);
  if (getBias().getType().getDimSize(0) != weight.getDimSize(0))
    return emitOpError("bias has ")
           << getBias().getType().getDimSize(0) << " elements, expected "
           << weight.getDimSize(0);
  auto expected = RankedTensorType::get(
      {input.getDimSize(0), weight.getDimSize(0)}, input.getElementType());
  if (output != expected)
    return emitOpError("expected output ") << expected << ", got " << output;
  return success();
}

int64_t LinearOp::getFlops() {
  int64_t inputFeatures = getInput().getType().getDimSize(1);
  return numElements(getOutput()) * (2 * inputFeatures + 1);
}

//===----------------------------------------------------------------------===//
// DropoutOp
//===----------------------------------------------------------------------===//

LogicalResult DropoutOp::verify() {
  if (failed(verifyCommon(*this, getName())))
    return failure();
  double rate = getRate().convertToDouble();
  if (!(rate >= 0.0 && rate < 1.0))
    return emitOpError("rate must be in [0, 1), got ") << rate;
  return success();
}

int64_t DropoutOp::getFlops() { return 2 * numElements(getInput()); }

//===----------------------------------------------------------------------===//
// SoftmaxCrossEntropyOp
//===----------------------------------------------------------------------===//

LogicalResult SoftmaxCrossEntropyOp::verify() {
  if (failed(verifyCommon(*this, getName())))
    return failure();
  int64_t rows = getLogits().getType().getDimSize(0);
  if (getLabels().getType().getDimSize(0) != rows)
    return emitOpError("has ")
           << rows << " rows of logits but "
           << getLabels().getType().getDimSize(0) << " labels";
  return success();
}

int64_t SoftmaxCrossEntropyOp::getFlops() {
  return 5 * numElements(getLogits());
}
