//===- Kernels.h - f32 CUDA kernels of the CUDA backend ---------*- C++ -*-===//
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

/// A feature map in device memory (runtime/backend/FeatureMap.h).
using DeviceMap = FeatureMap;

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

void batchNormForward(const DeviceMap &input, const float *weight,
                      const float *bias, const DeviceMap &output, float *mean,
                      float *variance, double epsilon, cudaStream_t stream);
void batchNormInference(const DeviceMap &input, const float *weight,
                        const float *bias, const DeviceMap &output,
                        const float *runningMean,
                        const float *runningVariance, double epsilon,
                        cudaStream_t stream);
void batchNormBackward(const DeviceMap &outputGrad, const DeviceMap &input,
                       const float *weight, const float *mean,
                       const float *variance, const DeviceMap &inputGrad,
                       float *weightGrad, float *biasGrad, double epsilon,
                       cudaStream_t stream);
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
void globalAvgPoolForward(const DeviceMap &input, float *output,
                          cudaStream_t stream);
void globalAvgPoolBackward(const float *outputGrad, const DeviceMap &inputGrad,
                           cudaStream_t stream);

/// output[n, m] += bias[m]; biasGrad[m] = sum_n outputGrad[n, m].
void addBias(float *output, const float *bias, int64_t batch, int64_t outputs,
             cudaStream_t stream);
void biasGradient(const float *outputGrad, float *biasGrad, int64_t batch,
                  int64_t outputs, cudaStream_t stream);

/// Loss and correct count; a label outside [0, classes) sets *invalidLabel.
void softmaxCrossEntropy(const float *logits, const int32_t *labels,
                         int64_t batch, int64_t classes, float *loss,
                         int64_t *correct, int32_t *invalidLabel,
                         cudaStream_t stream);
void softmaxCrossEntropyBackward(const float *logits, const int32_t *labels,
                                 int64_t batch, int64_t classes,
                                 float *logitsGrad, cudaStream_t stream);

void sgdUpdate(float *parameter, const float *gradient, float *momentumBuffer,
               int64_t count, const float *learningRate, double momentum,
               double weightDecay, bool nesterov, cudaStream_t stream);

} // namespace densenet::runtime::cuda

#endif // DENSENET_RUNTIME_CUDA_KERNELS_H
