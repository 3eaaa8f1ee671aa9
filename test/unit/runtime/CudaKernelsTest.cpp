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
#include "runtime/backend/Precision.h"
#include "runtime/cpu/Kernels.h"
#include "runtime/cuda/FusedModule.h"
#include "runtime/cuda/Kernels.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <memory>
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
  cpu::Map host(Twin &twin) const { return host(twin.host); }
  cpu::Map host(std::vector<float> &values) const {
    return {values.data() + offset * h * w, n, c, h, w, rootChannels * h * w};
  }
  gpu::DeviceMap device(Twin &twin) const {
    return deviceMap(twin.device + offset * h * w, n, c, h, w,
                     rootChannels * h * w);
  }
  static gpu::DeviceMap deviceMap(void *data, int64_t n, int64_t c, int64_t h,
                                  int64_t w, int64_t imageStride,
                                  gpu::Storage storage = gpu::Storage::F32) {
    gpu::DeviceMap map;
    map.data = data;
    map.n = n, map.c = c, map.h = h, map.w = w;
    map.imageStride = imageStride;
    map.storage = storage;
    return map;
  }
};

/// A [rows, columns] f32 matrix on the device.
gpu::DeviceMap matrix(float *data, int64_t rows, int64_t columns) {
  return Slice::deviceMap(data, rows, columns, 1, 1, columns);
}

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
  // Every block size batch norm may reduce with (DENSENET_BN_THREADS).
  for (int threads : {256, 512, 1024}) {
    SCOPED_TRACE(std::to_string(threads) + " threads");
    Twin x(kSlice.rootElements(), 1), y(kSlice.rootElements(), 2),
        dy(kSlice.rootElements(), 3), dx(kSlice.rootElements(), 4);
    Twin weight(kSlice.c, 5, 0.5, 1.5), bias(kSlice.c, 6), mean(kSlice.c, 7),
        variance(kSlice.c, 8), weightGrad(kSlice.c, 9), biasGrad(kSlice.c, 10);
    cpu::batchNormForward(kSlice.host(x), weight.host.data(),
                          bias.host.data(), kSlice.host(y), mean.host.data(),
                          variance.host.data(), 1e-5);
    gpu::batchNormForward(kSlice.device(x), weight.device, bias.device,
                          kSlice.device(y), mean.device, variance.device, 1e-5,
                          threads, nullptr);
    expectClose(y.host, y.download(), 1e-5, "batch norm output");
    expectClose(mean.host, mean.download(), 1e-5, "batch mean");
    expectClose(variance.host, variance.download(), 1e-5, "batch variance");
    cpu::batchNormBackward(kSlice.host(dy), kSlice.host(x), weight.host.data(),
                           mean.host.data(), variance.host.data(),
                           kSlice.host(dx), weightGrad.host.data(),
                           biasGrad.host.data(), 1e-5);
    gpu::batchNormBackward(kSlice.device(dy), kSlice.device(x), weight.device,
                           mean.device, variance.device, kSlice.device(dx),
                           weightGrad.device, biasGrad.device, 1e-5, threads,
                           nullptr);
    expectClose(dx.host, dx.download(), 1e-5, "batch norm input gradient");
    expectClose(weightGrad.host, weightGrad.download(), 1e-5,
                "weight gradient");
    expectClose(biasGrad.host, biasGrad.download(), 1e-5, "bias gradient");
  }
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
  gpu::globalAvgPoolForward(input.device(x),
                            matrix(pooled.device, input.n, input.c), nullptr);
  expectClose(pooled.host, pooled.download(), 1e-6, "global average pool");
  cpu::globalAvgPoolBackward(pooledGrad.host.data(), input.host(dx));
  gpu::globalAvgPoolBackward(matrix(pooledGrad.device, input.n, input.c),
                             input.device(dx), nullptr);
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
  gpu::softmaxCrossEntropy(matrix(logits.device, batch, classes), deviceLabels,
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
  gpu::softmaxCrossEntropyBackward(matrix(logits.device, batch, classes),
                                   deviceLabels,
                                   matrix(logitsGrad.device, batch, classes),
                                   nullptr, nullptr);
  expectClose(logitsGrad.host, logitsGrad.download(), 1e-6, "logit gradient");

  Twin parameter(100, 3), gradient(100, 4), momentum(100, 5), rate(1, 6, 0.1,
                                                                   0.2);
  for (bool nesterov : {false, true}) {
    cpu::sgdUpdate(parameter.host.data(), gradient.host.data(),
                   momentum.host.data(), 100, rate.host[0], 0.9, 1e-4,
                   nesterov);
    gpu::sgdUpdate(parameter.device, gradient.device, momentum.device, 100,
                   rate.device, 0.9, 1e-4, nesterov, nullptr, nullptr,
                   nullptr);
    expectClose(parameter.host, parameter.download(), 1e-6, "parameters");
    expectClose(momentum.host, momentum.download(), 1e-6, "momentum");
  }
  // With the invalid-label flag set, the update changes nothing (the CPU
  // stops such a step at its loss).
  std::vector<float> before = parameter.download(),
                     momentumBefore = momentum.download();
  int32_t halt = 1;
  cudaMemcpy(scratch + 16, &halt, 4, cudaMemcpyHostToDevice);
  gpu::sgdUpdate(parameter.device, gradient.device, momentum.device, 100,
                 rate.device, 0.9, 1e-4, false, nullptr,
                 reinterpret_cast<int32_t *>(scratch + 16), nullptr);
  EXPECT_EQ(before, parameter.download());
  EXPECT_EQ(momentumBefore, momentum.download());
  cudaFree(deviceLabels);
  cudaFree(scratch);
}

