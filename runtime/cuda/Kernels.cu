//===- Kernels.cu - f32 CUDA kernels of the CUDA backend ------------------===//
//
// Simple, deterministic kernels: element-wise ops use a grid-stride loop;
// per-channel reductions (batch norm) use one block per channel and a
// shared-memory tree in a fixed order; the backward of pooling gathers for
// each input pixel from the windows that contain it instead of scattering
// with atomics, so no result depends on scheduling.
//
//===----------------------------------------------------------------------===//

#include "runtime/cuda/Kernels.h"

#include "runtime/backend/Philox.h"

#include <cmath>

using namespace densenet::runtime;
using namespace densenet::runtime::cuda;

namespace {

constexpr int kThreads = 256;

int blocksFor(int64_t count) {
  int64_t blocks = (count + kThreads - 1) / kThreads;
  return static_cast<int>(blocks < 65535 ? (blocks > 0 ? blocks : 1) : 65535);
}

__device__ inline float &at(const DeviceMap &map, int64_t i, int64_t c,
                            int64_t p) {
  return map.data[i * map.imageStride + c * map.h * map.w + p];
}

/// Element e of the logical [n, c, h * w] tensor as (image, channel, pixel).
__device__ inline void split(const DeviceMap &map, int64_t e, int64_t &i,
                             int64_t &c, int64_t &p) {
  int64_t plane = map.h * map.w;
  p = e % plane;
  c = (e / plane) % map.c;
  i = e / (plane * map.c);
}

/// Sum of `value` over the block, in a fixed order; every thread gets it.
__device__ double blockSum(double value) {
  __shared__ double partial[kThreads];
  partial[threadIdx.x] = value;
  __syncthreads();
  for (int half = kThreads / 2; half > 0; half /= 2) {
    if (threadIdx.x < half)
      partial[threadIdx.x] += partial[threadIdx.x + half];
    __syncthreads();
  }
  double total = partial[0];
  __syncthreads();
  return total;
}

__global__ void batchNormForwardKernel(DeviceMap input, const float *weight,
                                       const float *bias, DeviceMap output,
                                       float *mean, float *variance,
                                       double epsilon) {
  int64_t c = blockIdx.x;
  int64_t plane = input.h * input.w, count = input.n * plane;
  double sum = 0;
  for (int64_t e = threadIdx.x; e < count; e += blockDim.x)
    sum += at(input, e / plane, c, e % plane);
  double average = blockSum(sum) / double(count);
  double squares = 0;
  for (int64_t e = threadIdx.x; e < count; e += blockDim.x) {
    double d = at(input, e / plane, c, e % plane) - average;
    squares += d * d;
  }
  double biased = blockSum(squares) / double(count);
  if (threadIdx.x == 0) {
    mean[c] = float(average);
    variance[c] = float(biased);
  }
  float scale = float(weight[c] / sqrt(biased + epsilon));
  float shift = float(bias[c] - average * scale);
  for (int64_t e = threadIdx.x; e < count; e += blockDim.x)
    at(output, e / plane, c, e % plane) =
        at(input, e / plane, c, e % plane) * scale + shift;
}

__global__ void batchNormInferenceKernel(DeviceMap input, const float *weight,
                                         const float *bias, DeviceMap output,
                                         const float *runningMean,
                                         const float *runningVariance,
                                         double epsilon) {
  int64_t total = input.n * input.c * input.h * input.w;
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < total;
       e += int64_t(gridDim.x) * blockDim.x) {
    int64_t i, c, p;
    split(input, e, i, c, p);
    float scale =
        float(weight[c] / sqrt(double(runningVariance[c]) + epsilon));
    float shift = float(bias[c] - double(runningMean[c]) * scale);
    at(output, i, c, p) = at(input, i, c, p) * scale + shift;
  }
}

