//===- Presets.cpp - Built-in DenseNet architectures ----------------------===//
//
// The torchvision models are exactly torchvision's (`torchvision.models.
// densenet121` ...): same layers, names and parameter counts. The BC models
// are Huang et al. 2017's CIFAR networks; tf-densenet121-cifar is the model
// the TensorFlow memory-efficient DenseNet benchmarks on a 12 GB GPU.
//
//===----------------------------------------------------------------------===//

#include "compiler/ModelSpec.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringExtras.h"

using namespace densenet;

static ModelSpec imageNetModel(llvm::StringRef name, int64_t growthRate,
                               std::vector<int64_t> blocks,
                               int64_t initFeatures) {
  ModelSpec spec;
  spec.name = name.str();
  spec.growthRate = growthRate;
  spec.blockConfig = std::move(blocks);
  spec.numInitFeatures = initFeatures;
  return spec;
}

/// DenseNet-BC for CIFAR (Huang et al. 2017, section 3): three blocks of
/// (depth - 4) / 6 bottleneck layers, 2k initial features, compression 0.5.
static ModelSpec cifarBcModel(llvm::StringRef name, int64_t depth,
                              int64_t growthRate) {
  ModelSpec spec;
  spec.name = name.str();
  spec.input = {3, 32, 32};
  spec.numClasses = 10;
  spec.growthRate = growthRate;
  int64_t layers = (depth - 4) / 6;
  spec.blockConfig = {layers, layers, layers};
  spec.numInitFeatures = 2 * growthRate;
  spec.stem = StemKind::Cifar;
  return spec;
}

static std::vector<Preset> buildPresets() {
  ModelSpec tfCifar = imageNetModel("tf-densenet121-cifar", 32,
                                    {6, 12, 24, 16}, 64);
  tfCifar.input = {3, 32, 32};
  tfCifar.numClasses = 10;
  return {
      {"densenet121", "torchvision DenseNet-121 (k=32, blocks 6/12/24/16)",
       imageNetModel("densenet121", 32, {6, 12, 24, 16}, 64)},
      {"densenet161", "torchvision DenseNet-161 (k=48, blocks 6/12/36/24)",
       imageNetModel("densenet161", 48, {6, 12, 36, 24}, 96)},
      {"densenet169", "torchvision DenseNet-169 (k=32, blocks 6/12/32/32)",
       imageNetModel("densenet169", 32, {6, 12, 32, 32}, 64)},
      {"densenet201", "torchvision DenseNet-201 (k=32, blocks 6/12/48/32)",
       imageNetModel("densenet201", 32, {6, 12, 48, 32}, 64)},
      {"densenet264", "DenseNet-264 (k=32, blocks 6/12/64/48), Huang et al.",
       imageNetModel("densenet264", 32, {6, 12, 64, 48}, 64)},
      {"densenet-bc-100", "DenseNet-BC L=100, k=12 on CIFAR (3 x 16 layers)",
       cifarBcModel("densenet-bc-100", 100, 12)},
      {"densenet-bc-250", "DenseNet-BC L=250, k=24 on CIFAR (3 x 41 layers)",
       cifarBcModel("densenet-bc-250", 250, 24)},
      {"densenet-bc-190", "DenseNet-BC L=190, k=40 on CIFAR (3 x 31 layers)",
       cifarBcModel("densenet-bc-190", 190, 40)},
      {"tf-densenet121-cifar",
       "DenseNet-121 with the ImageNet stem on 32x32 CIFAR-10, as in the "
       "TensorFlow memory-efficient DenseNet",
       tfCifar},
  };
}

llvm::ArrayRef<Preset> densenet::getPresets() {
  static const std::vector<Preset> presets = buildPresets();
  return presets;
}

llvm::Expected<ModelSpec> densenet::getPresetSpec(llvm::StringRef name) {
  for (const Preset &preset : getPresets())
    if (preset.name == name)
      return preset.spec;
  llvm::SmallVector<llvm::StringRef> names = llvm::to_vector(
      llvm::map_range(getPresets(), [](const Preset &p) { return p.name; }));
  std::string message = "unknown model '" + name.str() + "'";
  std::string suggestion = closestMatch(name, names);
  if (!suggestion.empty())
    message += " (did you mean '" + suggestion + "'?)";
  message += "; valid models: " + llvm::join(names, ", ") +
             " (densenetc --list-models describes them)";
  return llvm::createStringError(llvm::inconvertibleErrorCode(), message);
}
