//===- DeviceMemory.h - What this process holds on a GPU --------*- C++ -*-===//
//
// The device memory the process holds, as the driver counts it: NVML's
// per-process figure (context, library kernels and every allocation
// included), read through libnvidia-ml, which ships with the driver and is
// opened at run time, so that building needs no driver. Where NVML is
// missing or cannot tell which record is this process's (in a container
// whose PIDs are not the host's, when the device has other processes too),
// the difference of cudaMemGetInfo's free memory from when the backend
// started: it misses what the context took before, and counts what other
// processes took on the device since (so it is only a warning over the
// budget, runtime/train/Trainer.cpp).
//
//===----------------------------------------------------------------------===//

#ifndef DENSENET_RUNTIME_CUDA_DEVICEMEMORY_H
#define DENSENET_RUNTIME_CUDA_DEVICEMEMORY_H

#include <cstdint>
#include <string>

namespace densenet::runtime::cuda {

class DeviceMemory {
public:
  /// Call before the backend allocates anything on `device` (its context
  /// must exist).
  explicit DeviceMemory(int device);
  ~DeviceMemory();
  DeviceMemory(const DeviceMemory &) = delete;
  DeviceMemory &operator=(const DeviceMemory &) = delete;

  /// Bytes this process holds on the device now, how they were counted
  /// ("NVML" or "cudaMemGetInfo since start"), and whether that is this
  /// process's figure alone (NVML's).
  int64_t processBytes(std::string *source = nullptr,
                       bool *ownOnly = nullptr) const;

private:
  int device;
  size_t freeAtStart = 0;
  void *library = nullptr; // libnvidia-ml.so.1, when it opened
  void *handle = nullptr;  // nvmlDevice_t of `device`
  void *getProcesses = nullptr;
  int processesVersion = 0; // 3, 2 or 1: the entry point found
  bool initialized = false; // nvmlInit succeeded: shut down at the end
  bool nested = false;      // in a PID namespace other than the host's
};

} // namespace densenet::runtime::cuda

#endif // DENSENET_RUNTIME_CUDA_DEVICEMEMORY_H
