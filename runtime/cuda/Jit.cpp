//===- Jit.cpp - NVRTC compilation with an on-disk cache ------------------===//

#include "runtime/cuda/Jit.h"

#include "format/PlanChecksum.h"
#include "runtime/plan/Plan.h"

#include <nvrtc.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <sstream>
#include <unistd.h>
#include <vector>

using namespace densenet::runtime;
using namespace densenet::runtime::cuda;

namespace {

void check(nvrtcResult result, const char *call) {
  if (result != NVRTC_SUCCESS)
    throw PlanError(std::string("NVRTC: ") + call + " failed: " +
                    nvrtcGetErrorString(result));
}

std::vector<std::string> optionsFor(int target, bool ptx) {
  // sm_XY makes NVRTC emit a cubin for exactly that GPU, compute_XY PTX
  // for it and every later one. The rest keeps the arithmetic as nvcc
  // compiles Kernels.cu (fused multiply-add on, IEEE division and square
  // root), so fused and unfused kernels agree.
  return {"--gpu-architecture=" + std::string(ptx ? "compute_" : "sm_") +
              std::to_string(target),
          "--std=c++17", "--fmad=true", "--prec-div=true", "--prec-sqrt=true"};
}

bool isCubin(const std::string &image) {
  return image.size() > 4 && image.compare(0, 4, "\x7f"
                                                  "ELF") == 0;
}

/// Whole PTX as NVRTC gives it: a module header, NUL-terminated (a
/// truncated entry lacks the NUL).
bool isPtx(const std::string &image) {
  return image.size() > 1 && image.back() == '\0' &&
         image.find(".version ") != std::string::npos &&
         image.find(".target ") != std::string::npos;
}

std::string readFile(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return {};
  std::ostringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

/// Writes `image` to `path` through a temporary file and a rename; false
/// (and nothing left behind) when the directory cannot take it.
bool writeAtomically(const std::string &path, const std::string &image) {
  std::error_code error;
  std::filesystem::create_directories(
      std::filesystem::path(path).parent_path(), error);
  if (error)
    return false;
  // Unique across the hosts and processes that may share the directory.
  char host[256] = "host";
  gethostname(host, sizeof host - 1);
  std::string temporary = path + ".tmp." + host + "." +
                          std::to_string(getpid()) + "." +
                          std::to_string(std::random_device()());
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    if (!out)
      return false;
    out.write(image.data(), static_cast<std::streamsize>(image.size()));
    out.flush();
    if (!out) {
      std::filesystem::remove(temporary, error);
      return false;
    }
  }
  std::filesystem::rename(temporary, path, error);
  if (error) {
    std::filesystem::remove(temporary, error);
    return false;
  }
  return true;
}

std::string compileWithNvrtc(const std::string &source,
                             const std::vector<std::string> &options,
                             bool ptx) {
  nvrtcProgram program = nullptr;
  check(nvrtcCreateProgram(&program, source.c_str(), "densenet_fused.cu", 0,
                           nullptr, nullptr),
        "nvrtcCreateProgram");
  std::vector<const char *> arguments;
  for (const std::string &option : options)
    arguments.push_back(option.c_str());
  nvrtcResult compiled = nvrtcCompileProgram(
      program, static_cast<int>(arguments.size()), arguments.data());
  if (compiled != NVRTC_SUCCESS) {
    size_t size = 0;
    nvrtcGetProgramLogSize(program, &size);
    std::string log(size, '\0');
    if (size > 0)
      nvrtcGetProgramLog(program, log.data());
    nvrtcDestroyProgram(&program);
    throw PlanError("NVRTC could not compile the generated kernels (" +
                    std::string(nvrtcGetErrorString(compiled)) + "):\n" + log);
  }
  size_t size = 0;
  std::string image;
  if (ptx) {
    check(nvrtcGetPTXSize(program, &size), "nvrtcGetPTXSize");
    image.assign(size, '\0'); // the size counts the terminating NUL
    check(nvrtcGetPTX(program, image.data()), "nvrtcGetPTX");
  } else {
    check(nvrtcGetCUBINSize(program, &size), "nvrtcGetCUBINSize");
    image.assign(size, '\0');
    check(nvrtcGetCUBIN(program, image.data()), "nvrtcGetCUBIN");
  }
  nvrtcDestroyProgram(&program);
  return image;
}

} // namespace

std::string densenet::runtime::cuda::nvrtcVersionText() {
  int major = 0, minor = 0;
  check(nvrtcVersion(&major, &minor), "nvrtcVersion");
  return "NVRTC " + std::to_string(major) + "." + std::to_string(minor);
}

std::vector<int> densenet::runtime::cuda::nvrtcArchitectures() {
  int count = 0;
  check(nvrtcGetNumSupportedArchs(&count), "nvrtcGetNumSupportedArchs");
  std::vector<int> architectures(static_cast<size_t>(count));
  if (count > 0)
    check(nvrtcGetSupportedArchs(architectures.data()),
          "nvrtcGetSupportedArchs");
  std::sort(architectures.begin(), architectures.end());
  return architectures;
}

KernelCache::KernelCache(std::string directory)
    : root(directory.empty() ? defaultDirectory() : std::move(directory)) {}

std::string KernelCache::defaultDirectory() {
  if (const char *explicitDirectory = std::getenv("DENSENET_KERNEL_CACHE"))
    return explicitDirectory;
  if (const char *xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg)
    return std::string(xdg) + "/densenet/kernels";
  if (const char *home = std::getenv("HOME"); home && *home)
    return std::string(home) + "/.cache/densenet/kernels";
  return {};
}

CompiledKernels KernelCache::compile(const std::string &source,
                                     int architecture, bool refresh) const {
  CompiledKernels result;
  std::vector<int> known = nvrtcArchitectures();
  if (std::find(known.begin(), known.end(), architecture) != known.end()) {
    result.target = architecture;
  } else {
    // A GPU newer than NVRTC: PTX for the newest architecture below it.
    auto below = std::upper_bound(known.begin(), known.end(), architecture);
    if (below == known.begin())
      throw PlanError(
          nvrtcVersionText() + " compiles for sm_" +
          (known.empty() ? std::string("(none)")
                         : std::to_string(known.front())) +
          " and later, not for this GPU's sm_" + std::to_string(architecture));
    result.target = *std::prev(below);
    result.ptx = true;
  }
  std::vector<std::string> options = optionsFor(result.target, result.ptx);
  std::string key = nvrtcVersionText() + "\n";
  for (const std::string &option : options)
    key += option + "\n";
  key += source;
  char name[32];
  std::snprintf(name, sizeof name, "%016llx.%s",
                static_cast<unsigned long long>(format::fnv1a64(key)),
                result.ptx ? "ptx" : "cubin");

  if (!root.empty()) {
    result.cachePath = root + "/" + name;
    std::string cached = refresh ? std::string() : readFile(result.cachePath);
    if (result.ptx ? isPtx(cached) : isCubin(cached)) {
      result.image = std::move(cached);
      result.fromCache = true;
      return result;
    }
  }
  result.image = compileWithNvrtc(source, options, result.ptx);
  if (!result.cachePath.empty() &&
      !writeAtomically(result.cachePath, result.image))
    result.cachePath.clear(); // compiled for this run only
  return result;
}
