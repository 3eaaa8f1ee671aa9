//===- UbsanLogPath.cpp - UBSan reports to log_path beside GCC's ASan -----===//
//
// Linked into every executable of the sanitizer build (DENSENET_SANITIZE with
// GCC). GCC links UBSan as a runtime of its own (libubsan.so) beside ASan's,
// and when both are present libubsan ignores the log_path of UBSAN_OPTIONS
// and always reports on stderr. scripts/sanitize.sh needs every report in a
// file: a lit test that expects a tool to fail (`not densenetc ...`) passes
// whatever the exit code, and a Python check may discard stderr. So before
// main runs, this hands log_path to libubsan's own copy of the report path.
// Clang's runtimes honor log_path themselves and never load libubsan.so.
//
//===----------------------------------------------------------------------===//

#include <dlfcn.h>

#include <cstdlib>
#include <cstring>
#include <string>

/// Referenced by the link option -Wl,--undefined=densenetUbsanLogPath, which
/// makes the linker take this file out of its archive into every executable.
extern "C" void densenetUbsanLogPath() {}

namespace {

/// The value of `name=` in sanitizer options ("a=1:log_path=/x:b=2"), or ""
/// when absent. Flags are separated by ':', ',' or white space.
std::string optionValue(const std::string &options, const std::string &name) {
  const char *separators = ": ,\t\n";
  const std::string key = name + "=";
  for (size_t at = options.find(key); at != std::string::npos;
       at = options.find(key, at + 1)) {
    if (at != 0 && !std::strchr(separators, options[at - 1]))
      continue;
    const size_t begin = at + key.size();
    const size_t end = options.find_first_of(separators, begin);
    return options.substr(begin, end == std::string::npos ? end : end - begin);
  }
  return "";
}

__attribute__((constructor)) void applyUbsanLogPath() {
  const char *options = std::getenv("UBSAN_OPTIONS");
  if (!options)
    return;
  const std::string path = optionValue(options, "log_path");
  if (path.empty())
    return;
  void *ubsan = dlopen("libubsan.so.1", RTLD_NOW | RTLD_NOLOAD);
  if (!ubsan)
    return;
  using SetReportPath = void (*)(const char *);
  if (auto set = reinterpret_cast<SetReportPath>(
          dlsym(ubsan, "__sanitizer_set_report_path")))
    set(path.c_str());
  dlclose(ubsan);
}

} // namespace
