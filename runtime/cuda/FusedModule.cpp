//===- FusedModule.cpp - The plan's fused kernels, loaded -----------------===//

#include "runtime/cuda/FusedModule.h"

#include "runtime/cuda/CudaCheck.h"

using namespace densenet::runtime;
using namespace densenet::runtime::cuda;

FusedModule::FusedModule(const std::vector<FusedShape> &shapes,
                         const KernelCache &cache) {
  int device = 0, major = 0, minor = 0;
  DENSENET_CHECK(cudaGetDevice(&device));
  DENSENET_CHECK(cudaDeviceGetAttribute(
      &major, cudaDevAttrComputeCapabilityMajor, device));
  DENSENET_CHECK(cudaDeviceGetAttribute(
      &minor, cudaDevAttrComputeCapabilityMinor, device));
  std::string source = fusedKernelSource(shapes);
  image = cache.compile(source, major * 10 + minor);
  auto load = [&] {
    return cudaLibraryLoadData(&library, image.image.data(), nullptr, nullptr,
                               0, nullptr, nullptr, 0);
  };
  cudaError_t loaded = load();
  if (loaded != cudaSuccess && image.fromCache) {
    // A cached entry can look like a cubin and still be damaged: compiled
    // again, it replaces the entry.
    cudaGetLastError();
    library = nullptr;
    image = cache.compile(source, major * 10 + minor, /*refresh=*/true);
    loaded = load();
  }
  DENSENET_CHECK(loaded);
  try {
    for (const FusedShape &shape : shapes) {
      std::string name = shape.name();
      if (kernels.count(name))
        continue;
      cudaKernel_t handle = nullptr;
      DENSENET_CHECK(cudaLibraryGetKernel(&handle, library, name.c_str()));
      kernels[name] = handle;
    }
  } catch (...) {
    // No destructor runs for a constructor that throws.
    cudaLibraryUnload(library);
    library = nullptr;
    throw;
  }
}

FusedModule::~FusedModule() {
  if (library)
    cudaLibraryUnload(library);
}

const void *FusedModule::kernel(const FusedShape &shape) const {
  auto found = kernels.find(shape.name());
  if (found == kernels.end())
    throw PlanError("internal error: no fused kernel " + shape.name());
  // cudaLaunchKernel takes a cudaKernel_t in place of a function address.
  return reinterpret_cast<const void *>(found->second);
}

void FusedModule::normRelu(const FusedShape &shape, const DeviceMap &input,
                           const float *weight, const float *bias,
                           const DeviceMap &normalized,
                           const DeviceMap &rectified, float *mean,
                           float *variance, double epsilon,
                           cudaStream_t stream) const {
  // The maps' elements are of the shape's storage type; the kernel's
  // parameters are pointers all the same.
  const void *x = input.data;
  void *y = normalized.data, *r = rectified.data;
  long long xStride = input.imageStride, yStride = normalized.imageStride,
            rStride = rectified.imageStride;
  void *arguments[] = {&x,    &xStride, &weight, &bias,     &y,      &yStride,
                       &r,    &rStride, &mean,   &variance, &epsilon};
  DENSENET_CHECK(cudaLaunchKernel(kernel(shape), dim3(unsigned(input.c)),
                                  dim3(unsigned(shape.threads)), arguments, 0, stream));
}

void FusedModule::reluNormGrad(const FusedShape &shape,
                               const DeviceMap &rectifiedGrad,
                               const DeviceMap &rectified,
                               const DeviceMap &input, const float *weight,
                               const float *mean, const float *variance,
                               const DeviceMap &inputGrad, float *weightGrad,
                               float *biasGrad,
                               const DeviceMap &normalizedGrad, double epsilon,
                               cudaStream_t stream) const {
  const void *dr = rectifiedGrad.data, *r = rectified.data, *x = input.data;
  void *dx = inputGrad.data, *dy = normalizedGrad.data;
  long long drStride = rectifiedGrad.imageStride,
            rStride = rectified.imageStride, xStride = input.imageStride,
            dxStride = inputGrad.imageStride,
            dyStride = normalizedGrad.imageStride;
  void *arguments[] = {&dr,     &drStride, &r,          &rStride,
                       &x,      &xStride,  &weight,     &mean,
                       &variance, &dx,     &dxStride,   &weightGrad,
                       &biasGrad, &dy,     &dyStride,   &epsilon};
  DENSENET_CHECK(cudaLaunchKernel(kernel(shape), dim3(unsigned(input.c)),
                                  dim3(unsigned(shape.threads)), arguments, 0, stream));
}
