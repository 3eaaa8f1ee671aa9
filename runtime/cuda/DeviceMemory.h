//===- DeviceMemory.h - What this process holds on a GPU --------*- C++ -*-===//
//
// The device memory the process holds, as the driver counts it: NVML's
// per-process figure (context, library kernels and every allocation
// included), read through libnvidia-ml, which ships with the driver and is
// opened at run time, so that building needs no driver. Where NVML is
// missing or does not list the process (some containers), the difference of
// cudaMemGetInfo's free memory from when the backend started, which misses
// what the context took before.
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

  /// Bytes this process holds on the device now, and how they were counted
  /// ("NVML" or "cudaMemGetInfo since start").
  int64_t processBytes(std::string *source = nullptr) const;

private:
  int device;
  size_t freeAtStart = 0;
  void *library = nullptr; // libnvidia-ml.so.1, when it opened
  void *handle = nullptr;  // nvmlDevice_t of `device`
  void *getProcesses = nullptr;
  int processesVersion = 0; // 3, 2 or 1: the entry point found
};

} // namespace densenet::runtime::cuda

#endif // DENSENET_RUNTIME_CUDA_DEVICEMEMORY_H