// Mixed precision: a map in bf16 or f16 on the device, and its values
// (already rounded to that type) on the host for the f32 CPU reference.
struct LowTwin {
  densenet::runtime::DType dtype;
  gpu::Storage storage;
  std::vector<float> host; // exactly representable in `dtype`
  void *device = nullptr;

  LowTwin(densenet::runtime::DType dtype, size_t count, uint32_t seed,
          float low = -1, float high = 1)
      : dtype(dtype),
        storage(dtype == densenet::runtime::DType::BF16 ? gpu::Storage::BF16
                                                        : gpu::Storage::F16),
        host(count) {
    std::mt19937 generator(seed);
    std::uniform_real_distribution<float> uniform(low, high);
    for (float &value : host)
      value = uniform(generator);
    // Round on the host so that both sides start from the same values.
    std::vector<uint8_t> bytes = densenet::runtime::toDType(dtype, host.data(), count);
    densenet::runtime::fromDType(dtype, bytes.data(), count, host.data());
    EXPECT_EQ(cudaMalloc(&device, bytes.size()), cudaSuccess);
    cudaMemcpy(device, bytes.data(), bytes.size(), cudaMemcpyHostToDevice);
  }
  ~LowTwin() { cudaFree(device); }
  LowTwin(const LowTwin &) = delete;
  LowTwin &operator=(const LowTwin &) = delete;
  std::vector<float> download() const {
    std::vector<uint8_t> bytes(host.size() * 2);
    cudaDeviceSynchronize();
    cudaMemcpy(bytes.data(), device, bytes.size(), cudaMemcpyDeviceToHost);
    std::vector<float> result(host.size());
    densenet::runtime::fromDType(dtype, bytes.data(), host.size(),
                                 result.data());
    return result;
  }
  gpu::DeviceMap map(const Slice &slice) {
    return Slice::deviceMap(static_cast<uint16_t *>(device) +
                                slice.offset * slice.h * slice.w,
                            slice.n, slice.c, slice.h, slice.w,
                            slice.rootChannels * slice.h * slice.w, storage);
  }
};

/// The stated tolerances of low-precision results against the f32
/// reference on the same (rounded) inputs, relative to the largest
/// reference value: a few units of the last place of each type (8 bits of
/// significand for bf16, 11 for f16).
double lowTolerance(densenet::runtime::DType dtype) {
  return dtype == densenet::runtime::DType::BF16 ? 2e-2 : 4e-3;
}

