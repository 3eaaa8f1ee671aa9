//===- ModelSpec.cpp - Parse and validate DenseNet model descriptions -----===//

#include "compiler/ModelSpec.h"
#include "compiler/Support.h"

#include "dialects/Common/Shapes.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/MemoryBuffer.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>

using namespace densenet;
using llvm::StringRef;
using Json = nlohmann::json;


std::string densenet::formatNumber(double value) {
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%g", value);
  return buffer;
}

//===----------------------------------------------------------------------===//
// Names and small parsers
//===----------------------------------------------------------------------===//

StringRef densenet::stringifyStemKind(StemKind kind) {
  return kind == StemKind::ImageNet ? "imagenet" : "cifar";
}

StringRef densenet::stringifyDType(DType dtype) {
  switch (dtype) {
  case DType::F32:
    return "f32";
  case DType::BF16:
    return "bf16";
  case DType::F16:
    return "f16";
  }
  llvm_unreachable("unknown dtype");
}

int64_t densenet::dtypeBytes(DType dtype) {
  return dtype == DType::F32 ? 4 : 2;
}

std::string densenet::closestMatch(StringRef word,
                                   llvm::ArrayRef<StringRef> candidates) {
  std::string best;
  unsigned bestDistance = std::max<unsigned>(2, word.size() / 3) + 1;
  for (StringRef candidate : candidates) {
    // A truncated name ("growth" for "growth_rate") is a near miss however
    // many characters are missing.
    unsigned distance =
        word.size() >= 3 && candidate.starts_with(word)
            ? 1
            : word.edit_distance(candidate, /*AllowReplacements=*/true,
                                 bestDistance);
    if (distance < bestDistance) {
      bestDistance = distance;
      best = candidate.str();
    }
  }
  return best;
}

/// "unknown X 'y' (did you mean 'z'?); valid: a, b".
static llvm::Error unknownChoice(const llvm::Twine &what, StringRef value,
                                 llvm::ArrayRef<StringRef> valid) {
  std::string message = (what + " '" + value + "'").str();
  std::string suggestion = closestMatch(value, valid);
  if (!suggestion.empty())
    message += " (did you mean '" + suggestion + "'?)";
  message += "; valid: " + llvm::join(valid, ", ");
  return makeError(message);
}

llvm::Expected<DType> densenet::parseDType(StringRef text) {
  for (DType dtype : {DType::F32, DType::BF16, DType::F16})
    if (text == stringifyDType(dtype))
      return dtype;
  return unknownChoice("unknown dtype", text, {"f32", "bf16", "f16"});
}

llvm::Expected<InputShape> densenet::parseInputShape(StringRef text) {
  llvm::SmallVector<StringRef, 3> parts;
  text.split(parts, 'x');
  int64_t values[3];
  bool ok = parts.size() == 3;
  for (size_t i = 0; ok && i < 3; ++i)
    ok = !parts[i].getAsInteger(10, values[i]) && values[i] > 0;
  if (!ok)
    return makeError("invalid input shape '" + text +
                     "': expected CxHxW with positive integers, e.g. 3x32x32");
  return InputShape{values[0], values[1], values[2]};
}

llvm::ArrayRef<DatasetShape> densenet::getKnownDatasets() {
  static const DatasetShape datasets[] = {
      {"cifar10", {3, 32, 32}, 10},
      {"fashion-mnist", {1, 28, 28}, 10},
  };
  return datasets;
}

//===----------------------------------------------------------------------===//
// JSON reading
//===----------------------------------------------------------------------===//

namespace {

/// Converts one JSON document into a ModelSpec, reporting the first problem
/// with the field's path (`input.height`, `block_config[2]`).
class SpecReader {
public:
  explicit SpecReader(StringRef origin) : origin(origin.str()) {}

