//===- IdxFuzzer.cpp - libFuzzer target: Fashion-MNIST IDX files ----------===//
//
// Feeds arbitrary bytes, as a file, to the Fashion-MNIST image and label
// readers (runtime/data/Readers.h), the code loadFashionMnist runs on each of
// its four files. The readers go through zlib's gz* functions, which read
// gzip-compressed and plain files alike, so one input exercises
// decompression errors and the IDX header checks. A DataError is the
// documented rejection; a crash, a sanitizer report or any other exception
// escaping is a finding.
//
// The bytes are written to a memfd, which the readers open by its
// /proc/self/fd path: a real file to zlib, but no file system to clean up.
//
//===----------------------------------------------------------------------===//

#include "runtime/data/Readers.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <sys/mman.h>
#include <unistd.h>

using namespace densenet::data;

namespace {

[[noreturn]] void finding(const std::string &what) {
  std::fprintf(stderr, "idx fuzz finding: %s\n", what.c_str());
  std::abort();
}

/// The path of a memfd holding `size` bytes at `data`.
std::string asFile(const uint8_t *data, size_t size) {
  static const int descriptor = memfd_create("densenet-idx-fuzz", 0);
  if (descriptor < 0)
    finding("memfd_create failed");
  if (ftruncate(descriptor, 0) != 0)
    finding("ftruncate failed");
  size_t written = 0;
  while (written < size) {
    ssize_t done = pwrite(descriptor, data + written, size - written,
                          static_cast<off_t>(written));
    if (done <= 0)
      finding("pwrite failed");
    written += static_cast<size_t>(done);
  }
  return "/proc/self/fd/" + std::to_string(descriptor);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const std::string path = asFile(data, size);

  try {
    std::vector<uint8_t> pixels;
    const int64_t images = readFashionMnistImages(path, pixels);
    if (images <= 0 || pixels.size() != static_cast<size_t>(images) * 28 * 28)
      finding("images accepted with " + std::to_string(pixels.size()) +
              " pixels for a count of " + std::to_string(images));
  } catch (const DataError &) {
    // Rejected, as documented.
  }

  try {
    std::vector<uint16_t> labels;
    const int64_t count = readFashionMnistLabels(path, labels);
    if (count <= 0 || labels.size() != static_cast<size_t>(count))
      finding("labels accepted with " + std::to_string(labels.size()) +
              " entries for a count of " + std::to_string(count));
    for (uint16_t label : labels)
      if (label >= 10)
        finding("label " + std::to_string(label) + " accepted");
  } catch (const DataError &) {
    // Rejected, as documented.
  }
  return 0;
}