TEST(CudaConformance, LowPrecisionOpsAgreeWithF32) {
  REQUIRE_GPU();
  using densenet::runtime::DType;
  for (DType dtype : {DType::BF16, DType::F16}) {
    SCOPED_TRACE(dtype == DType::BF16 ? "bf16" : "f16");
    double tolerance = lowTolerance(dtype);
    size_t count = kSlice.rootElements();
    LowTwin x(dtype, count, 1), y(dtype, count, 2), dy(dtype, count, 3),
        dx(dtype, count, 4), r(dtype, count, 5);
    Twin weight(kSlice.c, 5, 0.5, 1.5), bias(kSlice.c, 6), mean(kSlice.c, 7),
        variance(kSlice.c, 8), weightGrad(kSlice.c, 9), biasGrad(kSlice.c, 10);
    cpu::batchNormForward(kSlice.host(x.host), weight.host.data(),
                          bias.host.data(), kSlice.host(y.host),
                          mean.host.data(), variance.host.data(), 1e-5);
    gpu::batchNormForward(x.map(kSlice), weight.device, bias.device,
                          y.map(kSlice), mean.device, variance.device, 1e-5,
                          gpu::kDefaultReductionThreads, nullptr);
    expectClose(y.host, y.download(), tolerance, "batch norm output");
    // Statistics are accumulated in double from the same inputs.
    expectClose(mean.host, mean.download(), 1e-5, "batch mean");
    expectClose(variance.host, variance.download(), 1e-5, "batch variance");
    cpu::relu(kSlice.host(y.host), kSlice.host(r.host));
    gpu::relu(y.map(kSlice), r.map(kSlice), nullptr);
    expectClose(r.host, r.download(), tolerance, "relu");
    cpu::batchNormBackward(kSlice.host(dy.host), kSlice.host(x.host),
                           weight.host.data(), mean.host.data(),
                           variance.host.data(), kSlice.host(dx.host),
                           weightGrad.host.data(), biasGrad.host.data(), 1e-5);
    gpu::batchNormBackward(dy.map(kSlice), x.map(kSlice), weight.device,
                           mean.device, variance.device, dx.map(kSlice),
                           weightGrad.device, biasGrad.device, 1e-5,
                           gpu::kDefaultReductionThreads, nullptr);
    expectClose(dx.host, dx.download(), tolerance, "batch norm input gradient");
    expectClose(weightGrad.host, weightGrad.download(), 1e-5,
                "weight gradient");
    expectClose(biasGrad.host, biasGrad.download(), 1e-5, "bias gradient");

    // Weights round into the low type and gradients widen back exactly.
    Twin filter(97, 11), widened(97, 12);
    void *copy = nullptr;
    ASSERT_EQ(cudaMalloc(&copy, 97 * 2), cudaSuccess);
    gpu::roundWeights(filter.device, copy, 97, x.storage, nullptr);
    gpu::widenGradient(copy, widened.device, 97, x.storage, nullptr);
    std::vector<uint8_t> rounded =
        densenet::runtime::toDType(dtype, filter.host.data(), 97);
    std::vector<float> expected(97);
    densenet::runtime::fromDType(dtype, rounded.data(), 97, expected.data());
    EXPECT_EQ(expected, widened.download()) << "weight copy";
    cudaFree(copy);
  }
}