  llvm::Expected<ModelSpec> read(const Json &document) {
    ModelSpec spec;
    if (!document.is_object())
      return fail("", "the model description must be a JSON object, got " +
                          describe(document));
    static const StringRef keys[] = {
        "name",        "input",      "num_classes",       "growth_rate",
        "block_config", "num_init_features", "bn_size",   "compression",
        "drop_rate",   "stem",       "batch_size",        "dtype"};
    if (llvm::Error error = checkKeys(document, keys, ""))
      return std::move(error);

    for (auto &[key, value] : document.items()) {
      llvm::Error error = llvm::Error::success();
      if (key == "name")
        error = readString(value, key, spec.name);
      else if (key == "input")
        error = readInput(value, spec.input);
      else if (key == "num_classes")
        error = readInteger(value, key, spec.numClasses);
      else if (key == "growth_rate")
        error = readInteger(value, key, spec.growthRate);
      else if (key == "block_config")
        error = readBlocks(value, spec.blockConfig);
      else if (key == "num_init_features")
        error = readInteger(value, key, spec.numInitFeatures);
      else if (key == "bn_size")
        error = readInteger(value, key, spec.bnSize);
      else if (key == "compression")
        error = readNumber(value, key, spec.compression);
      else if (key == "drop_rate")
        error = readNumber(value, key, spec.dropRate);
      else if (key == "stem")
        error = readStem(value, spec.stem);
      else if (key == "batch_size")
        error = readInteger(value, key, spec.batchSize);
      else if (key == "dtype")
        error = readDType(value, spec.dtype);
      if (error)
        return std::move(error);
    }
    return spec;
  }

private:
  llvm::Error fail(StringRef path, const llvm::Twine &message) {
    if (path.empty())
      return makeError(origin + ": " + message);
    return makeError(origin + ": field '" + path + "': " + message);
  }

  static std::string describe(const Json &value) {
    std::string text = value.dump();
    if (text.size() > 40)
      text = text.substr(0, 37) + "...";
    return std::string(value.type_name()) + " " + text;
  }

  llvm::Error checkKeys(const Json &object, llvm::ArrayRef<StringRef> valid,
                        StringRef parent) {
    for (auto &item : object.items()) {
      StringRef key = item.key();
      if (llvm::is_contained(valid, key))
        continue;
      std::string message = "unknown key '" + key.str() + "'";
      if (!parent.empty())
        message += " in '" + parent.str() + "'";
      std::string suggestion = closestMatch(key, valid);
      if (!suggestion.empty())
        message += " (did you mean '" + suggestion + "'?)";
      else
        message += "; valid keys: " + llvm::join(valid, ", ");
      return makeError(origin + ": " + message);
    }
    return llvm::Error::success();
  }

  llvm::Error readInteger(const Json &value, StringRef path, int64_t &out) {
    if (value.is_number_integer()) {
      // Unsigned values beyond int64 would wrap; the range check rejects
      // anything this large anyway.
      if (value.is_number_unsigned() &&
          value.get<uint64_t>() > uint64_t(INT64_MAX))
        return fail(path, "value " + value.dump() + " is too large");
      out = value.get<int64_t>();
      return llvm::Error::success();
    }
    return fail(path, "expected an integer, got " + describe(value));
  }

  llvm::Error readNumber(const Json &value, StringRef path, double &out) {
    if (!value.is_number())
      return fail(path, "expected a number, got " + describe(value));
    out = value.get<double>();
    return llvm::Error::success();
  }

  llvm::Error readString(const Json &value, StringRef path, std::string &out) {
    if (!value.is_string())
      return fail(path, "expected a string, got " + describe(value));
    out = value.get<std::string>();
    return llvm::Error::success();
  }

  llvm::Error readInput(const Json &value, InputShape &out) {
    if (!value.is_object())
      return fail("input",
                  "expected an object {\"channels\", \"height\", \"width\"}, "
                  "got " + describe(value));
    static const StringRef keys[] = {"channels", "height", "width"};
    if (llvm::Error error = checkKeys(value, keys, "input"))
      return error;
    for (StringRef key : keys)
      if (!value.contains(key.str()))
        return fail("input", "missing '" + key + "'");
    if (llvm::Error error =
            readInteger(value["channels"], "input.channels", out.channels))
      return error;
    if (llvm::Error error =
            readInteger(value["height"], "input.height", out.height))
      return error;
    return readInteger(value["width"], "input.width", out.width);
  }

