//===- Readers.h - The file formats behind the data set loaders -*- C++ -*-===//
//
// loadFashionMnist and loadCifar10 (Dataset.h) read whole directories of
// full-size files. The functions here are the layer below them, exactly the
// code the loaders run on each file: one IDX file, or the records of one
// CIFAR-10 batch already in memory. They are exposed so that the fuzz targets
// (test/fuzz) and their regression tests can feed arbitrary bytes to the
// parsers without writing a directory of 30 MB batch files per input. Code
// that loads data sets calls the loaders, not these.
//
//===----------------------------------------------------------------------===//

#ifndef DENSENET_RUNTIME_DATA_READERS_H
#define DENSENET_RUNTIME_DATA_READERS_H

#include "runtime/data/Dataset.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace densenet::data {

/// Reads the Fashion-MNIST image file at `path` (IDX, gzip-compressed or
/// plain), appends its 28x28 u8 images to `pixels` and returns their count.
/// Throws DataError naming `path` unless the file is complete and intact and
/// holds at least one image of 28x28 and nothing after the images.
int64_t readFashionMnistImages(const std::string &path,
                               std::vector<uint8_t> &pixels);

/// Reads the Fashion-MNIST label file at `path` (IDX, gzip-compressed or
/// plain) into `labels` (replacing its contents) and returns their count.
/// Throws DataError naming `path` unless the file is complete and intact and
/// holds at least one label, every one in [0, 10), and nothing after them.
int64_t readFashionMnistLabels(const std::string &path,
                               std::vector<uint16_t> &labels);

/// Appends the CIFAR-10 records in `size` bytes at `bytes` (each one label
/// byte and 3072 pixel bytes, the planes of a 3x32x32 image) to `split`;
/// `path` names the file in messages. Throws DataError when `size` is not a
/// whole number of records or a label is not in [0, 10); `split` may then
/// hold part of the records. loadCifar10 calls it with the 10000 records of
/// each batch file, whose size it has checked before reading.
void appendCifar10Records(const uint8_t *bytes, size_t size,
                          const std::string &path, Split &split);

} // namespace densenet::data

#endif // DENSENET_RUNTIME_DATA_READERS_H
