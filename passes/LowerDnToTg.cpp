//===- LowerDnToTg.cpp - dn architecture ops to the tg forward graph ------===//
//
// Each dn op expands into the tg ops torchvision's module of the same name
// runs, with parameters declared next to the op that uses them. Names follow
// torchvision's state dict so that weights load by name and plans and
// reports speak the user's vocabulary.
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"

#include "dialects/Common/Shapes.h"
#include "dialects/DN/DNOps.h"
#include "dialects/TG/TGOps.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Transforms/DialectConversion.h"

namespace densenet {
#define GEN_PASS_DEF_DNLOWERTOTG
#include "passes/Passes.h.inc"
} // namespace densenet

using namespace mlir;
using namespace densenet;

namespace {

// torch.nn.BatchNorm2d's defaults, which torchvision's DenseNets use.
constexpr double kBatchNormEpsilon = 1e-5;
constexpr double kBatchNormMomentum = 0.1;

/// Creates named tg ops and their parameters at the rewriter's insertion
/// point. Result shapes come from dialects/Common/Shapes.h, the same
/// arithmetic the verifiers use.
class TgEmitter {
public:
  TgEmitter(ConversionPatternRewriter &rewriter, Location loc)
      : rewriter(rewriter), loc(loc) {}

  Value parameter(const Twine &name, ArrayRef<int64_t> shape) {
    auto type = RankedTensorType::get(shape, rewriter.getF32Type());
    return rewriter.create<tg::ParameterOp>(loc, type, rewriter.getStringAttr(name));
  }

  Value state(const Twine &name, int64_t channels) {
    auto type = RankedTensorType::get({channels}, rewriter.getF32Type());
    return rewriter.create<tg::StateOp>(loc, type, rewriter.getStringAttr(name));
  }

  Value conv(const Twine &name, Value input, int64_t outChannels,
             int64_t kernel, int64_t stride, int64_t padding) {
    auto inputType = cast<RankedTensorType>(input.getType());
    Value filter = parameter(name + ".weight",
                             {outChannels, inputType.getDimSize(1), kernel, kernel});
    auto resultType = windowed(inputType, outChannels, kernel, stride, padding);
    return rewriter.create<tg::Conv2DOp>(
        loc, resultType, rewriter.getStringAttr(name), input, filter,
        rewriter.getDenseI64ArrayAttr({stride, stride}),
        rewriter.getDenseI64ArrayAttr({padding, padding}));
  }

  /// Training-mode batch norm; its running statistics are updated by
  /// updateRunningStats.
  tg::BatchNormOp batchNorm(const Twine &name, Value input) {
    auto inputType = cast<RankedTensorType>(input.getType());
    int64_t channels = inputType.getDimSize(1);
    Value weight = parameter(name + ".weight", {channels});
    Value bias = parameter(name + ".bias", {channels});
    auto statType = RankedTensorType::get({channels}, rewriter.getF32Type());
    return rewriter.create<tg::BatchNormOp>(
        loc, TypeRange{inputType, statType, statType},
        rewriter.getStringAttr(name), input, weight, bias,
        rewriter.getF64FloatAttr(kBatchNormEpsilon));
  }

  /// The update of a batch norm's running statistics, which a
  /// training-mode forward pass performs (PyTorch's `train()`).
  void updateRunningStats(const Twine &name, tg::BatchNormOp norm) {
    int64_t channels = norm.getMean().getType().getDimSize(0);
    auto statType = norm.getMean().getType();
    auto inputType = cast<RankedTensorType>(norm.getOutput().getType());
    Value runningMean = state(name + ".running_mean", channels);
    Value runningVar = state(name + ".running_var", channels);
    int64_t samples = inputType.getDimSize(0) * inputType.getDimSize(2) *
                      inputType.getDimSize(3);
    rewriter.create<tg::RunningStatsUpdateOp>(
        loc, TypeRange{statType, statType}, rewriter.getStringAttr(name),
        runningMean, runningVar, norm.getMean(), norm.getVariance(),
        rewriter.getF64FloatAttr(kBatchNormMomentum),
        rewriter.getI64IntegerAttr(samples));
  }

  Value relu(const Twine &name, Value input) {
    return rewriter.create<tg::ReluOp>(loc, input.getType(),
                                       rewriter.getStringAttr(name), input);
  }

  /// The ReLU right after its batch norm, the running statistics after
  /// both: nothing depends on their order, and a backend fuses a batch
  /// norm with the ReLU that follows it (the CUDA backend does).
  Value normRelu(const Twine &norm, const Twine &relu, Value input) {
    tg::BatchNormOp normalized = batchNorm(norm, input);
    Value rectified = this->relu(relu, normalized.getOutput());
    updateRunningStats(norm, normalized);
    return rectified;
  }

