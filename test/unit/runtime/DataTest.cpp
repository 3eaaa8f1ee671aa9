//===- DataTest.cpp - Data set readers and the batch loader ---------------===//

#include "runtime/data/Dataset.h"
#include "runtime/data/Loader.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <numeric>
#include <set>
#include <string>
#include <unistd.h>
#include <vector>

using namespace densenet::data;
namespace fs = std::filesystem;

namespace {

//===----------------------------------------------------------------------===//
// Helpers
//===----------------------------------------------------------------------===//

/// A fresh directory for one test, removed afterwards.
class TempDirectory {
public:
  TempDirectory() {
    const testing::TestInfo *test =
        testing::UnitTest::GetInstance()->current_test_info();
    path = fs::path(testing::TempDir()) /
           ("densenet-data-" + std::string(test->test_suite_name()) + "-" +
            test->name() + "-" + std::to_string(::getpid()));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDirectory() {
    std::error_code ignored;
    fs::remove_all(path, ignored);
  }
  std::string operator/(const std::string &name) const {
    return (path / name).string();
  }
  std::string str() const { return path.string(); }

private:
  fs::path path;
};

/// Runs `action`, expects a DataError, and returns its message ("" and a
/// failure when nothing or something else is thrown).
std::string errorOf(const std::function<void()> &action) {
  try {
    action();
  } catch (const DataError &error) {
    return error.what();
  } catch (const std::exception &error) {
    ADD_FAILURE() << "expected DataError, got: " << error.what();
    return "";
  }
  ADD_FAILURE() << "expected DataError, nothing was thrown";
  return "";
}

#define EXPECT_CONTAINS(text, part)                                            \
  EXPECT_NE(std::string(text).find(part), std::string::npos)                   \
      << "'" << (text) << "' does not contain '" << (part) << "'"

void appendBigEndian(std::vector<uint8_t> &bytes, uint32_t value) {
  for (int shift = 24; shift >= 0; shift -= 8)
    bytes.push_back(static_cast<uint8_t>(value >> shift));
}

void writeGzip(const std::string &path, const std::vector<uint8_t> &bytes) {
  gzFile file = gzopen(path.c_str(), "wb");
  ASSERT_NE(file, nullptr) << path;
  if (!bytes.empty()) {
    ASSERT_EQ(gzwrite(file, bytes.data(), bytes.size()), int(bytes.size()));
  }
  ASSERT_EQ(gzclose(file), Z_OK);
}

void writeFile(const std::string &path, const std::vector<uint8_t> &bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char *>(bytes.data()), bytes.size());
  ASSERT_TRUE(out.good()) << path;
}

std::vector<uint8_t> readFile(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

/// IDX image bytes: `count` 28x28 images whose pixels are (image + pixel) mod
/// 256, with a header that may lie about the count.
std::vector<uint8_t> idxImages(uint32_t headerCount, uint32_t actualCount,
                               uint32_t magic = 0x00000803) {
  std::vector<uint8_t> bytes;
  appendBigEndian(bytes, magic);
  appendBigEndian(bytes, headerCount);
  appendBigEndian(bytes, 28);
  appendBigEndian(bytes, 28);
  for (uint32_t image = 0; image < actualCount; ++image)
    for (int pixel = 0; pixel < 28 * 28; ++pixel)
      bytes.push_back(static_cast<uint8_t>(image + pixel));
  return bytes;
}

std::vector<uint8_t> idxLabels(const std::vector<uint8_t> &labels,
                               uint32_t magic = 0x00000801) {
  std::vector<uint8_t> bytes;
  appendBigEndian(bytes, magic);
  appendBigEndian(bytes, static_cast<uint32_t>(labels.size()));
  bytes.insert(bytes.end(), labels.begin(), labels.end());
  return bytes;
}

/// A valid tiny Fashion-MNIST directory: 3 train and 2 test samples.
void writeTinyFashionMnist(const TempDirectory &directory) {
  writeGzip(directory / "train-images-idx3-ubyte.gz", idxImages(3, 3));
  writeGzip(directory / "train-labels-idx1-ubyte.gz", idxLabels({9, 0, 4}));
  writeGzip(directory / "t10k-images-idx3-ubyte.gz", idxImages(2, 2));
  writeGzip(directory / "t10k-labels-idx1-ubyte.gz", idxLabels({1, 2}));
}

constexpr uint64_t kCifarFileBytes = 30730000;
constexpr int64_t kCifarRecordBytes = 3073;

/// A CIFAR-10 directory with files of the exact size. The first records get
/// recognizable labels and pixels; the rest is left as sparse zeros (label 0,
/// black images), which is valid data and keeps the test fast.
void writeFakeCifar(const std::string &directory) {
  fs::create_directories(directory);
  const char *names[] = {"data_batch_1.bin", "data_batch_2.bin",
                         "data_batch_3.bin", "data_batch_4.bin",
                         "data_batch_5.bin", "test_batch.bin"};
  for (int file = 0; file < 6; ++file) {
    std::vector<uint8_t> records;
    for (int record = 0; record < 3; ++record) {
      records.push_back(static_cast<uint8_t>((file + record) % 10));
      for (int pixel = 0; pixel < 3072; ++pixel)
        records.push_back(static_cast<uint8_t>(file * 7 + record + pixel));
    }
    const std::string path = (fs::path(directory) / names[file]).string();
    writeFile(path, records);
    fs::resize_file(path, kCifarFileBytes);
  }
}

/// A dataset whose images encode their sample index in the first two pixels,
/// so tests can tell which samples a batch holds. mean 0 and stddev 1 make the
/// normalized value exactly pixel / 255; no augmentation keeps pixels in
/// place.
Dataset indexedDataset(int64_t trainCount, int64_t testCount) {
  Dataset dataset;
  dataset.name = "indexed";
  dataset.shape = {1, 2, 2};
  dataset.classes = 10;
  dataset.mean = {0.0f};
  dataset.stddev = {1.0f};
  auto makeSplit = [](int64_t count) {
    Split split;
    split.count = count;
    for (int64_t sample = 0; sample < count; ++sample) {
      split.pixels.push_back(static_cast<uint8_t>(sample & 0xff));
      split.pixels.push_back(static_cast<uint8_t>(sample >> 8));
      split.pixels.push_back(7);
      split.pixels.push_back(200);
      split.labels.push_back(static_cast<uint8_t>(sample % 10));
    }
    return split;
  };
  dataset.train = makeSplit(trainCount);
  dataset.test = makeSplit(testCount);
  return dataset;
}

int64_t sampleInSlot(const Batch &batch, int64_t slot) {
  const float *image = batch.images.data() + slot * 4;
  return std::lround(image[0] * 255) + 256 * std::lround(image[1] * 255);
}

/// Every batch a loader yields.
std::vector<Batch> drain(BatchLoader &loader) {
  std::vector<Batch> batches;
  Batch batch;
  while (loader.next(batch))
    batches.push_back(batch);
  return batches;
}

/// The samples of all valid slots of `batches`, in order.
std::vector<int64_t> samplesOf(const std::vector<Batch> &batches) {
  std::vector<int64_t> samples;
  for (const Batch &batch : batches)
    for (int64_t slot = 0; slot < batch.count; ++slot)
      samples.push_back(sampleInSlot(batch, slot));
  return samples;
}

LoaderOptions options(int64_t batchSize, bool training, uint64_t seed = 1,
                      int64_t epoch = 0) {
  LoaderOptions result;
  result.batchSize = batchSize;
  result.training = training;
  result.seed = seed;
  result.epoch = epoch;
  return result;
}

/// Synthetic data with CIFAR-style augmentation.
Dataset augmentedDataset() {
  Dataset dataset = makeSynthetic({3, 8, 8}, 10, 300, 50, 42);
  dataset.padding = 2;
  dataset.horizontalFlip = true;
  return dataset;
}

//===----------------------------------------------------------------------===//
// Fashion-MNIST
//===----------------------------------------------------------------------===//

TEST(FashionMnist, LoadsTheInstalledFiles) {
  if (!fs::exists(defaultFashionMnistDirectory()))
    GTEST_SKIP() << "install the Debian package dataset-fashion-mnist";
  const Dataset dataset = loadFashionMnist("");
  EXPECT_EQ(dataset.name, "fashion-mnist");
  EXPECT_EQ(dataset.shape.channels, 1);
  EXPECT_EQ(dataset.shape.height, 28);
  EXPECT_EQ(dataset.shape.width, 28);
  EXPECT_EQ(dataset.classes, 10);
  EXPECT_EQ(dataset.padding, 2);
  EXPECT_FALSE(dataset.horizontalFlip);
  ASSERT_EQ(dataset.train.count, 60000);
  ASSERT_EQ(dataset.test.count, 10000);
  ASSERT_EQ(dataset.train.pixels.size(), 60000u * 784);
  ASSERT_EQ(dataset.test.labels.size(), 10000u);

  std::vector<int> perClass(10, 0);
  for (uint16_t label : dataset.train.labels)
    ++perClass.at(label);
  for (int label = 0; label < 10; ++label)
    EXPECT_EQ(perClass[label], 6000) << "class " << label;

  // Reference values read with Python's gzip module.
  EXPECT_EQ(dataset.train.labels[0], 9);
  EXPECT_EQ(dataset.test.labels[0], 9);
  EXPECT_EQ(dataset.test.labels.back(), 5);
  int64_t firstImageSum = 0;
  for (int pixel = 0; pixel < 784; ++pixel)
    firstImageSum += dataset.train.pixels[pixel];
  EXPECT_EQ(firstImageSum, 76247);
  EXPECT_EQ(dataset.train.pixels[99], 13);
  EXPECT_EQ(dataset.train.pixels[100], 73);
  int64_t lastTestImageSum = 0;
  for (int pixel = 0; pixel < 784; ++pixel)
    lastTestImageSum += dataset.test.pixels[9999 * 784 + pixel];
  EXPECT_EQ(lastTestImageSum, 24390);

  // The loader consumes it: the first test image, pixel 100 normalized.
  LoaderOptions testOptions = options(64, false);
  BatchLoader loader(dataset, dataset.test, testOptions);
  EXPECT_EQ(loader.batchesPerEpoch(), 157); // ceil(10000 / 64)
  Batch batch;
  ASSERT_TRUE(loader.next(batch));
  EXPECT_EQ(batch.labels[0], 9);
  EXPECT_FLOAT_EQ(batch.images[100],
                  (dataset.test.pixels[100] / 255.0f - 0.2860f) / 0.3530f);
}

TEST(FashionMnist, ReadsTinyValidFiles) {
  TempDirectory directory;
  writeTinyFashionMnist(directory);
  const Dataset dataset = loadFashionMnist(directory.str());
  ASSERT_EQ(dataset.train.count, 3);
  ASSERT_EQ(dataset.test.count, 2);
  EXPECT_EQ(dataset.train.labels, (std::vector<uint16_t>{9, 0, 4}));
  EXPECT_EQ(dataset.test.labels, (std::vector<uint16_t>{1, 2}));
  EXPECT_EQ(dataset.train.pixels[2 * 784 + 5], 7);
  EXPECT_EQ(dataset.test.pixels[784 + 300], static_cast<uint8_t>(301));
}

TEST(FashionMnist, ReadsUncompressedFiles) {
  TempDirectory directory;
  writeFile(directory / "train-images-idx3-ubyte", idxImages(2, 2));
  writeFile(directory / "train-labels-idx1-ubyte", idxLabels({3, 8}));
  writeFile(directory / "t10k-images-idx3-ubyte", idxImages(1, 1));
  writeFile(directory / "t10k-labels-idx1-ubyte", idxLabels({6}));
  const Dataset dataset = loadFashionMnist(directory.str());
  EXPECT_EQ(dataset.train.labels, (std::vector<uint16_t>{3, 8}));
  EXPECT_EQ(dataset.test.count, 1);
}

TEST(FashionMnist, RejectsWrongMagic) {
  TempDirectory directory;
  writeTinyFashionMnist(directory);
  // A label file where the image file should be.
  writeGzip(directory / "train-images-idx3-ubyte.gz", idxLabels({1, 2, 3}));
  const std::string message =
      errorOf([&] { loadFashionMnist(directory.str()); });
  EXPECT_CONTAINS(message, directory / "train-images-idx3-ubyte.gz");
  EXPECT_CONTAINS(message, "0x00000801");
  EXPECT_CONTAINS(message, "magic");

  writeTinyFashionMnist(directory);
  writeGzip(directory / "t10k-labels-idx1-ubyte.gz",
            idxLabels({1, 2}, 0x00000803));
  EXPECT_CONTAINS(errorOf([&] { loadFashionMnist(directory.str()); }),
                  directory / "t10k-labels-idx1-ubyte.gz");
}

TEST(FashionMnist, RejectsWrongImageSize) {
  TempDirectory directory;
  writeTinyFashionMnist(directory);
  std::vector<uint8_t> images = idxImages(3, 3);
  images[11] = 32; // rows
  writeGzip(directory / "train-images-idx3-ubyte.gz", images);
  EXPECT_CONTAINS(errorOf([&] { loadFashionMnist(directory.str()); }), "32x28");
}

TEST(FashionMnist, RejectsTruncatedData) {
  TempDirectory directory;
  writeTinyFashionMnist(directory);
  // The header promises 3 images; the data holds 2 and a half.
  std::vector<uint8_t> images = idxImages(3, 3);
  images.resize(images.size() - 400);
  writeGzip(directory / "train-images-idx3-ubyte.gz", images);
  const std::string message =
      errorOf([&] { loadFashionMnist(directory.str()); });
  EXPECT_CONTAINS(message, "truncated");
  EXPECT_CONTAINS(message, directory / "train-images-idx3-ubyte.gz");

  // A header cut short is truncated too.
  writeTinyFashionMnist(directory);
  writeGzip(directory / "t10k-labels-idx1-ubyte.gz", {0, 0, 8});
  EXPECT_CONTAINS(errorOf([&] { loadFashionMnist(directory.str()); }),
                  "truncated");
}

TEST(FashionMnist, RejectsTrailingData) {
  TempDirectory directory;
  writeTinyFashionMnist(directory);
  std::vector<uint8_t> labels = idxLabels({9, 0, 4});
  labels.push_back(1);
  writeGzip(directory / "train-labels-idx1-ubyte.gz", labels);
  const std::string message =
      errorOf([&] { loadFashionMnist(directory.str()); });
  EXPECT_CONTAINS(message, "1 bytes after");
  EXPECT_CONTAINS(message, directory / "train-labels-idx1-ubyte.gz");
}

TEST(FashionMnist, RejectsCutCompressedStream) {
  TempDirectory directory;
  writeTinyFashionMnist(directory);
  const std::string path = directory / "train-images-idx3-ubyte.gz";
  std::vector<uint8_t> compressed = readFile(path);
  ASSERT_GT(compressed.size(), 40u);
  // Dropping the gzip trailer (CRC and length) leaves all the data decodable,
  // but the file is still incomplete.
  compressed.resize(compressed.size() - 6);
  writeFile(path, compressed);
  EXPECT_CONTAINS(errorOf([&] { loadFashionMnist(directory.str()); }), path);

  // Flipped bits in the middle of the data must fail decoding or the CRC.
  writeTinyFashionMnist(directory);
  compressed = readFile(path);
  compressed[compressed.size() / 2] ^= 0x55;
  writeFile(path, compressed);
  EXPECT_CONTAINS(errorOf([&] { loadFashionMnist(directory.str()); }), path);
}

TEST(FashionMnist, RejectsBadLabelsAndCountMismatch) {
  TempDirectory directory;
  writeTinyFashionMnist(directory);
  writeGzip(directory / "train-labels-idx1-ubyte.gz", idxLabels({9, 10, 4}));
  const std::string badLabel =
      errorOf([&] { loadFashionMnist(directory.str()); });
  EXPECT_CONTAINS(badLabel, "label 10 of sample 1");

  writeTinyFashionMnist(directory);
  writeGzip(directory / "train-labels-idx1-ubyte.gz", idxLabels({9, 0}));
  const std::string mismatch =
      errorOf([&] { loadFashionMnist(directory.str()); });
  EXPECT_CONTAINS(mismatch, "3 images");
  EXPECT_CONTAINS(mismatch, "2 labels");
}

TEST(FashionMnist, MissingFilesSayHowToGetThem) {
  TempDirectory directory;
  writeTinyFashionMnist(directory);
  fs::remove(directory / "t10k-images-idx3-ubyte.gz");
  const std::string missingFile =
      errorOf([&] { loadFashionMnist(directory.str()); });
  EXPECT_CONTAINS(missingFile, directory / "t10k-images-idx3-ubyte.gz");
  EXPECT_CONTAINS(missingFile, "dataset-fashion-mnist");

  const std::string missingDirectory =
      errorOf([&] { loadFashionMnist(directory / "nowhere"); });
  EXPECT_CONTAINS(missingDirectory, directory / "nowhere");
  EXPECT_CONTAINS(missingDirectory, "--data-dir");
}

//===----------------------------------------------------------------------===//
// CIFAR-10
//===----------------------------------------------------------------------===//

TEST(Cifar10, LoadsExactSizeFiles) {
  TempDirectory directory;
  writeFakeCifar(directory.str());
  const Dataset dataset = loadCifar10(directory.str());
  EXPECT_EQ(dataset.name, "cifar10");
  EXPECT_EQ(dataset.shape.channels, 3);
  EXPECT_EQ(dataset.shape.height, 32);
  EXPECT_EQ(dataset.padding, 4);
  EXPECT_TRUE(dataset.horizontalFlip);
  ASSERT_EQ(dataset.mean.size(), 3u);
  ASSERT_EQ(dataset.train.count, 50000);
  ASSERT_EQ(dataset.test.count, 10000);
  ASSERT_EQ(dataset.train.pixels.size(), 50000u * 3072);
  ASSERT_EQ(dataset.test.labels.size(), 10000u);
  // Record 1 of data_batch_3.bin is train sample 20001.
  EXPECT_EQ(dataset.train.labels[20001], (2 + 1) % 10);
  EXPECT_EQ(dataset.train.pixels[20001 * 3072 + 1024],
            static_cast<uint8_t>(2 * 7 + 1 + 1024));
  EXPECT_EQ(dataset.train.labels[20003], 0);
  EXPECT_EQ(dataset.test.labels[2], (5 + 2) % 10);
  EXPECT_EQ(dataset.test.pixels[2 * 3072 + 3071],
            static_cast<uint8_t>(5 * 7 + 2 + 3071));
}

TEST(Cifar10, FindsTheUnpackedDirectoryUnderTheFlag) {
  TempDirectory directory;
  writeFakeCifar(directory / "cifar-10-batches-bin");
  EXPECT_EQ(loadCifar10(directory.str()).test.count, 10000);
}

TEST(Cifar10, UsesDensenetDataWithoutFlag) {
  TempDirectory directory;
  writeFakeCifar(directory / "cifar-10-batches-bin");
  const char *previous = std::getenv("DENSENET_DATA");
  const std::string saved = previous ? previous : "";
  ::setenv("DENSENET_DATA", directory.str().c_str(), 1);
  const std::vector<std::string> searched = cifar10SearchDirectories("");
  ASSERT_EQ(searched.size(), 2u);
  EXPECT_EQ(searched[0], directory / "cifar-10-batches-bin");
  EXPECT_EQ(searched[1], "./data/cifar-10-batches-bin");
  int64_t count = 0;
  EXPECT_NO_THROW(count = loadCifar10("").train.count);
  EXPECT_EQ(count, 50000);
  if (previous)
    ::setenv("DENSENET_DATA", saved.c_str(), 1);
  else
    ::unsetenv("DENSENET_DATA");
}

TEST(Cifar10, RejectsWrongFileSize) {
  TempDirectory directory;
  writeFakeCifar(directory.str());
  fs::resize_file(directory / "data_batch_2.bin", kCifarFileBytes - 1);
  const std::string shorter = errorOf([&] { loadCifar10(directory.str()); });
  EXPECT_CONTAINS(shorter, directory / "data_batch_2.bin");
  EXPECT_CONTAINS(shorter, "30729999");
  EXPECT_CONTAINS(shorter, "30730000");

  fs::resize_file(directory / "data_batch_2.bin", kCifarFileBytes);
  fs::resize_file(directory / "test_batch.bin", kCifarFileBytes + 3073);
  EXPECT_CONTAINS(errorOf([&] { loadCifar10(directory.str()); }),
                  directory / "test_batch.bin");
}

TEST(Cifar10, RejectsBadLabel) {
  TempDirectory directory;
  writeFakeCifar(directory.str());
  const std::string path = directory / "data_batch_4.bin";
  {
    std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(5 * kCifarRecordBytes);
    file.put(static_cast<char>(10));
  }
  ASSERT_EQ(fs::file_size(path), kCifarFileBytes);
  const std::string message = errorOf([&] { loadCifar10(directory.str()); });
  EXPECT_CONTAINS(message, path);
  EXPECT_CONTAINS(message, "record 5 has label 10");
}

TEST(Cifar10, NamesAMissingFile) {
  TempDirectory directory;
  writeFakeCifar(directory.str());
  fs::remove(directory / "data_batch_3.bin");
  const std::string message = errorOf([&] { loadCifar10(directory.str()); });
  EXPECT_CONTAINS(message, directory / "data_batch_3.bin");
  EXPECT_CONTAINS(message, "missing");
}

TEST(Cifar10, ListsWhereItLookedWhenAbsent) {
  TempDirectory directory;
  const std::string message =
      errorOf([&] { loadCifar10(directory / "empty"); });
  EXPECT_CONTAINS(message, directory / "empty");
  EXPECT_CONTAINS(message, directory / "empty/cifar-10-batches-bin");
  EXPECT_CONTAINS(message,
                  "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz");
  EXPECT_CONTAINS(message, "--data-dir");

  const char *previous = std::getenv("DENSENET_DATA");
  const std::string saved = previous ? previous : "";
  ::setenv("DENSENET_DATA", (directory / "root").c_str(), 1);
  const std::string withoutFlag = errorOf([&] { loadCifar10(""); });
  EXPECT_CONTAINS(withoutFlag, directory / "root/cifar-10-batches-bin");
  EXPECT_CONTAINS(withoutFlag, "./data/cifar-10-batches-bin");
  if (previous)
    ::setenv("DENSENET_DATA", saved.c_str(), 1);
  else
    ::unsetenv("DENSENET_DATA");
}

//===----------------------------------------------------------------------===//
// Synthetic
//===----------------------------------------------------------------------===//

TEST(Synthetic, IsDeterministicAndInRange) {
  const Dataset first = makeSynthetic({3, 5, 7}, 7, 100, 20, 9);
  const Dataset again = makeSynthetic({3, 5, 7}, 7, 100, 20, 9);
  const Dataset other = makeSynthetic({3, 5, 7}, 7, 100, 20, 10);
  EXPECT_EQ(first.name, "synthetic");
  ASSERT_EQ(first.train.count, 100);
  ASSERT_EQ(first.test.count, 20);
  EXPECT_EQ(first.train.pixels.size(), 100u * 105);
  EXPECT_EQ(first.train.pixels, again.train.pixels);
  EXPECT_EQ(first.test.labels, again.test.labels);
  EXPECT_NE(first.train.pixels, other.train.pixels);
  EXPECT_NE(first.train.pixels,
            std::vector<uint8_t>(first.train.pixels.size()));
  std::set<int> seen;
  for (uint16_t label : first.train.labels) {
    EXPECT_LT(label, 7);
    seen.insert(label);
  }
  EXPECT_GT(seen.size(), 3u);
  ASSERT_EQ(first.mean.size(), 3u);
  for (int channel = 0; channel < 3; ++channel) {
    EXPECT_GT(first.mean[channel], 0.3f);
    EXPECT_LT(first.mean[channel], 0.7f);
    EXPECT_GT(first.stddev[channel], 0.1f);
    EXPECT_LT(first.stddev[channel], 0.4f);
  }
}

TEST(Synthetic, RejectsBadArguments) {
  EXPECT_CONTAINS(errorOf([] {
                    makeSynthetic({0, 4, 4}, 10, 1, 1, 0);
                  }),
                  "positive");
  EXPECT_CONTAINS(errorOf([] {
                    makeSynthetic({1, 4, 4}, 70000, 1, 1, 0);
                  }),
                  "70000 classes");
  EXPECT_CONTAINS(errorOf([] {
                    makeSynthetic({1, 4, 4}, 10, -1, 1, 0);
                  }),
                  "negative");
}

//===----------------------------------------------------------------------===//
// BatchLoader
//===----------------------------------------------------------------------===//

TEST(BatchLoader, TrainingEpochVisitsEachLimitedSampleOnce) {
  const Dataset dataset = indexedDataset(1200, 0);
  LoaderOptions training = options(32, true);
  training.limit = 1000;
  BatchLoader loader(dataset, dataset.train, training);
  EXPECT_EQ(loader.samplesPerEpoch(), 1000);
  ASSERT_EQ(loader.batchesPerEpoch(), 31); // 1000 / 32, remainder dropped
  const std::vector<Batch> batches = drain(loader);
  ASSERT_EQ(batches.size(), 31u);
  for (size_t index = 0; index < batches.size(); ++index) {
    EXPECT_EQ(batches[index].index, int64_t(index));
    EXPECT_EQ(batches[index].count, 32);
    ASSERT_EQ(batches[index].images.size(), 32u * 4);
    ASSERT_EQ(batches[index].labels.size(), 32u);
  }
  const std::vector<int64_t> samples = samplesOf(batches);
  const std::set<int64_t> distinct(samples.begin(), samples.end());
  EXPECT_EQ(distinct.size(), 992u);
  EXPECT_LT(*distinct.rbegin(), 1000);
  // Labels travel with their images.
  for (const Batch &batch : batches)
    for (int64_t slot = 0; slot < batch.count; ++slot)
      EXPECT_EQ(batch.labels[slot], sampleInSlot(batch, slot) % 10);
  // Shuffled, and in the documented order.
  std::vector<int64_t> inOrder(992);
  std::iota(inOrder.begin(), inOrder.end(), 0);
  EXPECT_NE(samples, inOrder);
  const std::vector<int64_t> order = BatchLoader::shuffledOrder(1000, 1, 0);
  EXPECT_EQ(samples, std::vector<int64_t>(order.begin(), order.begin() + 992));

  Batch batch;
  EXPECT_FALSE(loader.next(batch));
  EXPECT_FALSE(loader.next(batch));
}

TEST(BatchLoader, SameSeedAndEpochGiveSameBatches) {
  const Dataset dataset = augmentedDataset();
  BatchLoader first(dataset, dataset.train, options(16, true, 5, 3));
  BatchLoader second(dataset, dataset.train, options(16, true, 5, 3));
  const std::vector<Batch> a = drain(first), b = drain(second);
  ASSERT_EQ(a.size(), 18u);
  ASSERT_EQ(a.size(), b.size());
  for (size_t index = 0; index < a.size(); ++index) {
    EXPECT_EQ(a[index].images, b[index].images) << "batch " << index;
    EXPECT_EQ(a[index].labels, b[index].labels) << "batch " << index;
  }
}

TEST(BatchLoader, EpochsAndSeedsDiffer) {
  const Dataset dataset = indexedDataset(500, 0);
  BatchLoader epoch0(dataset, dataset.train, options(50, true, 5, 0));
  BatchLoader epoch1(dataset, dataset.train, options(50, true, 5, 1));
  BatchLoader otherSeed(dataset, dataset.train, options(50, true, 6, 0));
  const std::vector<int64_t> order0 = samplesOf(drain(epoch0));
  const std::vector<int64_t> order1 = samplesOf(drain(epoch1));
  const std::vector<int64_t> orderSeed = samplesOf(drain(otherSeed));
  ASSERT_EQ(order0.size(), 500u);
  EXPECT_NE(order0, order1);
  EXPECT_NE(order0, orderSeed);
  EXPECT_EQ(std::set<int64_t>(order1.begin(), order1.end()).size(), 500u);

  // The augmentation changes with the epoch too, for the same sample.
  const Dataset augmented = augmentedDataset();
  BatchLoader augmented0(augmented, augmented.train, options(300, true, 5, 0));
  BatchLoader augmented1(augmented, augmented.train, options(300, true, 5, 1));
  const std::vector<int64_t> order = BatchLoader::shuffledOrder(300, 5, 0);
  const std::vector<int64_t> nextOrder = BatchLoader::shuffledOrder(300, 5, 1);
  Batch batch0, batch1;
  ASSERT_TRUE(augmented0.next(batch0));
  ASSERT_TRUE(augmented1.next(batch1));
  const int64_t pixels = augmented.shape.pixels();
  int differing = 0;
  for (int64_t slot = 0; slot < 300; ++slot) {
    const int64_t sample = order[slot];
    const int64_t slotInEpoch1 =
        std::find(nextOrder.begin(), nextOrder.end(), sample) -
        nextOrder.begin();
    differing += !std::equal(batch0.images.begin() + slot * pixels,
                             batch0.images.begin() + (slot + 1) * pixels,
                             batch1.images.begin() + slotInEpoch1 * pixels);
  }
  EXPECT_GT(differing, 200);
}

TEST(BatchLoader, ResumingInsideAnEpochYieldsItsTail) {
  const Dataset dataset = augmentedDataset();
  BatchLoader full(dataset, dataset.train, options(16, true, 11, 2));
  const std::vector<Batch> all = drain(full);
  ASSERT_EQ(all.size(), 18u);
  LoaderOptions resumed = options(16, true, 11, 2);
  resumed.firstBatch = 7;
  BatchLoader tail(dataset, dataset.train, resumed);
  EXPECT_EQ(tail.batchesPerEpoch(), 18);
  const std::vector<Batch> rest = drain(tail);
  ASSERT_EQ(rest.size(), 11u);
  for (size_t index = 0; index < rest.size(); ++index) {
    EXPECT_EQ(rest[index].index, int64_t(7 + index));
    EXPECT_EQ(rest[index].images, all[7 + index].images);
    EXPECT_EQ(rest[index].labels, all[7 + index].labels);
  }

  LoaderOptions atEnd = resumed;
  atEnd.firstBatch = 18;
  BatchLoader nothing(dataset, dataset.train, atEnd);
  EXPECT_TRUE(drain(nothing).empty());
}

TEST(BatchLoader, TrainingShardsAreDisjointEqualSlices) {
  const Dataset dataset = indexedDataset(1003, 0);
  const std::vector<int64_t> order = BatchLoader::shuffledOrder(1003, 4, 1);
  std::set<int64_t> covered;
  for (int shard = 0; shard < 3; ++shard) {
    LoaderOptions sharded = options(10, true, 4, 1);
    sharded.shard = shard;
    sharded.shards = 3;
    BatchLoader loader(dataset, dataset.train, sharded);
    // 1003 / 3 = 334 per shard, 33 whole batches each.
    ASSERT_EQ(loader.batchesPerEpoch(), 33);
    const std::vector<int64_t> samples = samplesOf(drain(loader));
    ASSERT_EQ(samples.size(), 330u);
    EXPECT_EQ(samples, std::vector<int64_t>(order.begin() + shard * 334,
                                            order.begin() + shard * 334 + 330));
    covered.insert(samples.begin(), samples.end());
  }
  EXPECT_EQ(covered.size(), 990u);
}

TEST(BatchLoader, TestSplitKeepsPartialLastBatch) {
  const Dataset dataset = indexedDataset(0, 10);
  BatchLoader loader(dataset, dataset.test, options(4, false));
  ASSERT_EQ(loader.batchesPerEpoch(), 3);
  const std::vector<Batch> batches = drain(loader);
  ASSERT_EQ(batches.size(), 3u);
  EXPECT_EQ(batches[0].count, 4);
  EXPECT_EQ(batches[1].count, 4);
  ASSERT_EQ(batches[2].count, 2);
  std::vector<int64_t> expected(10);
  std::iota(expected.begin(), expected.end(), 0);
  EXPECT_EQ(samplesOf(batches), expected);
  const Batch &last = batches[2];
  ASSERT_EQ(last.images.size(), 16u);
  EXPECT_EQ(last.labels, (std::vector<int32_t>{8, 9, 0, 0}));
  for (int value = 8; value < 16; ++value)
    EXPECT_EQ(last.images[value], 0.0f) << "value " << value;
  // Pixels of a real sample are in place (no augmentation in test mode).
  EXPECT_FLOAT_EQ(last.images[4 + 2], 7 / 255.0f);
  EXPECT_FLOAT_EQ(last.images[4 + 3], 200 / 255.0f);
}

TEST(BatchLoader, TestShardsCoverEverySampleInLockstep) {
  const Dataset dataset = indexedDataset(0, 10);
  std::vector<int64_t> all;
  for (int shard = 0; shard < 3; ++shard) {
    LoaderOptions sharded = options(2, false);
    sharded.shard = shard;
    sharded.shards = 3;
    BatchLoader loader(dataset, dataset.test, sharded);
    EXPECT_EQ(loader.batchesPerEpoch(), 2); // parts of ceil(10 / 3) = 4
    const std::vector<Batch> batches = drain(loader);
    ASSERT_EQ(batches.size(), 2u);
    const std::vector<int64_t> samples = samplesOf(batches);
    all.insert(all.end(), samples.begin(), samples.end());
    if (shard == 2) {
      EXPECT_EQ(batches[0].count, 2);
      EXPECT_EQ(batches[1].count, 0);
    }
  }
  std::vector<int64_t> expected(10);
  std::iota(expected.begin(), expected.end(), 0);
  EXPECT_EQ(all, expected);
}

TEST(BatchLoader, NormalizesWithTheDatasetStatistics) {
  Dataset dataset = indexedDataset(0, 3);
  dataset.mean = {0.2860f};
  dataset.stddev = {0.3530f};
  BatchLoader loader(dataset, dataset.test, options(3, false));
  Batch batch;
  ASSERT_TRUE(loader.next(batch));
  EXPECT_NEAR(batch.images[3], (200 / 255.0 - 0.2860) / 0.3530, 1e-5);
  EXPECT_NEAR(batch.images[2], (7 / 255.0 - 0.2860) / 0.3530, 1e-5);
  EXPECT_NEAR(batch.images[0], -0.2860 / 0.3530, 1e-5); // sample 0, pixel 0
  EXPECT_NEAR(batch.images[4], (1 / 255.0 - 0.2860) / 0.3530, 1e-5);

  Dataset rgb = makeSynthetic({3, 2, 2}, 2, 1, 1, 3);
  rgb.mean = {0.4914f, 0.4822f, 0.4465f};
  rgb.stddev = {0.2470f, 0.2435f, 0.2616f};
  BatchLoader rgbLoader(rgb, rgb.test, options(1, false));
  ASSERT_TRUE(rgbLoader.next(batch));
  for (int channel = 0; channel < 3; ++channel) {
    const int value = rgb.test.pixels[channel * 4 + 1];
    EXPECT_NEAR(batch.images[channel * 4 + 1],
                (value / 255.0 - rgb.mean[channel]) / rgb.stddev[channel], 1e-5)
        << "channel " << channel;
  }
}

// Each training image must be a crop of the zero-padded source, optionally
// mirrored, with padded pixels normalized from pixel value 0.
TEST(BatchLoader, AugmentsByPaddedCropAndFlip) {
  const Dataset dataset = augmentedDataset();
  const int64_t channels = 3, side = 8, pixels = 3 * 8 * 8;
  const int padding = dataset.padding;
  BatchLoader loader(dataset, dataset.train, options(100, true, 21, 4));
  const std::vector<int64_t> order = BatchLoader::shuffledOrder(300, 21, 4);
  std::vector<int> shifts(2 * padding + 1, 0);
  int flips = 0, checked = 0;
  Batch batch;
  while (loader.next(batch)) {
    for (int64_t slot = 0; slot < batch.count; ++slot) {
      const int64_t sample = order[batch.index * 100 + slot];
      ASSERT_EQ(batch.labels[slot], dataset.train.labels[sample]);
      const uint8_t *source = dataset.train.pixels.data() + sample * pixels;
      const float *image = batch.images.data() + slot * pixels;
      int matches = 0;
      for (int rowOffset = 0; rowOffset <= 2 * padding; ++rowOffset)
        for (int columnOffset = 0; columnOffset <= 2 * padding; ++columnOffset)
          for (int flip = 0; flip < 2; ++flip) {
            bool same = true;
            for (int64_t c = 0; c < channels && same; ++c)
              for (int64_t y = 0; y < side && same; ++y)
                for (int64_t x = 0; x < side && same; ++x) {
                  const int64_t croppedX = flip ? side - 1 - x : x;
                  const int64_t sourceY = y + rowOffset - padding;
                  const int64_t sourceX = croppedX + columnOffset - padding;
                  const bool inside = sourceY >= 0 && sourceY < side &&
                                      sourceX >= 0 && sourceX < side;
                  const int value =
                      inside ? source[c * 64 + sourceY * side + sourceX] : 0;
                  const float expected =
                      (value / 255.0f - dataset.mean[c]) / dataset.stddev[c];
                  same = std::fabs(image[c * 64 + y * side + x] - expected) <
                         1e-5f;
                }
            if (same) {
              ++matches;
              ++shifts[rowOffset];
              flips += flip;
            }
          }
      EXPECT_GE(matches, 1) << "sample " << sample;
      ++checked;
    }
  }
  ASSERT_EQ(checked, 300);
  // Random images match exactly one augmentation; over 300 samples every
  // offset and both flip states occur.
  for (int offset = 0; offset <= 2 * padding; ++offset)
    EXPECT_GT(shifts[offset], 20) << "row offset " << offset;
  EXPECT_GT(flips, 100);
  EXPECT_LT(flips, 200);
}

TEST(BatchLoader, StopsPromptlyWithUnconsumedBatches) {
  const Dataset dataset = makeSynthetic({3, 32, 32}, 10, 2000, 0, 1);
  for (int consumed = 0; consumed < 3; ++consumed) {
    LoaderOptions many = options(8, true);
    many.prefetch = 1 + consumed;
    auto loader = std::make_unique<BatchLoader>(dataset, dataset.train, many);
    Batch batch;
    for (int index = 0; index < consumed; ++index)
      ASSERT_TRUE(loader->next(batch));
    loader.reset(); // must join, not wait for 250 batches to be consumed
  }
}

TEST(BatchLoader, RejectsBadOptions) {
  const Dataset dataset = indexedDataset(100, 10);
  auto make = [&](LoaderOptions loaderOptions) {
    return errorOf(
        [&] { BatchLoader loader(dataset, dataset.train, loaderOptions); });
  };
  EXPECT_CONTAINS(make(options(0, true)), "batch size 0");
  LoaderOptions badShard = options(10, true);
  badShard.shard = 2;
  badShard.shards = 2;
  EXPECT_CONTAINS(make(badShard), "shard 2 of 2");
  LoaderOptions badFirst = options(10, true);
  badFirst.firstBatch = 11;
  EXPECT_CONTAINS(make(badFirst), "first batch 11");
  LoaderOptions badLimit = options(10, true);
  badLimit.limit = 0;
  EXPECT_CONTAINS(make(badLimit), "limit 0");
  LoaderOptions badPrefetch = options(10, true);
  badPrefetch.prefetch = 0;
  EXPECT_CONTAINS(make(badPrefetch), "prefetch 0");

  LoaderOptions tooFew = options(64, true);
  tooFew.limit = 50;
  const std::string message = make(tooFew);
  EXPECT_CONTAINS(message, "fewer than one batch of 64");
  EXPECT_CONTAINS(message, "smaller batch size");
  LoaderOptions tooFewPerShard = options(40, true);
  tooFewPerShard.shards = 4;
  EXPECT_CONTAINS(make(tooFewPerShard), "25 per shard");

  // A limit above the split's size means the whole split.
  LoaderOptions bigLimit = options(10, true);
  bigLimit.limit = 1000;
  BatchLoader loader(dataset, dataset.train, bigLimit);
  EXPECT_EQ(loader.batchesPerEpoch(), 10);
}

TEST(BatchLoader, RejectsInconsistentSplits) {
  Dataset dataset = indexedDataset(20, 0);
  dataset.train.labels[3] = 10;
  EXPECT_CONTAINS(errorOf([&] {
                    BatchLoader loader(dataset, dataset.train,
                                       options(4, true));
                  }),
                  "sample 3 has label 10");
  dataset = indexedDataset(20, 0);
  dataset.train.pixels.pop_back();
  EXPECT_CONTAINS(errorOf([&] {
                    BatchLoader loader(dataset, dataset.train,
                                       options(4, true));
                  }),
                  "79 pixel bytes");
  dataset = indexedDataset(20, 0);
  dataset.stddev = {0.0f};
  EXPECT_CONTAINS(errorOf([&] {
                    BatchLoader loader(dataset, dataset.train,
                                       options(4, true));
                  }),
                  "positive finite stddev");
}

} // namespace
