//===- Safetensors.cpp - Reading and writing safetensors files ------------===//
//
// The parser is written for hostile input: files come from disk, from other
// tools and from fuzzers, so every length and offset is checked before it is
// used, all arithmetic on values from the file is overflow-checked, and every
// problem becomes an IoError that names the file and the offending field.
//
//===----------------------------------------------------------------------===//

#include "runtime/io/Safetensors.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstring>
#include <limits>
#include <set>

// Tensor bytes are copied between memory and the file unchanged, which is
// only correct where memory is little-endian like the format.
#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors I/O assumes a little-endian host"
#endif

namespace densenet::io {

namespace {

using Json = nlohmann::json;
// The writer keeps tensors in the caller's order in the header as well, so
// that the header reads in data order; nlohmann::json would sort the keys.
using OrderedJson = nlohmann::ordered_json;

constexpr const char *kMetadataKey = "__metadata__";
constexpr size_t kLengthFieldBytes = 8;
// The deepest legitimate value is a dimension inside "shape" inside an entry
// inside the header (depth 3). The limit only keeps "[[[[..." from costing
// memory and time; moderately wrong nesting still gets a precise message.
constexpr int kMaxJsonDepth = 16;

struct DtypeInfo {
  TensorDtype dtype;
  const char *name;
  size_t size;
};

constexpr DtypeInfo kDtypes[] = {
    {TensorDtype::F32, "F32", 4},   {TensorDtype::F16, "F16", 2},
    {TensorDtype::BF16, "BF16", 2}, {TensorDtype::I64, "I64", 8},
    {TensorDtype::I32, "I32", 4},   {TensorDtype::U8, "U8", 1},
    {TensorDtype::F64, "F64", 8},
};

const DtypeInfo &dtypeInfo(TensorDtype dtype) {
  for (const DtypeInfo &info : kDtypes)
    if (info.dtype == dtype)
      return info;
  throw IoError("invalid TensorDtype value " +
                std::to_string(static_cast<int>(dtype)));
}

std::string inQuotes(std::string_view text) {
  return "'" + std::string(text) + "'";
}

std::string formatShape(const std::vector<int64_t> &shape) {
  std::string text = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    text += (i ? ", " : "") + std::to_string(shape[i]);
  return text + "]";
}

/// Bytes of a tensor of `shape` and `dtype`, or nullopt when the count does
/// not fit in 64 bits (only possible for shapes read from a bad file or
/// computed wrongly by a caller).
std::optional<uint64_t> byteCount(const std::vector<int64_t> &shape,
                                  TensorDtype dtype) {
  uint64_t bytes = dtypeSize(dtype);
  for (int64_t dimension : shape)
    if (__builtin_mul_overflow(bytes, static_cast<uint64_t>(dimension), &bytes))
      return std::nullopt;
  return bytes;
}

/// Strict UTF-8 (no overlong forms, surrogates or code points past
/// U+10FFFF), the same rule the JSON library applies when it writes.
bool isValidUtf8(std::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    unsigned char lead = static_cast<unsigned char>(text[i]);
    size_t length;
    uint32_t codePoint;
    if (lead < 0x80) {
      ++i;
      continue;
    }
    if ((lead & 0xE0) == 0xC0) {
      length = 2;
      codePoint = lead & 0x1F;
    } else if ((lead & 0xF0) == 0xE0) {
      length = 3;
      codePoint = lead & 0x0F;
    } else if ((lead & 0xF8) == 0xF0) {
      length = 4;
      codePoint = lead & 0x07;
    } else {
      return false;
    }
    if (text.size() - i < length)
      return false;
    for (size_t k = 1; k < length; ++k) {
      unsigned char continuation = static_cast<unsigned char>(text[i + k]);
      if ((continuation & 0xC0) != 0x80)
        return false;
      codePoint = (codePoint << 6) | (continuation & 0x3F);
    }
    static constexpr uint32_t kSmallest[] = {0, 0, 0x80, 0x800, 0x10000};
    if (codePoint < kSmallest[length] || codePoint > 0x10FFFF ||
        (codePoint >= 0xD800 && codePoint <= 0xDFFF))
      return false;
    i += length;
  }
  return true;
}

/// The 8-byte length field and the padded JSON header for `tensors`, after
/// checking everything the writer promises. Sets `dataBytes` to the size of
/// the data section that must follow.
std::string buildHeader(const std::vector<TensorView> &tensors,
                        const std::map<std::string, std::string> &metadata,
                        uint64_t &dataBytes) {
  OrderedJson header = OrderedJson::object();
  if (!metadata.empty()) {
    OrderedJson entries = OrderedJson::object();
    for (const auto &[key, value] : metadata) {
      if (!isValidUtf8(key))
        throw IoError("cannot serialize safetensors: metadata key " +
                      inQuotes(key) + " is not valid UTF-8");
      if (!isValidUtf8(value))
        throw IoError("cannot serialize safetensors: metadata value of " +
                      inQuotes(key) + " is not valid UTF-8");
      entries[key] = value;
    }
    header[kMetadataKey] = std::move(entries);
  }

  std::set<std::string_view> names;
  uint64_t offset = 0;
  for (const TensorView &tensor : tensors) {
    std::string prefix =
        "cannot serialize safetensors: tensor " + inQuotes(tensor.name) + ": ";
    if (tensor.name == kMetadataKey)
      throw IoError(prefix + "the name is reserved for metadata");
    if (!isValidUtf8(tensor.name))
      throw IoError(prefix + "the name is not valid UTF-8");
    if (!names.insert(tensor.name).second)
      throw IoError(prefix + "the name is used by more than one tensor");
    for (int64_t dimension : tensor.shape)
      if (dimension < 0)
        throw IoError(prefix + "shape " + formatShape(tensor.shape) +
                      " has a negative dimension");
    std::optional<uint64_t> expected = byteCount(tensor.shape, tensor.dtype);
    if (!expected)
      throw IoError(prefix + "shape " + formatShape(tensor.shape) +
                    " is too large: its byte count overflows 64 bits");
    if (*expected != tensor.bytes)
      throw IoError(prefix + "has " + std::to_string(tensor.bytes) +
                    " bytes but shape " + formatShape(tensor.shape) + " of " +
                    dtypeName(tensor.dtype) + " needs " +
                    std::to_string(*expected));
    if (tensor.bytes > 0 && tensor.data == nullptr)
      throw IoError(prefix + "data is null");
    uint64_t end;
    if (__builtin_add_overflow(offset, uint64_t(tensor.bytes), &end))
      throw IoError(prefix + "the data section would exceed 2^64 bytes");

    OrderedJson entry = OrderedJson::object();
    entry["dtype"] = dtypeName(tensor.dtype);
    entry["shape"] = tensor.shape;
    entry["data_offsets"] = {offset, end};
    header[tensor.name] = std::move(entry);
    offset = end;
  }
  dataBytes = offset;

  // Everything was checked to be valid UTF-8, so dump() cannot throw.
  std::string text = header.dump();
  // Padding makes the data section start 8-byte aligned in the file, so a
  // reader that maps the file can use F64/I64 tensors in place.
  size_t padded = (text.size() + 7) & ~size_t(7);
  text.resize(padded, ' ');

  std::string result(kLengthFieldBytes, '\0');
  for (size_t i = 0; i < kLengthFieldBytes; ++i)
    result[i] = static_cast<char>((uint64_t(padded) >> (8 * i)) & 0xFF);
  return result + text;
}

/// A header that has been validated against a buffer, before the data
/// section is copied anywhere.
struct ParsedHeader {
  SafetensorsFile file; // Without data.
  size_t dataStart;     // Offset of the data section in the buffer.
};

[[noreturn]] void invalid(const std::string &sourceName,
                          const std::string &problem) {
  throw IoError("invalid safetensors file " + inQuotes(sourceName) + ": " +
                problem);
}

[[noreturn]] void invalidTensor(const std::string &sourceName,
                                const std::string &name,
                                const std::string &problem) {
  invalid(sourceName, "tensor " + inQuotes(name) + ": " + problem);
}

/// Parses the header JSON, rejecting duplicate keys (the JSON library would
/// silently keep the last one, hiding a tensor) and absurd nesting.
Json parseHeaderJson(const uint8_t *begin, const uint8_t *end,
                     const std::string &sourceName) {
  std::vector<std::set<std::string>> openObjects;
  Json::parser_callback_t callback = [&](int depth, Json::parse_event_t event,
                                         Json &parsed) {
    switch (event) {
    case Json::parse_event_t::object_start:
    case Json::parse_event_t::array_start:
      if (depth > kMaxJsonDepth)
        invalid(sourceName, "header nests JSON more than " +
                                std::to_string(kMaxJsonDepth) + " levels deep");
      if (event == Json::parse_event_t::object_start)
        openObjects.emplace_back();
      break;
    case Json::parse_event_t::object_end:
      if (!openObjects.empty())
        openObjects.pop_back();
      break;
    case Json::parse_event_t::key:
      if (!openObjects.empty() && parsed.is_string() &&
          !openObjects.back().insert(parsed.get<std::string>()).second)
        invalid(sourceName, "header has the key " +
                                inQuotes(parsed.get<std::string>()) +
                                " more than once");
      break;
    default:
      break;
    }
    return true;
  };
  try {
    return Json::parse(begin, end, callback);
  } catch (const Json::exception &error) {
    invalid(sourceName,
            std::string("header is not valid JSON: ") + error.what());
  }
}

/// A non-negative JSON integer that fits in `limit`, or nullopt.
std::optional<uint64_t> unsignedValue(const Json &value, uint64_t limit) {
  uint64_t result;
  if (value.is_number_unsigned())
    result = value.get<uint64_t>();
  else if (value.is_number_integer() && value.get<int64_t>() >= 0)
    result = static_cast<uint64_t>(value.get<int64_t>());
  else
    return std::nullopt;
  if (result > limit)
    return std::nullopt;
  return result;
}

SafetensorsFile::Entry parseEntry(const std::string &name, const Json &value,
                                  uint64_t dataBytes,
                                  const std::string &sourceName) {
  if (!value.is_object())
    invalidTensor(sourceName, name,
                  std::string("entry is a JSON ") + value.type_name() +
                      ", not an object");
  for (const auto &field : value.items())
    if (field.key() != "dtype" && field.key() != "shape" &&
        field.key() != "data_offsets")
      invalidTensor(sourceName, name,
                    "unexpected field " + inQuotes(field.key()));
  for (const char *required : {"dtype", "shape", "data_offsets"})
    if (!value.contains(required))
      invalidTensor(sourceName, name, "missing field " + inQuotes(required));

  SafetensorsFile::Entry entry;
  entry.name = name;

  const Json &dtype = value["dtype"];
  if (!dtype.is_string())
    invalidTensor(sourceName, name, "dtype is not a string");
  std::optional<TensorDtype> parsedDtype =
      parseDtype(dtype.get_ref<const std::string &>());
  if (!parsedDtype)
    invalidTensor(sourceName, name,
                  "unsupported dtype " +
                      inQuotes(dtype.get_ref<const std::string &>()));
  entry.dtype = *parsedDtype;

  const Json &shape = value["shape"];
  if (!shape.is_array())
    invalidTensor(sourceName, name, "shape is not an array");
  for (size_t i = 0; i < shape.size(); ++i) {
    const Json &dimension = shape[i];
    std::string where = "shape[" + std::to_string(i) + "] ";
    if (dimension.is_number_integer() && !dimension.is_number_unsigned() &&
        dimension.get<int64_t>() < 0)
      invalidTensor(sourceName, name,
                    where + "is " + std::to_string(dimension.get<int64_t>()) +
                        "; dimensions must be non-negative");
    if (!dimension.is_number_integer())
      invalidTensor(sourceName, name, where + "is not an integer");
    std::optional<uint64_t> size =
        unsignedValue(dimension, std::numeric_limits<int64_t>::max());
    if (!size)
      invalidTensor(sourceName, name, where + "is too large");
    entry.shape.push_back(static_cast<int64_t>(*size));
  }

  const Json &offsets = value["data_offsets"];
  std::optional<uint64_t> begin, end;
  if (offsets.is_array() && offsets.size() == 2) {
    begin = unsignedValue(offsets[0], std::numeric_limits<uint64_t>::max());
    end = unsignedValue(offsets[1], std::numeric_limits<uint64_t>::max());
  }
  if (!begin || !end)
    invalidTensor(
        sourceName, name,
        "data_offsets is not a pair of non-negative integers [begin, end]");
  std::string offsetsText = "data_offsets [" + std::to_string(*begin) + ", " +
                            std::to_string(*end) + "]";
  if (*end < *begin)
    invalidTensor(sourceName, name, offsetsText + " end before they begin");
  if (*end > dataBytes)
    invalidTensor(sourceName, name,
                  offsetsText + " are out of range: the data section has " +
                      std::to_string(dataBytes) + " bytes");

  std::optional<uint64_t> expected = byteCount(entry.shape, entry.dtype);
  if (!expected)
    invalidTensor(sourceName, name,
                  "shape " + formatShape(entry.shape) +
                      " is too large: its byte count overflows 64 bits");
  if (*end - *begin != *expected)
    invalidTensor(sourceName, name,
                  offsetsText + " hold " + std::to_string(*end - *begin) +
                      " bytes but shape " + formatShape(entry.shape) + " of " +
                      dtypeName(entry.dtype) + " needs " +
                      std::to_string(*expected));
  // Both are at most dataBytes, which is a size_t.
  entry.offset = static_cast<size_t>(*begin);
  entry.bytes = static_cast<size_t>(*expected);
  return entry;
}

ParsedHeader parseHeader(const uint8_t *bytes, size_t size,
                         const std::string &sourceName) {
  if (size < kLengthFieldBytes)
    invalid(sourceName, "it is " + std::to_string(size) +
                            " bytes long, too short for the 8-byte header "
                            "length");
  uint64_t headerBytes = 0;
  for (size_t i = 0; i < kLengthFieldBytes; ++i)
    headerBytes |= uint64_t(bytes[i]) << (8 * i);
  if (headerBytes > kMaxSafetensorsHeaderBytes)
    invalid(sourceName, "header length " + std::to_string(headerBytes) +
                            " exceeds the limit of " +
                            std::to_string(kMaxSafetensorsHeaderBytes) +
                            " bytes");
  if (headerBytes > size - kLengthFieldBytes)
    invalid(sourceName, "header length " + std::to_string(headerBytes) +
                            " is larger than the " +
                            std::to_string(size - kLengthFieldBytes) +
                            " bytes after the length field");

  ParsedHeader result;
  result.dataStart = kLengthFieldBytes + static_cast<size_t>(headerBytes);
  size_t dataBytes = size - result.dataStart;

  // The JSON library takes a NUL byte for the end of its input and would
  // ignore whatever follows; JSON text never contains one.
  const void *nul = std::memchr(bytes + kLengthFieldBytes, '\0',
                                static_cast<size_t>(headerBytes));
  if (nul)
    invalid(sourceName,
            "header is not valid JSON: it contains a NUL byte at offset " +
                std::to_string(static_cast<const uint8_t *>(nul) - bytes));
  Json header = parseHeaderJson(bytes + kLengthFieldBytes,
                                bytes + result.dataStart, sourceName);
  if (!header.is_object())
    invalid(sourceName, std::string("header is a JSON ") + header.type_name() +
                            ", not an object");

  SafetensorsFile &file = result.file;
  for (const auto &item : header.items()) {
    const std::string &key = item.key();
    const Json &value = item.value();
    if (key == kMetadataKey) {
      if (!value.is_object())
        invalid(sourceName, std::string("__metadata__ is a JSON ") +
                                value.type_name() + ", not an object");
      for (const auto &field : value.items()) {
        if (!field.value().is_string())
          invalid(sourceName, "metadata " + inQuotes(field.key()) + " is a " +
                                  field.value().type_name() +
                                  ", but metadata values must be strings");
        file.metadata[field.key()] = field.value().get<std::string>();
      }
      continue;
    }
    file.tensors.push_back(parseEntry(key, value, dataBytes, sourceName));
  }

  // Zero-byte tensors sort before a tensor starting at the same offset, so
  // that they are not mistaken for an overlap.
  std::stable_sort(
      file.tensors.begin(), file.tensors.end(),
      [](const SafetensorsFile::Entry &a, const SafetensorsFile::Entry &b) {
        return a.offset != b.offset ? a.offset < b.offset : a.bytes < b.bytes;
      });
  auto range = [](const SafetensorsFile::Entry &entry) {
    return "bytes [" + std::to_string(entry.offset) + ", " +
           std::to_string(entry.offset + entry.bytes) + ")";
  };
  size_t covered = 0;
  const SafetensorsFile::Entry *previous = nullptr;
  for (const SafetensorsFile::Entry &entry : file.tensors) {
    if (entry.offset < covered)
      invalid(sourceName, "tensor " + inQuotes(entry.name) + " (" +
                              range(entry) + ") overlaps tensor " +
                              inQuotes(previous->name) + " (" +
                              range(*previous) + ")");
    if (entry.offset > covered)
      invalid(sourceName, "bytes [" + std::to_string(covered) + ", " +
                              std::to_string(entry.offset) +
                              ") of the data section belong to no tensor "
                              "(a hole before tensor " +
                              inQuotes(entry.name) + ")");
    covered = entry.offset + entry.bytes;
    previous = &entry;
  }
  if (covered != dataBytes)
    invalid(sourceName, "bytes [" + std::to_string(covered) + ", " +
                            std::to_string(dataBytes) +
                            ") at the end of the data section belong to no "
                            "tensor");
  return result;
}

} // namespace

