//===- FuzzRegressionTest.cpp - Fuzzed model.json inputs, replayed --------===//
//
// Every seed of test/fuzz/corpus/model-spec and every input that once crashed
// the model-spec fuzz target (test/fuzz/regressions/model-spec, committed
// with its fix) goes through parseModelSpec in the normal build: it must
// parse or return an error with a message. The runtime's parsers have the
// same test in runtime/FuzzRegressionTest.cpp.
//
//===----------------------------------------------------------------------===//

#include "compiler/ModelSpec.h"

#include "llvm/Support/MemoryBuffer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

using namespace densenet;
namespace fs = std::filesystem;

namespace {

TEST(FuzzRegression, ModelSpec) {
  std::vector<std::string> paths;
  for (const char *kind : {"corpus", "regressions"}) {
    const fs::path directory =
        fs::path(DENSENET_FUZZ_DIR) / kind / "model-spec";
    if (!fs::is_directory(directory))
      continue; // No regression inputs until a fuzzer finds something.
    for (const fs::directory_entry &entry : fs::directory_iterator(directory))
      if (entry.is_regular_file())
        paths.push_back(entry.path().string());
  }
  std::sort(paths.begin(), paths.end());
  ASSERT_FALSE(paths.empty()) << "no inputs under " << DENSENET_FUZZ_DIR;

  for (const std::string &path : paths) {
    SCOPED_TRACE(path);
    llvm::ErrorOr<std::unique_ptr<llvm::MemoryBuffer>> buffer =
        llvm::MemoryBuffer::getFile(path, /*IsText=*/false,
                                    /*RequiresNullTerminator=*/false);
    ASSERT_TRUE(bool(buffer)) << buffer.getError().message();
    llvm::Expected<ModelSpec> spec =
        parseModelSpec((*buffer)->getBuffer(), path);
    if (!spec) {
      EXPECT_FALSE(llvm::toString(spec.takeError()).empty());
    }
  }
}

} // namespace
