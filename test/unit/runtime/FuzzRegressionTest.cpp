//===- FuzzRegressionTest.cpp - Fuzz inputs replayed in the normal build --===//
//
// Every seed of test/fuzz/corpus/<target> and every input that once crashed
// a fuzz target (test/fuzz/regressions/<target>, committed with its fix) goes
// through the runtime parser that target fuzzes, built without sanitizers or
// libFuzzer: it must parse, or be refused with the parser's documented
// exception. A crash fails the test, as any other exception does.
//
//===----------------------------------------------------------------------===//

#include "format/PlanChecksum.h"
#include "runtime/data/Readers.h"
#include "runtime/io/Safetensors.h"
#include "runtime/plan/Plan.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

/// The corpus seeds and regression inputs of fuzz target `target`, sorted.
std::vector<std::string> inputsOf(const std::string &target) {
  std::vector<std::string> paths;
  for (const char *kind : {"corpus", "regressions"}) {
    const fs::path directory = fs::path(DENSENET_FUZZ_DIR) / kind / target;
    if (!fs::is_directory(directory))
      continue; // No regression inputs until a fuzzer finds something.
    for (const fs::directory_entry &entry : fs::directory_iterator(directory))
      if (entry.is_regular_file())
        paths.push_back(entry.path().string());
  }
  std::sort(paths.begin(), paths.end());
  return paths;
}

std::string contentsOf(const std::string &path) {
  std::ifstream file(path, std::ios::binary);
  std::stringstream contents;
  contents << file.rdbuf();
  EXPECT_TRUE(file.good() || file.eof()) << "cannot read " << path;
  return contents.str();
}

TEST(FuzzRegression, Plan) {
  const std::vector<std::string> paths = inputsOf("plan");
  ASSERT_FALSE(paths.empty()) << "no inputs under " << DENSENET_FUZZ_DIR;
  for (const std::string &path : paths) {
    SCOPED_TRACE(path);
    const std::string text = contentsOf(path);
    // As the fuzz target does: the input as it is, then resealed with the
    // checksum of its contents so that the verifier sees it too.
    std::vector<std::string> variants = {text};
    nlohmann::ordered_json json =
        nlohmann::ordered_json::parse(text, nullptr, false);
    if (json.is_object()) {
      json.erase("checksum");
      const std::string checksum = densenet::format::planChecksum(json.dump());
      json["checksum"] = checksum;
      variants.push_back(json.dump());
    }
    for (const std::string &variant : variants) {
      try {
        densenet::runtime::parsePlan(variant, path);
      } catch (const densenet::runtime::PlanError &) {
      }
    }
  }
}

TEST(FuzzRegression, FashionMnistIdx) {
  const std::vector<std::string> paths = inputsOf("idx");
  ASSERT_FALSE(paths.empty()) << "no inputs under " << DENSENET_FUZZ_DIR;
  for (const std::string &path : paths) {
    SCOPED_TRACE(path);
    try {
      std::vector<uint8_t> pixels;
      densenet::data::readFashionMnistImages(path, pixels);
    } catch (const densenet::data::DataError &) {
    }
    try {
      std::vector<uint16_t> labels;
      densenet::data::readFashionMnistLabels(path, labels);
    } catch (const densenet::data::DataError &) {
    }
  }
}

TEST(FuzzRegression, Cifar10Records) {
  const std::vector<std::string> paths = inputsOf("cifar10");
  ASSERT_FALSE(paths.empty()) << "no inputs under " << DENSENET_FUZZ_DIR;
  densenet::data::Dataset dataset;
  dataset.shape = {3, 32, 32};
  dataset.classes = 10;
  dataset.mean = {0.4914f, 0.4822f, 0.4465f};
  dataset.stddev = {0.2470f, 0.2435f, 0.2616f};
  for (const std::string &path : paths) {
    SCOPED_TRACE(path);
    const std::string bytes = contentsOf(path);
    densenet::data::Split split;
    try {
      densenet::data::appendCifar10Records(
          reinterpret_cast<const uint8_t *>(bytes.data()), bytes.size(), path,
          split);
      densenet::data::checkSplit(dataset, split, "train");
    } catch (const densenet::data::DataError &) {
    }
  }
}

TEST(FuzzRegression, Safetensors) {
  const std::vector<std::string> paths = inputsOf("safetensors");
  ASSERT_FALSE(paths.empty()) << "no inputs under " << DENSENET_FUZZ_DIR;
  for (const std::string &path : paths) {
    SCOPED_TRACE(path);
    const std::string bytes = contentsOf(path);
    try {
      densenet::io::parseSafetensors(
          reinterpret_cast<const uint8_t *>(bytes.data()), bytes.size(), path);
    } catch (const densenet::io::IoError &) {
    }
  }
}

} // namespace
