//===- CudaKernelsTest.cpp - CUDA kernels against the CPU reference -------===//
//
// The per-op half of the backend conformance suite: every CUDA kernel runs
// on the same random inputs as its CPU counterpart (runtime/cpu/Kernels.h),
// on channel slices of larger buffers, and must agree within f32 rounding
// (element-wise ops and dropout masks exactly). Without a usable GPU every
// test is skipped with the reason (GTEST_SKIP), which ctest reports.
//
//===----------------------------------------------------------------------===//

#include "runtime/backend/Backend.h"
#include "runtime/cpu/Kernels.h"
#include "runtime/cuda/FusedModule.h"
#include "runtime/cuda/Kernels.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

namespace cpu = densenet::runtime::cpu;
namespace gpu = densenet::runtime::cuda;

namespace {

#define REQUIRE_GPU()                                                          \
  do {                                                                         \
    std::string why;                                                           \
    if (!densenet::runtime::cudaAvailable(why))                                \
      GTEST_SKIP() << "no usable GPU: " << why;                                \
  } while (0)

/// A host buffer and its device copy.
struct Twin {
  std::vector<float> host;
  float *device = nullptr;

  explicit Twin(size_t count, uint32_t seed = 1, float low = -1,
                float high = 1)
      : host(count) {
    std::mt19937 generator(seed);
    std::uniform_real_distribution<float> uniform(low, high);
    for (float &value : host)
      value = uniform(generator);
    EXPECT_EQ(cudaMalloc(reinterpret_cast<void **>(&device),
                         count * sizeof(float)),
              cudaSuccess);
    upload();
  }
  ~Twin() { cudaFree(device); }
  Twin(const Twin &) = delete;
  Twin &operator=(const Twin &) = delete;
  void upload() {
    cudaMemcpy(device, host.data(), host.size() * sizeof(float),
               cudaMemcpyHostToDevice);
  }
  std::vector<float> download() const {
    std::vector<float> result(host.size());
    cudaDeviceSynchronize();
    cudaMemcpy(result.data(), device, host.size() * sizeof(float),
               cudaMemcpyDeviceToHost);
    return result;
  }
};

/// Channels [offset, offset + c) of a root with `rootChannels` channels.
struct Slice {
  int64_t n, c, h, w, rootChannels, offset;
  size_t rootElements() const { return size_t(n * rootChannels * h * w); }
  cpu::Map host(Twin &twin) const {
    return {twin.host.data() + offset * h * w, n, c, h, w,
            rootChannels * h * w};
  }
  gpu::DeviceMap device(Twin &twin) const {
    return {twin.device + offset * h * w, n, c, h, w, rootChannels * h * w};
  }
};

void expectClose(const std::vector<float> &expected,
                 const std::vector<float> &actual, double tolerance,
                 const char *what) {
  ASSERT_EQ(expected.size(), actual.size());
  double scale = 1e-30, worst = 0;
  for (float value : expected)
    scale = std::max(scale, double(std::fabs(value)));
  for (size_t i = 0; i < expected.size(); ++i)
    worst = std::max(worst, std::fabs(double(expected[i]) - actual[i]));
  EXPECT_LE(worst / scale, tolerance) << what;
}

const Slice kSlice{3, 5, 6, 7, 9, 2};

TEST(CudaConformance, BatchNormForwardAndBackward) {
  REQUIRE_GPU();
  Twin x(kSlice.rootElements(), 1), y(kSlice.rootElements(), 2),
      dy(kSlice.rootElements(), 3), dx(kSlice.rootElements(), 4);
  Twin weight(kSlice.c, 5, 0.5, 1.5), bias(kSlice.c, 6), mean(kSlice.c, 7),
      variance(kSlice.c, 8), weightGrad(kSlice.c, 9), biasGrad(kSlice.c, 10);
  cpu::batchNormForward(kSlice.host(x), weight.host.data(), bias.host.data(),
                        kSlice.host(y), mean.host.data(), variance.host.data(),
                        1e-5);
  gpu::batchNormForward(kSlice.device(x), weight.device, bias.device,
                        kSlice.device(y), mean.device, variance.device, 1e-5,
                        nullptr);
  expectClose(y.host, y.download(), 1e-5, "batch norm output");
  expectClose(mean.host, mean.download(), 1e-5, "batch mean");
  expectClose(variance.host, variance.download(), 1e-5, "batch variance");
  cpu::batchNormBackward(kSlice.host(dy), kSlice.host(x), weight.host.data(),
                         mean.host.data(), variance.host.data(),
                         kSlice.host(dx), weightGrad.host.data(),
                         biasGrad.host.data(), 1e-5);
  gpu::batchNormBackward(kSlice.device(dy), kSlice.device(x), weight.device,
                         mean.device, variance.device, kSlice.device(dx),
                         weightGrad.device, biasGrad.device, 1e-5, nullptr);
  expectClose(dx.host, dx.download(), 1e-5, "batch norm input gradient");
  expectClose(weightGrad.host, weightGrad.download(), 1e-5, "weight gradient");
  expectClose(biasGrad.host, biasGrad.download(), 1e-5, "bias gradient");
}

TEST(CudaConformance, ReluAccumulateAndDropoutAreExact) {
  REQUIRE_GPU();
  Twin x(kSlice.rootElements(), 1), y(kSlice.rootElements(), 2),
      dy(kSlice.rootElements(), 3), dx(kSlice.rootElements(), 4);
  cpu::relu(kSlice.host(x), kSlice.host(y));
  gpu::relu(kSlice.device(x), kSlice.device(y), nullptr);
  EXPECT_EQ(y.host, y.download());
  cpu::reluBackward(kSlice.host(dy), kSlice.host(y), kSlice.host(dx));
  gpu::reluBackward(kSlice.device(dy), kSlice.device(y), kSlice.device(dx),
                    nullptr);
  EXPECT_EQ(dx.host, dx.download());

  Slice value{3, 2, 6, 7, 2, 0};
  Twin source(value.rootElements(), 5);
  cpu::accumulate(value.host(source), kSlice.host(dx), 3);
  gpu::accumulate(value.device(source), kSlice.device(dx), 3, nullptr);
  EXPECT_EQ(dx.host, dx.download());

  gpu::StepCounters counters{1234, 7};
  gpu::StepCounters *deviceCounters = nullptr;
  ASSERT_EQ(cudaMalloc(reinterpret_cast<void **>(&deviceCounters),
                       sizeof counters),
            cudaSuccess);
  cudaMemcpy(deviceCounters, &counters, sizeof counters,
             cudaMemcpyHostToDevice);
  cpu::dropout(kSlice.host(x), kSlice.host(y), 0.3, 1234, 99, 7);
  gpu::dropout(kSlice.device(x), kSlice.device(y), 0.3, 99, deviceCounters,
               nullptr);
  EXPECT_EQ(y.host, y.download());
  cudaFree(deviceCounters);
}

TEST(CudaConformance, Pooling) {
  REQUIRE_GPU();
  Slice input{2, 3, 9, 9, 3, 0};
  cpu::Window maxWindow{3, 3, 2, 2, 1, 1};
  gpu::DeviceWindow maxDevice{3, 3, 2, 2, 1, 1};
  Slice output{2, 3, 5, 5, 4, 1};
  Twin x(input.rootElements(), 1), y(output.rootElements(), 2),
      dy(output.rootElements(), 3), dx(input.rootElements(), 4);
  cpu::maxPoolForward(input.host(x), output.host(y), maxWindow);
  gpu::maxPoolForward(input.device(x), output.device(y), maxDevice, nullptr);
  EXPECT_EQ(y.host, y.download());
  cpu::maxPoolBackward(output.host(dy), input.host(x), output.host(y),
                       input.host(dx), maxWindow);
  gpu::maxPoolBackward(output.device(dy), input.device(x), output.device(y),
                       input.device(dx), maxDevice, nullptr);
  expectClose(dx.host, dx.download(), 1e-6, "max pool gradient");

  cpu::Window avgWindow{2, 2, 2, 2, 0, 0};
  gpu::DeviceWindow avgDevice{2, 2, 2, 2, 0, 0};
  Slice half{2, 3, 4, 4, 3, 0};
  Twin z(half.rootElements(), 5), dz(half.rootElements(), 6);
  cpu::avgPoolForward(input.host(x), half.host(z), avgWindow);
  gpu::avgPoolForward(input.device(x), half.device(z), avgDevice, nullptr);
  expectClose(z.host, z.download(), 1e-6, "average pool");
  cpu::avgPoolBackward(half.host(dz), input.host(dx), avgWindow);
  gpu::avgPoolBackward(half.device(dz), input.device(dx), avgDevice, nullptr);
  expectClose(dx.host, dx.download(), 1e-6, "average pool gradient");

  Twin pooled(6, 7), pooledGrad(6, 8);
  cpu::globalAvgPoolForward(input.host(x), pooled.host.data());
  gpu::globalAvgPoolForward(input.device(x), pooled.device, nullptr);
  expectClose(pooled.host, pooled.download(), 1e-6, "global average pool");
  cpu::globalAvgPoolBackward(pooledGrad.host.data(), input.host(dx));
  gpu::globalAvgPoolBackward(pooledGrad.device, input.device(dx), nullptr);
  expectClose(dx.host, dx.download(), 1e-6, "global average pool gradient");
}

TEST(CudaConformance, LossAndSgd) {
  REQUIRE_GPU();
  const int64_t batch = 5, classes = 4;
  Twin logits(batch * classes, 1, -3, 3), logitsGrad(batch * classes, 2);
  std::vector<int32_t> labels{0, 3, 1, 2, 3};
  int32_t *deviceLabels = nullptr;
  uint8_t *scratch = nullptr;
  ASSERT_EQ(cudaMalloc(reinterpret_cast<void **>(&deviceLabels),
                       labels.size() * sizeof(int32_t)),
            cudaSuccess);
  ASSERT_EQ(cudaMalloc(reinterpret_cast<void **>(&scratch), 64), cudaSuccess);
  cudaMemset(scratch, 0, 64);
  cudaMemcpy(deviceLabels, labels.data(), labels.size() * sizeof(int32_t),
             cudaMemcpyHostToDevice);
  float loss = 0, deviceLoss = 0;
  int64_t correct = 0, deviceCorrect = 0;
  int32_t invalid = 0;
  cpu::softmaxCrossEntropy(logits.host.data(), labels.data(), batch, classes,
                           &loss, &correct);
  gpu::softmaxCrossEntropy(logits.device, deviceLabels, batch, classes,
                           reinterpret_cast<float *>(scratch),
                           reinterpret_cast<int64_t *>(scratch + 8),
                           reinterpret_cast<int32_t *>(scratch + 16), nullptr);
  cudaDeviceSynchronize();
  cudaMemcpy(&deviceLoss, scratch, 4, cudaMemcpyDeviceToHost);
  cudaMemcpy(&deviceCorrect, scratch + 8, 8, cudaMemcpyDeviceToHost);
  cudaMemcpy(&invalid, scratch + 16, 4, cudaMemcpyDeviceToHost);
  EXPECT_NEAR(loss, deviceLoss, 1e-6 * std::fabs(loss));
  EXPECT_EQ(correct, deviceCorrect);
  EXPECT_EQ(invalid, 0);
  cpu::softmaxCrossEntropyBackward(logits.host.data(), labels.data(), batch,
                                   classes, logitsGrad.host.data());
  gpu::softmaxCrossEntropyBackward(logits.device, deviceLabels, batch, classes,
                                   logitsGrad.device, nullptr);
  expectClose(logitsGrad.host, logitsGrad.download(), 1e-6, "logit gradient");

  Twin parameter(100, 3), gradient(100, 4), momentum(100, 5), rate(1, 6, 0.1,
                                                                   0.2);
  for (bool nesterov : {false, true}) {
    cpu::sgdUpdate(parameter.host.data(), gradient.host.data(),
                   momentum.host.data(), 100, rate.host[0], 0.9, 1e-4,
                   nesterov);
    gpu::sgdUpdate(parameter.device, gradient.device, momentum.device, 100,
                   rate.device, 0.9, 1e-4, nesterov, nullptr);
    expectClose(parameter.host, parameter.download(), 1e-6, "parameters");
    expectClose(momentum.host, momentum.download(), 1e-6, "momentum");
  }
  cudaFree(deviceLabels);
  cudaFree(scratch);
}

} // namespace