__global__ void batchNormBackwardKernel(DeviceMap outputGrad, DeviceMap input,
                                        const float *weight, const float *mean,
                                        const float *variance,
                                        DeviceMap inputGrad, float *weightGrad,
                                        float *biasGrad, double epsilon) {
  int64_t c = blockIdx.x;
  int64_t plane = input.h * input.w, count = input.n * plane;
  double inverseStd = 1.0 / sqrt(double(variance[c]) + epsilon);
  float center = mean[c];
  double sumGrad = 0, sumCentered = 0;
  for (int64_t e = threadIdx.x; e < count; e += blockDim.x) {
    float dy = at(outputGrad, e / plane, c, e % plane);
    sumGrad += dy;
    sumCentered += double(dy) * (at(input, e / plane, c, e % plane) - center);
  }
  sumGrad = blockSum(sumGrad);
  sumCentered = blockSum(sumCentered);
  double gradWeight = sumCentered * inverseStd;
  if (threadIdx.x == 0) {
    weightGrad[c] = float(gradWeight);
    biasGrad[c] = float(sumGrad);
  }
  float scale = float(weight[c] * inverseStd);
  float meanGrad = float(sumGrad / double(count));
  float slope = float(gradWeight * inverseStd / double(count));
  for (int64_t e = threadIdx.x; e < count; e += blockDim.x) {
    int64_t i = e / plane, p = e % plane;
    at(inputGrad, i, c, p) =
        scale * (at(outputGrad, i, c, p) - meanGrad -
                 (at(input, i, c, p) - center) * slope);
  }
}

__global__ void runningStatsKernel(float *runningMean, float *runningVariance,
                                   const float *mean, const float *variance,
                                   int64_t channels, double momentum,
                                   double unbias) {
  int64_t c = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (c >= channels)
    return;
  runningMean[c] = float((1 - momentum) * runningMean[c] + momentum * mean[c]);
  runningVariance[c] = float((1 - momentum) * runningVariance[c] +
                             momentum * variance[c] * unbias);
}

#define ELEMENTWISE_LOOP(map)                                                  \
  int64_t total = (map).n * (map).c * (map).h * (map).w;                      \
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < total; \
       e += int64_t(gridDim.x) * blockDim.x)

__global__ void reluKernel(DeviceMap input, DeviceMap output) {
  ELEMENTWISE_LOOP(input) {
    int64_t i, c, p;
    split(input, e, i, c, p);
    float x = at(input, i, c, p);
    at(output, i, c, p) = x > 0.0f ? x : 0.0f;
  }
}

__global__ void reluBackwardKernel(DeviceMap outputGrad, DeviceMap output,
                                   DeviceMap inputGrad) {
  ELEMENTWISE_LOOP(output) {
    int64_t i, c, p;
    split(output, e, i, c, p);
    float gradient = at(outputGrad, i, c, p);
    at(inputGrad, i, c, p) = at(output, i, c, p) > 0.0f ? gradient : 0.0f;
  }
}

__global__ void copyChannelsKernel(DeviceMap input, DeviceMap output,
                                   int64_t channelOffset) {
  ELEMENTWISE_LOOP(input) {
    int64_t i, c, p;
    split(input, e, i, c, p);
    at(output, i, channelOffset + c, p) = at(input, i, c, p);
  }
}

__global__ void accumulateKernel(DeviceMap value, DeviceMap buffer,
                                 int64_t channelOffset) {
  ELEMENTWISE_LOOP(value) {
    int64_t i, c, p;
    split(value, e, i, c, p);
    at(buffer, i, channelOffset + c, p) += at(value, i, c, p);
  }
}

__global__ void dropoutKernel(DeviceMap input, DeviceMap output, double rate,
                              uint64_t key, const StepCounters *counters) {
  float scale = float(1.0 / (1.0 - rate));
  uint64_t seed = counters->seed;
  int64_t step = counters->step;
  ELEMENTWISE_LOOP(input) {
    int64_t i, c, p;
    split(input, e, i, c, p);
    at(output, i, c, p) = dropoutKeeps(seed, key, step, uint64_t(e), rate)
                              ? at(input, i, c, p) * scale
                              : 0.0f;
  }
}

