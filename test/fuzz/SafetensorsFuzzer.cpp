//===- SafetensorsFuzzer.cpp - libFuzzer target: safetensors files --------===//
//
// Feeds arbitrary bytes to parseSafetensors, which reads checkpoints and
// weights from disk and promises never to crash on any input. An IoError is
// the documented rejection; a crash, a sanitizer report or any other
// exception escaping is a finding. A file that parses must also round-trip:
// written again by serializeSafetensors it parses to the same tensors,
// metadata and bytes.
//
//===----------------------------------------------------------------------===//

#include "runtime/io/Safetensors.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

using namespace densenet::io;

namespace {

[[noreturn]] void finding(const std::string &what) {
  std::fprintf(stderr, "safetensors fuzz finding: %s\n", what.c_str());
  std::abort();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  SafetensorsFile file;
  try {
    file = parseSafetensors(data, size, "fuzz.safetensors");
  } catch (const IoError &) {
    return 0; // Rejected, as documented.
  }

  size_t covered = 0;
  std::vector<TensorView> views;
  for (const SafetensorsFile::Entry &entry : file.tensors) {
    if (entry.offset != covered || entry.bytes > file.data.size() - covered)
      finding("tensor '" + entry.name + "' is not where the previous ended");
    covered += entry.bytes;
    if (file.find(entry.name) != &entry)
      finding("find('" + entry.name + "') does not return its entry");
    views.push_back({entry.name, entry.dtype, entry.shape,
                     file.dataOf(entry), entry.bytes});
  }
  if (covered != file.data.size())
    finding("the tensors do not cover the data section");

  std::string written;
  try {
    written = serializeSafetensors(views, file.metadata);
  } catch (const IoError &error) {
    finding(std::string("an accepted file cannot be written again: ") +
            error.what());
  }
  SafetensorsFile again;
  try {
    again = parseSafetensors(reinterpret_cast<const uint8_t *>(written.data()),
                             written.size(), "rewritten.safetensors");
  } catch (const IoError &error) {
    finding(std::string("a rewritten file does not parse: ") + error.what());
  }
  if (again.metadata != file.metadata || again.data != file.data ||
      again.tensors.size() != file.tensors.size())
    finding("a rewritten file differs from the original");
  for (size_t i = 0; i < file.tensors.size(); ++i) {
    const SafetensorsFile::Entry &a = file.tensors[i], &b = again.tensors[i];
    if (a.name != b.name || a.dtype != b.dtype || a.shape != b.shape ||
        a.offset != b.offset || a.bytes != b.bytes)
      finding("tensor '" + a.name + "' differs after rewriting");
  }
  return 0;
}
