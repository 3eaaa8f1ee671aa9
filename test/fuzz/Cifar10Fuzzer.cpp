//===- Cifar10Fuzzer.cpp - libFuzzer target: CIFAR-10 batch records -------===//
//
// Feeds arbitrary bytes to appendCifar10Records (runtime/data/Readers.h), the
// parser loadCifar10 runs on each batch file once it has checked the file's
// size, then checks the split as the loader does. A DataError is the
// documented rejection; a crash, a sanitizer report or any other exception
// escaping is a finding. The size check itself (exactly 10000 records per
// file) is not fuzzed: a 30 MB input per run would leave no time to fuzz.
//
//===----------------------------------------------------------------------===//

#include "runtime/data/Readers.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

using namespace densenet::data;

namespace {

[[noreturn]] void finding(const std::string &what) {
  std::fprintf(stderr, "cifar10 fuzz finding: %s\n", what.c_str());
  std::abort();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  // The dataset description loadCifar10 builds around the records.
  Dataset dataset;
  dataset.name = "cifar10";
  dataset.shape = {3, 32, 32};
  dataset.classes = 10;
  dataset.mean = {0.4914f, 0.4822f, 0.4465f};
  dataset.stddev = {0.2470f, 0.2435f, 0.2616f};

  Split split;
  try {
    appendCifar10Records(data, size, "fuzz.bin", split);
    checkSplit(dataset, split, "train");
  } catch (const DataError &) {
    return 0; // Rejected, as documented.
  }
  if (split.count * 3073 != static_cast<int64_t>(size))
    finding("accepted " + std::to_string(size) + " bytes as " +
            std::to_string(split.count) + " records");
  return 0;
}
