//===- FashionMnist.cpp - Fashion-MNIST from gzip-compressed IDX files ----===//
//
// IDX files are a big-endian header (magic number, then one u32 per
// dimension) followed by the u8 values. The Debian package
// dataset-fashion-mnist ships them gzip-compressed; zlib's gz* functions read
// plain files too, which covers users who unpacked them.
//
//===----------------------------------------------------------------------===//

#include "runtime/data/Dataset.h"
#include "runtime/data/Readers.h"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

namespace densenet::data {

namespace {

constexpr uint32_t kImagesMagic = 0x00000803; // u8 values, 3 dimensions
constexpr uint32_t kLabelsMagic = 0x00000801; // u8 values, 1 dimension
constexpr int kSide = 28;
constexpr int kClasses = 10;

const char *const kHowToGet =
    "install the Debian package dataset-fashion-mnist (apt-get install "
    "dataset-fashion-mnist), which puts the files in "
    "/usr/share/datasets/fashion-mnist, or pass --data-dir with a directory "
    "holding train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
    "t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz";

const char *const kHowToReplace =
    "download it again or reinstall it (apt-get install --reinstall "
    "dataset-fashion-mnist)";

const char *const kHowToRepair =
    "the file is damaged; download it again or reinstall it (apt-get install "
    "--reinstall dataset-fashion-mnist)";

/// A gzip (or plain) file read strictly: any short read, decompression error
/// or trailing byte becomes a DataError naming the file.
class GzipReader {
public:
  explicit GzipReader(std::string filePath) : path(std::move(filePath)) {
    errno = 0;
    file = gzopen(path.c_str(), "rb");
    if (!file)
      throw DataError("cannot open Fashion-MNIST file " + path + ": " +
                      (errno ? std::strerror(errno) : "out of memory") +
                      "; check that it is readable, or " + kHowToGet);
    gzbuffer(file, 1 << 18);
  }
  ~GzipReader() { gzclose(file); }
  GzipReader(const GzipReader &) = delete;
  GzipReader &operator=(const GzipReader &) = delete;

  /// Appends exactly `bytes` bytes to `out`; `what` names them in errors.
  /// The vector grows as data arrives, so a corrupt header claiming a huge
  /// count fails on the missing data instead of on one giant allocation.
  void read(std::vector<uint8_t> &out, uint64_t bytes,
            const std::string &what) {
    const uint64_t start = out.size();
    uint64_t done = 0;
    while (done < bytes) {
      const uint64_t chunk = std::min<uint64_t>(bytes - done, 1 << 24);
      out.resize(start + done + chunk);
      const int got =
          gzread(file, out.data() + start + done, static_cast<unsigned>(chunk));
      if (got < 0)
        failDecompression();
      done += got;
      if (static_cast<uint64_t>(got) < chunk) {
        checkNoError();
        throw DataError("Fashion-MNIST file " + path +
                        " is truncated: expected " + std::to_string(bytes) +
                        " bytes of " + what + ", found " +
                        std::to_string(done) + "; " + kHowToRepair);
      }
    }
  }

  /// Checks that the data ends here and that the compressed stream is
  /// complete and intact (zlib verifies the CRC only at the end).
  void expectEnd(const std::string &expectedSize) {
    unsigned char extra[4096];
    uint64_t trailing = 0;
    for (;;) {
      const int got = gzread(file, extra, sizeof(extra));
      if (got < 0)
        failDecompression();
      if (got == 0)
        break;
      trailing += got;
    }
    checkNoError();
    if (trailing != 0)
      throw DataError("Fashion-MNIST file " + path + " has " +
                      std::to_string(trailing) +
                      " bytes after the data its header describes (" +
                      expectedSize + "); " + kHowToRepair);
  }

private:
  [[noreturn]] void failDecompression() {
    int code = Z_OK;
    const char *zlibMessage = gzerror(file, &code);
    std::string message = zlibMessage ? zlibMessage : "unknown zlib error";
    // zlib prefixes the path, which the message already names.
    if (message.rfind(path + ": ", 0) == 0)
      message.erase(0, path.size() + 2);
    throw DataError("cannot decompress Fashion-MNIST file " + path + ": " +
                    message + "; " + kHowToRepair);
  }

  // zlib reports a cut-off or corrupt compressed stream as an error after
  // returning the data it could decode, so a short read must check for one.
  void checkNoError() {
    int code = Z_OK;
    gzerror(file, &code);
    if (code != Z_OK)
      failDecompression();
  }