// The NVRTC-compiled fused kernels (runtime/cuda/FusedModule.h) against the
// separate kernels they replace: the same arithmetic, so the same bits.
TEST(CudaConformance, FusedKernelsMatchTheSeparateOnes) {
  REQUIRE_GPU();
  std::string directory = ::testing::TempDir() + "densenet-fused-kernels";
  gpu::KernelCache cache(directory);
  for (bool write : {false, true}) {
    SCOPED_TRACE(write ? "writing the intermediate" : "skipping it");
    gpu::FusedShape forward{gpu::FusedShape::NormRelu, kSlice.n,
                            kSlice.h * kSlice.w, write};
    gpu::FusedShape backward{gpu::FusedShape::ReluNormGrad, kSlice.n,
                             kSlice.h * kSlice.w, write};
    gpu::FusedModule module({forward, backward}, cache);

    Twin x(kSlice.rootElements(), 1), weight(kSlice.c, 5, 0.5, 1.5),
        bias(kSlice.c, 6);
    Twin y(kSlice.rootElements(), 2), r(kSlice.rootElements(), 3),
        mean(kSlice.c, 7), variance(kSlice.c, 8);
    Twin fy(kSlice.rootElements(), 2), fr(kSlice.rootElements(), 3),
        fmean(kSlice.c, 9), fvariance(kSlice.c, 10);
    gpu::batchNormForward(kSlice.device(x), weight.device, bias.device,
                          kSlice.device(y), mean.device, variance.device, 1e-5,
                          nullptr);
    gpu::relu(kSlice.device(y), kSlice.device(r), nullptr);
    module.normRelu(forward, kSlice.device(x), weight.device, bias.device,
                    kSlice.device(fy), kSlice.device(fr), fmean.device,
                    fvariance.device, 1e-5, nullptr);
    EXPECT_EQ(r.download(), fr.download());
    EXPECT_EQ(mean.download(), fmean.download());
    EXPECT_EQ(variance.download(), fvariance.download());
    if (write)
      EXPECT_EQ(y.download(), fy.download());
    else
      EXPECT_EQ(fy.host, fy.download()); // untouched

    Twin dr(kSlice.rootElements(), 11), dy(kSlice.rootElements(), 12),
        dx(kSlice.rootElements(), 13), weightGrad(kSlice.c, 14),
        biasGrad(kSlice.c, 15);
    Twin fdy(kSlice.rootElements(), 12), fdx(kSlice.rootElements(), 13),
        fweightGrad(kSlice.c, 16), fbiasGrad(kSlice.c, 17);
    gpu::reluBackward(kSlice.device(dr), kSlice.device(r), kSlice.device(dy),
                      nullptr);
    gpu::batchNormBackward(kSlice.device(dy), kSlice.device(x), weight.device,
                           mean.device, variance.device, kSlice.device(dx),
                           weightGrad.device, biasGrad.device, 1e-5, nullptr);
    module.reluNormGrad(backward, kSlice.device(dr), kSlice.device(r),
                        kSlice.device(x), weight.device, mean.device,
                        variance.device, kSlice.device(fdx),
                        fweightGrad.device, fbiasGrad.device,
                        kSlice.device(fdy), 1e-5, nullptr);
    EXPECT_EQ(dx.download(), fdx.download());
    EXPECT_EQ(weightGrad.download(), fweightGrad.download());
    EXPECT_EQ(biasGrad.download(), fbiasGrad.download());
    if (write)
      EXPECT_EQ(dy.download(), fdy.download());
    else
      EXPECT_EQ(fdy.host, fdy.download());
  }
}
