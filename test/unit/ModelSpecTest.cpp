//===- ModelSpecTest.cpp - model.json parsing, validation, presets --------===//

#include "compiler/ModelSpec.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

using namespace densenet;

namespace {

/// Parses `text` and expects success.
ModelSpec parseOk(llvm::StringRef text) {
  llvm::Expected<ModelSpec> spec = parseModelSpec(text, "model.json");
  if (!spec) {
    ADD_FAILURE() << llvm::toString(spec.takeError());
    return ModelSpec();
  }
  return *spec;
}

/// Parses `text` and returns the error message ("" if it parsed).
std::string parseError(llvm::StringRef text) {
  llvm::Expected<ModelSpec> spec = parseModelSpec(text, "model.json");
  if (spec)
    return "";
  return llvm::toString(spec.takeError());
}

bool sameSpec(const ModelSpec &a, const ModelSpec &b) {
  return a.name == b.name && a.input == b.input &&
         a.numClasses == b.numClasses && a.growthRate == b.growthRate &&
         a.blockConfig == b.blockConfig &&
         a.numInitFeatures == b.numInitFeatures && a.bnSize == b.bnSize &&
         a.compression == b.compression && a.dropRate == b.dropRate &&
         a.stem == b.stem && a.batchSize == b.batchSize && a.dtype == b.dtype;
}

TEST(ModelSpec, EmptyObjectGivesTorchvisionDefaults) {
  ModelSpec spec = parseOk("{}");
  EXPECT_EQ(spec.name, "densenet");
  EXPECT_EQ(spec.input, (InputShape{3, 224, 224}));
  EXPECT_EQ(spec.numClasses, 1000);
  EXPECT_EQ(spec.growthRate, 32);
  EXPECT_EQ(spec.blockConfig, (std::vector<int64_t>{6, 12, 24, 16}));
  EXPECT_EQ(spec.numInitFeatures, 64);
  EXPECT_EQ(spec.bnSize, 4);
  EXPECT_DOUBLE_EQ(spec.compression, 0.5);
  EXPECT_DOUBLE_EQ(spec.dropRate, 0.0);
  EXPECT_EQ(spec.stem, StemKind::ImageNet);
  EXPECT_EQ(spec.batchSize, 64);
  EXPECT_EQ(spec.dtype, DType::F32);
}

TEST(ModelSpec, ReadsEveryField) {
  ModelSpec spec = parseOk(R"({
    "name": "mine", "input": {"channels": 1, "height": 28, "width": 30},
    "num_classes": 7, "growth_rate": 12, "block_config": [2, 3],
    "num_init_features": 24, "bn_size": 0, "compression": 1,
    "drop_rate": 0.2, "stem": "cifar", "batch_size": 5, "dtype": "bf16"})");
  EXPECT_EQ(spec.name, "mine");
  EXPECT_EQ(spec.input, (InputShape{1, 28, 30}));
  EXPECT_EQ(spec.numClasses, 7);
  EXPECT_EQ(spec.growthRate, 12);
  EXPECT_EQ(spec.blockConfig, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(spec.numInitFeatures, 24);
  EXPECT_EQ(spec.bnSize, 0);
  EXPECT_DOUBLE_EQ(spec.compression, 1.0);
  EXPECT_DOUBLE_EQ(spec.dropRate, 0.2);
  EXPECT_EQ(spec.stem, StemKind::Cifar);
  EXPECT_EQ(spec.batchSize, 5);
  EXPECT_EQ(spec.dtype, DType::BF16);
}

TEST(ModelSpec, ReportsSyntaxErrorsWithLineAndColumn) {
  std::string error = parseError("{\n  \"bn_size\": 4,\n  oops\n}");
  EXPECT_NE(error.find("model.json:3:3: invalid JSON"), std::string::npos)
      << error;
  EXPECT_NE(parseError("").find("model.json:1:1: invalid JSON"),
            std::string::npos);
}

TEST(ModelSpec, RejectsDeepNestingBeforeItOverflowsTheStack) {
  // Printing the value in "expected a string, got array [[[..." recursed
  // once per level: 100000 levels crashed densenetc (test/fuzz/regressions).
  const size_t depth = 100000;
  std::string deep = R"({"name": )" + std::string(depth, '[') +
                     std::string(depth, ']') + "}";
  EXPECT_EQ(parseError(deep),
            "model.json: invalid JSON: it nests more than 16 levels deep; a "
            "model file needs two");
  // Sixteen levels are still parsed, and refused for what they are.
  std::string sixteen =
      R"({"name": )" + std::string(15, '[') + std::string(15, ']') + "}";
  EXPECT_NE(parseError(sixteen).find("field 'name': expected a string"),
            std::string::npos)
      << parseError(sixteen);
}

TEST(ModelSpec, SuggestsNearestKey) {
  EXPECT_EQ(parseError(R"({"grwoth_rate": 12})"),
            "model.json: unknown key 'grwoth_rate' (did you mean "
            "'growth_rate'?)");
  EXPECT_EQ(parseError(R"({"block": [1]})"),
            "model.json: unknown key 'block' (did you mean 'block_config'?)");
}

TEST(ModelSpec, RejectsWrongTypes) {
  EXPECT_EQ(parseError(R"({"batch_size": true})"),
            "model.json: field 'batch_size': expected an integer, got boolean "
            "true");
  EXPECT_EQ(parseError(R"({"compression": "half"})"),
            "model.json: field 'compression': expected a number, got string "
            "\"half\"");
  EXPECT_EQ(parseError(R"({"name": 5})"),
            "model.json: field 'name': expected a string, got number 5");
  EXPECT_EQ(parseError(R"({"input": [3, 32, 32]})"),
            "model.json: field 'input': expected an object {\"channels\", "
            "\"height\", \"width\"}, got array [3,32,32]");
}

TEST(ModelSpec, RejectsOutOfRangeValues) {
  EXPECT_EQ(parseError(R"({"bn_size": -1})"),
            "model.json: bn_size must be in [0, 64], got -1");
  EXPECT_EQ(parseError(R"({"compression": 0})"),
            "model.json: compression must be in (0, 1], got 0");
  EXPECT_EQ(parseError(R"({"drop_rate": -0.5})"),
            "model.json: drop_rate must be in [0, 1), got -0.5");
  EXPECT_EQ(parseError(R"({"input": {"channels": 0, "height": 3, "width": 3}})"),
            "model.json: input.channels must be in [1, 65536], got 0");
  // Larger than int64: refused, not wrapped to a negative number.
  EXPECT_EQ(parseError(R"({"batch_size": 18446744073709551615})"),
            "model.json: field 'batch_size': value 18446744073709551615 is "
            "too large");
  EXPECT_EQ(parseError(R"({"name": ""})"),
            "model.json: field 'name' must be a non-empty string of printable "
            "ASCII characters");
}

TEST(ModelSpec, NamesTheTransitionWhereTheInputRunsOut) {
  // 64x64 with the ImageNet stem: 16x16 after the stem, then 8, 4, 2, 1, 0.
  std::string error = parseError(
      R"({"input": {"channels": 3, "height": 64, "width": 64},
          "block_config": [1, 1, 1, 1, 1, 1]})");
  EXPECT_NE(error.find("the spatial size reaches 0 at features.transition5 "
                       "(its input is 1x1)"),
            std::string::npos)
      << error;
}

