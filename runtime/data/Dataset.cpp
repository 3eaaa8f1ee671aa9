//===- Dataset.cpp - Checks and random numbers shared by the data sets ----===//

#include "runtime/data/Dataset.h"

#include <cmath>
#include <string>

namespace densenet::data {

int64_t ImageShape::pixels() const {
  return static_cast<int64_t>(channels) * height * width;
}

// The splitmix64 finalizer: every input bit affects every output bit, which is
// all a counter-based generator needs.
static uint64_t mixBits(uint64_t value) {
  value = (value ^ (value >> 30)) * 0xbf58476d1ce4e5b9ULL;
  value = (value ^ (value >> 27)) * 0x94d049bb133111ebULL;
  return value ^ (value >> 31);
}

uint64_t hashWords(std::initializer_list<uint64_t> words) {
  // Folding each word through the mixer (rather than xoring them together)
  // keeps (a, b) and (b, a) apart, and the golden-ratio increment keeps a run
  // of zero words from hashing to zero.
  uint64_t state = 0x6a09e667f3bcc908ULL;
  for (uint64_t word : words)
    state = mixBits(state + 0x9e3779b97f4a7c15ULL + word);
  return mixBits(state + words.size());
}

void checkSplit(const Dataset &dataset, const Split &split,
                const std::string &what) {
  const std::string prefix =
      "data set '" + dataset.name + "', " + what + " split: ";
  const ImageShape &shape = dataset.shape;
  if (shape.channels <= 0 || shape.height <= 0 || shape.width <= 0)
    throw DataError(prefix + "image shape " + std::to_string(shape.channels) +
                    "x" + std::to_string(shape.height) + "x" +
                    std::to_string(shape.width) +
                    " is not positive; the loader that built it is broken");
  if (double(shape.channels) * shape.height * shape.width > 1e12)
    throw DataError(prefix + "image shape " + std::to_string(shape.channels) +
                    "x" + std::to_string(shape.height) + "x" +
                    std::to_string(shape.width) + " is too large");
  // Labels are stored as u16.
  if (dataset.classes <= 0 || dataset.classes > 65536)
    throw DataError(prefix + "class count " + std::to_string(dataset.classes) +
                    " is outside [1, 65536]");
  if (dataset.mean.size() != static_cast<size_t>(shape.channels) ||
      dataset.stddev.size() != static_cast<size_t>(shape.channels))
    throw DataError(
        prefix + "normalization has " + std::to_string(dataset.mean.size()) +
        " means and " + std::to_string(dataset.stddev.size()) +
        " standard deviations for " + std::to_string(shape.channels) +
        " channels; give one of each per channel");
  for (int channel = 0; channel < shape.channels; ++channel)
    if (!std::isfinite(dataset.mean[channel]) ||
        !std::isfinite(dataset.stddev[channel]) ||
        !(dataset.stddev[channel] > 0))
      throw DataError(prefix + "normalization of channel " +
                      std::to_string(channel) + " (mean " +
                      std::to_string(dataset.mean[channel]) + ", stddev " +
                      std::to_string(dataset.stddev[channel]) +
                      ") needs a finite mean and a positive finite stddev");
  if (dataset.padding < 0)
    throw DataError(prefix + "padding " + std::to_string(dataset.padding) +
                    " is negative");
  if (split.count < 0)
    throw DataError(prefix + "sample count " + std::to_string(split.count) +
                    " is negative");
  const uint64_t expectedPixels =
      static_cast<uint64_t>(split.count) * shape.pixels();
  if (split.pixels.size() != expectedPixels)
    throw DataError(prefix + "holds " + std::to_string(split.pixels.size()) +
                    " pixel bytes, but " + std::to_string(split.count) +
                    " images of " + std::to_string(shape.pixels()) +
                    " pixels need " + std::to_string(expectedPixels));
  if (split.labels.size() != static_cast<uint64_t>(split.count))
    throw DataError(prefix + "holds " + std::to_string(split.labels.size()) +
                    " labels for " + std::to_string(split.count) + " images");
  for (size_t sample = 0; sample < split.labels.size(); ++sample)
    if (split.labels[sample] >= dataset.classes)
      throw DataError(prefix + "sample " + std::to_string(sample) +
                      " has label " + std::to_string(split.labels[sample]) +
                      ", but there are only " +
                      std::to_string(dataset.classes) + " classes");
}

} // namespace densenet::data