// f16 loss scaling: an overflowed gradient makes every update of the step a
// no-op and halves the scale; a finite one is unscaled before the update.
TEST(CudaConformance, LossScalingSkipsOverflowedSteps) {
  REQUIRE_GPU();
  gpu::DeviceLossScale *state = nullptr;
  gpu::GradientSpan *spans = nullptr;
  ASSERT_EQ(cudaMalloc(reinterpret_cast<void **>(&state), sizeof *state),
            cudaSuccess);
  ASSERT_EQ(cudaMalloc(reinterpret_cast<void **>(&spans), 2 * sizeof *spans),
            cudaSuccess);
  gpu::DeviceLossScale initial{1024, 0, 0, 0};
  cudaMemcpy(state, &initial, sizeof initial, cudaMemcpyHostToDevice);
  Twin parameter(100, 3), gradient(100, 4, -1024, 1024), other(5000, 5),
      momentum(100, 6), rate(1, 7, 0.1, 0.2);
  gpu::GradientSpan table[2] = {{gradient.device, 100}, {other.device, 5000}};
  cudaMemcpy(spans, table, sizeof table, cudaMemcpyHostToDevice);

  // A step whose second gradient holds an infinity.
  other.host[4321] = std::numeric_limits<float>::infinity();
  other.upload();
  gpu::clearOverflow(state, nullptr);
  gpu::checkFinite(spans, 2, state, nullptr);
  gpu::sgdUpdate(parameter.device, gradient.device, momentum.device, 100,
                 rate.device, 0.9, 1e-4, false, state, nullptr, nullptr);
  gpu::advanceLossScale(state, 2, 0.5, 2000, nullptr, nullptr);
  EXPECT_EQ(parameter.host, parameter.download());
  EXPECT_EQ(momentum.host, momentum.download());
  gpu::DeviceLossScale after{};
  cudaDeviceSynchronize();
  cudaMemcpy(&after, state, sizeof after, cudaMemcpyDeviceToHost);
  EXPECT_EQ(after.scale, 512);
  EXPECT_EQ(after.skipped, 1);
  EXPECT_EQ(after.overflow, 1);

  // A finite step: the update sees the gradient divided by the scale.
  other.host[4321] = 0;
  other.upload();
  gpu::clearOverflow(state, nullptr);
  gpu::checkFinite(spans, 2, state, nullptr);
  gpu::sgdUpdate(parameter.device, gradient.device, momentum.device, 100,
                 rate.device, 0.9, 1e-4, false, state, nullptr, nullptr);
  gpu::advanceLossScale(state, 2, 0.5, 2000, nullptr, nullptr);
  std::vector<float> unscaled(gradient.host);
  for (float &g : unscaled)
    g *= 1.0f / 512;
  cpu::sgdUpdate(parameter.host.data(), unscaled.data(), momentum.host.data(),
                 100, rate.host[0], 0.9, 1e-4, false);
  expectClose(parameter.host, parameter.download(), 1e-6, "parameters");
  expectClose(momentum.host, momentum.download(), 1e-6, "momentum");
  cudaDeviceSynchronize();
  cudaMemcpy(&after, state, sizeof after, cudaMemcpyDeviceToHost);
  EXPECT_EQ(after.scale, 512);
  EXPECT_EQ(after.goodSteps, 1);
  EXPECT_EQ(after.overflow, 0);

  // The loss gradient is scaled.
  const int64_t batch = 4, classes = 3;
  Twin logits(batch * classes, 8, -3, 3), plain(batch * classes, 9),
      scaled(batch * classes, 10);
  std::vector<int32_t> labels{0, 2, 1, 2};
  int32_t *deviceLabels = nullptr;
  ASSERT_EQ(cudaMalloc(reinterpret_cast<void **>(&deviceLabels), 16),
            cudaSuccess);
  cudaMemcpy(deviceLabels, labels.data(), 16, cudaMemcpyHostToDevice);
  gpu::softmaxCrossEntropyBackward(matrix(logits.device, batch, classes),
                                   deviceLabels,
                                   matrix(plain.device, batch, classes),
                                   nullptr, nullptr);
  gpu::softmaxCrossEntropyBackward(matrix(logits.device, batch, classes),
                                   deviceLabels,
                                   matrix(scaled.device, batch, classes),
                                   state, nullptr);
  std::vector<float> expectedScaled = plain.download();
  for (float &g : expectedScaled)
    g *= 512;
  expectClose(expectedScaled, scaled.download(), 1e-6, "scaled loss gradient");
  cudaFree(deviceLabels);
  cudaFree(spans);
  cudaFree(state);
}

} // namespace

