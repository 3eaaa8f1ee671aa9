//===- BuildDn.cpp - Model spec to dn IR ----------------------------------===//

#include "compiler/BuildDn.h"

#include "dialects/Common/Shapes.h"
#include "dialects/DN/DNOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"

using namespace mlir;
using namespace densenet;

static Type activationType(MLIRContext &context, DType dtype) {
  switch (dtype) {
  case DType::F32:
    return Float32Type::get(&context);
  case DType::BF16:
    return BFloat16Type::get(&context);
  case DType::F16:
    return Float16Type::get(&context);
  }
  llvm_unreachable("unknown dtype");
}

llvm::Expected<OwningOpRef<ModuleOp>>
densenet::buildDnModule(MLIRContext &context, const ModelSpec &spec) {
  if (llvm::Error error = validateModelSpec(spec))
    return std::move(error);
  context.loadDialect<dn::DNDialect, func::FuncDialect>();
  llvm::Expected<std::vector<StageShape>> stages = computeStageShapes(spec);
  if (!stages)
    return stages.takeError();

  Type element = activationType(context, spec.dtype);
  int64_t batch = spec.batchSize;
  auto featureMap = [&](int64_t channels, int64_t height, int64_t width) {
    return RankedTensorType::get({batch, channels, height, width}, element);
  };
  auto featureMapOf = [&](const StageShape &stage) {
    return featureMap(stage.channels, stage.height, stage.width);
  };

  OpBuilder builder(&context);
  Location loc = builder.getUnknownLoc();
  OwningOpRef<ModuleOp> module = ModuleOp::create(loc);
  builder.setInsertionPointToEnd(module->getBody());

  auto inputType = featureMap(spec.input.channels, spec.input.height,
                              spec.input.width);
  auto logitsType = RankedTensorType::get({batch, spec.numClasses}, element);
  auto function = builder.create<func::FuncOp>(
      loc, spec.name, builder.getFunctionType({inputType}, {logitsType}));
  Block *entry = function.addEntryBlock();
  builder.setInsertionPointToStart(entry);

  auto stage = stages->begin();
  auto stemKind = spec.stem == StemKind::ImageNet ? dn::StemKind::imagenet
                                                  : dn::StemKind::cifar;
  Value x = builder.create<dn::StemOp>(loc, featureMapOf(*stage++), "features",
                                       stemKind, entry->getArgument(0));

  for (size_t block = 0; block < spec.blockConfig.size(); ++block) {
    std::string blockName = "features.denseblock" + std::to_string(block + 1);
    auto denseBlock = builder.create<dn::DenseBlockOp>(
        loc, featureMapOf(*stage++), blockName, x);
    Block *body = builder.createBlock(&denseBlock.getBody(), {},
                                      {x.getType()}, {loc});
    Value features = body->getArgument(0);
    auto featureType = cast<RankedTensorType>(x.getType());
    for (int64_t layer = 0; layer < spec.blockConfig[block]; ++layer) {
      std::string layerName =
          blockName + ".denselayer" + std::to_string(layer + 1);
      auto grown = featureMap(featureType.getDimSize(1) +
                                  (layer + 1) * spec.growthRate,
                              featureType.getDimSize(2),
                              featureType.getDimSize(3));
      features = builder.create<dn::DenseLayerOp>(
          loc, grown, builder.getStringAttr(layerName), features,
          builder.getI64IntegerAttr(spec.bnSize),
          builder.getF64FloatAttr(spec.dropRate));
    }
    builder.create<dn::YieldOp>(loc, features);
    builder.setInsertionPointAfter(denseBlock);
    x = denseBlock.getOutput();

    if (block + 1 < spec.blockConfig.size())
      x = builder.create<dn::TransitionOp>(
          loc, featureMapOf(*stage++),
          builder.getStringAttr("features.transition" +
                                std::to_string(block + 1)),
          x, builder.getF64FloatAttr(spec.compression));
  }
  Value logits =
      builder.create<dn::ClassifierOp>(loc, logitsType, "classifier", x);
  builder.create<func::ReturnOp>(loc, logits);
  return std::move(module);
}
