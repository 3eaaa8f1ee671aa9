//===- TGTrainingOps.cpp - Backward and update ops of tg ------------------===//
//
// Verifiers check a gradient op against the forward op it differentiates:
// the gradient of a value has that value's shape, and window arithmetic is
// checked in the forward direction (input -> output) with the same helper.
//
//===----------------------------------------------------------------------===//

#include "dialects/TG/TGOps.h"
#include "dialects/TG/TGVerify.h"

using namespace mlir;
using namespace densenet;
using namespace densenet::tg;
using namespace densenet::tg::detail;

static LogicalResult verifySameType(Operation *op, Type a, Type b,
                                    StringRef what) {
  if (a != b)
    return op->emitOpError() << what << ": " << a << " vs " << b;
  return success();
}

/// Low-precision models keep f32 master weights, so weight gradients may be
/// f32 on low-precision activations.
static LogicalResult verifyWeightGradType(Operation *op, Type weight,
                                          Type gradient, Type activation) {
  auto weightType = cast<ShapedType>(weight);
  auto gradType = cast<ShapedType>(gradient);
  if (weightType.getShape() != gradType.getShape())
    return op->emitOpError("weight gradient shape ")
           << gradient << " differs from the weight's " << weight;
  return verifyWeightElementType(op, activation, gradient, "weight gradient");
}

//===----------------------------------------------------------------------===//
// Convolution gradients
//===----------------------------------------------------------------------===//

LogicalResult Conv2DGradInputOp::verify() {
  if (failed(verifyCommon(*this, getName())) ||
      failed(verifyWeightElementType(*this, getOutputGrad().getType(),
                                     getFilter().getType(), "filter")))
    return failure();
  return verifyConvolution(*this, getInputGrad().getType(),
                           getFilter().getType(), getOutputGrad().getType(),
                           getStride(), getPadding(), "filter expects ",
                           "the input gradient");
}

int64_t Conv2DGradInputOp::getFlops() {
  return convolutionFlops(getOutputGrad(), getFilter().getType());
}

LogicalResult Conv2DGradFilterOp::verify() {
  if (failed(verifyCommon(*this, getName())) ||
      failed(verifyWeightElementType(*this, getInput().getType(),
                                     getFilterGrad().getType(),
                                     "filter gradient")))
    return failure();
  return verifyConvolution(*this, getInput().getType(),
                           getFilterGrad().getType(), getOutputGrad().getType(),
                           getStride(), getPadding(), "filter gradient has ",
                           "the input");
}

int64_t Conv2DGradFilterOp::getFlops() {
  return convolutionFlops(getOutputGrad(), getFilterGrad().getType());
}

//===----------------------------------------------------------------------===//
// BatchNormGradOp
//===----------------------------------------------------------------------===//

LogicalResult BatchNormGradOp::verify() {
  if (failed(verifyCommon(*this, getName())) ||
      failed(verifyEpsilon(*this, getEpsilon())) ||
      failed(verifySameType(*this, getOutputGrad().getType(),
                            getInput().getType(),
                            "output gradient and input types differ")) ||
      failed(verifySameType(*this, getInputGrad().getType(),
                            getInput().getType(),
                            "input gradient and input types differ")))
    return failure();
  return verifyPerChannel(*this, getInput().getType(),
                          {getWeight(), getMean(), getVariance(),
                           getWeightGrad(), getBiasGrad()});
}

int64_t BatchNormGradOp::getFlops() { return 10 * numElements(getInput()); }

int64_t BatchNormGradOp::getBytesRead() {
  return sumStorageBytes(getOperation()->getOperandTypes()) +
         getStorageBytes(getOutputGrad().getType()) +
         getStorageBytes(getInput().getType());
}

//===----------------------------------------------------------------------===//
// ReluGradOp
//===----------------------------------------------------------------------===//

LogicalResult ReluGradOp::verify() {
  if (failed(verifyCommon(*this, getName())) ||
      failed(verifySameType(*this, getOutputGrad().getType(),
                            getOutput().getType(),
                            "output gradient and output types differ")))
    return failure();
  return verifySameType(*this, getInputGrad().getType(), getOutput().getType(),
                        "input gradient and output types differ");
}

int64_t ReluGradOp::getFlops() { return numElements(getOutput()); }

//===----------------------------------------------------------------------===//
// Pooling gradients
//===----------------------------------------------------------------------===//

LogicalResult MaxPoolGradOp::verify() {
  if (failed(verifyCommon(*this, getName())) ||
      failed(verifySameType(*this, getOutputGrad().getType(),
                            getOutput().getType(),
                            "output gradient and output types differ")) ||
      failed(verifySameType(*this, getInputGrad().getType(),
                            getInput().getType(),
                            "input gradient and input types differ")))
    return failure();
  return verifyPoolGeometry(*this, getKernel(), getStride(), getPadding(),
                            getInput().getType(), getOutput().getType());
}

int64_t MaxPoolGradOp::getFlops() {
  return numElements(getOutputGrad()) * getKernel()[0] * getKernel()[1];
}