  llvm::Error readBlocks(const Json &value, std::vector<int64_t> &out) {
    if (!value.is_array())
      return fail("block_config",
                  "expected an array of layer counts such as [6, 12, 24, 16], "
                  "got " + describe(value));
    out.clear();
    for (size_t i = 0; i < value.size(); ++i) {
      int64_t layers;
      if (llvm::Error error = readInteger(
              value[i], "block_config[" + std::to_string(i) + "]", layers))
        return error;
      out.push_back(layers);
    }
    return llvm::Error::success();
  }

  llvm::Error readStem(const Json &value, StemKind &out) {
    std::string text;
    if (llvm::Error error = readString(value, "stem", text))
      return error;
    if (text == "imagenet" || text == "cifar") {
      out = text == "imagenet" ? StemKind::ImageNet : StemKind::Cifar;
      return llvm::Error::success();
    }
    return fail("stem", llvm::toString(unknownChoice("unknown stem", text,
                                                     {"imagenet", "cifar"})));
  }

  llvm::Error readDType(const Json &value, DType &out) {
    std::string text;
    if (llvm::Error error = readString(value, "dtype", text))
      return error;
    llvm::Expected<DType> dtype = parseDType(text);
    if (!dtype)
      return fail("dtype", llvm::toString(dtype.takeError()));
    out = *dtype;
    return llvm::Error::success();
  }

  std::string origin;
};

/// The useful tail of nlohmann's "[json.exception.parse_error.101] parse
/// error at line 3, column 5: syntax error while parsing ...".
std::string jsonErrorText(const nlohmann::json::exception &error) {
  std::string what = error.what();
  size_t colon = what.find(": ");
  if (colon != std::string::npos)
    return what.substr(colon + 2);
  size_t bracket = what.find("] ");
  return bracket != std::string::npos ? what.substr(bracket + 2) : what;
}

/// 1-based line and column of a byte offset, for syntax errors.
std::pair<size_t, size_t> lineAndColumn(StringRef text, size_t offset) {
  offset = std::min(offset, text.size());
  StringRef before = text.take_front(offset);
  size_t line = before.count('\n') + 1;
  size_t lineStart = before.rfind('\n');
  size_t column = lineStart == StringRef::npos ? offset + 1
                                               : offset - lineStart;
  return {line, column};
}

} // namespace

