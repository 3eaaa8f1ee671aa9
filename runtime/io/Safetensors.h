//===- Safetensors.h - Reading and writing safetensors files ----*- C++ -*-===//
//
// Checkpoints and exported weights use the safetensors format
// (https://github.com/huggingface/safetensors) so that PyTorch, NumPy and
// other tools can read them without code from this project:
//
//   u64 little-endian N | N bytes of UTF-8 JSON header | data section
//
// The header is an object {"<tensor>": {"dtype": "F32", "shape": [..],
// "data_offsets": [begin, end]}, ..., "__metadata__": {"key": "value"}} whose
// metadata values are strings. Offsets are relative to the start of the data
// section; tensors are stored little-endian in C order and together cover the
// data section exactly. The writer pads the JSON with spaces so that the data
// section starts at a multiple of 8 bytes.
//
// Tensors are not aligned within the data section (a 3-byte U8 tensor may be
// followed by an F32 one), so copy their bytes out with memcpy rather than
// casting dataOf() to a wider type.
//
//===----------------------------------------------------------------------===//

#ifndef DENSENET_RUNTIME_IO_SAFETENSORS_H
#define DENSENET_RUNTIME_IO_SAFETENSORS_H

#include "runtime/io/AtomicFile.h"

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace densenet::io {

/// The element types the runtime reads and writes. Other safetensors dtypes
/// (BOOL, I8, F8_E4M3, ...) are rejected as unsupported when read.
enum class TensorDtype { F32, F16, BF16, I64, I32, U8, F64 };

/// Bytes per element.
size_t dtypeSize(TensorDtype dtype);

/// The name in the safetensors header: "F32", "F16", "BF16", "I64", "I32",
/// "U8" or "F64".
const char *dtypeName(TensorDtype dtype);

/// The dtype with that header name; std::nullopt for any other string.
std::optional<TensorDtype> parseDtype(std::string_view name);

/// A tensor to be written: `bytes` bytes at `data`, little-endian, C order.
/// The data is not copied and must stay alive during the call.
struct TensorView {
  std::string name;
  TensorDtype dtype;
  std::vector<int64_t> shape;
  const void *data;
  size_t bytes;
};

/// Serializes into memory: tensors in the given order in both the header and
/// the data section, which has no holes. Throws IoError (naming the tensor)
/// unless every tensor has bytes == product(shape) * dtypeSize(dtype),
/// non-negative dimensions and a unique name other than "__metadata__", and
/// all names, metadata keys and values are valid UTF-8. No "__metadata__"
/// entry is written when `metadata` is empty, as in the reference writer.
std::string
serializeSafetensors(const std::vector<TensorView> &tensors,
                     const std::map<std::string, std::string> &metadata);

/// Serializes as serializeSafetensors does and writes the result with
/// writeFileAtomically (without first building the whole file in memory).
/// If validation fails nothing is written and an existing file is untouched.
void writeSafetensors(const std::string &path,
                      const std::vector<TensorView> &tensors,
                      const std::map<std::string, std::string> &metadata,
                      const std::string &description = "safetensors file");

/// A parsed and validated safetensors file.
struct SafetensorsFile {
  struct Entry {
    std::string name;
    TensorDtype dtype;
    std::vector<int64_t> shape;
    size_t offset; ///< From the start of the data section.
    size_t bytes;
  };

  std::map<std::string, std::string> metadata;
  std::vector<Entry> tensors; ///< In data order (by offset), not header order.
  std::vector<uint8_t> data;  ///< The data section.

  /// The entry named `name`, or nullptr when there is none. Linear: files
  /// hold hundreds of tensors, not millions.
  const Entry *find(const std::string &name) const;

  /// The first byte of `entry`'s data; not aligned beyond one byte.
  const uint8_t *dataOf(const Entry &entry) const;
};

/// Largest header accepted, as in the reference implementation: a larger
/// length field means a corrupt or hostile file, not a real header.
constexpr uint64_t kMaxSafetensorsHeaderBytes = 100'000'000;

/// Parses and validates `size` bytes completely: the header length fits in
/// the buffer and below kMaxSafetensorsHeaderBytes; the header is a JSON
/// object without duplicate keys; every entry has exactly dtype, shape and
/// data_offsets of the right types, a supported dtype and non-negative
/// dimensions whose byte count does not overflow and equals end - begin;
/// entries neither overlap nor leave holes and cover the data section
/// exactly; metadata values are strings. Any problem throws IoError naming
/// `sourceName` and the tensor or field. Never crashes on arbitrary input.
SafetensorsFile parseSafetensors(const uint8_t *bytes, size_t size,
                                 const std::string &sourceName);

/// Reads and parses `path`; IoError if it cannot be read or is invalid.
SafetensorsFile readSafetensors(const std::string &path);

} // namespace densenet::io

#endif // DENSENET_RUNTIME_IO_SAFETENSORS_H
