//===- PlanChecksum.h - The checksum that seals a plan file -----*- C++ -*-===//
//
// Shared by the compiler, which writes a plan, and the runtime, which refuses
// a plan edited by hand or damaged on the way. Header-only and free of any
// dependency, so both sides of the plan-file seam can include it.
//
// The checksum is FNV-1a (64 bit) of the plan's JSON without its "checksum"
// field, serialized compactly with keys in file order (nlohmann::ordered_json
// dump()), written as "fnv1a64:" and 16 lowercase hex digits. It detects
// accidents and edits; it is not a signature.
//
//===----------------------------------------------------------------------===//

#ifndef DENSENET_FORMAT_PLANCHECKSUM_H
#define DENSENET_FORMAT_PLANCHECKSUM_H

#include <cstdint>
#include <string>
#include <string_view>

namespace densenet::format {

/// The plan format this build writes and reads.
inline constexpr int kPlanFormatVersion = 1;

inline uint64_t fnv1a64(std::string_view bytes) {
  uint64_t hash = 0xcbf29ce484222325ull;
  for (unsigned char byte : bytes) {
    hash ^= byte;
    hash *= 0x100000001b3ull;
  }
  return hash;
}

inline std::string planChecksum(std::string_view compactJsonWithoutChecksum) {
  static const char digits[] = "0123456789abcdef";
  uint64_t hash = fnv1a64(compactJsonWithoutChecksum);
  std::string text = "fnv1a64:";
  for (int shift = 60; shift >= 0; shift -= 4)
    text += digits[(hash >> shift) & 0xf];
  return text;
}

} // namespace densenet::format

#endif // DENSENET_FORMAT_PLANCHECKSUM_H