llvm::Expected<ModelSpec> densenet::parseModelSpec(StringRef text,
                                                   StringRef origin) {
  // nlohmann keeps the last of two equal keys without a word; a model file
  // that says `growth_rate` twice is a mistake worth reporting, so the parser
  // callback tracks the keys of every open object.
  std::vector<llvm::StringSet<>> openObjects;
  std::string duplicate;
  // The JSON library parses any depth, but copying and printing a value
  // recurse (messages quote the offending value), so "[[[[..." 100000 deep
  // would overflow the stack. A model file needs two levels.
  constexpr int kMaxJsonDepth = 16;
  struct TooDeep {};
  auto callback = [&](int depth, Json::parse_event_t event, Json &parsed) {
    switch (event) {
    case Json::parse_event_t::object_start:
      if (depth >= kMaxJsonDepth)
        throw TooDeep();
      openObjects.emplace_back();
      break;
    case Json::parse_event_t::array_start:
      if (depth >= kMaxJsonDepth)
        throw TooDeep();
      break;
    case Json::parse_event_t::object_end:
      openObjects.pop_back();
      break;
    case Json::parse_event_t::key:
      if (!openObjects.back().insert(parsed.get<std::string>()).second &&
          duplicate.empty())
        duplicate = parsed.get<std::string>();
      break;
    default:
      break;
    }
    return true;
  };

  Json document;
  try {
    document = Json::parse(text.begin(), text.end(), callback);
  } catch (const Json::parse_error &error) {
    // nlohmann's byte is one past the offending character.
    size_t offset = error.byte > 0 ? error.byte - 1 : 0;
    auto [line, column] = lineAndColumn(text, offset);
    return makeError(origin + ":" + llvm::Twine(line) + ":" +
                     llvm::Twine(column) +
                     ": invalid JSON: " + jsonErrorText(error));
  } catch (const Json::exception &error) {
    // Numbers beyond a double's range (1e400) and the like: no position.
    return makeError(origin + ": invalid JSON: " + jsonErrorText(error));
  } catch (const TooDeep &) {
    return makeError(origin + ": invalid JSON: it nests more than " +
                     llvm::Twine(kMaxJsonDepth) +
                     " levels deep; a model file needs two");
  }
  if (!duplicate.empty())
    return makeError(origin + ": key '" + duplicate +
                     "' appears twice; keep one");

  llvm::Expected<ModelSpec> spec = SpecReader(origin).read(document);
  if (!spec)
    return spec.takeError();
  if (llvm::Error error = validateModelSpec(*spec))
    return makeError(origin + ": " + llvm::toString(std::move(error)));
  return spec;
}

llvm::Expected<ModelSpec> densenet::loadModelSpec(StringRef path) {
  llvm::ErrorOr<std::unique_ptr<llvm::MemoryBuffer>> buffer =
      llvm::MemoryBuffer::getFileOrSTDIN(path, /*IsText=*/true);
  if (!buffer)
    return makeError("cannot read model file '" + path +
                     "': " + buffer.getError().message());
  return parseModelSpec((*buffer)->getBuffer(), path == "-" ? "<stdin>" : path);
}

//===----------------------------------------------------------------------===//
// Overrides and validation
//===----------------------------------------------------------------------===//

llvm::Error densenet::applyOverrides(ModelSpec &spec,
                                     const SpecOverrides &overrides) {
  if (overrides.dataset) {
    const DatasetShape *match = nullptr;
    for (const DatasetShape &dataset : getKnownDatasets())
      if (dataset.name == *overrides.dataset)
        match = &dataset;
    if (!match) {
      llvm::SmallVector<StringRef> names = llvm::to_vector(llvm::map_range(
          getKnownDatasets(), [](const DatasetShape &d) { return d.name; }));
      return unknownChoice("unknown dataset", *overrides.dataset, names);
    }
    spec.input = match->input;
    spec.numClasses = match->numClasses;
  }
  if (overrides.input)
    spec.input = *overrides.input;
  if (overrides.numClasses)
    spec.numClasses = *overrides.numClasses;
  if (overrides.batchSize)
    spec.batchSize = *overrides.batchSize;
  if (overrides.dtype)
    spec.dtype = *overrides.dtype;
  return validateModelSpec(spec);
}

namespace {
/// Range checks with one message format: "<field> must be in [lo, hi], got v".
struct RangeChecker {
  std::string firstError;

  void integer(StringRef field, int64_t value, int64_t low, int64_t high) {
    if (firstError.empty() && (value < low || value > high))
      firstError = (field + " must be in [" + llvm::Twine(low) + ", " +
                    llvm::Twine(high) + "], got " + llvm::Twine(value))
                       .str();
  }

  void real(StringRef field, double value, bool lowOpen, double low,
            bool highOpen, double high) {
    bool below = lowOpen ? !(value > low) : !(value >= low);
    bool above = highOpen ? !(value < high) : !(value <= high);
    if (firstError.empty() && (below || above || std::isnan(value))) {
      std::string range = std::string(lowOpen ? "(" : "[") +
                          formatNumber(low) + ", " + formatNumber(high) +
                          (highOpen ? ")" : "]");
      firstError =
          (field + " must be in " + range + ", got " + formatNumber(value))
              .str();
    }
  }
};
} // namespace

