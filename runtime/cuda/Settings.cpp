//===- Settings.cpp - The CUDA backend's environment settings -------------===//

#include "runtime/cuda/Settings.h"

#include "runtime/plan/Plan.h"

#include <cstdlib>
#include <string>

using namespace densenet::runtime;
using namespace densenet::runtime::cuda;

namespace {

/// "0" or "1" (unset or empty: `otherwise`).
bool flag(const char *name, const char *value, bool otherwise,
          const char *meaning) {
  if (!value || !*value)
    return otherwise;
  std::string text = value;
  if (text == "0" || text == "1")
    return text == "1";
  throw PlanError(std::string(name) + " is '" + text + "': it takes 0 or 1 (" +
                  meaning + ")");
}

} // namespace

CudaSettings CudaSettings::from(
    const std::function<const char *(const char *)> &lookup) {
  CudaSettings settings;
  settings.fusion =
      flag("DENSENET_FUSION", lookup("DENSENET_FUSION"), true,
           "0 runs every step with its own kernel; default 1");
  settings.graphs =
      flag("DENSENET_CUDA_GRAPH", lookup("DENSENET_CUDA_GRAPH"), true,
           "0 runs the step's kernels one by one, not as a CUDA graph; "
           "default 1");
  settings.tf32 =
      flag("DENSENET_TF32", lookup("DENSENET_TF32"), false,
           "1 lets f32 plans' convolutions use TF32 tensor cores; "
           "default 0");
  if (const char *threads = lookup("DENSENET_BN_THREADS");
      threads && *threads) {
    char *end = nullptr;
    long value = std::strtol(threads, &end, 10);
    if (*end != '\0' || value != long(int(value)) ||
        !validReductionThreads(int(value)))
      throw PlanError(std::string("DENSENET_BN_THREADS is '") + threads +
                      "': threads per block of batch norm's per-channel "
                      "reductions must be 256 (the default), 512 or 1024");
    settings.reductionThreads = int(value);
  }
  return settings;
}

CudaSettings CudaSettings::fromEnvironment() {
  return from([](const char *name) { return std::getenv(name); });
}
