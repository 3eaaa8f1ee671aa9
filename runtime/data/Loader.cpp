//===- Loader.cpp - Batches of normalized, augmented images ---------------===//

#include "runtime/data/Loader.h"

#include <algorithm>
#include <numeric>
#include <string>
#include <utility>

namespace densenet::data {

namespace {

// Purposes mixed into hashWords, so the shuffle and the augmentation of the
// same (seed, epoch) are independent.
enum Purpose : uint64_t {
  kShuffle = 0x5348,
  kAugment = 0x4155,
};

std::string describe(const LoaderOptions &options) {
  return std::string(options.training ? "training" : "test") + " loader";
}

} // namespace

std::vector<int64_t> BatchLoader::shuffledOrder(int64_t samples, uint64_t seed,
                                                int64_t epoch) {
  std::vector<int64_t> order(
      static_cast<size_t>(std::max<int64_t>(samples, 0)));
  std::iota(order.begin(), order.end(), int64_t(0));
  // Fisher-Yates with one counter-based draw per position. The modulo's bias
  // is below 2^-40 for any split that fits in memory.
  const uint64_t stream =
      hashWords({seed, kShuffle, static_cast<uint64_t>(epoch)});
  for (int64_t position = samples - 1; position > 0; --position) {
    const uint64_t draw = hashWords({stream, static_cast<uint64_t>(position)});
    const int64_t other =
        static_cast<int64_t>(draw % static_cast<uint64_t>(position + 1));
    std::swap(order[position], order[other]);
  }
  return order;
}

BatchLoader::BatchLoader(const Dataset &dataset, const Split &split,
                         LoaderOptions options)
    : split(split), options(options), shape(dataset.shape),
      padding(dataset.padding), horizontalFlip(dataset.horizontalFlip) {
  const std::string who = describe(options) + " for '" + dataset.name + "'";
  checkSplit(dataset, split, options.training ? "train" : "test");
  if (options.batchSize <= 0)
    throw DataError(who + ": batch size " + std::to_string(options.batchSize) +
                    " must be positive");
  if (options.shards < 1 || options.shard < 0 ||
      options.shard >= options.shards)
    throw DataError(who + ": shard " + std::to_string(options.shard) + " of " +
                    std::to_string(options.shards) +
                    " is invalid; shards must be at least 1 and the shard "
                    "index in [0, shards)");
  if (options.prefetch < 1)
    throw DataError(who + ": prefetch " + std::to_string(options.prefetch) +
                    " must be at least 1 batch");
  if (options.epoch < 0)
    throw DataError(who + ": epoch " + std::to_string(options.epoch) +
                    " must not be negative");
  if (options.limit == 0 || options.limit < -1)
    throw DataError(who + ": sample limit " + std::to_string(options.limit) +
                    " must be positive, or -1 for the whole split");

  epochSamples =
      options.limit < 0 ? split.count : std::min(options.limit, split.count);
  const int64_t batchSize = options.batchSize;
  if (options.training) {
    // Equal parts and whole batches keep every rank stepping in lockstep; the
    // dropped remainder differs every epoch because the order is reshuffled.
    const int64_t perShard = epochSamples / options.shards;
    batches = perShard / batchSize;
    if (batches == 0) {
      const bool limited = options.limit >= 0 && options.limit < split.count;
      std::string message =
          who + ": " + std::to_string(epochSamples) + " samples";
      if (limited)
        message +=
            " (after the limit of " + std::to_string(options.limit) + ")";
      if (options.shards > 1)
        message += " split over " + std::to_string(options.shards) +
                   " shards leave " + std::to_string(perShard) + " per shard,";
      else
        message += ",";
      message += " fewer than one batch of " + std::to_string(batchSize) +
                 "; use a smaller batch size";
      if (limited)
        message += " or a larger --limit-train";
      if (options.shards > 1)
        message += " or fewer ranks";
      throw DataError(message);
    }
    shardBegin = options.shard * perShard;
    shardEnd = shardBegin + batches * batchSize;
    order = shuffledOrder(epochSamples, options.seed, options.epoch);
  } else {
    const int64_t part = (epochSamples + options.shards - 1) / options.shards;
    shardBegin = std::min(options.shard * part, epochSamples);
    shardEnd = std::min(shardBegin + part, epochSamples);
    batches = (part + batchSize - 1) / batchSize;
  }
  if (options.firstBatch < 0 || options.firstBatch > batches)
    throw DataError(who + ": first batch " +
                    std::to_string(options.firstBatch) +
                    " is outside the epoch's " + std::to_string(batches) +
                    " batches; resume from a batch in [0, " +
                    std::to_string(batches) + "]");

  normalized.resize(size_t(shape.channels) * 256);
  for (int channel = 0; channel < shape.channels; ++channel)
    for (int value = 0; value < 256; ++value)
      normalized[channel * 256 + value] =
          (value / 255.0f - dataset.mean[channel]) / dataset.stddev[channel];

  worker = std::thread([this] { run(); });
}

BatchLoader::~BatchLoader() {
  {
    std::lock_guard<std::mutex> lock(mutex);
    stopping = true;
  }
  spaceOrStop.notify_all();
  worker.join();
}

void BatchLoader::run() {
  try {
    for (int64_t index = options.firstBatch; index < batches; ++index) {
      Batch batch;
      {
        std::lock_guard<std::mutex> lock(mutex);
        if (stopping)
          break;
        if (!recycled.empty()) {
          batch = std::move(recycled.back());
          recycled.pop_back();
        }
      }
      // Filled outside the lock: this is the work the consumer overlaps with.
      fill(batch, index);
      std::unique_lock<std::mutex> lock(mutex);
      spaceOrStop.wait(lock, [&] {
        return stopping || ready.size() < static_cast<size_t>(options.prefetch);
      });
      if (stopping)
        break;
      ready.push_back(std::move(batch));
      lock.unlock();
      readyOrDone.notify_one();
    }
  } catch (...) {
    std::lock_guard<std::mutex> lock(mutex);
    failure = std::current_exception();
  }
  {
    std::lock_guard<std::mutex> lock(mutex);
    finished = true;
  }
  readyOrDone.notify_all();
}

bool BatchLoader::next(Batch &batch) {
  std::unique_lock<std::mutex> lock(mutex);
  readyOrDone.wait(lock, [&] { return !ready.empty() || finished; });
  if (ready.empty()) {
    if (failure)
      std::rethrow_exception(failure);
    return false;
  }
  std::swap(batch, ready.front());
  // The caller's previous buffers are reused for a later batch, saving an
  // allocation of a whole batch per step.
  if (!ready.front().images.empty() &&
      recycled.size() <= static_cast<size_t>(options.prefetch))
    recycled.push_back(std::move(ready.front()));
  ready.pop_front();
  lock.unlock();
  spaceOrStop.notify_one();
  return true;
}

void BatchLoader::fill(Batch &batch, int64_t index) const {
  const int64_t batchSize = options.batchSize;
  const int64_t pixels = shape.pixels();
  const int64_t height = shape.height, width = shape.width;
  const int64_t planeSize = height * width;
  batch.images.resize(static_cast<size_t>(batchSize * pixels));
  batch.labels.resize(static_cast<size_t>(batchSize));
  batch.index = index;
  const int64_t begin = shardBegin + index * batchSize;
  batch.count = std::clamp<int64_t>(shardEnd - begin, 0, batchSize);

  for (int64_t slot = 0; slot < batchSize; ++slot) {
    float *image = batch.images.data() + slot * pixels;
    if (slot >= batch.count) {
      std::fill(image, image + pixels, 0.0f);
      batch.labels[slot] = 0;
      continue;
    }
    const int64_t position = begin + slot;
    const int64_t sample = options.training ? order[position] : position;
    batch.labels[slot] = split.labels[sample];
    const uint8_t *source = split.pixels.data() + sample * pixels;

    // Crop offsets in [0, 2 * padding] into the zero-padded image; an offset
    // of `padding` is the unshifted image.
    int64_t rowShift = 0, columnShift = 0;
    bool flip = false;
    if (options.training && (padding > 0 || horizontalFlip)) {
      const uint64_t bits = hashWords({options.seed, kAugment,
                                       static_cast<uint64_t>(options.epoch),
                                       static_cast<uint64_t>(sample)});
      const uint64_t span = 2 * static_cast<uint64_t>(padding) + 1;
      rowShift = static_cast<int64_t>(bits % span) - padding;
      columnShift = static_cast<int64_t>((bits >> 20) % span) - padding;
      flip = horizontalFlip && (bits >> 63) != 0;
    }

    for (int64_t channel = 0; channel < shape.channels; ++channel) {
      const float *table = normalized.data() + channel * 256;
      // Padding is pixel value 0 before normalization, as torchvision's
      // RandomCrop(padding) pads a PIL image.
      const float padValue = table[0];
      const uint8_t *plane = source + channel * planeSize;
      float *out = image + channel * planeSize;
      for (int64_t row = 0; row < height; ++row) {
        const int64_t sourceRow = row + rowShift;
        float *outRow = out + row * width;
        if (sourceRow < 0 || sourceRow >= height) {
          std::fill(outRow, outRow + width, padValue);
          continue;
        }
        const uint8_t *sourceRowPixels = plane + sourceRow * width;
        // Flipping after cropping (torchvision's order) mirrors the crop
        // window, so the column read is mirrored before the shift.
        for (int64_t column = 0; column < width; ++column) {
          const int64_t sourceColumn =
              (flip ? width - 1 - column : column) + columnShift;
          outRow[column] = sourceColumn < 0 || sourceColumn >= width
                               ? padValue
                               : table[sourceRowPixels[sourceColumn]];
        }
      }
    }
  }
}

} // namespace densenet::data