// Limits that keep every size, byte count and FLOP count of the compiler
// inside int64 with room for the backward pass and recomputation.
static constexpr int64_t kMaxSpatial = 16384;
static constexpr int64_t kMaxChannels = 65536;
static constexpr int64_t kMaxBatch = 1 << 20;
static constexpr int64_t kMaxLayersPerBlock = 1024;
static constexpr int64_t kMaxBlocks = 16;
static constexpr double kMaxTensorElements = 1ull << 42;
static constexpr double kMaxForwardFlops = 1e18;

llvm::Error densenet::validateModelSpec(const ModelSpec &spec) {
  RangeChecker check;
  if (spec.name.empty() ||
      llvm::any_of(spec.name, [](char c) { return !llvm::isPrint(c); }))
    return makeError("field 'name' must be a non-empty string of printable "
                     "ASCII characters");
  check.integer("input.channels", spec.input.channels, 1, kMaxChannels);
  check.integer("input.height", spec.input.height, 1, kMaxSpatial);
  check.integer("input.width", spec.input.width, 1, kMaxSpatial);
  check.integer("num_classes", spec.numClasses, 2, 1 << 20);
  check.integer("growth_rate", spec.growthRate, 1, 4096);
  check.integer("num_init_features", spec.numInitFeatures, 1, kMaxChannels);
  check.integer("bn_size", spec.bnSize, 0, 64);
  check.real("compression", spec.compression, /*lowOpen=*/true, 0.0,
             /*highOpen=*/false, 1.0);
  check.real("drop_rate", spec.dropRate, false, 0.0, true, 1.0);
  check.integer("batch_size", spec.batchSize, 1, kMaxBatch);
  if (spec.blockConfig.empty() && check.firstError.empty())
    check.firstError = "block_config must list at least one block";
  check.integer("number of blocks in block_config",
                static_cast<int64_t>(spec.blockConfig.size()), 1, kMaxBlocks);
  for (size_t i = 0; i < spec.blockConfig.size(); ++i)
    check.integer("block_config[" + std::to_string(i) + "]",
                  spec.blockConfig[i], 1, kMaxLayersPerBlock);
  if (!check.firstError.empty())
    return makeError(check.firstError);
  llvm::Expected<std::vector<StageShape>> shapes = computeStageShapes(spec);
  if (!shapes)
    return shapes.takeError();
  // Training-mode batch norm needs two values per channel for a variance;
  // the last block has the smallest spatial size.
  const StageShape &last = shapes->back();
  if (spec.batchSize * last.height * last.width < 2)
    return makeError("batch norm in " + last.name +
                     " would see 1 value per channel (batch 1 at " +
                     llvm::Twine(last.height) + "x" + llvm::Twine(last.width) +
                     "), which has no batch variance; use a batch size of at "
                     "least 2");
  return llvm::Error::success();
}