size_t dtypeSize(TensorDtype dtype) { return dtypeInfo(dtype).size; }

const char *dtypeName(TensorDtype dtype) { return dtypeInfo(dtype).name; }

std::optional<TensorDtype> parseDtype(std::string_view name) {
  for (const DtypeInfo &info : kDtypes)
    if (name == info.name)
      return info.dtype;
  return std::nullopt;
}

std::string
serializeSafetensors(const std::vector<TensorView> &tensors,
                     const std::map<std::string, std::string> &metadata) {
  uint64_t dataBytes;
  std::string result = buildHeader(tensors, metadata, dataBytes);
  result.reserve(result.size() + dataBytes);
  for (const TensorView &tensor : tensors)
    result.append(static_cast<const char *>(tensor.data), tensor.bytes);
  return result;
}

void writeSafetensors(const std::string &path,
                      const std::vector<TensorView> &tensors,
                      const std::map<std::string, std::string> &metadata,
                      const std::string &description) {
  uint64_t dataBytes;
  std::string header;
  try {
    header = buildHeader(tensors, metadata, dataBytes);
  } catch (const IoError &error) {
    throw IoError("cannot write " + description + " " + inQuotes(path) + ": " +
                  error.what() + "; nothing was written");
  }
  // Checkpoints can be a large part of memory; hand the tensors' own buffers
  // to the writer instead of concatenating them first.
  std::vector<std::string_view> pieces;
  pieces.reserve(tensors.size() + 1);
  pieces.emplace_back(header);
  for (const TensorView &tensor : tensors)
    if (tensor.bytes > 0)
      pieces.emplace_back(static_cast<const char *>(tensor.data), tensor.bytes);
  writeFileAtomically(path, pieces, description);
}

const SafetensorsFile::Entry *
SafetensorsFile::find(const std::string &name) const {
  for (const Entry &entry : tensors)
    if (entry.name == name)
      return &entry;
  return nullptr;
}

const uint8_t *SafetensorsFile::dataOf(const Entry &entry) const {
  return data.data() + entry.offset;
}

SafetensorsFile parseSafetensors(const uint8_t *bytes, size_t size,
                                 const std::string &sourceName) {
  ParsedHeader parsed = parseHeader(bytes, size, sourceName);
  parsed.file.data.assign(bytes + parsed.dataStart, bytes + size);
  return std::move(parsed.file);
}

SafetensorsFile readSafetensors(const std::string &path) {
  std::vector<uint8_t> bytes = readFile(path);
  ParsedHeader parsed = parseHeader(bytes.data(), bytes.size(), path);
  // Reuse the file's buffer for the data section rather than holding two
  // copies of a checkpoint at once.
  bytes.erase(bytes.begin(), bytes.begin() + parsed.dataStart);
  parsed.file.data = std::move(bytes);
  return std::move(parsed.file);
}

} // namespace densenet::io
