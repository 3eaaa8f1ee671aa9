//===- ModelSpec.h - DenseNet model description -----------------*- C++ -*-===//
//
// What a user says about a network (model.json, a preset, command-line
// overrides), parsed and validated before any IR exists: every error a user
// can make in a model description is reported here, with the field, the
// valid range and a suggestion.
//
//===----------------------------------------------------------------------===//

#ifndef DENSENET_COMPILER_MODELSPEC_H
#define DENSENET_COMPILER_MODELSPEC_H

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace densenet {

enum class StemKind { ImageNet, Cifar };
enum class DType { F32, BF16, F16 };

llvm::StringRef stringifyStemKind(StemKind kind);
llvm::StringRef stringifyDType(DType dtype);
/// Bytes of one activation element of `dtype`.
int64_t dtypeBytes(DType dtype);

struct InputShape {
  int64_t channels = 3;
  int64_t height = 224;
  int64_t width = 224;
  bool operator==(const InputShape &other) const {
    return channels == other.channels && height == other.height &&
           width == other.width;
  }
};

/// A resolved model description. The defaults are torchvision's
/// `DenseNet()` constructor (DenseNet-121 on ImageNet) at batch 64, f32.
struct ModelSpec {
  std::string name = "densenet";
  InputShape input;
  int64_t numClasses = 1000;
  int64_t growthRate = 32;
  std::vector<int64_t> blockConfig = {6, 12, 24, 16};
  int64_t numInitFeatures = 64;
  int64_t bnSize = 4;
  double compression = 0.5;
  double dropRate = 0.0;
  StemKind stem = StemKind::ImageNet;
  int64_t batchSize = 64;
  DType dtype = DType::F32;
};

/// Flags that override the file or preset, applied in this order: dataset,
/// then input and classes, then batch size and dtype.
struct SpecOverrides {
  std::optional<std::string> dataset;
  std::optional<InputShape> input;
  std::optional<int64_t> numClasses;
  std::optional<int64_t> batchSize;
  std::optional<DType> dtype;
};

/// A dataset `--dataset` knows the shape of.
struct DatasetShape {
  llvm::StringRef name;
  InputShape input;
  int64_t numClasses;
};
llvm::ArrayRef<DatasetShape> getKnownDatasets();

struct Preset {
  llvm::StringRef name;
  llvm::StringRef description;
  ModelSpec spec;
};
/// The built-in models, in the order `--list-models` prints them.
llvm::ArrayRef<Preset> getPresets();
/// The preset called `name`, or an error listing the valid names.
llvm::Expected<ModelSpec> getPresetSpec(llvm::StringRef name);

/// Parses and validates model.json text; `origin` names it in messages.
llvm::Expected<ModelSpec> parseModelSpec(llvm::StringRef text,
                                         llvm::StringRef origin);
/// Reads, parses and validates a model.json file.
llvm::Expected<ModelSpec> loadModelSpec(llvm::StringRef path);

/// Applies command-line overrides, then validates the result.
llvm::Error applyOverrides(ModelSpec &spec, const SpecOverrides &overrides);

/// Range and consistency checks, including that the input survives the stem
/// and every transition. Every ModelSpec the front end returns passed this.
llvm::Error validateModelSpec(const ModelSpec &spec);

/// Feature-map shape after each stage of the network.
struct StageShape {
  std::string name; // "features.conv0", "features.denseblock1", ...
  int64_t channels, height, width;
};
/// Shapes through stem, blocks and transitions, or an error naming the
/// first stage whose spatial size reaches zero.
llvm::Expected<std::vector<StageShape>>
computeStageShapes(const ModelSpec &spec);

/// The resolved spec in model.json form (every field present).
nlohmann::ordered_json modelSpecToJson(const ModelSpec &spec);

/// Flag parsers shared by the tools: "3x32x32", "bf16".
llvm::Expected<InputShape> parseInputShape(llvm::StringRef text);
llvm::Expected<DType> parseDType(llvm::StringRef text);

/// Shortest form of a number as a user would write it: 0.5, 1, 1e-05.
std::string formatNumber(double value);

/// "did you mean 'x'?" support: the closest candidate within a small edit
/// distance, or an empty string.
std::string closestMatch(llvm::StringRef word,
                         llvm::ArrayRef<llvm::StringRef> candidates);

} // namespace densenet

#endif // DENSENET_COMPILER_MODELSPEC_H