// The NVRTC-compiled fused kernels (runtime/cuda/FusedModule.h) against the
// separate kernels they replace: the same arithmetic, so the same bits.
TEST(CudaConformance, FusedKernelsMatchTheSeparateOnes) {
  REQUIRE_GPU();
  std::string directory = ::testing::TempDir() + "densenet-fused-kernels";
  gpu::KernelCache cache(directory);
  for (int threads : {256, 1024})
  for (bool write : {false, true}) {
    SCOPED_TRACE(std::to_string(threads) + " threads, " +
                 (write ? "writing the intermediate" : "skipping it"));
    gpu::FusedShape forward, backward;
    forward.kind = gpu::FusedShape::NormRelu;
    backward.kind = gpu::FusedShape::ReluNormGrad;
    for (gpu::FusedShape *shape : {&forward, &backward}) {
      shape->batch = kSlice.n;
      shape->plane = kSlice.h * kSlice.w;
      shape->writeIntermediate = write;
      shape->threads = threads;
    }
    gpu::FusedModule module({forward, backward}, cache);

    Twin x(kSlice.rootElements(), 1), weight(kSlice.c, 5, 0.5, 1.5),
        bias(kSlice.c, 6);
    Twin y(kSlice.rootElements(), 2), r(kSlice.rootElements(), 3),
        mean(kSlice.c, 7), variance(kSlice.c, 8);
    Twin fy(kSlice.rootElements(), 2), fr(kSlice.rootElements(), 3),
        fmean(kSlice.c, 9), fvariance(kSlice.c, 10);
    gpu::batchNormForward(kSlice.device(x), weight.device, bias.device,
                          kSlice.device(y), mean.device, variance.device, 1e-5,
                          threads, nullptr);
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
                           weightGrad.device, biasGrad.device, 1e-5, threads,
                           nullptr);
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

// The same for bf16 and f16 maps: the fused kernels widen and round exactly
// where the separate ones do.
TEST(CudaConformance, LowPrecisionFusedKernelsMatchTheSeparateOnes) {
  REQUIRE_GPU();
  using densenet::runtime::DType;
  std::string directory = ::testing::TempDir() + "densenet-fused-kernels-low";
  gpu::KernelCache cache(directory);
  size_t count = kSlice.rootElements();
  for (int threads : {256, 1024})
  for (DType dtype : {DType::BF16, DType::F16}) {
    SCOPED_TRACE(std::string(dtype == DType::BF16 ? "bf16, " : "f16, ") +
                 std::to_string(threads) + " threads");
    gpu::FusedShape forward, backward;
    forward.kind = gpu::FusedShape::NormRelu;
    backward.kind = gpu::FusedShape::ReluNormGrad;
    for (gpu::FusedShape *shape : {&forward, &backward}) {
      shape->storage = dtype == DType::BF16 ? gpu::FusedShape::BF16
                                            : gpu::FusedShape::F16;
      shape->batch = kSlice.n;
      shape->plane = kSlice.h * kSlice.w;
      shape->writeIntermediate = true;
      shape->threads = threads;
    }
    gpu::FusedModule module({forward, backward}, cache);
    LowTwin x(dtype, count, 1), y(dtype, count, 2), r(dtype, count, 3),
        fy(dtype, count, 2), fr(dtype, count, 3);
    Twin weight(kSlice.c, 5, 0.5, 1.5), bias(kSlice.c, 6), mean(kSlice.c, 7),
        variance(kSlice.c, 8), fmean(kSlice.c, 9), fvariance(kSlice.c, 10);
    gpu::batchNormForward(x.map(kSlice), weight.device, bias.device,
                          y.map(kSlice), mean.device, variance.device, 1e-5,
                          threads, nullptr);
    gpu::relu(y.map(kSlice), r.map(kSlice), nullptr);
    module.normRelu(forward, x.map(kSlice), weight.device, bias.device,
                    fy.map(kSlice), fr.map(kSlice), fmean.device,
                    fvariance.device, 1e-5, nullptr);
    EXPECT_EQ(r.download(), fr.download());
    EXPECT_EQ(y.download(), fy.download());
    EXPECT_EQ(mean.download(), fmean.download());

    LowTwin dr(dtype, count, 11), dy(dtype, count, 12), dx(dtype, count, 13),
        fdy(dtype, count, 12), fdx(dtype, count, 13);
    Twin weightGrad(kSlice.c, 14), biasGrad(kSlice.c, 15),
        fweightGrad(kSlice.c, 16), fbiasGrad(kSlice.c, 17);
    gpu::reluBackward(dr.map(kSlice), r.map(kSlice), dy.map(kSlice), nullptr);
    gpu::batchNormBackward(dy.map(kSlice), x.map(kSlice), weight.device,
                           mean.device, variance.device, dx.map(kSlice),
                           weightGrad.device, biasGrad.device, 1e-5, threads,
                           nullptr);
    module.reluNormGrad(backward, dr.map(kSlice), r.map(kSlice),
                        x.map(kSlice), weight.device, mean.device,
                        variance.device, fdx.map(kSlice), fweightGrad.device,
                        fbiasGrad.device, fdy.map(kSlice), 1e-5, nullptr);
    EXPECT_EQ(dx.download(), fdx.download());
    EXPECT_EQ(dy.download(), fdy.download());
    EXPECT_EQ(weightGrad.download(), fweightGrad.download());
    EXPECT_EQ(biasGrad.download(), fbiasGrad.download());
  }
}

// A run of updates launched as one (Kernels.h: sgdUpdates) computes the same
// bits as one launch per parameter, with and without a loss scale.
TEST(CudaConformance, UpdateRunsMatchSeparateUpdates) {
  REQUIRE_GPU();
  const std::vector<int64_t> counts{1, 300, 7, 4096};
  const std::vector<float> decays{1e-4f, 0.0f, 1e-4f, 5e-4f};
  Twin rate(1, 99, 0.1, 0.2);
  gpu::DeviceLossScale *state = nullptr;
  ASSERT_EQ(cudaMalloc(reinterpret_cast<void **>(&state), sizeof *state),
            cudaSuccess);
  gpu::DeviceLossScale initial{512, 0, 0, 0};
  cudaMemcpy(state, &initial, sizeof initial, cudaMemcpyHostToDevice);
  for (bool scaled : {false, true}) {
    for (bool nesterov : {false, true}) {
      SCOPED_TRACE(std::string(scaled ? "scaled" : "plain") +
                   (nesterov ? ", nesterov" : ""));
      std::vector<std::unique_ptr<Twin>> parameters, gradients, momenta,
          separate, separateMomenta;
      std::vector<gpu::SgdSpan> table;
      int64_t most = 0;
      for (size_t i = 0; i < counts.size(); ++i) {
        uint32_t seed = uint32_t(10 * i);
        parameters.push_back(std::make_unique<Twin>(counts[i], seed + 1));
        gradients.push_back(std::make_unique<Twin>(counts[i], seed + 2));
        momenta.push_back(std::make_unique<Twin>(counts[i], seed + 3));
        separate.push_back(std::make_unique<Twin>(counts[i], seed + 1));
        separateMomenta.push_back(std::make_unique<Twin>(counts[i], seed + 3));
        table.push_back({parameters[i]->device, gradients[i]->device,
                         momenta[i]->device, counts[i], decays[i]});
        most = std::max(most, counts[i]);
      }
      gpu::SgdSpan *spans = nullptr;
      ASSERT_EQ(cudaMalloc(reinterpret_cast<void **>(&spans),
                           table.size() * sizeof(gpu::SgdSpan)),
                cudaSuccess);
      cudaMemcpy(spans, table.data(), table.size() * sizeof(gpu::SgdSpan),
                 cudaMemcpyHostToDevice);
      const gpu::DeviceLossScale *scale = scaled ? state : nullptr;
      gpu::sgdUpdates(spans, int(table.size()), most, rate.device, 0.9,
                      nesterov, scale, nullptr, nullptr);
      for (size_t i = 0; i < counts.size(); ++i)
        gpu::sgdUpdate(separate[i]->device, gradients[i]->device,
                       separateMomenta[i]->device, counts[i], rate.device,
                       0.9, decays[i], nesterov, scale, nullptr, nullptr);
      for (size_t i = 0; i < counts.size(); ++i) {
        EXPECT_EQ(parameters[i]->download(), separate[i]->download()) << i;
        EXPECT_EQ(momenta[i]->download(), separateMomenta[i]->download())
            << i;
      }
      cudaFree(spans);
    }
  }
  cudaFree(state);
}
