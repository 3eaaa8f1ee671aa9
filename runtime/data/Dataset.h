//===- Dataset.h - Image classification data sets in memory -----*- C++ -*-===//
//
// The runtime trains on small image data sets that fit in memory, so each
// split is read once, checked completely, and kept as the files store it
// (u8 pixels, u8 labels). Conversion to normalized f32 happens per batch in
// the BatchLoader (Loader.h), which is where augmentation needs it anyway.
//
//===----------------------------------------------------------------------===//

#ifndef DENSENET_RUNTIME_DATA_DATASET_H
#define DENSENET_RUNTIME_DATA_DATASET_H

#include <cstdint>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <vector>

namespace densenet::data {

struct ImageShape {
  int channels = 0, height = 0, width = 0;

  /// Values per image: channels * height * width.
  int64_t pixels() const;
};

/// One split held in memory as the files store it: u8 pixels
/// [count][C][H][W] (planar, C-order), u8 labels.
struct Split {
  std::vector<uint8_t> pixels;
  std::vector<uint16_t> labels; // u8 in the files; wider for synthetic data of ImageNet's 1000 classes
  int64_t count = 0;
};

struct Dataset {
  std::string name; // "fashion-mnist", "cifar10", "synthetic"
  ImageShape shape;
  int classes = 0;
  /// Per channel, in [0,1] pixel units; images are normalized as
  /// (x/255 - mean) / stddev.
  std::vector<float> mean, stddev;
  /// Training augmentation: zero-pad by this many pixels, then randomly crop
  /// back to height x width.
  int padding = 0;
  /// Training augmentation: mirror left-right with probability 1/2.
  bool horizontalFlip = false;
  Split train, test;
};

/// Every problem with data files or loader settings. The message says what is
/// wrong, in which file, and how to fix it, because it is shown to the user as
/// is.
class DataError : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

/// Throws DataError when `split` does not hold `split.count` images of
/// `dataset.shape` with labels below `dataset.classes`, or when the dataset's
/// normalization does not have one positive stddev per channel. `what` names
/// the split in the message ("train", "test").
void checkSplit(const Dataset &dataset, const Split &split,
                const std::string &what);

/// A counter-based random number: a well-mixed 64-bit hash of `words`.
/// Randomness in the data code is drawn from hashes of what it is for
/// (seed, epoch, sample, purpose) rather than from a stateful generator, so
/// results do not depend on threads, sharding or where a run was resumed.
uint64_t hashWords(std::initializer_list<uint64_t> words);

/// Reads train-{images-idx3,labels-idx1}-ubyte.gz and
/// t10k-{images-idx3,labels-idx1}-ubyte.gz from `directory` (the default
/// directory when empty). Uncompressed files without ".gz" are read when the
/// compressed ones are absent.
Dataset loadFashionMnist(const std::string &directory);

/// "/usr/share/datasets/fashion-mnist", where the Debian package
/// dataset-fashion-mnist installs the files.
std::string defaultFashionMnistDirectory();

/// The directories loadCifar10 searches, in order: `directoryFlag` (and its
/// cifar-10-batches-bin subdirectory) when non-empty; otherwise
/// $DENSENET_DATA/cifar-10-batches-bin when DENSENET_DATA is set, then
/// ./data/cifar-10-batches-bin.
std::vector<std::string>
cifar10SearchDirectories(const std::string &directoryFlag);

/// Reads data_batch_1.bin .. data_batch_5.bin (train) and test_batch.bin from
/// the first of cifar10SearchDirectories that holds any of them. When none
/// does, the DataError lists every place it looked and how to get the data.
Dataset loadCifar10(const std::string &directoryFlag);

/// Deterministic random data of the given shape for smoke tests and
/// benchmarks: pixels and labels depend only on `seed`, labels are in
/// [0, classes). Each class has its own random template that its images are
/// blended from, so a model can learn the data and a smoke test can watch the
/// loss fall. mean and stddev are measured on the generated train split.
Dataset makeSynthetic(ImageShape shape, int classes, int64_t trainCount,
                      int64_t testCount, uint64_t seed);

} // namespace densenet::data

#endif // DENSENET_RUNTIME_DATA_DATASET_H
