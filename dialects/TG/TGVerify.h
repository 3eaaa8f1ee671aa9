//===- TGVerify.h - Shared checks of tg op verifiers -----------*- C++ -*-===//
//
// Internal to dialects/TG: the checks forward, gradient and update ops share.
//
//===----------------------------------------------------------------------===//

#ifndef DENSENET_DIALECTS_TG_TGVERIFY_H
#define DENSENET_DIALECTS_TG_TGVERIFY_H

#include "dialects/Common/Shapes.h"

#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Operation.h"
#include "mlir/IR/TypeUtilities.h"

namespace densenet::tg::detail {

using llvm::cast;
using mlir::APFloat;
using mlir::ArrayRef;
using mlir::LogicalResult;
using mlir::Operation;
using mlir::RankedTensorType;
using mlir::ShapedType;
using mlir::SmallVector;
using mlir::StringRef;
using mlir::Type;
using mlir::Value;
using mlir::failed;
using mlir::failure;
using mlir::success;

inline int64_t numElements(Value value) {
  return cast<ShapedType>(value.getType()).getNumElements();
}

/// Sizes beyond these are refused so that every shape, byte and FLOP count
/// derived from them fits in int64.
constexpr int64_t kMaxDimension = (int64_t(1) << 31) - 1;
constexpr int64_t kMaxElements = int64_t(1) << 48;

/// Static, non-empty shapes of bounded size.
inline LogicalResult verifyShape(Operation *op, Type type) {
  auto shaped = cast<ShapedType>(type);
  if (!shaped.hasStaticShape())
    return op->emitOpError("needs statically shaped tensors, got ") << type;
  int64_t elements = 1;
  for (int64_t dim : shaped.getShape()) {
    if (dim <= 0 || dim > kMaxDimension)
      return op->emitOpError("has a dimension outside [1, ")
             << kMaxDimension << "]: " << type;
    if (elements > kMaxElements / dim)
      return op->emitOpError("has more than 2^48 elements: ") << type;
    elements *= dim;
  }
  return success();
}

inline LogicalResult verifyCommon(Operation *op, StringRef name) {
  if (name.empty())
    return op->emitOpError("needs a non-empty name");
  for (Value value : op->getOperands())
    if (failed(verifyShape(op, value.getType())))
      return failure();
  for (Type type : op->getResultTypes())
    if (failed(verifyShape(op, type)))
      return failure();
  return success();
}

/// Activations keep one dtype through an op; weights may be f32 masters.
inline LogicalResult verifyWeightElementType(Operation *op, Type activation,
                                             Type weight, StringRef what) {
  Type activationElement = getElementTypeOrSelf(activation);
  Type weightElement = getElementTypeOrSelf(weight);
  if (weightElement != activationElement && !weightElement.isF32())
    return op->emitOpError() << what << " element type " << weightElement
                             << " must be f32 or the activation type "
                             << activationElement;
  return success();
}

inline LogicalResult verifyWindow(Operation *op, StringRef what,
                                  ArrayRef<int64_t> values, int64_t minimum) {
  if (values.size() != 2)
    return op->emitOpError() << what << " needs 2 values (height, width), got "
                             << values.size();
  // The upper bound keeps `input + 2 * padding` far from overflow.
  constexpr int64_t kMaximum = int64_t(1) << 24;
  for (int64_t value : values)
    if (value < minimum || value > kMaximum)
      return op->emitOpError() << what << " values must be in [" << minimum
                               << ", " << kMaximum << "], got " << value;
  return success();
}

/// Checks `output` against the window arithmetic applied to `input`, keeping
/// `channels` channels (the filter count for a convolution).
inline LogicalResult verifyWindowedShape(Operation *op, RankedTensorType input,
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

/// Every per-channel tensor (`vectors`) has the feature map's channel count.
inline LogicalResult verifyPerChannel(Operation *op, RankedTensorType features,
                                      ArrayRef<Value> vectors) {
  int64_t channels = features.getDimSize(1);
  for (Value vector : vectors) {
    int64_t size = cast<RankedTensorType>(vector.getType()).getDimSize(0);
    if (size != channels)
      return op->emitOpError("per-channel tensors must have ")
             << channels << " elements, got " << vector.getType();
  }
  return success();
}

inline LogicalResult verifyEpsilon(Operation *op, APFloat epsilon) {
  if (epsilon.convertToDouble() <= 0.0)
    return op->emitOpError("epsilon must be > 0");
  return success();
}

inline LogicalResult verifyMomentum(Operation *op, APFloat momentum) {
  double value = momentum.convertToDouble();
  if (!(value >= 0.0 && value <= 1.0))
    return op->emitOpError("momentum must be in [0, 1], got ") << value;
  return success();
}

inline LogicalResult verifyRate(Operation *op, APFloat rate) {
  double value = rate.convertToDouble();
  if (!(value >= 0.0 && value < 1.0))
    return op->emitOpError("rate must be in [0, 1), got ") << value;
  return success();
}

/// Window, stride and padding of a pooling op and the output they imply;
/// `input` and `output` are the forward op's.
inline LogicalResult verifyPoolGeometry(Operation *op, ArrayRef<int64_t> kernel,
                                        ArrayRef<int64_t> stride,
                                        ArrayRef<int64_t> padding,
                                        RankedTensorType input,
                                        RankedTensorType output) {
  if (failed(verifyWindow(op, "kernel", kernel, 1)) ||
      failed(verifyWindow(op, "stride", stride, 1)) ||
      failed(verifyWindow(op, "pad", padding, 0)))
    return failure();
  // PyTorch's rule: padding beyond half the window would make windows that
  // see only padding.
  for (auto [window, pad] : llvm::zip(kernel, padding))
    if (2 * pad > window)
      return op->emitOpError("pad ")
             << pad << " must be at most half the kernel " << window;
  return verifyWindowedShape(op, input, output, input.getDimSize(1), kernel,
                             stride, padding);
}

/// A convolution's geometry, checked in the forward direction for the
/// forward op and both gradients: `filter` (O, C, KH, KW) reads C channels of
/// `input` and, with `stride` and `padding`, makes `output`. The phrases
/// name the tensors as the op calls them.
inline LogicalResult
verifyConvolution(Operation *op, RankedTensorType input, ShapedType filter,
                  RankedTensorType output, ArrayRef<int64_t> stride,
                  ArrayRef<int64_t> padding, StringRef filterPhrase,
                  StringRef inputPhrase) {
  if (failed(verifyWindow(op, "stride", stride, 1)) ||
      failed(verifyWindow(op, "pad", padding, 0)))
    return failure();
  if (filter.getDimSize(1) != input.getDimSize(1))
    return op->emitOpError(filterPhrase)
           << filter.getDimSize(1) << " input channels, " << inputPhrase
           << " has " << input.getDimSize(1);
  SmallVector<int64_t> kernel{filter.getDimSize(2), filter.getDimSize(3)};
  return verifyWindowedShape(op, input, output, filter.getDimSize(0), kernel,
                             stride, padding);
}

/// FLOPs of a convolution (and of each of its gradients): a multiply-add per
/// filter tap per output element.
inline int64_t convolutionFlops(Value output, ShapedType filter) {
  return 2 * numElements(output) * filter.getDimSize(1) *
         filter.getDimSize(2) * filter.getDimSize(3);
}

/// A linear layer's geometry for the forward op and its gradient: `weight`
/// (K, C) reads the C features of `input` (N, C), the bias (or its gradient)
/// has K elements, and `output` (or its gradient) is N x K in the input's
/// dtype. The phrases name the bias and output as the op calls them.
inline LogicalResult verifyLinear(Operation *op, RankedTensorType input,
                                  RankedTensorType weight, int64_t biasSize,
                                  RankedTensorType output,
                                  StringRef biasPhrase,
                                  StringRef outputPhrase) {
  if (weight.getDimSize(1) != input.getDimSize(1))
    return op->emitOpError("weight expects ")
           << weight.getDimSize(1) << " input features, the input has "
           << input.getDimSize(1);
  if (biasSize != weight.getDimSize(0))
    return op->emitOpError(biasPhrase)
           << biasSize << " elements, expected " << weight.getDimSize(0);
  auto expected = RankedTensorType::get(
      {input.getDimSize(0), weight.getDimSize(0)}, input.getElementType());
  if (output != expected)
    return op->emitOpError(outputPhrase) << expected << ", got " << output;
  return success();
}

/// One label per row of logits.
inline LogicalResult verifyLabels(Operation *op, RankedTensorType logits,
                                  RankedTensorType labels) {
  if (labels.getDimSize(0) != logits.getDimSize(0))
    return op->emitOpError("has ")
           << logits.getDimSize(0) << " rows of logits but "
           << labels.getDimSize(0) << " labels";
  return success();
}

} // namespace densenet::tg::detail

#endif // DENSENET_DIALECTS_TG_TGVERIFY_H