__global__ void maxPoolForwardKernel(DeviceMap input, DeviceMap output,
                                     DeviceWindow window) {
  ELEMENTWISE_LOOP(output) {
    int64_t i, c, p;
    split(output, e, i, c, p);
    int64_t oy = p / output.w, ox = p % output.w;
    // Padding is -infinity, as in the CPU backend and PyTorch.
    float best = -INFINITY;
    for (int ky = 0; ky < window.kernelHeight; ++ky) {
      int64_t y = oy * window.strideHeight - window.padHeight + ky;
      if (y < 0 || y >= input.h)
        continue;
      for (int kx = 0; kx < window.kernelWidth; ++kx) {
        int64_t x = ox * window.strideWidth - window.padWidth + kx;
        if (x < 0 || x >= input.w)
          continue;
        float value = at(input, i, c, y * input.w + x);
        if (value > best)
          best = value;
      }
    }
    at(output, i, c, p) = best;
  }
}

/// The flat index of the first maximum of output pixel (oy, ox)'s window.
__device__ int64_t firstMaximum(const DeviceMap &input, int64_t i, int64_t c,
                                int64_t oy, int64_t ox, float best,
                                const DeviceWindow &window) {
  for (int ky = 0; ky < window.kernelHeight; ++ky) {
    int64_t y = oy * window.strideHeight - window.padHeight + ky;
    if (y < 0 || y >= input.h)
      continue;
    for (int kx = 0; kx < window.kernelWidth; ++kx) {
      int64_t x = ox * window.strideWidth - window.padWidth + kx;
      if (x >= 0 && x < input.w && at(input, i, c, y * input.w + x) == best)
        return y * input.w + x;
    }
  }
  return -1;
}

/// The output rows (or columns) whose windows contain input row y.
__device__ void windowsContaining(int64_t y, int kernel, int stride,
                                  int padding, int64_t outputs, int64_t &first,
                                  int64_t &last) {
  // oy * stride - padding <= y < oy * stride - padding + kernel
  int64_t high = (y + padding) / stride;
  int64_t low = y + padding - kernel + 1;
  first = low <= 0 ? 0 : (low + stride - 1) / stride;
  last = high < outputs - 1 ? high : outputs - 1;
}

__global__ void maxPoolBackwardKernel(DeviceMap outputGrad, DeviceMap input,
                                      DeviceMap output, DeviceMap inputGrad,
                                      DeviceWindow window) {
  ELEMENTWISE_LOOP(input) {
    int64_t i, c, p;
    split(input, e, i, c, p);
    int64_t y = p / input.w, x = p % input.w;
    int64_t firstRow, lastRow, firstColumn, lastColumn;
    windowsContaining(y, window.kernelHeight, window.strideHeight,
                      window.padHeight, output.h, firstRow, lastRow);
    windowsContaining(x, window.kernelWidth, window.strideWidth,
                      window.padWidth, output.w, firstColumn, lastColumn);
    float sum = 0;
    for (int64_t oy = firstRow; oy <= lastRow; ++oy)
      for (int64_t ox = firstColumn; ox <= lastColumn; ++ox) {
        float best = at(output, i, c, oy * output.w + ox);
        if (firstMaximum(input, i, c, oy, ox, best, window) == p)
          sum += at(outputGrad, i, c, oy * output.w + ox);
      }
    at(inputGrad, i, c, p) = sum;
  }
}

__global__ void avgPoolForwardKernel(DeviceMap input, DeviceMap output,
                                     DeviceWindow window) {
  float scale = 1.0f / float(window.kernelHeight * window.kernelWidth);
  ELEMENTWISE_LOOP(output) {
    int64_t i, c, p;
    split(output, e, i, c, p);
    int64_t oy = p / output.w, ox = p % output.w;
    float sum = 0;
    for (int ky = 0; ky < window.kernelHeight; ++ky) {
      int64_t y = oy * window.strideHeight - window.padHeight + ky;
      if (y < 0 || y >= input.h)
        continue;
      for (int kx = 0; kx < window.kernelWidth; ++kx) {
        int64_t x = ox * window.strideWidth - window.padWidth + kx;
        if (x >= 0 && x < input.w)
          sum += at(input, i, c, y * input.w + x);
      }
    }
    at(output, i, c, p) = sum * scale;
  }
}