LogicalResult AvgPoolGradOp::verify() {
  if (failed(verifyCommon(*this, getName())))
    return failure();
  return verifyPoolGeometry(*this, getKernel(), getStride(), getPadding(),
                            getInputGrad().getType(),
                            getOutputGrad().getType());
}

int64_t AvgPoolGradOp::getFlops() {
  return numElements(getOutputGrad()) * (getKernel()[0] * getKernel()[1] + 1);
}

LogicalResult GlobalAvgPoolGradOp::verify() {
  if (failed(verifyCommon(*this, getName())))
    return failure();
  auto input = getInputGrad().getType();
  auto expected = RankedTensorType::get(
      {input.getDimSize(0), input.getDimSize(1)}, input.getElementType());
  if (getOutputGrad().getType() != expected)
    return emitOpError("output gradient must be ")
           << expected << " for an input gradient " << input << ", got "
           << getOutputGrad().getType();
  return success();
}

int64_t GlobalAvgPoolGradOp::getFlops() { return numElements(getInputGrad()); }

//===----------------------------------------------------------------------===//
// LinearGradOp
//===----------------------------------------------------------------------===//

LogicalResult LinearGradOp::verify() {
  if (failed(verifyCommon(*this, getName())) ||
      failed(verifySameType(*this, getInputGrad().getType(),
                            getInput().getType(),
                            "input gradient and input types differ")) ||
      failed(verifyWeightGradType(*this, getWeight().getType(),
                                  getWeightGrad().getType(),
                                  getInput().getType())) ||
      failed(verifyWeightElementType(*this, getInput().getType(),
                                     getBiasGrad().getType(), "bias gradient")))
    return failure();
  return verifyLinear(*this, getInput().getType(), getWeight().getType(),
                      getBiasGrad().getType().getDimSize(0),
                      getOutputGrad().getType(), "bias gradient has ",
                      "output gradient must be ");
}

int64_t LinearGradOp::getFlops() {
  int64_t inputFeatures = getInput().getType().getDimSize(1);
  return numElements(getOutputGrad()) * (4 * inputFeatures + 1);
}

//===----------------------------------------------------------------------===//
// DropoutGradOp / SoftmaxCrossEntropyGradOp
//===----------------------------------------------------------------------===//

LogicalResult DropoutGradOp::verify() {
  if (failed(verifyCommon(*this, getName())))
    return failure();
  return verifyRate(*this, getRate());
}

int64_t DropoutGradOp::getFlops() { return 2 * numElements(getOutputGrad()); }

LogicalResult SoftmaxCrossEntropyGradOp::verify() {
  if (failed(verifyCommon(*this, getName())) ||
      failed(verifySameType(*this, getLogitsGrad().getType(),
                            getLogits().getType(),
                            "logits gradient and logits types differ")))
    return failure();
  return verifyLabels(*this, getLogits().getType(), getLabels().getType());
}

int64_t SoftmaxCrossEntropyGradOp::getFlops() {
  return 5 * numElements(getLogits());
}

//===----------------------------------------------------------------------===//
// SliceOp / AccumulateOp
//===----------------------------------------------------------------------===//

/// `part` occupies channels [offset, offset + C) of `whole`.
static LogicalResult verifyChannelRange(Operation *op, RankedTensorType whole,
                                        RankedTensorType part,
                                        int64_t offset) {
  if (whole.getRank() != 4 || part.getRank() != 4)
    return op->emitOpError("channel ranges need 4-D feature maps");
  if (whole.getElementType() != part.getElementType() ||
      whole.getDimSize(0) != part.getDimSize(0) ||
      whole.getDimSize(2) != part.getDimSize(2) ||
      whole.getDimSize(3) != part.getDimSize(3))
    return op->emitOpError("channel range ")
           << part << " does not match " << whole
           << " in element type, batch or spatial size";
  if (offset < 0 || offset > whole.getDimSize(1) - part.getDimSize(1))
    return op->emitOpError("a range of ")
           << part.getDimSize(1) << " channels at offset " << offset
           << " is outside the buffer's " << whole.getDimSize(1) << " channels";
  return success();
}

LogicalResult SliceOp::verify() {
  if (failed(verifyCommon(*this, getName())))
    return failure();
  return verifyChannelRange(*this, getSource().getType(), getResult().getType(),
                            getOffsetAttr().getInt());
}

int64_t SliceOp::getFlops() { return 0; }

LogicalResult AccumulateOp::verify() {
  if (failed(verifyCommon(*this, getName())) ||
      failed(verifySameType(*this, getResult().getType(),
                            getBuffer().getType(),
                            "result and buffer types differ")))
    return failure();
  auto buffer = cast<RankedTensorType>(getBuffer().getType());
  auto value = cast<RankedTensorType>(getValue().getType());
  if (buffer.getRank() != 4) {
    if (getOffsetAttr().getInt() != 0)
      return emitOpError("offset must be 0 unless the buffer is a 4-D "
                         "feature map");
    return verifySameType(*this, value, buffer,
                          "value and buffer types differ");
  }
  return verifyChannelRange(*this, buffer, value, getOffsetAttr().getInt());
}