  std::string path;
  gzFile file = nullptr;
};

uint32_t readBigEndian(const uint8_t *bytes) {
  return (uint32_t(bytes[0]) << 24) | (uint32_t(bytes[1]) << 16) |
         (uint32_t(bytes[2]) << 8) | uint32_t(bytes[3]);
}

std::string hex(uint32_t value) {
  char text[16];
  std::snprintf(text, sizeof(text), "0x%08x", value);
  return text;
}

/// `directory/name.gz`, or `directory/name` when only the unpacked file is
/// there.
std::string findFile(const std::string &directory, const std::string &name) {
  namespace fs = std::filesystem;
  const fs::path compressed = fs::path(directory) / (name + ".gz");
  std::error_code error;
  if (fs::exists(compressed, error))
    return compressed.string();
  const fs::path plain = fs::path(directory) / name;
  if (fs::exists(plain, error))
    return plain.string();
  if (!fs::is_directory(directory, error))
    throw DataError("Fashion-MNIST directory " + directory +
                    " does not exist; " + kHowToGet);
  throw DataError("Fashion-MNIST file " + compressed.string() +
                  " not found (nor " + plain.string() + "); " + kHowToGet);
}

int64_t readImages(const std::string &path, std::vector<uint8_t> &pixels) {
  GzipReader reader(path);
  // The magic number is checked before the rest of the header is read, so a
  // label file passed as images reports the mix-up rather than a short file.
  std::vector<uint8_t> header;
  reader.read(header, 4, "the IDX magic number");
  const uint32_t magic = readBigEndian(header.data());
  if (magic != kImagesMagic)
    throw DataError("Fashion-MNIST file " + path + " starts with " +
                    hex(magic) + ", not the IDX image magic number " +
                    hex(kImagesMagic) +
                    "; it is a label file or not an IDX file at all. Check "
                    "the file names, or " +
                    kHowToReplace);
  reader.read(header, 12, "the IDX image dimensions");
  const uint32_t count = readBigEndian(header.data() + 4);
  const uint32_t rows = readBigEndian(header.data() + 8);
  const uint32_t columns = readBigEndian(header.data() + 12);
  if (rows != kSide || columns != kSide)
    throw DataError("Fashion-MNIST file " + path + " holds " +
                    std::to_string(rows) + "x" + std::to_string(columns) +
                    " images, not 28x28; " + kHowToRepair);
  if (count == 0)
    throw DataError("Fashion-MNIST file " + path + " holds no images; " +
                    kHowToRepair);
  const uint64_t bytes = uint64_t(count) * kSide * kSide;
  const std::string described = std::to_string(count) + " images of 28x28";
  reader.read(pixels, bytes, described);
  reader.expectEnd(described);
  return count;
}

int64_t readLabels(const std::string &path, std::vector<uint16_t> &wideLabels) {
  std::vector<uint8_t> labels;
  GzipReader reader(path);
  std::vector<uint8_t> header;
  reader.read(header, 4, "the IDX magic number");
  const uint32_t magic = readBigEndian(header.data());
  if (magic != kLabelsMagic)
    throw DataError("Fashion-MNIST file " + path + " starts with " +
                    hex(magic) + ", not the IDX label magic number " +
                    hex(kLabelsMagic) +
                    "; it is an image file or not an IDX file at all. Check "
                    "the file names, or " +
                    kHowToReplace);
  reader.read(header, 4, "the IDX label count");
  const uint32_t count = readBigEndian(header.data() + 4);
  if (count == 0)
    throw DataError("Fashion-MNIST file " + path + " holds no labels; " +
                    kHowToRepair);
  const std::string described = std::to_string(count) + " labels";
  reader.read(labels, count, described);
  reader.expectEnd(described);
  for (size_t sample = 0; sample < labels.size(); ++sample)
    if (labels[sample] >= kClasses)
      throw DataError("Fashion-MNIST file " + path + ": label " +
                      std::to_string(labels[sample]) + " of sample " +
                      std::to_string(sample) + " is not a class in [0, 10); " +
                      kHowToRepair);
  wideLabels.assign(labels.begin(), labels.end());
  return count;
}

Split readSplit(const std::string &directory, const std::string &prefix) {
  Split split;
  const std::string imagesPath =
      findFile(directory, prefix + "-images-idx3-ubyte");
  const std::string labelsPath =
      findFile(directory, prefix + "-labels-idx1-ubyte");
  const int64_t images = readImages(imagesPath, split.pixels);
  const int64_t labels = readLabels(labelsPath, split.labels);
  if (images != labels)
    throw DataError("Fashion-MNIST files disagree: " + imagesPath + " holds " +
                    std::to_string(images) + " images but " + labelsPath +
                    " holds " + std::to_string(labels) +
                    " labels; both must come from the same release, so "
                    "one is damaged or replaced: " +
                    kHowToReplace);
  split.count = images;
  return split;
}

} // namespace

// The per-file readers of Readers.h, for the fuzz targets and their tests.
int64_t readFashionMnistImages(const std::string &path,
                               std::vector<uint8_t> &pixels) {
  return readImages(path, pixels);
}

int64_t readFashionMnistLabels(const std::string &path,
                               std::vector<uint16_t> &labels) {
  return readLabels(path, labels);
}

std::string defaultFashionMnistDirectory() {
  return "/usr/share/datasets/fashion-mnist";
}

Dataset loadFashionMnist(const std::string &directory) {
  const std::string from =
      directory.empty() ? defaultFashionMnistDirectory() : directory;
  Dataset dataset;
  dataset.name = "fashion-mnist";
  dataset.shape = {1, kSide, kSide};
  dataset.classes = kClasses;
  dataset.mean = {0.2860f};
  dataset.stddev = {0.3530f};
  dataset.padding = 2;
  dataset.horizontalFlip = false;
  dataset.train = readSplit(from, "train");
  dataset.test = readSplit(from, "t10k");
  checkSplit(dataset, dataset.train, "train");
  checkSplit(dataset, dataset.test, "test");
  return dataset;
}

} // namespace densenet::data