__global__ void avgPoolBackwardKernel(DeviceMap outputGrad,
                                      DeviceMap inputGrad,
                                      DeviceWindow window) {
  float scale = 1.0f / float(window.kernelHeight * window.kernelWidth);
  ELEMENTWISE_LOOP(inputGrad) {
    int64_t i, c, p;
    split(inputGrad, e, i, c, p);
    int64_t y = p / inputGrad.w, x = p % inputGrad.w;
    int64_t firstRow, lastRow, firstColumn, lastColumn;
    windowsContaining(y, window.kernelHeight, window.strideHeight,
                      window.padHeight, outputGrad.h, firstRow, lastRow);
    windowsContaining(x, window.kernelWidth, window.strideWidth,
                      window.padWidth, outputGrad.w, firstColumn, lastColumn);
    float sum = 0;
    for (int64_t oy = firstRow; oy <= lastRow; ++oy)
      for (int64_t ox = firstColumn; ox <= lastColumn; ++ox)
        sum += at(outputGrad, i, c, oy * outputGrad.w + ox);
    at(inputGrad, i, c, p) = sum * scale;
  }
}

__global__ void globalAvgPoolForwardKernel(DeviceMap input, float *output) {
  int64_t pairs = input.n * input.c, plane = input.h * input.w;
  for (int64_t k = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; k < pairs;
       k += int64_t(gridDim.x) * blockDim.x) {
    int64_t i = k / input.c, c = k % input.c;
    double sum = 0;
    for (int64_t p = 0; p < plane; ++p)
      sum += at(input, i, c, p);
    output[k] = float(sum / double(plane));
  }
}

__global__ void globalAvgPoolBackwardKernel(const float *outputGrad,
                                            DeviceMap inputGrad) {
  float scale = 1.0f / float(inputGrad.h * inputGrad.w);
  ELEMENTWISE_LOOP(inputGrad) {
    int64_t i, c, p;
    split(inputGrad, e, i, c, p);
    at(inputGrad, i, c, p) = outputGrad[i * inputGrad.c + c] * scale;
  }
}

__global__ void addBiasKernel(float *output, const float *bias, int64_t batch,
                              int64_t outputs) {
  for (int64_t k = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
       k < batch * outputs; k += int64_t(gridDim.x) * blockDim.x)
    output[k] += bias[k % outputs];
}

__global__ void biasGradientKernel(const float *outputGrad, float *biasGrad,
                                   int64_t batch, int64_t outputs) {
  int64_t o = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (o >= outputs)
    return;
  double sum = 0;
  for (int64_t i = 0; i < batch; ++i)
    sum += outputGrad[i * outputs + o];
  biasGrad[o] = float(sum);
}

__global__ void softmaxCrossEntropyKernel(const float *logits,
                                          const int32_t *labels, int64_t batch,
                                          int64_t classes, float *loss,
                                          int64_t *correct,
                                          int32_t *invalidLabel) {
  double total = 0, right = 0;
  for (int64_t i = threadIdx.x; i < batch; i += blockDim.x) {
    const float *z = logits + i * classes;
    int32_t label = labels[i];
    if (label < 0 || label >= classes) {
      *invalidLabel = 1;
      continue;
    }
    int64_t best = 0;
    for (int64_t k = 1; k < classes; ++k)
      if (z[k] > z[best])
        best = k;
    double sum = 0;
    for (int64_t k = 0; k < classes; ++k)
      sum += exp(double(z[k]) - double(z[best]));
    total += log(sum) + double(z[best]) - double(z[label]);
    right += best == label ? 1 : 0;
  }
  total = blockSum(total);
  right = blockSum(right);
  if (threadIdx.x == 0) {
    *loss = float(total / double(batch));
    *correct = int64_t(right);
  }
}

