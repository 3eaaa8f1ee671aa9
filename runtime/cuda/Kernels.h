//===- Kernels.h - CUDA kernels of the CUDA backend -------------*- C++ -*-===//
//
// The element-wise, normalization, pooling, loss and optimizer ops of
// docs/training-semantics.md on the GPU. Convolutions and the classifier's
// matrix products are cuDNN and cuBLAS calls in CudaBackend.cpp. Maps are
// NCHW channel slices as in the CPU backend (runtime/cpu/Kernels.h): image i,
// channel j starts at data + i * imageStride + j * h * w. Every reduction is
// done in a fixed order by one block, so results do not depend on timing.
// All functions enqueue on `stream` and return at once.
//
//===----------------------------------------------------------------------===//

#ifndef DENSENET_RUNTIME_CUDA_KERNELS_H
#define DENSENET_RUNTIME_CUDA_KERNELS_H

#include "runtime/backend/FeatureMap.h"

#include <cuda_runtime.h>

#include <cstdint>

namespace densenet::runtime::cuda {

/// How a map's elements are stored. Arithmetic is f32 whatever the storage
/// (mixed precision, docs/training-semantics.md): a kernel widens what it
/// reads and rounds to nearest even what it writes.
enum class Storage : uint8_t { F32, BF16, F16 };

/// A feature map in device memory (runtime/backend/FeatureMap.h), in its
/// storage type; a [rows, columns] matrix is [rows, columns, 1, 1].
struct DeviceMap {
  void *data = nullptr;
  int64_t n = 0, c = 0, h = 0, w = 0;
  int64_t imageStride = 0;
  Storage storage = Storage::F32;