  template <typename PoolOp>
  Value pool(const Twine &name, Value input, int64_t kernel, int64_t stride,
             int64_t padding) {
    auto inputType = cast<RankedTensorType>(input.getType());
    auto resultType =
        windowed(inputType, inputType.getDimSize(1), kernel, stride, padding);
    return rewriter.create<PoolOp>(
        loc, resultType, rewriter.getStringAttr(name), input,
        rewriter.getDenseI64ArrayAttr({kernel, kernel}),
        rewriter.getDenseI64ArrayAttr({stride, stride}),
        rewriter.getDenseI64ArrayAttr({padding, padding}));
  }

  /// Concatenates along channels.
  Value concat(const Twine &name, ValueRange inputs) {
    assert(!inputs.empty() && "concat needs inputs");
    auto first = cast<RankedTensorType>(inputs.front().getType());
    int64_t channels = 0;
    for (Value input : inputs)
      channels += cast<RankedTensorType>(input.getType()).getDimSize(1);
    SmallVector<int64_t> shape(first.getShape());
    shape[1] = channels;
    return rewriter.create<tg::ConcatOp>(
        loc, RankedTensorType::get(shape, first.getElementType()),
        rewriter.getStringAttr(name), inputs);
  }

  Value dropout(const Twine &name, Value input, double rate) {
    return rewriter.create<tg::DropoutOp>(loc, input.getType(),
                                          rewriter.getStringAttr(name), input,
                                          rewriter.getF64FloatAttr(rate));
  }

  Value globalAvgPool(const Twine &name, Value input) {
    auto inputType = cast<RankedTensorType>(input.getType());
    auto resultType = RankedTensorType::get(
        {inputType.getDimSize(0), inputType.getDimSize(1)},
        inputType.getElementType());
    return rewriter.create<tg::GlobalAvgPoolOp>(
        loc, resultType, rewriter.getStringAttr(name), input);
  }

  Value linear(const Twine &name, Value input, int64_t outFeatures) {
    auto inputType = cast<RankedTensorType>(input.getType());
    Value weight =
        parameter(name + ".weight", {outFeatures, inputType.getDimSize(1)});
    Value bias = parameter(name + ".bias", {outFeatures});
    auto resultType = RankedTensorType::get(
        {inputType.getDimSize(0), outFeatures}, inputType.getElementType());
    return rewriter.create<tg::LinearOp>(loc, resultType,
                                         rewriter.getStringAttr(name), input,
                                         weight, bias);
  }

private:
  static RankedTensorType windowed(RankedTensorType input, int64_t channels,
                                   int64_t kernel, int64_t stride,
                                   int64_t padding) {
    return RankedTensorType::get(
        {input.getDimSize(0), channels,
         windowOutputSize(input.getDimSize(2), kernel, stride, padding),
         windowOutputSize(input.getDimSize(3), kernel, stride, padding)},
        input.getElementType());
  }