__global__ void softmaxCrossEntropyBackwardKernel(const float *logits,
                                                  const int32_t *labels,
                                                  int64_t batch,
                                                  int64_t classes,
                                                  float *logitsGrad) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < batch;
       i += int64_t(gridDim.x) * blockDim.x) {
    const float *z = logits + i * classes;
    float *dz = logitsGrad + i * classes;
    double top = z[0];
    for (int64_t k = 1; k < classes; ++k)
      top = z[k] > top ? z[k] : top;
    double sum = 0;
    for (int64_t k = 0; k < classes; ++k)
      sum += exp(double(z[k]) - top);
    for (int64_t k = 0; k < classes; ++k)
      dz[k] = float((exp(double(z[k]) - top) / sum -
                     (k == labels[i] ? 1.0 : 0.0)) /
                    double(batch));
  }
}

__global__ void sgdUpdateKernel(float *parameter, const float *gradient,
                                float *momentumBuffer, int64_t count,
                                const float *learningRate, float momentum,
                                float weightDecay, bool nesterov) {
  float rate = *learningRate;
  for (int64_t k = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; k < count;
       k += int64_t(gridDim.x) * blockDim.x) {
    float g = gradient[k] + weightDecay * parameter[k];
    float v = momentum * momentumBuffer[k] + g;
    momentumBuffer[k] = v;
    parameter[k] -= rate * (nesterov ? g + momentum * v : v);
  }
}

int64_t elements(const DeviceMap &map) { return map.n * map.c * map.h * map.w; }

} // namespace

void cuda::batchNormForward(const DeviceMap &input, const float *weight,
                            const float *bias, const DeviceMap &output,
                            float *mean, float *variance, double epsilon,
                            cudaStream_t stream) {
  batchNormForwardKernel<<<int(input.c), kThreads, 0, stream>>>(
      input, weight, bias, output, mean, variance, epsilon);
}

void cuda::batchNormInference(const DeviceMap &input, const float *weight,
                              const float *bias, const DeviceMap &output,
                              const float *runningMean,
                              const float *runningVariance, double epsilon,
                              cudaStream_t stream) {
  batchNormInferenceKernel<<<blocksFor(elements(input)), kThreads, 0, stream>>>(
      input, weight, bias, output, runningMean, runningVariance, epsilon);
}

void cuda::batchNormBackward(const DeviceMap &outputGrad,
                             const DeviceMap &input, const float *weight,
                             const float *mean, const float *variance,
                             const DeviceMap &inputGrad, float *weightGrad,
                             float *biasGrad, double epsilon,
                             cudaStream_t stream) {
  batchNormBackwardKernel<<<int(input.c), kThreads, 0, stream>>>(
      outputGrad, input, weight, mean, variance, inputGrad, weightGrad,
      biasGrad, epsilon);
}

void cuda::runningStatsUpdate(float *runningMean, float *runningVariance,
                              const float *mean, const float *variance,
                              int64_t channels, double momentum,
                              int64_t samples, cudaStream_t stream) {
  runningStatsKernel<<<blocksFor(channels), kThreads, 0, stream>>>(
      runningMean, runningVariance, mean, variance, channels, momentum,
      double(samples) / double(samples - 1));
}

void cuda::relu(const DeviceMap &input, const DeviceMap &output,
                cudaStream_t stream) {
  reluKernel<<<blocksFor(elements(input)), kThreads, 0, stream>>>(input,
                                                                   output);
}

void cuda::reluBackward(const DeviceMap &outputGrad, const DeviceMap &output,
                        const DeviceMap &inputGrad, cudaStream_t stream) {
  reluBackwardKernel<<<blocksFor(elements(output)), kThreads, 0, stream>>>(
      outputGrad, output, inputGrad);
}

void cuda::copyChannels(const DeviceMap &input, const DeviceMap &output,
                        int64_t channelOffset, cudaStream_t stream) {
  copyChannelsKernel<<<blocksFor(elements(input)), kThreads, 0, stream>>>(
      input, output, channelOffset);
}

void cuda::accumulate(const DeviceMap &value, const DeviceMap &buffer,
                      int64_t channelOffset, cudaStream_t stream) {
  accumulateKernel<<<blocksFor(elements(value)), kThreads, 0, stream>>>(
      value, buffer, channelOffset);
}

