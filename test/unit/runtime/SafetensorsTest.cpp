//===- SafetensorsTest.cpp - safetensors files and atomic writes ----------===//
//
// Checks the safetensors writer byte for byte against the format, reads the
// files back here and with an independent Python reader, rejects malformed
// files with messages that say what is wrong, and checks that a failed write
// never damages the file it was meant to replace.
//
//===----------------------------------------------------------------------===//

#include "runtime/io/Safetensors.h"
#include "runtime/io/AtomicFile.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>

#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace densenet::io;
namespace fs = std::filesystem;

namespace {

constexpr const char *kPython = "/usr/bin/python3";

/// Expects `text` to contain `part`, showing all of `text` otherwise.
#define EXPECT_CONTAINS(text, part)                                            \
  do {                                                                         \
    std::string whole = (text);                                                \
    EXPECT_NE(whole.find(part), std::string::npos)                             \
        << "expected to find \"" << (part) << "\" in:\n  " << whole;           \
  } while (false)

/// The message of the IoError that `function` throws; a test failure (and "")
/// if it throws nothing or something else.
template <typename Function> std::string ioErrorOf(Function &&function) {
  try {
    function();
  } catch (const IoError &error) {
    return error.what();
  } catch (const std::exception &error) {
    ADD_FAILURE() << "expected IoError, got another exception: "
                  << error.what();
    return "";
  }
  ADD_FAILURE() << "expected IoError, nothing was thrown";
  return "";
}

/// A fresh directory per test, removed afterwards.
class SafetensorsTest : public ::testing::Test {
protected:
  void SetUp() override {
    std::string pattern =
        (fs::temp_directory_path() / "densenet-io-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr) << std::strerror(errno);
    directory = pattern;
  }
  void TearDown() override {
    std::error_code ignored;
    fs::remove_all(directory, ignored);
  }

  std::string pathOf(const std::string &name) const {
    return (fs::path(directory) / name).string();
  }

  /// Names in the test directory, sorted; shows leftover temporaries.
  std::vector<std::string> listing() const {
    std::vector<std::string> names;
    for (const auto &entry : fs::directory_iterator(directory))
      names.push_back(entry.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  }

  std::string contentsOf(const std::string &path) const {
    std::vector<uint8_t> bytes = readFile(path);
    return std::string(bytes.begin(), bytes.end());
  }

  void writePlain(const std::string &path, const std::string &contents) {
    std::ofstream stream(path, std::ios::binary);
    stream << contents;
    ASSERT_TRUE(stream.good()) << path;
  }

  std::string directory;
};

std::string bytesOf(const void *data, size_t size) {
  return std::string(static_cast<const char *>(data), size);
}

/// Runs /usr/bin/python3 on `script` with `arguments`; returns its standard
/// output and fails the test if it exits non-zero.
std::string runPython(const std::string &directory, const std::string &script,
                      const std::string &arguments) {
  std::string scriptPath = directory + "/check.py";
  {
    std::ofstream stream(scriptPath);
    stream << script;
  }
  std::string command =
      std::string(kPython) + " " + scriptPath + " " + arguments + " 2>&1";
  FILE *pipe = ::popen(command.c_str(), "r");
  if (!pipe) {
    ADD_FAILURE() << "cannot run " << command << ": " << std::strerror(errno);
    return "";
  }
  std::string output;
  char buffer[4096];
  size_t got;
  while ((got = std::fread(buffer, 1, sizeof(buffer), pipe)) > 0)
    output.append(buffer, got);
  int status = ::pclose(pipe);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << command << " failed:\n"
      << output;
  return output;
}

//===----------------------------------------------------------------------===//
// Serialization and round trips
//===----------------------------------------------------------------------===//

TEST(SafetensorsFormat, SmallFileIsByteExact) {
  const float values[] = {1.0f, -2.0f};
  std::string bytes = serializeSafetensors(
      {{"x", TensorDtype::F32, {2}, values, sizeof(values)}},
      {{"format", "pt"}});

  // 85 bytes of JSON padded with 3 spaces to 88, a multiple of 8.
  std::string json = R"({"__metadata__":{"format":"pt"},)"
                     R"("x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  ASSERT_EQ(json.size(), 85u);
  std::string expected("\x58\0\0\0\0\0\0\0", 8); // 88, little-endian.
  expected += json + "   ";
  expected += std::string("\x00\x00\x80\x3f\x00\x00\x00\xc0", 8);
  EXPECT_EQ(bytes, expected);
  EXPECT_EQ(bytes.size(), 104u);
}

TEST(SafetensorsFormat, EmptyFileHasPaddedEmptyObject) {
  std::string bytes = serializeSafetensors({}, {});
  EXPECT_EQ(bytes, std::string("\x08\0\0\0\0\0\0\0{}      ", 16));
  SafetensorsFile file = parseSafetensors(
      reinterpret_cast<const uint8_t *>(bytes.data()), bytes.size(), "empty");
  EXPECT_TRUE(file.tensors.empty());
  EXPECT_TRUE(file.metadata.empty());
  EXPECT_TRUE(file.data.empty());
}

TEST(SafetensorsFormat, DtypeNamesAndSizes) {
  struct Expected {
    TensorDtype dtype;
    const char *name;
    size_t size;
  };
  for (Expected expected : {Expected{TensorDtype::F32, "F32", 4},
                            Expected{TensorDtype::F16, "F16", 2},
                            Expected{TensorDtype::BF16, "BF16", 2},
                            Expected{TensorDtype::I64, "I64", 8},
                            Expected{TensorDtype::I32, "I32", 4},
                            Expected{TensorDtype::U8, "U8", 1},
                            Expected{TensorDtype::F64, "F64", 8}}) {
    EXPECT_STREQ(dtypeName(expected.dtype), expected.name);
    EXPECT_EQ(dtypeSize(expected.dtype), expected.size) << expected.name;
    EXPECT_EQ(parseDtype(expected.name), expected.dtype) << expected.name;
  }
  EXPECT_FALSE(parseDtype("f32").has_value());
  EXPECT_FALSE(parseDtype("BOOL").has_value());
}

/// The tensors used by the round-trip and Python tests.
struct SampleTensors {
  std::vector<float> weights = {0.5f, -1.25f, 3.0f, 1024.0f, -0.0625f, 7.75f};
  std::vector<int64_t> counts = {-1, 0, int64_t(1) << 40,
                                 std::numeric_limits<int64_t>::min()};
  // bfloat16 is passed through as raw 16-bit patterns: 1.0, -2.0, +inf.
  std::vector<uint16_t> halves = {0x3F80, 0xC000, 0x7F80};
  std::vector<uint8_t> flags = {1, 0, 255};
  double scalar = 2.5;

  std::vector<TensorView> views() const {
    return {
        {"features.conv0.weight",
         TensorDtype::F32,
         {2, 3},
         weights.data(),
         weights.size() * sizeof(float)},
        {"step_counts",
         TensorDtype::I64,
         {4},
         counts.data(),
         counts.size() * sizeof(int64_t)},
        {"bf16.raw",
         TensorDtype::BF16,
         {1, 3},
         halves.data(),
         halves.size() * sizeof(uint16_t)},
        {"empty", TensorDtype::F32, {0, 5}, nullptr, 0},
        {"flags", TensorDtype::U8, {3}, flags.data(), flags.size()},
        {"lr", TensorDtype::F64, {}, &scalar, sizeof(double)},
    };
  }
  std::map<std::string, std::string> metadata() const {
    return {{"epoch", "7"},
            {"model", "densenet121"},
            {"note", "quotes \" and \\ and unicode \xcf\x80"}};
  }
};

void expectMatches(const SafetensorsFile &file,
                   const std::vector<TensorView> &views,
                   const std::map<std::string, std::string> &metadata) {
  EXPECT_EQ(file.metadata, metadata);
  ASSERT_EQ(file.tensors.size(), views.size());
  size_t offset = 0;
  for (size_t i = 0; i < views.size(); ++i) {
    const SafetensorsFile::Entry &entry = file.tensors[i];
    SCOPED_TRACE(views[i].name);
    EXPECT_EQ(entry.name, views[i].name);
    EXPECT_EQ(entry.dtype, views[i].dtype);
    EXPECT_EQ(entry.shape, views[i].shape);
    EXPECT_EQ(entry.offset, offset); // In the given order, without holes.
    EXPECT_EQ(entry.bytes, views[i].bytes);
    EXPECT_EQ(file.find(views[i].name), &entry);
    if (views[i].bytes > 0) {
      EXPECT_EQ(bytesOf(file.dataOf(entry), entry.bytes),
                bytesOf(views[i].data, views[i].bytes));
    }
    offset += entry.bytes;
  }
  EXPECT_EQ(file.data.size(), offset);
  EXPECT_EQ(file.find("absent"), nullptr);
}

TEST_F(SafetensorsTest, RoundTripThroughFile) {
  SampleTensors sample;
  std::string path = pathOf("model.safetensors");
  writeSafetensors(path, sample.views(), sample.metadata());
  EXPECT_EQ(listing(), std::vector<std::string>{"model.safetensors"});

  SafetensorsFile file = readSafetensors(path);
  expectMatches(file, sample.views(), sample.metadata());

  // The streamed file equals the in-memory serialization, whose header is
  // padded so that the data section starts at a multiple of 8.
  std::string serialized =
      serializeSafetensors(sample.views(), sample.metadata());
  EXPECT_EQ(contentsOf(path), serialized);
  uint64_t headerBytes = 0;
  std::memcpy(&headerBytes, serialized.data(), 8);
  EXPECT_EQ(headerBytes % 8, 0u);
  EXPECT_EQ(serialized.size(), 8 + headerBytes + file.data.size());

  SafetensorsFile fromMemory =
      parseSafetensors(reinterpret_cast<const uint8_t *>(serialized.data()),
                       serialized.size(), "memory");
  expectMatches(fromMemory, sample.views(), sample.metadata());
}

TEST_F(SafetensorsTest, ValuesSurviveRoundTrip) {
  SampleTensors sample;
  std::string path = pathOf("values.safetensors");
  writeSafetensors(path, sample.views(), {});
  SafetensorsFile file = readSafetensors(path);

  const SafetensorsFile::Entry *weights = file.find("features.conv0.weight");
  ASSERT_NE(weights, nullptr);
  std::vector<float> weightsBack(6);
  std::memcpy(weightsBack.data(), file.dataOf(*weights), weights->bytes);
  EXPECT_EQ(weightsBack, sample.weights);

  const SafetensorsFile::Entry *counts = file.find("step_counts");
  ASSERT_NE(counts, nullptr);
  std::vector<int64_t> countsBack(4);
  std::memcpy(countsBack.data(), file.dataOf(*counts), counts->bytes);
  EXPECT_EQ(countsBack, sample.counts);

  EXPECT_TRUE(file.metadata.empty());
  // No metadata means no "__metadata__" entry at all.
  EXPECT_EQ(contentsOf(path).find("__metadata__"), std::string::npos);
}

TEST(SafetensorsFormat, SerializationRejectsInconsistentTensors) {
  float four[4] = {};
  std::string message = ioErrorOf([&] {
    serializeSafetensors({{"w", TensorDtype::F32, {3}, four, sizeof(four)}},
                         {});
  });
  EXPECT_CONTAINS(message, "tensor 'w'");
  EXPECT_CONTAINS(message, "has 16 bytes but shape [3] of F32 needs 12");

  message = ioErrorOf([&] {
    serializeSafetensors({{"w", TensorDtype::F32, {1}, four, 4},
                          {"w", TensorDtype::F32, {1}, four + 1, 4}},
                         {});
  });
  EXPECT_CONTAINS(message, "more than one tensor");

  message = ioErrorOf([&] {
    serializeSafetensors({{"__metadata__", TensorDtype::F32, {1}, four, 4}},
                         {});
  });
  EXPECT_CONTAINS(message, "reserved");

  message = ioErrorOf([&] {
    serializeSafetensors({{"w", TensorDtype::F32, {-1, -4}, four, 16}}, {});
  });
  EXPECT_CONTAINS(message, "negative dimension");

  message = ioErrorOf([&] {
    serializeSafetensors({{"bad\xff", TensorDtype::F32, {1}, four, 4}}, {});
  });
  EXPECT_CONTAINS(message, "not valid UTF-8");

  message = ioErrorOf([&] { serializeSafetensors({}, {{"k", "\xc0\x80"}}); });
  EXPECT_CONTAINS(message, "metadata value of 'k' is not valid UTF-8");

  message = ioErrorOf([&] {
    serializeSafetensors(
        {{"w", TensorDtype::F32, {int64_t(1) << 62, 8}, four, 16}}, {});
  });
  EXPECT_CONTAINS(message, "overflows");
}

//===----------------------------------------------------------------------===//
// Cross-check with an independent reader and writer in Python
//===----------------------------------------------------------------------===//

// Reads a safetensors file with nothing but struct and json, checks the
// layout rules, and prints what it found as JSON. If the safetensors package
// is installed it also loads the file with it and compares.
const char *kPythonReader = R"PY(
import json, struct, sys
path = sys.argv[1]
with open(path, "rb") as f:
    raw = f.read()
(n,) = struct.unpack("<Q", raw[:8])
assert (8 + n) % 8 == 0, "data section not 8-byte aligned: n=%d" % n
header = json.loads(raw[8:8 + n].decode("utf-8"))
data = raw[8 + n:]
formats = {"F32": "f", "F64": "d", "I64": "q", "I32": "i", "U8": "B",
           "BF16": "H", "F16": "e"}
metadata = header.pop("__metadata__", {})
tensors = []
end = 0
for name, info in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"]):
    begin, stop = info["data_offsets"]
    assert begin == end, "hole or overlap at %s" % name
    count = 1
    for d in info["shape"]:
        count *= d
    fmt = formats[info["dtype"]]
    assert stop - begin == count * struct.calcsize(fmt), name
    values = list(struct.unpack("<%d%s" % (count, fmt), data[begin:stop]))
    tensors.append({"name": name, "dtype": info["dtype"],
                    "shape": info["shape"], "values": values})
    end = stop
assert end == len(data), "trailing bytes"
checked_with_package = False
try:
    import safetensors.numpy
    loaded = safetensors.numpy.load_file(path)
    for t in tensors:
        if t["dtype"] != "BF16":
            assert list(loaded[t["name"]].reshape(-1)) == t["values"], t["name"]
    checked_with_package = True
except ImportError:
    pass
print(json.dumps({"metadata": metadata, "tensors": tensors,
                  "package": checked_with_package}))
)PY";

TEST_F(SafetensorsTest, PythonReadsWhatWeWrite) {
  if (::access(kPython, X_OK) != 0)
    GTEST_SKIP() << kPython << " is missing, so the Python cross-check of "
                 << "the safetensors writer cannot run";
  SampleTensors sample;
  std::string path = pathOf("python.safetensors");
  writeSafetensors(path, sample.views(), sample.metadata());

  std::string output = runPython(directory, kPythonReader, path);
  nlohmann::json report;
  try {
    report = nlohmann::json::parse(output);
  } catch (const std::exception &error) {
    FAIL() << "Python printed no JSON (" << error.what() << "):\n" << output;
  }
  std::cout << "[          ] Python reader"
            << (report["package"].get<bool>()
                    ? " and the safetensors package agree"
                    : " (struct+json; safetensors package not installed)")
            << "\n";

  using Metadata = std::map<std::string, std::string>;
  EXPECT_EQ(report["metadata"].get<Metadata>(), sample.metadata());
  const nlohmann::json &tensors = report["tensors"];
  std::vector<TensorView> views = sample.views();
  ASSERT_EQ(tensors.size(), views.size()) << output;
  for (size_t i = 0; i < views.size(); ++i) {
    SCOPED_TRACE(views[i].name);
    EXPECT_EQ(tensors[i]["name"], views[i].name);
    EXPECT_EQ(tensors[i]["dtype"], dtypeName(views[i].dtype));
    EXPECT_EQ(tensors[i]["shape"].get<std::vector<int64_t>>(), views[i].shape);
  }
  EXPECT_EQ(tensors[0]["values"].get<std::vector<double>>(),
            std::vector<double>(sample.weights.begin(), sample.weights.end()));
  EXPECT_EQ(tensors[1]["values"].get<std::vector<int64_t>>(), sample.counts);
  EXPECT_EQ(tensors[2]["values"].get<std::vector<uint16_t>>(), sample.halves);
  EXPECT_TRUE(tensors[3]["values"].empty());
  EXPECT_EQ(tensors[4]["values"].get<std::vector<uint8_t>>(), sample.flags);
  EXPECT_EQ(tensors[5]["values"].get<std::vector<double>>(),
            std::vector<double>{2.5});
}

// Writes a file the way another tool might: header keys not in data order,
// no padding, compact separators, metadata last.
const char *kPythonWriter = R"PY(
import json, struct, sys
a = struct.pack("<3f", 1.5, -2.0, 0.25)
b = struct.pack("<2q", -7, 1 << 50)
header = {"a": {"dtype": "F32", "shape": [3], "data_offsets": [16, 28]},
          "b": {"dtype": "I64", "shape": [2, 1], "data_offsets": [0, 16]},
          "__metadata__": {"writer": "python"}}
text = json.dumps(header).encode("utf-8")
if len(text) % 8 == 0:
    text += b" "  # Make sure the reader copes with an unaligned data section.
with open(sys.argv[1], "wb") as f:
    f.write(struct.pack("<Q", len(text)) + text + b + a)
print("ok")
)PY";

TEST_F(SafetensorsTest, WeReadWhatPythonWrites) {
  if (::access(kPython, X_OK) != 0)
    GTEST_SKIP() << kPython << " is missing, so the Python cross-check of "
                 << "the safetensors reader cannot run";
  std::string path = pathOf("from-python.safetensors");
  EXPECT_EQ(runPython(directory, kPythonWriter, path), "ok\n");

  SafetensorsFile file = readSafetensors(path);
  EXPECT_EQ(file.metadata,
            (std::map<std::string, std::string>{{"writer", "python"}}));
  ASSERT_EQ(file.tensors.size(), 2u);
  // Data order, not header order.
  EXPECT_EQ(file.tensors[0].name, "b");
  EXPECT_EQ(file.tensors[0].dtype, TensorDtype::I64);
  EXPECT_EQ(file.tensors[0].shape, (std::vector<int64_t>{2, 1}));
  EXPECT_EQ(file.tensors[1].name, "a");
  EXPECT_EQ(file.tensors[1].offset, 16u);

  int64_t b[2];
  std::memcpy(b, file.dataOf(file.tensors[0]), sizeof(b));
  EXPECT_EQ(b[0], -7);
  EXPECT_EQ(b[1], int64_t(1) << 50);
  float a[3];
  std::memcpy(a, file.dataOf(*file.find("a")), sizeof(a));
  EXPECT_EQ(a[0], 1.5f);
  EXPECT_EQ(a[1], -2.0f);
  EXPECT_EQ(a[2], 0.25f);
}

//===----------------------------------------------------------------------===//
// Malformed files
//===----------------------------------------------------------------------===//

/// A file with `json` as its (unpadded) header and `dataBytes` bytes of data.
std::string makeFile(const std::string &json, size_t dataBytes) {
  std::string bytes(8, '\0');
  uint64_t length = json.size();
  for (int i = 0; i < 8; ++i)
    bytes[i] = static_cast<char>((length >> (8 * i)) & 0xFF);
  return bytes + json + std::string(dataBytes, '\x07');
}

/// The message for parsing `bytes`, checked to name the source.
std::string rejection(const std::string &bytes) {
  std::string message = ioErrorOf([&] {
    parseSafetensors(reinterpret_cast<const uint8_t *>(bytes.data()),
                     bytes.size(), "bad.safetensors");
  });
  EXPECT_CONTAINS(message, "invalid safetensors file 'bad.safetensors'");
  return message;
}

std::string entry(const std::string &dtype, const std::string &shape,
                  const std::string &offsets) {
  return R"({"dtype":")" + dtype + R"(","shape":)" + shape +
         R"(,"data_offsets":)" + offsets + "}";
}

TEST(SafetensorsMalformed, TruncatedHeaderLength) {
  EXPECT_CONTAINS(rejection(std::string("\x10\0\0\0\0", 5)),
                  "5 bytes long, too short for the 8-byte header length");
  EXPECT_CONTAINS(rejection(""), "0 bytes long");
}

TEST(SafetensorsMalformed, HeaderLengthLargerThanFile) {
  std::string bytes = makeFile("{}", 0);
  bytes[0] = 100;
  EXPECT_CONTAINS(rejection(bytes),
                  "header length 100 is larger than the 2 bytes after the "
                  "length field");
}

TEST(SafetensorsMalformed, HeaderLengthAboveLimit) {
  std::string bytes = makeFile("{}", 0);
  bytes[5] = 1; // 2^40 + 2
  EXPECT_CONTAINS(rejection(bytes), "exceeds the limit of 100000000 bytes");
  std::string huge(8, '\xff');
  EXPECT_CONTAINS(rejection(huge + "{}"), "header length 18446744073709551615");
}

TEST(SafetensorsMalformed, InvalidJson) {
  EXPECT_CONTAINS(rejection(makeFile(R"({"w": )", 0)),
                  "header is not valid JSON");
  EXPECT_CONTAINS(rejection(makeFile("", 0)), "header is not valid JSON");
  EXPECT_CONTAINS(rejection(makeFile("{\"w\xff\": 1}", 0)),
                  "header is not valid JSON");
  EXPECT_CONTAINS(rejection(makeFile(std::string("{}\0", 3), 0)),
                  "header is not valid JSON");
}

TEST(SafetensorsMalformed, HeaderNotAnObject) {
  EXPECT_CONTAINS(rejection(makeFile("[1, 2]", 0)),
                  "header is a JSON array, not an object");
  EXPECT_CONTAINS(rejection(makeFile("\"text\"", 0)),
                  "header is a JSON string, not an object");
}

TEST(SafetensorsMalformed, EntryFields) {
  EXPECT_CONTAINS(
      rejection(makeFile(R"({"w":{"dtype":"F32","shape":[1]}})", 4)),
      "tensor 'w': missing field 'data_offsets'");
  EXPECT_CONTAINS(
      rejection(makeFile(R"({"w":{"shape":[1],"data_offsets":[0,4]}})", 4)),
      "tensor 'w': missing field 'dtype'");
  EXPECT_CONTAINS(rejection(makeFile(R"({"w":{"dtype":"F32","shape":[1],)"
                                     R"("data_offsets":[0,4],"extra":1}})",
                                     4)),
                  "tensor 'w': unexpected field 'extra'");
  EXPECT_CONTAINS(rejection(makeFile(R"({"w":[0,4]})", 4)),
                  "tensor 'w': entry is a JSON array, not an object");
  EXPECT_CONTAINS(
      rejection(
          makeFile(R"({"w":{"dtype":4,"shape":[1],"data_offsets":[0,4]}})", 4)),
      "tensor 'w': dtype is not a string");
  EXPECT_CONTAINS(
      rejection(makeFile(R"({"w":)" + entry("F32", "4", "[0,4]") + "}", 4)),
      "tensor 'w': shape is not an array");
  EXPECT_CONTAINS(
      rejection(makeFile(R"({"w":)" + entry("F32", "[1.5]", "[0,4]") + "}", 4)),
      "tensor 'w': shape[0] is not an integer");
  EXPECT_CONTAINS(
      rejection(makeFile(R"({"w":)" + entry("F32", "[1]", "[0]") + "}", 4)),
      "tensor 'w': data_offsets is not a pair");
  EXPECT_CONTAINS(
      rejection(makeFile(R"({"w":)" + entry("F32", "[1]", "[-4,0]") + "}", 4)),
      "tensor 'w': data_offsets is not a pair of non-negative");
  EXPECT_CONTAINS(
      rejection(makeFile(R"({"w":)" + entry("F32", "[1]", "[4,0]") + "}", 4)),
      "data_offsets [4, 0] end before they begin");
}

TEST(SafetensorsMalformed, DuplicateKeys) {
  std::string w = entry("F32", "[1]", "[0,4]");
  EXPECT_CONTAINS(rejection(makeFile(R"({"w":)" + w + R"(,"w":)" + w + "}", 4)),
                  "the key 'w' more than once");
  EXPECT_CONTAINS(
      rejection(makeFile(
          R"({"w":{"dtype":"F32","dtype":"I32","shape":[1],"data_offsets":[0,4]}})",
          4)),
      "the key 'dtype' more than once");
}

TEST(SafetensorsMalformed, OverlappingTensors) {
  std::string message =
      rejection(makeFile(R"({"a":)" + entry("F32", "[2]", "[0,8]") +
                             R"(,"b":)" + entry("F32", "[2]", "[4,12]") + "}",
                         12));
  EXPECT_CONTAINS(message,
                  "tensor 'b' (bytes [4, 12)) overlaps tensor 'a' (bytes "
                  "[0, 8))");
}

TEST(SafetensorsMalformed, HoleBetweenTensors) {
  std::string message =
      rejection(makeFile(R"({"a":)" + entry("F32", "[1]", "[0,4]") +
                             R"(,"b":)" + entry("F32", "[1]", "[8,12]") + "}",
                         12));
  EXPECT_CONTAINS(message, "bytes [4, 8) of the data section belong to no "
                           "tensor (a hole before tensor 'b')");
  EXPECT_CONTAINS(
      rejection(makeFile(R"({"a":)" + entry("F32", "[1]", "[0,4]") + "}", 8)),
      "bytes [4, 8) at the end of the data section belong to no tensor");
  EXPECT_CONTAINS(rejection(makeFile("{}", 3)),
                  "bytes [0, 3) at the end of the data section");
}

TEST(SafetensorsMalformed, OffsetsOutOfRange) {
  EXPECT_CONTAINS(
      rejection(makeFile(R"({"a":)" + entry("F32", "[2]", "[0,8]") + "}", 4)),
      "tensor 'a': data_offsets [0, 8] are out of range: the data section "
      "has 4 bytes");
  EXPECT_CONTAINS(rejection(makeFile(
                      R"({"a":)" +
                          entry("U8", "[1]",
                                "[18446744073709551615,18446744073709551615]") +
                          "}",
                      0)),
                  "out of range");
}

TEST(SafetensorsMalformed, WrongSizeForShape) {
  EXPECT_CONTAINS(
      rejection(makeFile(R"({"a":)" + entry("F32", "[3]", "[0,8]") + "}", 8)),
      "tensor 'a': data_offsets [0, 8] hold 8 bytes but shape [3] of F32 "
      "needs 12");
  EXPECT_CONTAINS(
      rejection(makeFile(R"({"a":)" + entry("I64", "[]", "[0,4]") + "}", 4)),
      "hold 4 bytes but shape [] of I64 needs 8");
}

TEST(SafetensorsMalformed, UnknownDtype) {
  EXPECT_CONTAINS(
      rejection(makeFile(R"({"a":)" + entry("Q7", "[1]", "[0,1]") + "}", 1)),
      "tensor 'a': unsupported dtype 'Q7'");
  EXPECT_CONTAINS(
      rejection(makeFile(R"({"a":)" + entry("f32", "[1]", "[0,4]") + "}", 4)),
      "unsupported dtype 'f32'");
}

TEST(SafetensorsMalformed, NegativeDimension) {
  EXPECT_CONTAINS(
      rejection(
          makeFile(R"({"a":)" + entry("F32", "[2,-2]", "[0,0]") + "}", 0)),
      "tensor 'a': shape[1] is -2; dimensions must be non-negative");
}

TEST(SafetensorsMalformed, HugeDimensionsOverflow) {
  EXPECT_CONTAINS(
      rejection(makeFile(
          R"({"a":)" + entry("F32", "[4294967296,4294967296,4]", "[0,0]") + "}",
          0)),
      "tensor 'a': shape [4294967296, 4294967296, 4] is too "
      "large: its byte count overflows 64 bits");
  EXPECT_CONTAINS(
      rejection(makeFile(
          R"({"a":)" + entry("U8", "[9223372036854775808]", "[0,0]") + "}", 0)),
      "tensor 'a': shape[0] is too large");
  EXPECT_CONTAINS(rejection(makeFile(
                      R"({"a":)" + entry("U8", "[1e300]", "[0,0]") + "}", 0)),
                  "shape[0] is not an integer");
  // A zero dimension makes the product zero, whatever the others are.
  std::string zero = makeFile(
      R"({"a":)" + entry("F64", "[0,9223372036854775807]", "[0,0]") + "}", 0);
  SafetensorsFile file = parseSafetensors(
      reinterpret_cast<const uint8_t *>(zero.data()), zero.size(), "zero");
  ASSERT_EQ(file.tensors.size(), 1u);
  EXPECT_EQ(file.tensors[0].bytes, 0u);
}

TEST(SafetensorsMalformed, MetadataNotStrings) {
  EXPECT_CONTAINS(rejection(makeFile(R"({"__metadata__":{"epoch":3}})", 0)),
                  "metadata 'epoch' is a number, but metadata values must be "
                  "strings");
  EXPECT_CONTAINS(rejection(makeFile(R"({"__metadata__":{"x":null}})", 0)),
                  "metadata 'x' is a null");
  EXPECT_CONTAINS(rejection(makeFile(R"({"__metadata__":["a"]})", 0)),
                  "__metadata__ is a JSON array, not an object");
}

TEST(SafetensorsMalformed, DeepNesting) {
  std::string deep =
      "{\"a\":" + std::string(100000, '[') + std::string(100000, ']') + "}";
  EXPECT_CONTAINS(rejection(makeFile(deep, 0)), "levels deep");
}

TEST(SafetensorsMalformed, ZeroSizedTensorsAndPaddingAreAccepted) {
  // Zero-byte tensors may share an offset with a neighbour; header padding
  // is whitespace that JSON allows.
  std::string bytes =
      makeFile(R"({"z":)" + entry("F32", "[0]", "[4,4]") + R"(,"a":)" +
                   entry("F32", "[1]", "[0,4]") + R"(,"b":)" +
                   entry("U8", "[2]", "[4,6]") + "}    ",
               6);
  SafetensorsFile file = parseSafetensors(
      reinterpret_cast<const uint8_t *>(bytes.data()), bytes.size(), "ok");
  ASSERT_EQ(file.tensors.size(), 3u);
  EXPECT_EQ(file.tensors[0].name, "a");
  EXPECT_EQ(file.tensors[1].name, "z");
  EXPECT_EQ(file.tensors[2].name, "b");
}

/// Every prefix and many single-byte corruptions of a valid file must parse
/// or throw IoError, never crash or throw anything else, and whatever parses
/// must be self-consistent. (A stand-in until the libFuzzer target exists.)
TEST(SafetensorsMalformed, CorruptedFilesNeverCrash) {
  SampleTensors sample;
  std::string valid = serializeSafetensors(sample.views(), sample.metadata());
  auto check = [](const std::string &bytes) {
    try {
      SafetensorsFile file = parseSafetensors(
          reinterpret_cast<const uint8_t *>(bytes.data()), bytes.size(), "x");
      size_t covered = 0;
      for (const SafetensorsFile::Entry &entry : file.tensors) {
        EXPECT_EQ(entry.offset, covered);
        covered += entry.bytes;
      }
      EXPECT_EQ(covered, file.data.size());
    } catch (const IoError &) {
    } catch (const std::exception &error) {
      ADD_FAILURE() << "non-IoError exception: " << error.what();
    }
  };
  size_t rejectedPrefixes = 0;
  for (size_t length = 0; length < valid.size(); ++length) {
    std::string prefix = valid.substr(0, length);
    EXPECT_THROW(
        parseSafetensors(reinterpret_cast<const uint8_t *>(prefix.data()),
                         prefix.size(), "prefix"),
        IoError)
        << "prefix of " << length << " bytes";
    ++rejectedPrefixes;
  }
  EXPECT_EQ(rejectedPrefixes, valid.size());
  for (size_t position = 0; position < valid.size(); ++position) {
    for (char replacement : {'\0', '\xff', '"', '9', '-', '[', '{', ' '}) {
      std::string corrupted = valid;
      corrupted[position] = replacement;
      check(corrupted);
    }
  }
}

//===----------------------------------------------------------------------===//
// Atomic writes
//===----------------------------------------------------------------------===//

TEST_F(SafetensorsTest, WriteConcatenatesPieces) {
  std::string path = pathOf("pieces");
  writeFileAtomically(path, std::vector<std::string_view>{"ab", "", "cd"});
  EXPECT_EQ(contentsOf(path), "abcd");
  EXPECT_EQ(listing(), std::vector<std::string>{"pieces"});
}

TEST_F(SafetensorsTest, WriteIntoMissingDirectoryLeavesNothing) {
  std::string path = pathOf("missing/model.safetensors");
  std::string message =
      ioErrorOf([&] { writeFileAtomically(path, "contents", "checkpoint"); });
  EXPECT_CONTAINS(message, "cannot write checkpoint '" + path + "'");
  EXPECT_CONTAINS(message, std::strerror(ENOENT));
  EXPECT_CONTAINS(message, "no file was written");
  EXPECT_FALSE(fs::exists(pathOf("missing")));
  EXPECT_TRUE(listing().empty());
}

TEST_F(SafetensorsTest, WriteReplacesExistingFileCompletely) {
  std::string path = pathOf("latest");
  writeFileAtomically(path, std::string(100000, 'a'));
  EXPECT_EQ(contentsOf(path).size(), 100000u);
  writeFileAtomically(path, "short");
  EXPECT_EQ(contentsOf(path), "short");
  EXPECT_EQ(listing(), std::vector<std::string>{"latest"});
}

TEST_F(SafetensorsTest, WriteKeepsPermissionsOfReplacedFile) {
  std::string path = pathOf("private");
  writePlain(path, "old");
  ASSERT_EQ(::chmod(path.c_str(), 0640), 0);
  writeFileAtomically(path, "new");
  struct stat status;
  ASSERT_EQ(::stat(path.c_str(), &status), 0);
  EXPECT_EQ(status.st_mode & 07777, 0640u);
  EXPECT_EQ(contentsOf(path), "new");
}

TEST_F(SafetensorsTest, WriteUnderRegularFileFails) {
  std::string plain = pathOf("plain");
  writePlain(plain, "keep me");
  std::string message =
      ioErrorOf([&] { writeFileAtomically(plain + "/x", "contents"); });
  EXPECT_CONTAINS(message, std::strerror(ENOTDIR));
  EXPECT_EQ(contentsOf(plain), "keep me");
  EXPECT_EQ(listing(), std::vector<std::string>{"plain"});
}

TEST_F(SafetensorsTest, FailedRenameRemovesTemporary) {
  // A directory cannot be replaced by a file: the rename fails after the
  // temporary has been written and synced.
  std::string target = pathOf("target");
  ASSERT_TRUE(fs::create_directory(target));
  writePlain(target + "/inside", "x");
  std::string message =
      ioErrorOf([&] { writeFileAtomically(target, "contents"); });
  EXPECT_CONTAINS(message, std::strerror(EISDIR));
  EXPECT_CONTAINS(message, "while renaming temporary");
  EXPECT_CONTAINS(message, "the previous file is kept");
  EXPECT_EQ(listing(), std::vector<std::string>{"target"});
  EXPECT_EQ(contentsOf(target + "/inside"), "x");
}

TEST_F(SafetensorsTest, FailedWriteKeepsPreviousFile) {
  // RLIMIT_FSIZE makes write() fail with EFBIG part way through the data,
  // like a full disk does with ENOSPC, and works for root too.
  std::string path = pathOf("latest.safetensors");
  writePlain(path, "good checkpoint");

  struct rlimit saved;
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &saved), 0);
  struct rlimit small = saved;
  small.rlim_cur = 4096;
  void (*savedHandler)(int) = std::signal(SIGXFSZ, SIG_IGN);
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
  std::string message = ioErrorOf([&] {
    writeFileAtomically(path, std::string(1 << 20, 'z'), "checkpoint");
  });
  ::setrlimit(RLIMIT_FSIZE, &saved);
  std::signal(SIGXFSZ, savedHandler);

  EXPECT_CONTAINS(message, "cannot write checkpoint '" + path +
                               "': " + std::strerror(EFBIG));
  EXPECT_CONTAINS(message, "while writing temporary");
  EXPECT_CONTAINS(message, "the previous checkpoint is kept");
  EXPECT_EQ(contentsOf(path), "good checkpoint");
  EXPECT_EQ(listing(), std::vector<std::string>{"latest.safetensors"});
}