TEST(ModelSpec, StageShapesOfDenseNet121) {
  llvm::Expected<ModelSpec> spec = getPresetSpec("densenet121");
  ASSERT_TRUE(bool(spec));
  llvm::Expected<std::vector<StageShape>> stages = computeStageShapes(*spec);
  ASSERT_TRUE(bool(stages));
  std::vector<std::tuple<std::string, int64_t, int64_t>> expected = {
      {"features.conv0", 64, 56},        {"features.denseblock1", 256, 56},
      {"features.transition1", 128, 28}, {"features.denseblock2", 512, 28},
      {"features.transition2", 256, 14}, {"features.denseblock3", 1024, 14},
      {"features.transition3", 512, 7},  {"features.denseblock4", 1024, 7}};
  ASSERT_EQ(stages->size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ((*stages)[i].name, std::get<0>(expected[i]));
    EXPECT_EQ((*stages)[i].channels, std::get<1>(expected[i]));
    EXPECT_EQ((*stages)[i].height, std::get<2>(expected[i]));
    EXPECT_EQ((*stages)[i].width, std::get<2>(expected[i]));
  }
}

TEST(ModelSpec, OverridesApplyDatasetThenShapeThenRest) {
  ModelSpec spec = *getPresetSpec("densenet-bc-100");
  SpecOverrides overrides;
  overrides.dataset = "fashion-mnist";
  overrides.numClasses = 5;
  overrides.batchSize = 3;
  overrides.dtype = DType::F16;
  ASSERT_FALSE(bool(applyOverrides(spec, overrides)));
  EXPECT_EQ(spec.input, (InputShape{1, 28, 28}));
  EXPECT_EQ(spec.numClasses, 5);
  EXPECT_EQ(spec.batchSize, 3);
  EXPECT_EQ(spec.dtype, DType::F16);

  SpecOverrides bad;
  bad.dataset = "imagenet";
  llvm::Error error = applyOverrides(spec, bad);
  ASSERT_TRUE(bool(error));
  EXPECT_EQ(llvm::toString(std::move(error)),
            "unknown dataset 'imagenet'; valid: cifar10, fashion-mnist");
}

