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

/// The process records hold `count` entries, in a buffer with room for
/// twice as many: some drivers' _v3 entries are longer than the documented
/// struct (an extra 8-byte field), and must not write past the end.
template <typename Info>
int64_t ownBytes(ProcessesFn get, NvmlDevice device) {
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
  unsigned int self = static_cast<unsigned int>(getpid());
  for (unsigned int i = 0; i < count; ++i)
    if (infos[i].pid == self)
      return static_cast<int64_t>(infos[i].usedGpuMemory);
  return -1; // not listed: another PID namespace (a container)
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
  // NVML numbers devices in PCI order, CUDA in its own: match by bus id.
  if (!init || !byBusId || init() != 0 ||
      cudaDeviceGetPCIBusId(busId, sizeof busId, device) != cudaSuccess ||
      byBusId(busId, &handle) != 0) {
    handle = nullptr;
    return;
  }
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
      if (handle)
        shutdown();
    dlclose(library);
  }
}

int64_t DeviceMemory::processBytes(std::string *source) const {
  if (handle && getProcesses) {
    auto get = reinterpret_cast<ProcessesFn>(getProcesses);
    int64_t bytes = processesVersion == 1
                        ? ownBytes<ProcessInfoV1>(get, handle)
                        : ownBytes<ProcessInfoV2>(get, handle);
    if (bytes >= 0) {
      if (source)
        *source = "NVML";
      return bytes;
    }
  }
  size_t free = 0, total = 0;
  cudaSetDevice(device);
  if (freeAtStart == 0 || cudaMemGetInfo(&free, &total) != cudaSuccess)
    return -1;
  if (source)
    *source = "cudaMemGetInfo since start";
  return static_cast<int64_t>(freeAtStart) - static_cast<int64_t>(free);
}
