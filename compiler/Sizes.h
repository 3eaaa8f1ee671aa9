//===- Sizes.h - Byte sizes as users write them -----------------*- C++ -*-===//

#ifndef DENSENET_COMPILER_SIZES_H
#define DENSENET_COMPILER_SIZES_H

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <string>

namespace densenet {

/// Parses "12GB", "11.5GiB", "800MB", "64KiB", "1073741824" (plain bytes).
/// KB/MB/GB/TB are decimal (1000^n), KiB/MiB/GiB/TiB binary (1024^n); the
/// unit is case-insensitive and may follow a space. The result is rounded
/// down to whole bytes.
llvm::Expected<int64_t> parseByteSize(llvm::StringRef text);

/// "11.18 GiB (12000000000 bytes)"-style rendering for messages: the binary
/// unit that keeps 1-4 integer digits, and the exact count.
std::string formatBytes(int64_t bytes);

} // namespace densenet

#endif // DENSENET_COMPILER_SIZES_H