TEST(ModelSpec, EveryPresetIsValidAndRoundTripsThroughJson) {
  for (const Preset &preset : getPresets()) {
    SCOPED_TRACE(preset.name.str());
    EXPECT_FALSE(bool(validateModelSpec(preset.spec)));
    EXPECT_EQ(preset.spec.name, preset.name.str());
    std::string text = modelSpecToJson(preset.spec).dump();
    EXPECT_TRUE(sameSpec(parseOk(text), preset.spec)) << text;
  }
}

TEST(ModelSpec, HuangCifarPresets) {
  ModelSpec bc100 = *getPresetSpec("densenet-bc-100");
  EXPECT_EQ(bc100.blockConfig, (std::vector<int64_t>{16, 16, 16}));
  EXPECT_EQ(bc100.numInitFeatures, 24);
  EXPECT_EQ(bc100.stem, StemKind::Cifar);
  EXPECT_EQ(getPresetSpec("densenet-bc-250")->blockConfig,
            (std::vector<int64_t>{41, 41, 41}));
  EXPECT_EQ(getPresetSpec("densenet-bc-190")->numInitFeatures, 80);
}

TEST(ModelSpec, UnknownPresetListsNames) {
  llvm::Expected<ModelSpec> spec = getPresetSpec("densenet-bc-10");
  ASSERT_FALSE(bool(spec));
  std::string error = llvm::toString(spec.takeError());
  EXPECT_NE(error.find("did you mean 'densenet-bc-100'?"), std::string::npos)
      << error;
  EXPECT_NE(error.find("tf-densenet121-cifar"), std::string::npos);
}

TEST(FlagParsers, InputShapeAndDType) {
  llvm::Expected<InputShape> shape = parseInputShape("3x32x64");
  ASSERT_TRUE(bool(shape));
  EXPECT_EQ(*shape, (InputShape{3, 32, 64}));
  for (const char *bad : {"3x32", "3x32x0", "ax32x32", "3x32x32x1", "", "-3x2x2"}) {
    llvm::Expected<InputShape> result = parseInputShape(bad);
    EXPECT_FALSE(bool(result)) << bad;
    llvm::consumeError(result.takeError());
  }
  EXPECT_EQ(*parseDType("f16"), DType::F16);
  EXPECT_EQ(dtypeBytes(DType::BF16), 2);
  EXPECT_EQ(dtypeBytes(DType::F32), 4);
}

TEST(ClosestMatch, SuggestsOnlyNearMisses) {
  EXPECT_EQ(closestMatch("cifar", {"cifar10", "fashion-mnist"}), "cifar10");
  EXPECT_EQ(closestMatch("bn_szie", {"bn_size", "batch_size"}), "bn_size");
  EXPECT_EQ(closestMatch("optimizer", {"bn_size", "stem"}), "");
}

} // namespace
