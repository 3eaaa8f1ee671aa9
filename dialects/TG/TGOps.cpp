//===- TGOps.cpp - tg dialect operations ----------------------------------===//

#include "dialects/TG/TGOps.h"

#include "dialects/TG/TGVerify.h"

#include "mlir/IR/Builders.h"

using namespace mlir;
using namespace densenet;
using namespace densenet::tg;
using namespace densenet::tg::detail;

#define GET_OP_CLASSES
#include "dialects/TG/TGOps.cpp.inc"

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
      failed(verifyWeightElementType(*this, getInput().getType(),
                                     getFilter().getType(), "filter")))
    return failure();
  return verifyConvolution(*this, getInput().getType(), getFilter().getType(),
                           getOutput().getType(), getStride(), getPadding(),
                           "filter expects ", "the input");
}

int64_t Conv2DOp::getFlops() {
  return convolutionFlops(getOutput(), getFilter().getType());
}

//===----------------------------------------------------------------------===//
// BatchNormOp
//===----------------------------------------------------------------------===//

LogicalResult BatchNormOp::verify() {
  if (failed(verifyCommon(*this, getName())) ||
      failed(verifyPerChannel(*this, getInput().getType(),
                              {getWeight(), getBias(), getMean(),
                               getVariance()})) ||
      failed(verifyEpsilon(*this, getEpsilon())))
    return failure();
  if (getOutput().getType() != getInput().getType())
    return emitOpError("output type ")
           << getOutput().getType() << " differs from input type "
           << getInput().getType();
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
  if (failed(verifyCommon(op, op.getName())))
    return failure();
  return verifyPoolGeometry(op, op.getKernel(), op.getStride(),
                            op.getPadding(), op.getInput().getType(),
                            op.getOutput().getType());
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
  return verifyLinear(*this, getInput().getType(), getWeight().getType(),
                      getBias().getType().getDimSize(0), getOutput().getType(),
                      "bias has ", "expected output ");
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
  return verifyRate(*this, getRate());
}

int64_t DropoutOp::getFlops() { return 2 * numElements(getInput()); }

//===----------------------------------------------------------------------===//
// SoftmaxCrossEntropyOp
//===----------------------------------------------------------------------===//

LogicalResult SoftmaxCrossEntropyOp::verify() {
  if (failed(verifyCommon(*this, getName())))
    return failure();
  return verifyLabels(*this, getLogits().getType(), getLabels().getType());
}

int64_t SoftmaxCrossEntropyOp::getFlops() {
  return 5 * numElements(getLogits());
}
