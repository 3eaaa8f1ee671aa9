//===- DeviceMemory.cpp - What this process holds on a GPU ----------------===//
//
// The few NVML declarations needed are written out here (this CUDA toolkit
// ships no nvml.h); they are NVML's stable C ABI: an int return code, an
// opaque device handle, and the per-process record of
// nvmlDeviceGetComputeRunningProcesses (v1: pid and bytes; v2 and v3 add
// two instance ids).
//
//===----------------------------------------------------------------------===//

#include "runtime/cuda/DeviceMemory.h"

#include <cuda_runtime.h>
#include <dlfcn.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

using namespace densenet::runtime::cuda;

namespace {

using NvmlReturn = int; // NVML_SUCCESS = 0, NVML_ERROR_INSUFFICIENT_SIZE = 7
using NvmlDevice = void *;

struct ProcessInfoV1 {
  unsigned int pid;
  unsigned long long usedGpuMemory;
};
struct ProcessInfoV2 {
  unsigned int pid;
  unsigned long long usedGpuMemory;
  unsigned int gpuInstanceId;
  unsigned int computeInstanceId;
};

using InitFn = NvmlReturn (*)();
using ByBusIdFn = NvmlReturn (*)(const char *, NvmlDevice *);
using ProcessesFn = NvmlReturn (*)(NvmlDevice, unsigned int *, void *);

/// Whether this process sees PIDs other than the host's (a container):
/// NVML may then list host PIDs, which getpid() cannot be matched with.
/// /proc/self/status's NSpid has one PID per namespace level.
bool inNestedPidNamespace() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("NSpid:", 0) == 0) {
      std::istringstream pids(line.substr(6));
      int levels = 0;
      for (std::string pid; pids >> pid;)
        ++levels;
      return levels > 1;
    }
  return false;
}

/// The process records hold `count` entries, in a buffer with room for
/// twice as many: some drivers' _v3 entries are longer than the documented
/// struct (an extra 8-byte field), and must not write past the end.
/// Outside the host's PID namespace a PID match may be another process's
/// record, so there only a list of one counts: this process holds a
/// context on the device, so that one is its own.
template <typename Info>
int64_t ownBytes(ProcessesFn get, NvmlDevice device, bool nested) {
  unsigned int count = 64;
  std::vector<Info> infos(2 * count);
  NvmlReturn status = get(device, &count, infos.data());
  if (status == 7) { // more processes than room: ask again with enough
    count += 8;
    infos.assign(2 * size_t(count), Info{});
    status = get(device, &count, infos.data());
  }
  if (status != 0)
    return -1;
  // NVML_VALUE_NOT_AVAILABLE: the driver does not say (e.g. without
  // permission to see the process).
  auto bytes = [](const Info &info) {
    return info.usedGpuMemory == ~0ULL
               ? int64_t(-1)
               : static_cast<int64_t>(info.usedGpuMemory);
  };
  if (nested)
    return count == 1 ? bytes(infos[0]) : -1;
  unsigned int self = static_cast<unsigned int>(getpid());
  for (unsigned int i = 0; i < count; ++i)
    if (infos[i].pid == self)
      return bytes(infos[i]);
  return -1; // not listed
}

} // namespace

DeviceMemory::DeviceMemory(int device) : device(device) {
  size_t total = 0;
  if (cudaMemGetInfo(&freeAtStart, &total) != cudaSuccess)
    freeAtStart = 0;
  library = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!library)
    return;
  auto init = reinterpret_cast<InitFn>(dlsym(library, "nvmlInit_v2"));
  auto byBusId = reinterpret_cast<ByBusIdFn>(
      dlsym(library, "nvmlDeviceGetHandleByPciBusId_v2"));
  char busId[32] = {};
  if (!init || !byBusId || init() != 0)
    return;
  initialized = true;
  // NVML numbers devices in PCI order, CUDA in its own: match by bus id.
  if (cudaDeviceGetPCIBusId(busId, sizeof busId, device) != cudaSuccess ||
      byBusId(busId, &handle) != 0) {
    handle = nullptr;
    return;
  }
  nested = inNestedPidNamespace();
  // _v2 first: its records are the documented 24 bytes everywhere, where
  // some drivers' _v3 (535.x) write longer ones, which this would misread.
  for (auto [name, version] :
       {std::pair{"nvmlDeviceGetComputeRunningProcesses_v2", 2},
        std::pair{"nvmlDeviceGetComputeRunningProcesses_v3", 3},
        std::pair{"nvmlDeviceGetComputeRunningProcesses", 1}})
    if ((getProcesses = dlsym(library, name))) {
      processesVersion = version;
      break;
    }
}

DeviceMemory::~DeviceMemory() {
  if (library) {
    if (auto shutdown =
            reinterpret_cast<InitFn>(dlsym(library, "nvmlShutdown")))
      if (initialized)
        shutdown();
    dlclose(library);
  }
}

int64_t DeviceMemory::processBytes(std::string *source,
                                   bool *ownOnly) const {
  if (handle && getProcesses) {
    auto get = reinterpret_cast<ProcessesFn>(getProcesses);
    int64_t bytes = processesVersion == 1
                        ? ownBytes<ProcessInfoV1>(get, handle, nested)
                        : ownBytes<ProcessInfoV2>(get, handle, nested);
    if (bytes >= 0) {
      if (source)
        *source = "NVML";
      if (ownOnly)
        *ownOnly = true;
      return bytes;
    }
  }
  size_t free = 0, total = 0;
  cudaSetDevice(device);
  if (freeAtStart == 0 || cudaMemGetInfo(&free, &total) != cudaSuccess)
    return -1;
  if (source)
    *source = "cudaMemGetInfo since start";
  if (ownOnly)
    *ownOnly = false;
  return static_cast<int64_t>(freeAtStart) - static_cast<int64_t>(free);
}
