//===- DNOps.cpp - dn dialect operations ----------------------------------===//

#include "dialects/DN/DNOps.h"

#include "dialects/Common/Shapes.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/TypeUtilities.h"
#include "llvm/ADT/STLExtras.h"

using namespace mlir;
using namespace densenet;
using namespace densenet::dn;

#include "dialects/DN/DNEnums.cpp.inc"

#define GET_OP_CLASSES
#include "dialects/DN/DNOps.cpp.inc"

//===----------------------------------------------------------------------===//
// Helpers
//===----------------------------------------------------------------------===//

/// Feature maps must have static shapes: every size in a plan is exact.
static LogicalResult verifyStatic(Operation *op, Type type, StringRef what) {
  auto tensor = cast<RankedTensorType>(type);
  if (!tensor.hasStaticShape())
    return op->emitOpError() << what << " must have a static shape, got "
                             << type;
  // Bounded like tg's shapes (TGVerify.h), so lowering never overflows.
  constexpr int64_t kMaxDimension = (int64_t(1) << 31) - 1;
  for (int64_t dim : tensor.getShape()) {
    if (dim <= 0)
      return op->emitOpError() << what << " has an empty dimension: " << type;
    if (dim > kMaxDimension)
      return op->emitOpError() << what << " has a dimension above "
                               << kMaxDimension << ": " << type;
  }
  return success();
}

/// Training-mode batch norm needs two values per channel for a variance.
static LogicalResult verifyBatchNormSamples(Operation *op,
                                            RankedTensorType input) {
  if (input.getDimSize(0) * input.getDimSize(2) * input.getDimSize(3) < 2)
    return op->emitOpError("normalizes ")
           << input << " with one value per channel; batch norm needs at "
           << "least two (a larger batch or spatial size)";
  return success();
}

static LogicalResult verifyAllStatic(Operation *op) {
  for (auto [index, operand] : llvm::enumerate(op->getOperandTypes()))
    if (failed(verifyStatic(op, operand, "operand #" + std::to_string(index))))
      return failure();
  for (auto [index, result] : llvm::enumerate(op->getResultTypes()))
    if (failed(verifyStatic(op, result, "result #" + std::to_string(index))))
      return failure();
  return success();
}

static LogicalResult verifyName(Operation *op, StringRef name) {
  if (name.empty())
    return op->emitOpError("needs a non-empty layer name");
  return success();
}

static LogicalResult verifySameElementType(Operation *op, Type a, Type b) {
  if (getElementTypeOrSelf(a) != getElementTypeOrSelf(b))
    return op->emitOpError("input and output element types differ: ")
           << getElementTypeOrSelf(a) << " vs " << getElementTypeOrSelf(b);
  return success();
}

/// The checks every dn op with one input and one output shares: a name,
/// static bounded shapes, and one activation dtype.
static LogicalResult verifyLayer(Operation *op, StringRef name, Type input,
                                 Type output) {
  if (failed(verifyName(op, name)) || failed(verifyAllStatic(op)))
    return failure();
  return verifySameElementType(op, input, output);
}

//===----------------------------------------------------------------------===//
// StemOp
//===----------------------------------------------------------------------===//

LogicalResult StemOp::verify() {
  if (failed(verifyLayer(*this, getName(), getInput().getType(),
                         getOutput().getType())))
    return failure();
  ArrayRef<int64_t> in = getInput().getType().getShape();
  ArrayRef<int64_t> out = getOutput().getType().getShape();
  int64_t height = in[2], width = in[3];
  auto apply = [&](int64_t kernel, int64_t stride, int64_t padding) {
    height = windowOutputSize(height, kernel, stride, padding);
    width = windowOutputSize(width, kernel, stride, padding);
  };
  using namespace geometry;
  if (getKind() == StemKind::imagenet) {
    apply(kImageNetConvKernel, kImageNetConvStride, kImageNetConvPadding);
    if (height > 0 && width > 0 && in[0] * height * width < 2)
      return emitOpError("normalizes one value per channel after the 7x7 "
                         "convolution; batch norm needs at least two");
    apply(kImageNetPoolKernel, kImageNetPoolStride, kImageNetPoolPadding);
  } else {
    apply(kCifarConvKernel, kCifarConvStride, kCifarConvPadding);
  }
  if (height <= 0 || width <= 0)
    return emitOpError("input ") << in[2] << "x" << in[3]
                                 << " is too small for the "
                                 << stringifyStemKind(getKind()) << " stem";
  if (out[0] != in[0] || out[2] != height || out[3] != width)
    return emitOpError("expected output shape ")
           << in[0] << "x?x" << height << "x" << width << " for the "
           << stringifyStemKind(getKind()) << " stem, got "
           << getOutput().getType();
  return success();
}

//===----------------------------------------------------------------------===//
// DenseBlockOp
//===----------------------------------------------------------------------===//