TEST_F(SafetensorsTest, InvalidTensorsLeavePreviousFileUntouched) {
  std::string path = pathOf("ck.safetensors");
  SampleTensors sample;
  writeSafetensors(path, sample.views(), sample.metadata());
  std::string before = contentsOf(path);

  float values[3] = {};
  std::string message = ioErrorOf([&] {
    writeSafetensors(path, {{"w", TensorDtype::F32, {2}, values, 12}}, {},
                     "checkpoint");
  });
  EXPECT_CONTAINS(message, "cannot write checkpoint '" + path + "'");
  EXPECT_CONTAINS(message, "tensor 'w'");
  EXPECT_CONTAINS(message, "nothing was written");
  EXPECT_EQ(contentsOf(path), before);
  EXPECT_EQ(listing(), std::vector<std::string>{"ck.safetensors"});
}

TEST_F(SafetensorsTest, ReadErrorsNameTheFile) {
  std::string missing = pathOf("absent.safetensors");
  std::string message = ioErrorOf([&] { readFile(missing); });
  EXPECT_CONTAINS(message, "cannot read '" + missing + "'");
  EXPECT_CONTAINS(message, std::strerror(ENOENT));

  message = ioErrorOf([&] { readSafetensors(directory); });
  EXPECT_CONTAINS(message, std::strerror(EISDIR));

  std::string garbage = pathOf("garbage.safetensors");
  writePlain(garbage, "not a safetensors file at all");
  message = ioErrorOf([&] { readSafetensors(garbage); });
  EXPECT_CONTAINS(message, "invalid safetensors file '" + garbage + "'");
  EXPECT_CONTAINS(message, "header length");
}

TEST_F(SafetensorsTest, ReadFileReadsNonRegularFiles) {
  // /proc files report size 0; the reader must not trust fstat's size.
  std::vector<uint8_t> bytes = readFile("/proc/self/status");
  EXPECT_FALSE(bytes.empty());
}

} // namespace
