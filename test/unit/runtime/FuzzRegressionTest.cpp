//===- FuzzRegressionTest.cpp - Fuzz inputs replayed in the normal build --===//
//
// Every seed of test/fuzz/corpus/<target> and every input that once crashed
// a fuzz target (test/fuzz/regressions/<target>, committed with its fix) goes
// through the runtime parser that target fuzzes, built without sanitizers or
// libFuzzer: it must parse, or be refused with the parser's documented
// exception. A crash fails the test, as any other exception does.
//
//===----------------------------------------------------------------------===//

#include "runtime/data/Readers.h"
#include "runtime/io/Safetensors.h"
#include "runtime/plan/Plan.h"
#include "test/fuzz/ResealPlan.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <optional>
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
    if (std::optional<std::string> resealed = densenet::fuzz::resealPlan(text))
      variants.push_back(*resealed);
    for (const std::string &variant : variants) {
      try {
        densenet::runtime::parsePlan(variant, path);
      } catch (const densenet::runtime::PlanError &) {
      }
    }
  }
}

// The plan inputs that crashed the fuzz target before their fixes, each
// refused now with the reason a user should read.
TEST(FuzzRegression, PlanFindingsAreRefusedWithTheirReason) {
  const struct {
    const char *file;
    const char *reason;
  } findings[] = {
      // Copying and printing JSON recursed once per level.
      {"deep-nesting-checksum-copy.json",
       "not a plan file: its JSON nests more than 16 levels deep"},
      {"deep-nesting-in-message.json",
       "not a plan file: its JSON nests more than 16 levels deep"},
      // Sums of values from the file overflowed int64.
      {"overflow-peak-plus-reserve.json",
       "predicted_peak_bytes is 9223372036854775807 but the buffers' "
       "lifetimes give a peak of 36464 live bytes + 9223372036854775807 "
       "reserve = 9223372036854812271"},
      {"overflow-arena-plus-reserve.json",
       "arena_bytes + reserve_bytes exceed budget_bytes 9223372036854775807"},
      {"overflow-accumulate-offset.json",
       "channels [9223372036854775807, 9223372036854775810) of"},
      // One flag per declared channel: 2^40 of them.
      {"terabyte-channel-flags.json", "predicted_peak_bytes is"},
  };
  for (const auto &finding : findings) {
    SCOPED_TRACE(finding.file);
    const std::string text =
        contentsOf(std::string(DENSENET_FUZZ_DIR) + "/regressions/plan/" +
                   finding.file);
    std::optional<std::string> resealed = densenet::fuzz::resealPlan(text);
    try {
      densenet::runtime::parsePlan(resealed ? *resealed : text, finding.file);
      ADD_FAILURE() << "accepted";
    } catch (const densenet::runtime::PlanError &error) {
      EXPECT_NE(std::string(error.what()).find(finding.reason),
                std::string::npos)
          << error.what();
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