LogicalResult DenseBlockOp::verifyRegions() {
  if (failed(verifyLayer(*this, getName(), getInput().getType(),
                         getOutput().getType())))
    return failure();
  Block &body = getBody().front();
  if (body.getNumArguments() != 1 ||
      body.getArgument(0).getType() != getInput().getType())
    return emitOpError("body must take exactly one argument of the input "
                       "type ")
           << getInput().getType();
  auto yield = dyn_cast<YieldOp>(body.getTerminator());
  if (!yield)
    return emitOpError("body must end in dn.yield");
  for (Operation &op : body.without_terminator())
    if (!isa<DenseLayerOp>(op))
      return op.emitOpError("is not allowed in a dense block; only "
                            "dn.dense_layer is");
  if (yield.getFeatures().getType() != getOutput().getType())
    return emitOpError("yields ")
           << yield.getFeatures().getType() << " but the result is "
           << getOutput().getType();
  // The layers form a chain: each grows the features the previous one
  // returned, and the block returns the last; the memory planner's block
  // buffer relies on it.
  Value features = body.getArgument(0);
  for (DenseLayerOp layer : body.getOps<DenseLayerOp>()) {
    if (layer.getInput() != features)
      return layer.emitOpError("must read the features the previous layer "
                               "returned (or the block argument, first)");
    features = layer.getOutput();
  }
  if (yield.getFeatures() != features)
    return yield.emitOpError("must return the last layer's features");
  return success();
}

//===----------------------------------------------------------------------===//
// DenseLayerOp
//===----------------------------------------------------------------------===//

int64_t DenseLayerOp::getGrowthRate() {
  return getOutput().getType().getDimSize(1) -
         getInput().getType().getDimSize(1);
}

LogicalResult DenseLayerOp::verify() {
  if (failed(verifyLayer(*this, getName(), getInput().getType(),
                         getOutput().getType())))
    return failure();
  auto in = getInput().getType();
  auto out = getOutput().getType();
  if (in.getDimSize(0) != out.getDimSize(0) ||
      in.getDimSize(2) != out.getDimSize(2) ||
      in.getDimSize(3) != out.getDimSize(3))
    return emitOpError("input ")
           << in << " and output " << out << " differ in batch or spatial size";
  if (getGrowthRate() <= 0)
    return emitOpError("must add channels: the output has ")
           << out.getDimSize(1) << ", the input " << in.getDimSize(1);
  // I64Attr reads back unsigned; the signed value is what a user wrote. The
  // upper bound is the model spec's.
  if (getBnSizeAttr().getInt() < 0 || getBnSizeAttr().getInt() > 64)
    return emitOpError("bn_size must be in [0, 64], got ")
           << getBnSizeAttr().getInt();
  if (failed(verifyBatchNormSamples(*this, in)))
    return failure();
  double rate = getDropRate().convertToDouble();
  if (!(rate >= 0.0 && rate < 1.0))
    return emitOpError("drop_rate must be in [0, 1), got ") << rate;
  return success();
}

//===----------------------------------------------------------------------===//
// TransitionOp
//===----------------------------------------------------------------------===//

LogicalResult TransitionOp::verify() {
  if (failed(verifyLayer(*this, getName(), getInput().getType(),
                         getOutput().getType())))
    return failure();
  if (failed(verifyBatchNormSamples(*this, getInput().getType())))
    return failure();
  double compression = getCompression().convertToDouble();
  if (!(compression > 0.0 && compression <= 1.0))
    return emitOpError("compression must be in (0, 1], got ") << compression;
  ArrayRef<int64_t> in = getInput().getType().getShape();
  ArrayRef<int64_t> out = getOutput().getType().getShape();
  using namespace geometry;
  int64_t height = windowOutputSize(in[2], kTransitionPoolKernel,
                                    kTransitionPoolStride, /*padding=*/0);
  int64_t width = windowOutputSize(in[3], kTransitionPoolKernel,
                                   kTransitionPoolStride, /*padding=*/0);
  if (height <= 0 || width <= 0)
    return emitOpError("input ") << in[2] << "x" << in[3]
                                 << " is too small to pool 2x2";
  int64_t channels = transitionChannels(in[1], compression);
  if (channels <= 0)
    return emitOpError("compression ")
           << compression << " leaves no channels of " << in[1];
  if (out[0] != in[0] || out[1] != channels || out[2] != height ||
      out[3] != width)
    return emitOpError("expected output shape ")
           << in[0] << "x" << channels << "x" << height << "x" << width
           << ", got " << getOutput().getType();
  return success();
}

//===----------------------------------------------------------------------===//
// ClassifierOp
//===----------------------------------------------------------------------===//

LogicalResult ClassifierOp::verify() {
  if (failed(verifyLayer(*this, getName(), getInput().getType(),
                         getOutput().getType())))
    return failure();
  if (failed(verifyBatchNormSamples(*this, getInput().getType())))
    return failure();
  if (getOutput().getType().getDimSize(0) !=
      getInput().getType().getDimSize(0))
    return emitOpError("output batch ")
           << getOutput().getType().getDimSize(0)
           << " differs from input batch "
           << getInput().getType().getDimSize(0);
  return success();
}