void cuda::dropout(const DeviceMap &input, const DeviceMap &output,
                   double rate, uint64_t layerKey,
                   const StepCounters *counters, cudaStream_t stream) {
  dropoutKernel<<<blocksFor(elements(input)), kThreads, 0, stream>>>(
      input, output, rate, layerKey, counters);
}

void cuda::maxPoolForward(const DeviceMap &input, const DeviceMap &output,
                          const DeviceWindow &window, cudaStream_t stream) {
  maxPoolForwardKernel<<<blocksFor(elements(output)), kThreads, 0, stream>>>(
      input, output, window);
}

void cuda::maxPoolBackward(const DeviceMap &outputGrad, const DeviceMap &input,
                           const DeviceMap &output, const DeviceMap &inputGrad,
                           const DeviceWindow &window, cudaStream_t stream) {
  maxPoolBackwardKernel<<<blocksFor(elements(input)), kThreads, 0, stream>>>(
      outputGrad, input, output, inputGrad, window);
}

void cuda::avgPoolForward(const DeviceMap &input, const DeviceMap &output,
                          const DeviceWindow &window, cudaStream_t stream) {
  avgPoolForwardKernel<<<blocksFor(elements(output)), kThreads, 0, stream>>>(
      input, output, window);
}

void cuda::avgPoolBackward(const DeviceMap &outputGrad,
                           const DeviceMap &inputGrad,
                           const DeviceWindow &window, cudaStream_t stream) {
  avgPoolBackwardKernel<<<blocksFor(elements(inputGrad)), kThreads, 0,
                          stream>>>(outputGrad, inputGrad, window);
}

void cuda::globalAvgPoolForward(const DeviceMap &input, float *output,
                                cudaStream_t stream) {
  globalAvgPoolForwardKernel<<<blocksFor(input.n * input.c), kThreads, 0,
                               stream>>>(input, output);
}

void cuda::globalAvgPoolBackward(const float *outputGrad,
                                 const DeviceMap &inputGrad,
                                 cudaStream_t stream) {
  globalAvgPoolBackwardKernel<<<blocksFor(elements(inputGrad)), kThreads, 0,
                                stream>>>(outputGrad, inputGrad);
}

void cuda::addBias(float *output, const float *bias, int64_t batch,
                   int64_t outputs, cudaStream_t stream) {
  addBiasKernel<<<blocksFor(batch * outputs), kThreads, 0, stream>>>(
      output, bias, batch, outputs);
}

void cuda::biasGradient(const float *outputGrad, float *biasGrad,
                        int64_t batch, int64_t outputs, cudaStream_t stream) {
  biasGradientKernel<<<blocksFor(outputs), kThreads, 0, stream>>>(
      outputGrad, biasGrad, batch, outputs);
}

void cuda::softmaxCrossEntropy(const float *logits, const int32_t *labels,
                               int64_t batch, int64_t classes, float *loss,
                               int64_t *correct, int32_t *invalidLabel,
                               cudaStream_t stream) {
  softmaxCrossEntropyKernel<<<1, kThreads, 0, stream>>>(
      logits, labels, batch, classes, loss, correct, invalidLabel);
}

void cuda::softmaxCrossEntropyBackward(const float *logits,
                                       const int32_t *labels, int64_t batch,
                                       int64_t classes, float *logitsGrad,
                                       cudaStream_t stream) {
  softmaxCrossEntropyBackwardKernel<<<blocksFor(batch), kThreads, 0, stream>>>(
      logits, labels, batch, classes, logitsGrad);
}

void cuda::sgdUpdate(float *parameter, const float *gradient,
                     float *momentumBuffer, int64_t count,
                     const float *learningRate, double momentum,
                     double weightDecay, bool nesterov, cudaStream_t stream) {
  sgdUpdateKernel<<<blocksFor(count), kThreads, 0, stream>>>(
      parameter, gradient, momentumBuffer, count, learningRate,
      float(momentum), float(weightDecay), nesterov);
}