  ConversionPatternRewriter &rewriter;
  Location loc;
};

/// Base for the patterns: an emitter at the op being lowered.
template <typename SourceOp>
struct DnLowering : OpConversionPattern<SourceOp> {
  using OpConversionPattern<SourceOp>::OpConversionPattern;

protected:
  TgEmitter emitter(ConversionPatternRewriter &rewriter, SourceOp op) const {
    return TgEmitter(rewriter, op.getLoc());
  }
};

struct StemLowering : DnLowering<dn::StemOp> {
  using DnLowering::DnLowering;
  LogicalResult
  matchAndRewrite(dn::StemOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    TgEmitter tg = emitter(rewriter, op);
    std::string name = op.getName().str();
    int64_t features = op.getOutput().getType().getDimSize(1);
    using namespace geometry;
    Value result;
    if (op.getKind() == dn::StemKind::imagenet) {
      Value conv = tg.conv(name + ".conv0", adaptor.getInput(), features,
                           kImageNetConvKernel, kImageNetConvStride,
                           kImageNetConvPadding);
      Value activated = tg.normRelu(name + ".norm0", name + ".relu0", conv);
      result = tg.pool<tg::MaxPoolOp>(name + ".pool0", activated,
                                      kImageNetPoolKernel, kImageNetPoolStride,
                                      kImageNetPoolPadding);
    } else {
      // Huang et al.'s CIFAR networks start with a bare convolution; the
      // first dense layer normalizes its output.
      result = tg.conv(name + ".conv0", adaptor.getInput(), features,
                       kCifarConvKernel, kCifarConvStride, kCifarConvPadding);
    }
    rewriter.replaceOp(op, result);
    return success();
  }
};

struct DenseLayerLowering : DnLowering<dn::DenseLayerOp> {
  using DnLowering::DnLowering;
  LogicalResult
  matchAndRewrite(dn::DenseLayerOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    TgEmitter tg = emitter(rewriter, op);
    std::string name = op.getName().str();
    int64_t growthRate = op.getGrowthRate();
    int64_t bnSize = op.getBnSize();
    using namespace geometry;
    Value features = adaptor.getInput();
    Value x = tg.normRelu(name + ".norm1", name + ".relu1", features);
    if (bnSize > 0) {
      x = tg.conv(name + ".conv1", x, bottleneckChannels(growthRate, bnSize),
                  /*kernel=*/1, /*stride=*/1, /*padding=*/0);
      x = tg.normRelu(name + ".norm2", name + ".relu2", x);
      x = tg.conv(name + ".conv2", x, growthRate, kDenseConvKernel,
                  /*stride=*/1, kDenseConvPadding);
    } else {
      x = tg.conv(name + ".conv1", x, growthRate, kDenseConvKernel,
                  /*stride=*/1, kDenseConvPadding);
    }
    double rate = op.getDropRate().convertToDouble();
    if (rate > 0.0)
      x = tg.dropout(name + ".dropout", x, rate);
    // torchvision concatenates a layer's inputs when the next layer runs;
    // concatenating here instead gives each layer one input and the block a
    // chain of growing feature maps, the same tensors under other names.
    rewriter.replaceOp(op, tg.concat(name + ".concat", {features, x}));
    return success();
  }
};

struct DenseBlockLowering : DnLowering<dn::DenseBlockOp> {
  using DnLowering::DnLowering;
  LogicalResult
  matchAndRewrite(dn::DenseBlockOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Block &body = op.getBody().front();
    auto yield = cast<dn::YieldOp>(body.getTerminator());
    // The layers move out of the block in order; their own pattern lowers
    // them afterwards.
    Value output = yield.getFeatures();
    rewriter.inlineBlockBefore(&body, op, adaptor.getInput());
    rewriter.eraseOp(yield);
    rewriter.replaceOp(op, output);
    return success();
  }
};

struct TransitionLowering : DnLowering<dn::TransitionOp> {
  using DnLowering::DnLowering;
  LogicalResult
  matchAndRewrite(dn::TransitionOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    TgEmitter tg = emitter(rewriter, op);
    std::string name = op.getName().str();
    int64_t channels = op.getOutput().getType().getDimSize(1);
    using namespace geometry;
    Value x = tg.normRelu(name + ".norm", name + ".relu", adaptor.getInput());
    x = tg.conv(name + ".conv", x, channels, /*kernel=*/1, /*stride=*/1,
                /*padding=*/0);
    x = tg.pool<tg::AvgPoolOp>(name + ".pool", x, kTransitionPoolKernel,
                               kTransitionPoolStride, /*padding=*/0);
    rewriter.replaceOp(op, x);
    return success();
  }
};

struct ClassifierLowering : DnLowering<dn::ClassifierOp> {
  using DnLowering::DnLowering;
  LogicalResult
  matchAndRewrite(dn::ClassifierOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    TgEmitter tg = emitter(rewriter, op);
    // torchvision names the final batch norm `features.norm5` whatever the
    // number of blocks, so state dicts of CIFAR models use it too.
    Value x = tg.normRelu("features.norm5", "features.relu5",
                          adaptor.getInput());
    x = tg.globalAvgPool("features.avgpool", x);
    x = tg.linear(op.getName(), x, op.getOutput().getType().getDimSize(1));
    rewriter.replaceOp(op, x);
    return success();
  }
};

struct DnLowerToTgPass
    : densenet::impl::DnLowerToTgBase<DnLowerToTgPass> {
  void runOnOperation() override {
    MLIRContext *context = &getContext();
    ConversionTarget target(*context);
    target.addIllegalDialect<dn::DNDialect>();
    target.addLegalDialect<tg::TGDialect>();
    // func ops and anything else outside dn stay as they are.
    target.markUnknownOpDynamicallyLegal([](Operation *) { return true; });

    RewritePatternSet patterns(context);
    patterns.add<StemLowering, DenseBlockLowering, DenseLayerLowering,
                 TransitionLowering, ClassifierLowering>(context);
    if (failed(applyPartialConversion(getOperation(), target,
                                      std::move(patterns))))
      return signalPassFailure();
  }
};

} // namespace
