//===- Cifar10.cpp - CIFAR-10 from the binary version's batch files -------===//
//
// Each batch file of the binary release is 10000 records of one label byte
// followed by 3072 pixel bytes: the red, green and blue 32x32 planes. That is
// already the planar [C][H][W] layout a Split holds, so records are copied
// as they are.
//
//===----------------------------------------------------------------------===//

#include "runtime/data/Dataset.h"
#include "runtime/data/Readers.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iterator>
#include <memory>

namespace densenet::data {

namespace {

namespace fs = std::filesystem;

constexpr int kClasses = 10;
constexpr int kRecordsPerFile = 10000;
constexpr int64_t kPixelsPerImage = 3 * 32 * 32;
constexpr int64_t kRecordBytes = 1 + kPixelsPerImage;
constexpr uint64_t kFileBytes = kRecordsPerFile * kRecordBytes; // 30,730,000

const char *const kTrainFiles[] = {"data_batch_1.bin", "data_batch_2.bin",
                                   "data_batch_3.bin", "data_batch_4.bin",
                                   "data_batch_5.bin"};
const char *const kTestFile = "test_batch.bin";

const char *const kHowToGet =
    "download the CIFAR-10 binary version, "
    "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz, and unpack it "
    "(tar xzf cifar-10-binary.tar.gz) in ./data or in the directory named by "
    "$DENSENET_DATA, which creates cifar-10-batches-bin/; or pass --data-dir "
    "with the directory holding data_batch_1.bin .. data_batch_5.bin and "
    "test_batch.bin";

bool holdsAnyBatch(const std::string &directory) {
  std::error_code error;
  for (const char *name : kTrainFiles)
    if (fs::exists(fs::path(directory) / name, error))
      return true;
  return fs::exists(fs::path(directory) / kTestFile, error);
}

struct FileCloser {
  void operator()(std::FILE *file) const { std::fclose(file); }
};

/// Appends the records of one batch file to `split`.
void readBatchFile(const std::string &directory, const char *name,
                   Split &split) {
  const std::string path = (fs::path(directory) / name).string();
  std::error_code error;
  if (!fs::exists(path, error))
    throw DataError("CIFAR-10 file " + path + " is missing (the directory " +
                    directory +
                    " holds other batch files, so the download or unpacking "
                    "was incomplete); " +
                    kHowToGet);
  const uintmax_t size = fs::file_size(path, error);
  if (error)
    throw DataError("cannot read the size of CIFAR-10 file " + path + ": " +
                    error.message() + "; check that it is a readable file");
  if (size != kFileBytes)
    throw DataError("CIFAR-10 file " + path + " is " + std::to_string(size) +
                    " bytes, but a batch of the binary version is exactly " +
                    std::to_string(kFileBytes) +
                    " (10000 records of 1 label "
                    "byte and 3072 pixel bytes); the file is damaged or from "
                    "the Python or MATLAB version; " +
                    kHowToGet);

  errno = 0;
  std::unique_ptr<std::FILE, FileCloser> file(std::fopen(path.c_str(), "rb"));
  if (!file)
    throw DataError("cannot open CIFAR-10 file " + path + ": " +
                    std::strerror(errno) + "; check that it is readable");
  std::vector<uint8_t> bytes(kFileBytes);
  if (std::fread(bytes.data(), 1, bytes.size(), file.get()) != bytes.size())
    throw DataError("cannot read all " + std::to_string(kFileBytes) +
                    " bytes of CIFAR-10 file " + path +
                    (std::ferror(file.get()) ? std::string(": read error")
                                             : std::string(": it got shorter "
                                                           "while reading")) +
                    "; check the file and the disk");

  appendCifar10Records(bytes.data(), bytes.size(), path, split);
}

} // namespace

void appendCifar10Records(const uint8_t *bytes, size_t size,
                          const std::string &path, Split &split) {
  // readBatchFile checked the file's size already; this is for other callers
  // (the fuzz target), which may pass any number of bytes.
  if (size % kRecordBytes != 0)
    throw DataError("CIFAR-10 file " + path + " is " + std::to_string(size) +
                    " bytes, not a whole number of " +
                    std::to_string(kRecordBytes) +
                    "-byte records (1 label byte and 3072 pixel bytes); " +
                    kHowToGet);
  const int64_t records = static_cast<int64_t>(size / kRecordBytes);
  const size_t firstPixel = split.pixels.size();
  split.pixels.resize(firstPixel + records * kPixelsPerImage);
  split.labels.reserve(split.labels.size() + records);
  for (int64_t record = 0; record < records; ++record) {
    const uint8_t *source = bytes + record * kRecordBytes;
    if (source[0] >= kClasses)
      throw DataError("CIFAR-10 file " + path + ": record " +
                      std::to_string(record) + " has label " +
                      std::to_string(source[0]) +
                      ", not a class in [0, 10); the file is damaged or not "
                      "a CIFAR-10 (rather than CIFAR-100) batch; " +
                      kHowToGet);
    split.labels.push_back(source[0]);
    std::memcpy(split.pixels.data() + firstPixel + record * kPixelsPerImage,
                source + 1, kPixelsPerImage);
  }
  split.count += records;
}

std::vector<std::string>
cifar10SearchDirectories(const std::string &directoryFlag) {
  // An explicit --data-dir is the user's choice and never falls back to other
  // places, which could silently train on different data.
  if (!directoryFlag.empty())
    return {directoryFlag,
            (fs::path(directoryFlag) / "cifar-10-batches-bin").string()};
  std::vector<std::string> directories;
  if (const char *root = std::getenv("DENSENET_DATA"); root && *root)
    directories.push_back((fs::path(root) / "cifar-10-batches-bin").string());
  directories.push_back("./data/cifar-10-batches-bin");
  return directories;
}

Dataset loadCifar10(const std::string &directoryFlag) {
  const std::vector<std::string> candidates =
      cifar10SearchDirectories(directoryFlag);
  std::string directory;
  for (const std::string &candidate : candidates)
    if (holdsAnyBatch(candidate)) {
      directory = candidate;
      break;
    }
  if (directory.empty()) {
    std::string looked;
    for (const std::string &candidate : candidates)
      looked += (looked.empty() ? "" : ", ") + candidate;
    throw DataError("CIFAR-10 not found: looked for data_batch_1.bin .. "
                    "data_batch_5.bin and test_batch.bin in " +
                    looked + "; " + kHowToGet);
  }

  Dataset dataset;
  dataset.name = "cifar10";
  dataset.shape = {3, 32, 32};
  dataset.classes = kClasses;
  dataset.mean = {0.4914f, 0.4822f, 0.4465f};
  dataset.stddev = {0.2470f, 0.2435f, 0.2616f};
  dataset.padding = 4;
  dataset.horizontalFlip = true;
  dataset.train.pixels.reserve(std::size(kTrainFiles) * kRecordsPerFile *
                               kPixelsPerImage);
  for (const char *name : kTrainFiles)
    readBatchFile(directory, name, dataset.train);
  readBatchFile(directory, kTestFile, dataset.test);
  checkSplit(dataset, dataset.train, "train");
  checkSplit(dataset, dataset.test, "test");
  return dataset;
}

} // namespace densenet::data