llvm::Expected<std::vector<StageShape>>
densenet::computeStageShapes(const ModelSpec &spec) {
  std::vector<StageShape> stages;
  int64_t height = spec.input.height, width = spec.input.width;
  double forwardFlops = 0;
  // Bounds the sizes of one convolution at the current spatial size.
  auto account = [&](const std::string &name, int64_t in, int64_t out,
                     int64_t kernel) -> llvm::Error {
    double pixels = double(spec.batchSize) * height * width;
    forwardFlops += 2.0 * pixels * out * in * kernel * kernel;
    if (pixels * std::max(in, out) > kMaxTensorElements)
      return makeError("the model is too large: a tensor at " + name +
                       " would hold more than 2^42 elements");
    if (forwardFlops > kMaxForwardFlops)
      return makeError("the model is too large: more than 1e18 FLOPs per "
                       "forward pass by " + name);
    return llvm::Error::success();
  };
  auto window = [&](int64_t kernel, int64_t stride, int64_t padding) {
    height = windowOutputSize(height, kernel, stride, padding);
    width = windowOutputSize(width, kernel, stride, padding);
  };

  using namespace geometry;
  if (double(spec.batchSize) * spec.input.channels * height * width >
      kMaxTensorElements)
    return makeError("the model is too large: the input batch would hold "
                     "more than 2^42 elements");
  int64_t channels = spec.numInitFeatures;
  if (spec.stem == StemKind::ImageNet) {
    window(kImageNetConvKernel, kImageNetConvStride, kImageNetConvPadding);
    if (llvm::Error error = account("features.conv0", spec.input.channels,
                                    channels, kImageNetConvKernel))
      return std::move(error);
    window(kImageNetPoolKernel, kImageNetPoolStride, kImageNetPoolPadding);
  } else {
    window(kCifarConvKernel, kCifarConvStride, kCifarConvPadding);
    if (llvm::Error error = account("features.conv0", spec.input.channels,
                                    channels, kCifarConvKernel))
      return std::move(error);
  }
  stages.push_back({"features.conv0", channels, height, width});

  int64_t bottleneck = bottleneckChannels(spec.growthRate, spec.bnSize);
  for (size_t block = 0; block < spec.blockConfig.size(); ++block) {
    std::string blockName = "features.denseblock" + std::to_string(block + 1);
    for (int64_t layer = 0; layer < spec.blockConfig[block]; ++layer) {
      llvm::Error error =
          bottleneck > 0
              ? llvm::joinErrors(
                    account(blockName, channels, bottleneck, 1),
                    account(blockName, bottleneck, spec.growthRate, 3))
              : account(blockName, channels, spec.growthRate, 3);
      if (error)
        return std::move(error);
      channels += spec.growthRate;
    }
    stages.push_back({blockName, channels, height, width});
    if (block + 1 == spec.blockConfig.size())
      break;

    std::string transition = "features.transition" + std::to_string(block + 1);
    int64_t reduced = transitionChannels(channels, spec.compression);
    if (reduced <= 0)
      return makeError(transition + ": compression " +
                       formatNumber(spec.compression) +
                       " leaves no channels of " + llvm::Twine(channels));
    if (llvm::Error error = account(transition, channels, reduced, 1))
      return std::move(error);
    channels = reduced;
    int64_t inHeight = height, inWidth = width;
    window(kTransitionPoolKernel, kTransitionPoolStride, /*padding=*/0);
    if (height <= 0 || width <= 0)
      return makeError(
          "input " + llvm::Twine(spec.input.height) + "x" +
          llvm::Twine(spec.input.width) + " is too small for the " +
          stringifyStemKind(spec.stem) + " stem and " +
          llvm::Twine(spec.blockConfig.size() - 1) +
          " transitions: the spatial size reaches 0 at " + transition +
          " (its input is " + llvm::Twine(inHeight) + "x" +
          llvm::Twine(inWidth) +
          "); use a larger input" +
          (spec.stem == StemKind::ImageNet
               ? ", fewer blocks, or the cifar stem"
               : " or fewer blocks"));
    stages.push_back({transition, channels, height, width});
  }
  return stages;
}

nlohmann::ordered_json densenet::modelSpecToJson(const ModelSpec &spec) {
  return nlohmann::ordered_json{
      {"name", spec.name},
      {"input",
       {{"channels", spec.input.channels},
        {"height", spec.input.height},
        {"width", spec.input.width}}},
      {"num_classes", spec.numClasses},
      {"growth_rate", spec.growthRate},
      {"block_config", spec.blockConfig},
      {"num_init_features", spec.numInitFeatures},
      {"bn_size", spec.bnSize},
      {"compression", spec.compression},
      {"drop_rate", spec.dropRate},
      {"stem", stringifyStemKind(spec.stem).str()},
      {"batch_size", spec.batchSize},
      {"dtype", stringifyDType(spec.dtype).str()},
  };
}
