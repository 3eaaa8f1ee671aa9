//===- Sizes.cpp - Byte sizes as users write them -------------------------===//

#include "compiler/Sizes.h"

#include "llvm/ADT/StringExtras.h"

#include <cmath>
#include <cstdio>

using namespace densenet;

llvm::Expected<int64_t> densenet::parseByteSize(llvm::StringRef text) {
  auto fail = [&]() -> llvm::Error {
    return llvm::createStringError(
        llvm::inconvertibleErrorCode(),
        "invalid size '" + text.str() +
            "': expected a number with an optional unit, e.g. 12GB, 11.5GiB, "
            "800MB or 1073741824 (KB/MB/GB/TB = 1000^n bytes, "
            "KiB/MiB/GiB/TiB = 1024^n)");
  };
  llvm::StringRef rest = text.trim();
  size_t digits = 0;
  while (digits < rest.size() &&
         (llvm::isDigit(rest[digits]) || rest[digits] == '.'))
    ++digits;
  llvm::StringRef number = rest.take_front(digits);
  llvm::StringRef unit = rest.drop_front(digits).trim();
  if (number.empty() || number.count('.') > 1 || number == ".")
    return fail();

  struct Unit {
    const char *name;
    double scale;
  };
  static const Unit units[] = {
      {"", 1},          {"b", 1},          {"kb", 1e3},
      {"mb", 1e6},      {"gb", 1e9},       {"tb", 1e12},
      {"kib", 1024.0},  {"mib", 1048576.0}, {"gib", 1073741824.0},
      {"tib", 1099511627776.0}};
  const Unit *match = nullptr;
  for (const Unit &candidate : units)
    if (unit.equals_insensitive(candidate.name))
      match = &candidate;
  if (!match)
    return fail();

  double value;
  if (number.getAsDouble(value) || !(value >= 0))
    return fail();
  // Plain byte counts must be whole numbers.
  if (match->scale == 1 && number.contains('.'))
    return fail();
  double bytes = std::floor(value * match->scale);
  if (bytes > 9.0e18)
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   "size '" + text.str() + "' is too large");
  return static_cast<int64_t>(bytes);
}

std::string densenet::formatBytes(int64_t bytes) {
  static const char *names[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes);
  int unit = 0;
  while (value >= 1024.0 && unit < 4) {
    value /= 1024.0;
    ++unit;
  }
  char buffer[64];
  if (unit == 0)
    std::snprintf(buffer, sizeof(buffer), "%lld B",
                  static_cast<long long>(bytes));
  else
    std::snprintf(buffer, sizeof(buffer), "%.2f %s", value, names[unit]);
  return buffer;
}