int64_t AccumulateOp::getFlops() { return numElements(getValue()); }

// Reads the value and the channel range it adds to, writes that range.
int64_t AccumulateOp::getBytesRead() {
  return 2 * getStorageBytes(getValue().getType());
}

int64_t AccumulateOp::getBytesWritten() {
  return getStorageBytes(getValue().getType());
}

unsigned AccumulateOp::getTiedOperandIndex(unsigned resultIndex) {
  assert(resultIndex == 0 && "accumulate has one result");
  return getBufferMutable().getOperandNumber();
}

//===----------------------------------------------------------------------===//
// SgdUpdateOp
//===----------------------------------------------------------------------===//

LogicalResult SgdUpdateOp::verify() {
  if (failed(verifyCommon(*this, getName())) ||
      failed(verifyMomentum(*this, getMomentum())))
    return failure();
  Type parameter = getParameter().getType();
  for (Value value : {getGradient(), getMomentumBuffer(), getNewParameter(),
                      getNewMomentumBuffer()})
    if (failed(verifySameType(*this, value.getType(), parameter,
                              "all tensors must have the parameter's type")))
      return failure();
  if (getWeightDecay().convertToDouble() < 0.0)
    return emitOpError("weight_decay must be >= 0");
  if (getNesterov() && getMomentum().convertToDouble() == 0.0)
    return emitOpError("Nesterov momentum requires a momentum > 0");
  return success();
}

int64_t SgdUpdateOp::getFlops() {
  return (getNesterov() ? 10 : 8) * numElements(getParameter());
}

int64_t SgdUpdateOp::getBytesRead() {
  return 3 * getStorageBytes(getParameter().getType());
}

int64_t SgdUpdateOp::getBytesWritten() {
  return 2 * getStorageBytes(getParameter().getType());
}

unsigned SgdUpdateOp::getTiedOperandIndex(unsigned resultIndex) {
  assert(resultIndex < 2 && "sgd_update has two results");
  return resultIndex == 0 ? getParameterMutable().getOperandNumber()
                          : getMomentumBufferMutable().getOperandNumber();
}

//===----------------------------------------------------------------------===//
// RunningStatsUpdateOp
//===----------------------------------------------------------------------===//

LogicalResult RunningStatsUpdateOp::verify() {
  if (failed(verifyCommon(*this, getName())) ||
      failed(verifyMomentum(*this, getMomentum())))
    return failure();
  Type stat = getRunningMean().getType();
  for (Value value : {getRunningVar(), getMean(), getVariance(),
                      getNewRunningMean(), getNewRunningVar()})
    if (failed(verifySameType(*this, value.getType(), stat,
                              "all statistics must have one type")))
      return failure();
  // The unbiased variance divides by samples - 1; PyTorch refuses a batch
  // with one value per channel for the same reason.
  if (getSamplesAttr().getInt() < 2)
    return emitOpError("needs at least 2 samples per channel, got ")
           << getSamplesAttr().getInt();
  return success();
}

int64_t RunningStatsUpdateOp::getFlops() {
  return 6 * numElements(getRunningMean());
}

int64_t RunningStatsUpdateOp::getBytesRead() {
  return 4 * getStorageBytes(getRunningMean().getType());
}

int64_t RunningStatsUpdateOp::getBytesWritten() {
  return 2 * getStorageBytes(getRunningMean().getType());
}

unsigned RunningStatsUpdateOp::getTiedOperandIndex(unsigned resultIndex) {
  assert(resultIndex < 2 && "running_stats_update has two results");
  return resultIndex == 0 ? getRunningMeanMutable().getOperandNumber()
                          : getRunningVarMutable().getOperandNumber();
}

//===----------------------------------------------------------------------===//
// AllReduceOp
//===----------------------------------------------------------------------===//

LogicalResult AllReduceOp::verify() {
  if (failed(verifyCommon(*this, getName())))
    return failure();
  if (getGradients().empty())
    return emitOpError("needs at least one gradient");
  if (getAveraged().size() != getGradients().size())
    return emitOpError("needs one result per gradient");
  for (auto [gradient, result] : llvm::zip(getGradients(), getAveraged()))
    if (failed(verifySameType(*this, result.getType(), gradient.getType(),
                              "result i must have gradient i's type")))
      return failure();
  if (getWorldSize() < 1)
    return emitOpError("world_size must be at least 1, got ")
           << getWorldSize();
  return success();
}

int64_t AllReduceOp::getFlops() {
  int64_t elements = 0;
  for (Value gradient : getGradients())
    elements += numElements(gradient);
  return elements;
}

int64_t AllReduceOp::getBytesRead() {
  return sumStorageBytes(getGradients().getTypes());
}

int64_t AllReduceOp::getBytesWritten() {
  return sumStorageBytes(getAveraged().getTypes());
}

unsigned AllReduceOp::getTiedOperandIndex(unsigned resultIndex) {
  // The gradients are the only operands.
  return resultIndex;
}
