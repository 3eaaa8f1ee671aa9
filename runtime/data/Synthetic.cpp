//===- Synthetic.cpp - Deterministic random images -----------------------===//
//
// Synthetic data lets the runtime be exercised at any image shape without
// downloads. Images are a blend of a per-class random template and per-image
// noise: random enough to stress real code paths, yet learnable, so a short
// training run can show the loss going down.
//
//===----------------------------------------------------------------------===//

#include "runtime/data/Dataset.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <new>

namespace densenet::data {

namespace {

// Purposes mixed into the hashes, so that templates, labels and noise of the
// two splits are independent streams of the same seed.
enum Purpose : uint64_t {
  kTemplate = 1,
  kTrainSamples = 2,
  kTestSamples = 3,
};

/// Fills `out` with bytes from the counter-based generator keyed by `key`;
/// one hash yields eight bytes, which keeps large synthetic sets cheap.
template <typename Key>
void fillRandomBytes(uint8_t *out, int64_t count, Key key) {
  for (int64_t start = 0; start < count; start += 8) {
    uint64_t bits = key(static_cast<uint64_t>(start / 8));
    for (int64_t byte = start; byte < count && byte < start + 8; ++byte) {
      out[byte] = static_cast<uint8_t>(bits);
      bits >>= 8;
    }
  }
}

Split makeSplit(const ImageShape &shape, int classes, int64_t count,
                uint64_t seed, Purpose purpose,
                const std::vector<uint8_t> &templates) {
  const int64_t pixels = shape.pixels();
  Split split;
  split.count = count;
  try {
    split.pixels.resize(static_cast<size_t>(count * pixels));
    split.labels.resize(static_cast<size_t>(count));
  } catch (const std::bad_alloc &) {
    throw DataError("cannot allocate " + std::to_string(count * pixels) +
                    " bytes for " + std::to_string(count) +
                    " synthetic images; ask for fewer samples");
  }
  std::vector<uint8_t> noise(pixels);
  for (int64_t sample = 0; sample < count; ++sample) {
    const int label = static_cast<int>(
        hashWords({seed, purpose, static_cast<uint64_t>(sample), 0}) %
        static_cast<uint64_t>(classes));
    split.labels[sample] = static_cast<uint16_t>(label);
    fillRandomBytes(noise.data(), pixels, [&](uint64_t block) {
      return hashWords(
          {seed, purpose, static_cast<uint64_t>(sample), 1, block});
    });
    const uint8_t *classTemplate = templates.data() + label * pixels;
    uint8_t *image = split.pixels.data() + sample * pixels;
    for (int64_t pixel = 0; pixel < pixels; ++pixel)
      image[pixel] = static_cast<uint8_t>(
          (int(classTemplate[pixel]) + int(noise[pixel]) + 1) / 2);
  }
  return split;
}

} // namespace

Dataset makeSynthetic(ImageShape shape, int classes, int64_t trainCount,
                      int64_t testCount, uint64_t seed) {
  if (shape.channels <= 0 || shape.height <= 0 || shape.width <= 0)
    throw DataError(
        "synthetic data: image shape " + std::to_string(shape.channels) + "x" +
        std::to_string(shape.height) + "x" + std::to_string(shape.width) +
        " must have positive channels, height and width");
  if (classes < 1 || classes > 65536)
    throw DataError("synthetic data: " + std::to_string(classes) +
                    " classes is outside [1, 65536]");
  if (trainCount < 0 || testCount < 0)
    throw DataError("synthetic data: sample counts (train " +
                    std::to_string(trainCount) + ", test " +
                    std::to_string(testCount) + ") must not be negative");
  // Checked in floating point first, since the product of three large ints
  // overflows int64.
  if (double(shape.channels) * shape.height * shape.width > 1e12)
    throw DataError("synthetic data: image shape " +
                    std::to_string(shape.channels) + "x" +
                    std::to_string(shape.height) + "x" +
                    std::to_string(shape.width) + " is too large");
  const int64_t pixels = shape.pixels();
  const int64_t largest = std::max(trainCount, testCount);
  if (largest > std::numeric_limits<int64_t>::max() / pixels)
    throw DataError("synthetic data: " + std::to_string(largest) +
                    " images of " + std::to_string(pixels) +
                    " pixels do not fit in memory; ask for fewer samples");

  Dataset dataset;
  dataset.name = "synthetic";
  dataset.shape = shape;
  dataset.classes = classes;
  dataset.padding = 0;
  dataset.horizontalFlip = false;

  std::vector<uint8_t> templates;
  try {
    templates.resize(static_cast<size_t>(classes * pixels));
  } catch (const std::bad_alloc &) {
    throw DataError("synthetic data: cannot allocate the class templates; "
                    "use smaller images or fewer classes");
  }
  fillRandomBytes(templates.data(), classes * pixels, [&](uint64_t block) {
    return hashWords({seed, kTemplate, block});
  });
  dataset.train =
      makeSplit(shape, classes, trainCount, seed, kTrainSamples, templates);
  dataset.test =
      makeSplit(shape, classes, testCount, seed, kTestSamples, templates);

  // Measure the normalization on the data (train, or test when there is no
  // train split) so normalized synthetic inputs look like normalized real
  // ones: mean 0 and stddev 1 per channel.
  const Split &measured = trainCount > 0 ? dataset.train : dataset.test;
  const int64_t planeSize = int64_t(shape.height) * shape.width;
  for (int channel = 0; channel < shape.channels; ++channel) {
    double sum = 0, sumOfSquares = 0;
    for (int64_t sample = 0; sample < measured.count; ++sample) {
      const uint8_t *plane =
          measured.pixels.data() + sample * pixels + channel * planeSize;
      for (int64_t pixel = 0; pixel < planeSize; ++pixel) {
        const double value = plane[pixel] / 255.0;
        sum += value;
        sumOfSquares += value * value;
      }
    }
    const double values = double(measured.count) * planeSize;
    double mean = 0.5, stddev = 0.25;
    if (values > 0) {
      mean = sum / values;
      const double variance = sumOfSquares / values - mean * mean;
      // Constant data (one image, one class) has no spread to normalize by.
      if (variance > 1e-12)
        stddev = std::sqrt(variance);
    }
    dataset.mean.push_back(static_cast<float>(mean));
    dataset.stddev.push_back(static_cast<float>(stddev));
  }
  checkSplit(dataset, dataset.train, "train");
  checkSplit(dataset, dataset.test, "test");
  return dataset;
}

} // namespace densenet::data