  DeviceMap() = default;
  DeviceMap(const FeatureMap &map, Storage storage)
      : data(map.data), n(map.n), c(map.c), h(map.h), w(map.w),
        imageStride(map.imageStride), storage(storage) {}
  int64_t plane() const { return h * w; }
};

struct DeviceWindow {
  int kernelHeight = 1, kernelWidth = 1;
  int strideHeight = 1, strideWidth = 1;
  int padHeight = 0, padWidth = 0;
};

/// Where the dropout seed and step live on the device, so that a captured
/// CUDA graph replays each step with the current values.
struct StepCounters {
  uint64_t seed;
  int64_t step;
};

/// Dynamic loss scaling of f16 plans, on the device so that the captured
/// graph carries it from step to step (runtime/backend/LossScale.h).
struct DeviceLossScale {
  float scale;
  int32_t overflow;  // this step: some gradient is not finite
  int64_t goodSteps; // finite steps in a row
  int64_t skipped;   // steps skipped so far
};

/// Training-mode batch norm and its gradient reduce each channel in one
/// block of `threads` (FusedKernels.h: validReductionThreads), which the
/// fused kernels must match.
void batchNormForward(const DeviceMap &input, const float *weight,
                      const float *bias, const DeviceMap &output, float *mean,
                      float *variance, double epsilon, int threads,
                      cudaStream_t stream);
void batchNormInference(const DeviceMap &input, const float *weight,
                        const float *bias, const DeviceMap &output,
                        const float *runningMean,
                        const float *runningVariance, double epsilon,
                        cudaStream_t stream);
void batchNormBackward(const DeviceMap &outputGrad, const DeviceMap &input,
                       const float *weight, const float *mean,
                       const float *variance, const DeviceMap &inputGrad,
                       float *weightGrad, float *biasGrad, double epsilon,
                       int threads, cudaStream_t stream);
void runningStatsUpdate(float *runningMean, float *runningVariance,
                        const float *mean, const float *variance,
                        int64_t channels, double momentum, int64_t samples,
                        cudaStream_t stream);

void relu(const DeviceMap &input, const DeviceMap &output, cudaStream_t stream);
void reluBackward(const DeviceMap &outputGrad, const DeviceMap &output,
                  const DeviceMap &inputGrad, cudaStream_t stream);
void copyChannels(const DeviceMap &input, const DeviceMap &output,
                  int64_t channelOffset, cudaStream_t stream);
void accumulate(const DeviceMap &value, const DeviceMap &buffer,
                int64_t channelOffset, cudaStream_t stream);
void dropout(const DeviceMap &input, const DeviceMap &output, double rate,
             uint64_t layerKey, const StepCounters *counters,
             cudaStream_t stream);

void maxPoolForward(const DeviceMap &input, const DeviceMap &output,
                    const DeviceWindow &window, cudaStream_t stream);
void maxPoolBackward(const DeviceMap &outputGrad, const DeviceMap &input,
                     const DeviceMap &output, const DeviceMap &inputGrad,
                     const DeviceWindow &window, cudaStream_t stream);
void avgPoolForward(const DeviceMap &input, const DeviceMap &output,
                    const DeviceWindow &window, cudaStream_t stream);
void avgPoolBackward(const DeviceMap &outputGrad, const DeviceMap &inputGrad,
                     const DeviceWindow &window, cudaStream_t stream);
/// `output` and `outputGrad` are [batch, channels] matrices.
void globalAvgPoolForward(const DeviceMap &input, const DeviceMap &output,
                          cudaStream_t stream);
void globalAvgPoolBackward(const DeviceMap &outputGrad,
                           const DeviceMap &inputGrad, cudaStream_t stream);

/// output[n, m] += bias[m]; biasGrad[m] = sum_n outputGrad[n, m] (matrices
/// [batch, outputs]).
void addBias(const DeviceMap &output, const float *bias, cudaStream_t stream);
void biasGradient(const DeviceMap &outputGrad, float *biasGrad,
                  cudaStream_t stream);

/// Loss and correct count of [batch, classes] logits; a label outside
/// [0, classes) sets *invalidLabel.
void softmaxCrossEntropy(const DeviceMap &logits, const int32_t *labels,
                         float *loss, int64_t *correct, int32_t *invalidLabel,
                         cudaStream_t stream);
/// The mean loss's gradient, times lossScale->scale when there is one.
void softmaxCrossEntropyBackward(const DeviceMap &logits,
                                 const int32_t *labels,
                                 const DeviceMap &logitsGrad,
                                 const DeviceLossScale *lossScale,
                                 cudaStream_t stream);

/// One torch.optim.SGD step. With a loss scale, the gradient is divided by
/// the scale first, and nothing changes in a step that overflowed. Nothing
/// changes either while `*halted` (the invalid-label flag, when given) is
/// set: the CPU backend stops such a step at its loss, before any update.
void sgdUpdate(float *parameter, const float *gradient, float *momentumBuffer,
               int64_t count, const float *learningRate, double momentum,
               double weightDecay, bool nesterov,
               const DeviceLossScale *lossScale, const int32_t *halted,
               cudaStream_t stream);

/// A run of consecutive updates as one launch (same momentum and Nesterov
/// setting; each parameter its own weight decay): the same arithmetic per
/// element as sgdUpdate, so the same bits. `spans` is in device memory;
/// `mostCount` is the largest span's count.
struct SgdSpan {
  float *parameter;
  const float *gradient;
  float *momentumBuffer;
  int64_t count;
  float weightDecay;
};
void sgdUpdates(const SgdSpan *spans, int spanCount, int64_t mostCount,
                const float *learningRate, double momentum, bool nesterov,
                const DeviceLossScale *lossScale, const int32_t *halted,
                cudaStream_t stream);

/// Mixed precision: `count` f32 weights rounded into `storage` at `copy`,
/// and a weight gradient in `storage` widened into f32.
void roundWeights(const float *weights, void *copy, int64_t count,
                  Storage storage, cudaStream_t stream);
void widenGradient(const void *gradient, float *widened, int64_t count,
                   Storage storage, cudaStream_t stream);

/// Loss scaling: a gradient of `count` f32 values to check; sets
/// lossScale->overflow when one is not finite. clearOverflow starts a
/// step's checks; advanceLossScale ends the step (LossScale.h's rule),
/// unless `*halted` (as sgdUpdate).
struct GradientSpan {
  const float *data;
  int64_t count;
};
void clearOverflow(DeviceLossScale *lossScale, cudaStream_t stream);
void checkFinite(const GradientSpan *spans, int spanCount,
                 DeviceLossScale *lossScale, cudaStream_t stream);
void advanceLossScale(DeviceLossScale *lossScale, double growth,
                      double backoff, int64_t interval, const int32_t *halted,
                      cudaStream_t stream);

} // namespace densenet::runtime::cuda

#endif // DENSENET_RUNTIME_CUDA_KERNELS_H
