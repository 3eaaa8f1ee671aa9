//===- Loader.h - Batches of normalized, augmented images -------*- C++ -*-===//
//
// The BatchLoader turns one split of a Dataset into the f32 batches the
// training loop feeds to the model. Everything random about an epoch (the
// shuffle, crop offsets, flips) is a pure function of (seed, epoch, sample),
// so a run resumed from a checkpoint, or split over data-parallel ranks, sees
// exactly the batches an uninterrupted single run would.
//
//===----------------------------------------------------------------------===//

#ifndef DENSENET_RUNTIME_DATA_LOADER_H
#define DENSENET_RUNTIME_DATA_LOADER_H

#include "runtime/data/Dataset.h"

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace densenet::data {

/// A batch as the runtime consumes it: f32 NCHW normalized images for
/// `batchSize` slots and i32 labels; `count` <= batchSize valid samples (test
/// batches at the end of an epoch may be partial: the remaining slots are
/// zero images with label 0).
struct Batch {
  std::vector<float> images;
  std::vector<int32_t> labels;
  int64_t count = 0;
  int64_t index = 0; // position in this shard's epoch, from 0
};

struct LoaderOptions {
  int64_t batchSize = 0;
  /// Training: shuffled each epoch, augmented, partial last batch dropped.
  /// Test: in order, no augmentation, last partial batch kept.
  bool training = true;
  uint64_t seed = 0;
  /// The shuffle and augmentation of an epoch depend only on
  /// (seed, epoch, sample), so a resumed run sees identical batches.
  int64_t epoch = 0;
  /// Resume inside an epoch: skip to this batch index (at most
  /// batchesPerEpoch(), which yields nothing).
  int64_t firstBatch = 0;
  /// Use only the first `limit` samples of the split (--limit-train,
  /// --limit-test); -1 = all. A limit above the split's size means all.
  int64_t limit = -1;
  /// Data-parallel ranks. Training: each epoch's shuffled order is cut into
  /// `shards` disjoint contiguous parts of equal size (the remainder is
  /// dropped) and this loader yields part `shard`. Test: the parts are
  /// ceil(samples / shards) long so that every sample is evaluated once; the
  /// last shards may hold fewer samples, but every shard yields the same
  /// number of batches, padding with partial or empty (count 0) ones.
  int shard = 0, shards = 1;
  /// Batches prepared ahead on the background thread.
  int prefetch = 2;
};

/// Produces the batches of one epoch on a background thread, so the training
/// loop does not wait for decoding and augmentation. `dataset` and `split`
/// must outlive the loader.
class BatchLoader {
public:
  /// Throws DataError when the options are invalid or the split does not
  /// match the dataset's shape and classes.
  BatchLoader(const Dataset &dataset, const Split &split,
              LoaderOptions options);
  /// Stops and joins the thread promptly even when the epoch is not consumed.
  ~BatchLoader();
  BatchLoader(const BatchLoader &) = delete;
  BatchLoader &operator=(const BatchLoader &) = delete;

  /// Batches of this shard's epoch, counting from batch 0 (not firstBatch).
  int64_t batchesPerEpoch() const { return batches; }
  /// Samples of the (limited) split that one epoch uses, over all shards.
  int64_t samplesPerEpoch() const { return epochSamples; }

  /// Blocks until the next batch is ready and moves it into `batch` (whose
  /// buffers are recycled); false after the last one. Rethrows an exception
  /// from the worker.
  bool next(Batch &batch);

  /// The permutation of [0, samples) that training epoch `epoch` visits the
  /// samples in; exposed so tests and tools can reproduce it.
  static std::vector<int64_t> shuffledOrder(int64_t samples, uint64_t seed,
                                            int64_t epoch);

private:
  void run();
  void fill(Batch &batch, int64_t index) const;

  // What the worker reads; fixed after construction.
  const Split &split;
  LoaderOptions options;
  ImageShape shape;
  int padding = 0;
  bool horizontalFlip = false;
  /// normalized[channel * 256 + value] = (value / 255 - mean) / stddev.
  std::vector<float> normalized;
  std::vector<int64_t> order; // sample indices of this epoch, all shards
  int64_t epochSamples = 0;   // samples of the split the epoch draws from
  int64_t shardBegin = 0, shardEnd = 0; // this shard's range of `order`
  int64_t batches = 0;

  // Shared with the worker under `mutex`.
  std::mutex mutex;
  std::condition_variable readyOrDone; // the consumer waits on this
  std::condition_variable spaceOrStop; // the worker waits on this
  std::deque<Batch> ready;
  std::vector<Batch> recycled; // buffers handed back by next()
  bool finished = false;       // the worker produced its last batch
  bool stopping = false;
  std::exception_ptr failure;

  std::thread worker; // last: started once everything above is set up
};

} // namespace densenet::data

#endif // DENSENET_RUNTIME_DATA_LOADER_H
