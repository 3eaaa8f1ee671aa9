//===- Kernels.h - f32 kernels of the CPU backend ---------------*- C++ -*-===//
//
// One function per tg op (docs/training-semantics.md). Feature maps are NCHW
// and may be channel slices of a larger buffer (the in-place concatenation
// of a dense block), so every map carries its image stride: within an image
// the channels are contiguous, between images they are `imageStride`
// elements apart. Matrix products go to oneDNN's JIT sgemm, which takes
// leading dimensions and so reads such slices where they lie; everything
// else is a loop parallelized with OpenMP over channels or images, each
// reduction done by one thread in a fixed order, so results do not depend
// on which plan (which recomputation) produced them.
//
//===----------------------------------------------------------------------===//

#ifndef DENSENET_RUNTIME_CPU_KERNELS_H
#define DENSENET_RUNTIME_CPU_KERNELS_H

#include "runtime/backend/FeatureMap.h"

#include <cstdint>

namespace densenet::runtime::cpu {

/// A feature map, possibly a channel slice (runtime/backend/FeatureMap.h).
using Map = FeatureMap;

struct Window {
  int64_t kernelHeight = 1, kernelWidth = 1;
  int64_t strideHeight = 1, strideWidth = 1;
  int64_t padHeight = 0, padWidth = 0;
};

// Convolution (no bias, one group) as im2col + GEMM, one image at a time.
// The images are split into `slots` contiguous ranges processed in parallel,
// each with its own column matrix in `workspace` (the plan's: `slots`
// matrices, then, for the filter gradient, `slots - 1` partial sums, which
// are added in slot order so the result is independent of the thread
// count). An unpadded 1x1 stride-1 convolution needs no column matrix.
bool isPlainGemm(const Window &window);
void convolutionForward(const Map &input, const float *filter, const Map &output,
                        const Window &window, float *workspace, int64_t slots);
void convolutionBackwardData(const Map &outputGrad, const float *filter,
                             const Map &inputGrad, const Window &window,
                             float *workspace, int64_t slots);
void convolutionBackwardFilter(const Map &input, const Map &outputGrad,
                               float *filterGrad, const Window &window,
                               float *workspace, int64_t slots);

// Batch normalization in training mode: batch mean and biased variance.
void batchNormForward(const Map &input, const float *weight, const float *bias,
                      const Map &output, float *mean, float *variance,
                      double epsilon);
// Inference mode: normalizes with the running statistics.
void batchNormInference(const Map &input, const float *weight,
                        const float *bias, const Map &output,
                        const float *runningMean, const float *runningVariance,
                        double epsilon);
void batchNormBackward(const Map &outputGrad, const Map &input,
                       const float *weight, const float *mean,
                       const float *variance, const Map &inputGrad,
                       float *weightGrad, float *biasGrad, double epsilon);
void runningStatsUpdate(float *runningMean, float *runningVariance,
                        const float *mean, const float *variance,
                        int64_t channels, double momentum, int64_t samples);

void relu(const Map &input, const Map &output);
void reluBackward(const Map &outputGrad, const Map &output,
                  const Map &inputGrad);
void concat(const Map *inputs, int count, const Map &output);
void accumulate(const Map &value, const Map &buffer, int64_t channelOffset);

void maxPoolForward(const Map &input, const Map &output, const Window &window);
void maxPoolBackward(const Map &outputGrad, const Map &input, const Map &output,
                     const Map &inputGrad, const Window &window);
void avgPoolForward(const Map &input, const Map &output, const Window &window);
void avgPoolBackward(const Map &outputGrad, const Map &inputGrad,
                     const Window &window);
void globalAvgPoolForward(const Map &input, float *output);
void globalAvgPoolBackward(const float *outputGrad, const Map &inputGrad);

// Fully connected: output[n, m] = input[n, :] . weight[m, :] + bias[m]
// (without the bias when it is null; linearBias adds it).
void linearForward(const float *input, const float *weight, const float *bias,
                   float *output, int64_t batch, int64_t inputs,
                   int64_t outputs);
void linearBias(const float *bias, float *output, int64_t batch,
                int64_t outputs);
void linearBackward(const float *outputGrad, const float *input,
                    const float *weight, float *inputGrad, float *weightGrad,
                    float *biasGrad, int64_t batch, int64_t inputs,
                    int64_t outputs);

/// Dropout (mask from Philox.h, indexed by the element's row-major index in
/// the logical [n, c, h, w] tensor); the backward is the same function.
void dropout(const Map &input, const Map &output, double rate, uint64_t seed,
             uint64_t layerKey, int64_t step);

/// Mean cross entropy over the batch and the number of correct argmaxes;
/// labels are checked to lie in [0, classes).
void softmaxCrossEntropy(const float *logits, const int32_t *labels,
                         int64_t batch, int64_t classes, float *loss,
                         int64_t *correct);
void softmaxCrossEntropyBackward(const float *logits, const int32_t *labels,
                                 int64_t batch, int64_t classes,
                                 float *logitsGrad);

/// One torch.optim.SGD step on `count` elements (docs/training-semantics.md).
/// `gradientScale` multiplies the gradient first (f16 loss scaling's 1/S).
void sgdUpdate(float *parameter, const float *gradient, float *momentumBuffer,
               int64_t count, float learningRate, double momentum,
               double weightDecay, bool nesterov, float gradientScale = 1.0f);

} // namespace densenet::runtime::cpu

#endif // DENSENET_RUNTIME_CPU_KERNELS_H
