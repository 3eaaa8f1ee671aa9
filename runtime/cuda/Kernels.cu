//===- Kernels.cu - CUDA kernels of the CUDA backend ----------------------===//
//
// Simple, deterministic kernels: element-wise ops use a grid-stride loop;
// per-channel reductions (batch norm) use one block per channel and a
// shared-memory tree in a fixed order; both keep each element's image,
// channel and pixel with Cursor.h's carries, not a division per element; the backward of pooling gathers for
// each input pixel from the windows that contain it instead of scattering
// with atomics, so no result depends on scheduling. Feature maps are f32,
// bf16 or f16 in memory (each kernel is a template over the storage type)
// and f32 in arithmetic; parameters, their gradients and the batch-norm
// statistics are f32.
//
//===----------------------------------------------------------------------===//

#include "runtime/cuda/Kernels.h"
#include "runtime/cuda/CudaCheck.h"
#include "runtime/cuda/Cursor.h"
#include "runtime/cuda/FusedKernels.h"

#include "runtime/backend/LossScale.h"
#include "runtime/backend/Philox.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <string>
#include <type_traits>
#include <cmath>

using namespace densenet::runtime;
using namespace densenet::runtime::cuda;

namespace {

/// Threads per block of the element-wise kernels and the loss. Batch
/// norm's per-channel reductions take theirs from the caller (FusedKernels.h:
/// the fused kernels must reduce over the same tree to give the same bits).
constexpr int kThreads = 256;

int blocksFor(int64_t count) {
  int64_t blocks = (count + kThreads - 1) / kThreads;
  return static_cast<int>(blocks < 65535 ? (blocks > 0 ? blocks : 1) : 65535);
}

/// Widening and rounding of each storage type (round to nearest even, as
/// cvt.rn does; the NVRTC kernels of FusedKernels.cpp convert the same way).
template <typename T> struct Element;
template <> struct Element<float> {
  static __device__ float load(float v) { return v; }
  static __device__ float store(float v) { return v; }
};
template <> struct Element<__nv_bfloat16> {
  static __device__ float load(__nv_bfloat16 v) { return __bfloat162float(v); }
  static __device__ __nv_bfloat16 store(float v) {
    return __float2bfloat16_rn(v);
  }
};
template <> struct Element<__half> {
  static __device__ float load(__half v) { return __half2float(v); }
  static __device__ __half store(float v) { return __float2half_rn(v); }
};

/// An element as an f32 lvalue: reads widen, writes round. For f32 storage
/// it compiles to plain loads and stores.
template <typename T> struct Ref {
  T *pointer;
  __device__ operator float() const { return Element<T>::load(*pointer); }
  __device__ Ref &operator=(float value) {
    *pointer = Element<T>::store(value);
    return *this;
  }
  __device__ Ref &operator=(const Ref &other) { return *this = float(other); }
  __device__ Ref &operator+=(float value) {
    return *this = float(*this) + value;
  }
};

/// A DeviceMap whose storage type the kernel knows.
template <typename T> struct Map {
  T *data;
  int64_t n, c, h, w, imageStride;
};

template <typename T> Map<T> typed(const DeviceMap &map) {
  return {static_cast<T *>(map.data), map.n, map.c, map.h, map.w,
          map.imageStride};
}

/// Runs f(std::integral_constant<int, threads>()) for a valid reduction
/// thread count (FusedKernels.h: validReductionThreads).
template <typename F> void withReductionThreads(int threads, F &&f) {
  switch (threads) {
  case 256: f(std::integral_constant<int, 256>()); break;
  case 512: f(std::integral_constant<int, 512>()); break;
  case 1024: f(std::integral_constant<int, 1024>()); break;
  default:
    throw PlanError("internal error: " + std::to_string(threads) +
                    " threads per batch-norm block");
  }
}

/// Runs f(T()) with T the element type of `storage`.
template <typename F> void dispatch(Storage storage, F &&f) {
  switch (storage) {
  case Storage::F32: f(float()); break;
  case Storage::BF16: f(__nv_bfloat16()); break;
  case Storage::F16: f(__half()); break;
  }
}

template <typename T>
__device__ inline Ref<T> at(const Map<T> &map, int64_t i, int64_t c,
                            int64_t p) {
  return {map.data + i * map.imageStride + c * map.h * map.w + p};
}

/// Grid-stride loops: thread t of the grid visits elements t, t + the
/// grid's threads, ... of `map`, with `cursor` at each one's index, image,
/// channel, row and column (Cursor.h: no division per element).
template <typename T> __device__ ElementCursor gridCursor(const Map<T> &map) {
  return ElementCursor(blockIdx.x * int64_t(blockDim.x) + threadIdx.x,
                       int64_t(gridDim.x) * blockDim.x, map.c, map.h, map.w);
}
#define ELEMENTWISE_LOOP(map)                                                  \
  for (ElementCursor cursor = gridCursor(map);                                 \
       cursor.index < (map).n * (map).c * (map).h * (map).w; cursor.advance())

/// Batch norm's loops over the block's channel: thread t visits elements
/// t, t + blockDim.x, ... of the channel's n planes, in image order; the
/// statistics add up in this order.
template <typename T>
__device__ ElementCursor channelCursor(const Map<T> &map) {
  return ElementCursor(threadIdx.x, blockDim.x, 1, map.h, map.w);
}
#define CHANNEL_LOOP(map)                                                      \
  for (ElementCursor cursor = channelCursor(map); cursor.index < count;        \
       cursor.advance())

/// Sum of `value` over a block of `Threads` threads, in a fixed order;
/// every thread gets it.
template <int Threads = kThreads>
__device__ double blockSum(double value) {
  __shared__ double partial[Threads];
  partial[threadIdx.x] = value;
  __syncthreads();
  for (int half = Threads / 2; half > 0; half /= 2) {
    if (threadIdx.x < half)
      partial[threadIdx.x] += partial[threadIdx.x + half];
    __syncthreads();
  }
  double total = partial[0];
  __syncthreads();
  return total;
}

template <typename T, int Threads>
__global__ void __launch_bounds__(Threads)
batchNormForwardKernel(Map<T> input, const float *weight,
                                       const float *bias, Map<T> output,
                                       float *mean, float *variance,
                                       double epsilon) {
  int64_t c = blockIdx.x;
  int64_t plane = input.h * input.w, count = input.n * plane;
  double sum = 0;
  CHANNEL_LOOP(input)
    sum += at(input, cursor.image, c, cursor.pixel());
  double average = blockSum<Threads>(sum) / double(count);
  double squares = 0;
  CHANNEL_LOOP(input) {
    double d = at(input, cursor.image, c, cursor.pixel()) - average;
    squares += d * d;
  }
  double biased = blockSum<Threads>(squares) / double(count);
  if (threadIdx.x == 0) {
    mean[c] = float(average);
    variance[c] = float(biased);
  }
  float scale = float(weight[c] / sqrt(biased + epsilon));
  // Every multiply-add is written as fma (FusedKernels.cpp too): a plain
  // a * b + c in PTX leaves the contraction to ptxas, and the fused kernels'
  // ptxas (NVRTC's, at run time) must make the same choice as this one.
  float shift = float(fma(-average, double(scale), double(bias[c])));
  CHANNEL_LOOP(input) {
    int64_t i = cursor.image, p = cursor.pixel();
    at(output, i, c, p) = fmaf(float(at(input, i, c, p)), scale, shift);
  }
}

template <typename T>
__global__ void batchNormInferenceKernel(Map<T> input, const float *weight,
                                         const float *bias, Map<T> output,
                                         const float *runningMean,
                                         const float *runningVariance,
                                         double epsilon) {
  ELEMENTWISE_LOOP(input) {
    int64_t i = cursor.image, c = cursor.channel, p = cursor.pixel();
    float scale =
        float(weight[c] / sqrt(double(runningVariance[c]) + epsilon));
    float shift = float(bias[c] - double(runningMean[c]) * scale);
    at(output, i, c, p) = at(input, i, c, p) * scale + shift;
  }
}

template <typename T, int Threads>
__global__ void __launch_bounds__(Threads)
batchNormBackwardKernel(Map<T> outputGrad, Map<T> input,
                                        const float *weight, const float *mean,
                                        const float *variance,
                                        Map<T> inputGrad, float *weightGrad,
                                        float *biasGrad, double epsilon) {
  int64_t c = blockIdx.x;
  int64_t plane = input.h * input.w, count = input.n * plane;
  double inverseStd = 1.0 / sqrt(double(variance[c]) + epsilon);
  float center = mean[c];
  double sumGrad = 0, sumCentered = 0;
  CHANNEL_LOOP(input) {
    int64_t i = cursor.image, p = cursor.pixel();
    float dy = at(outputGrad, i, c, p);
    sumGrad += dy;
    sumCentered += double(dy) * (at(input, i, c, p) - center);
  }
  sumGrad = blockSum<Threads>(sumGrad);
  sumCentered = blockSum<Threads>(sumCentered);
  double gradWeight = sumCentered * inverseStd;
  if (threadIdx.x == 0) {
    weightGrad[c] = float(gradWeight);
    biasGrad[c] = float(sumGrad);
  }
  float scale = float(weight[c] * inverseStd);
  float meanGrad = float(sumGrad / double(count));
  float slope = float(gradWeight * inverseStd / double(count));
  CHANNEL_LOOP(input) {
    int64_t i = cursor.image, p = cursor.pixel();
    at(inputGrad, i, c, p) =
        scale * fmaf(-(float(at(input, i, c, p)) - center), slope,
                     float(at(outputGrad, i, c, p)) - meanGrad);
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

template <typename T>
__global__ void reluKernel(Map<T> input, Map<T> output) {
  ELEMENTWISE_LOOP(input) {
    int64_t i = cursor.image, c = cursor.channel, p = cursor.pixel();
    float x = at(input, i, c, p);
    at(output, i, c, p) = x > 0.0f ? x : 0.0f;
  }
}

template <typename T>
__global__ void reluBackwardKernel(Map<T> outputGrad, Map<T> output,
                                   Map<T> inputGrad) {
  ELEMENTWISE_LOOP(output) {
    int64_t i = cursor.image, c = cursor.channel, p = cursor.pixel();
    float gradient = at(outputGrad, i, c, p);
    at(inputGrad, i, c, p) = at(output, i, c, p) > 0.0f ? gradient : 0.0f;
  }
}

template <typename T>
__global__ void copyChannelsKernel(Map<T> input, Map<T> output,
                                   int64_t channelOffset) {
  ELEMENTWISE_LOOP(input) {
    int64_t i = cursor.image, c = cursor.channel, p = cursor.pixel();
    at(output, i, channelOffset + c, p) = at(input, i, c, p);
  }
}

template <typename T>
__global__ void accumulateKernel(Map<T> value, Map<T> buffer,
                                 int64_t channelOffset) {
  ELEMENTWISE_LOOP(value) {
    int64_t i = cursor.image, c = cursor.channel, p = cursor.pixel();
    at(buffer, i, channelOffset + c, p) += at(value, i, c, p);
  }
}

template <typename T>
__global__ void dropoutKernel(Map<T> input, Map<T> output, double rate,
                              uint64_t key, const StepCounters *counters) {
  float scale = float(1.0 / (1.0 - rate));
  uint64_t seed = counters->seed;
  int64_t step = counters->step;
  ELEMENTWISE_LOOP(input) {
    int64_t i = cursor.image, c = cursor.channel, p = cursor.pixel();
    at(output, i, c, p) = dropoutKeeps(seed, key, step, uint64_t(cursor.index), rate)
                              ? at(input, i, c, p) * scale
                              : 0.0f;
  }
}

template <typename T>
__global__ void maxPoolForwardKernel(Map<T> input, Map<T> output,
                                     DeviceWindow window) {
  ELEMENTWISE_LOOP(output) {
    int64_t i = cursor.image, c = cursor.channel, p = cursor.pixel();
    int64_t oy = cursor.row, ox = cursor.column;
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
template <typename T>
__device__ int64_t firstMaximum(const Map<T> &input, int64_t i, int64_t c,
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

template <typename T>
__global__ void maxPoolBackwardKernel(Map<T> outputGrad, Map<T> input,
                                      Map<T> output, Map<T> inputGrad,
                                      DeviceWindow window) {
  ELEMENTWISE_LOOP(input) {
    int64_t i = cursor.image, c = cursor.channel, p = cursor.pixel();
    int64_t y = cursor.row, x = cursor.column;
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

template <typename T>
__global__ void avgPoolForwardKernel(Map<T> input, Map<T> output,
                                     DeviceWindow window) {
  float scale = 1.0f / float(window.kernelHeight * window.kernelWidth);
  ELEMENTWISE_LOOP(output) {
    int64_t i = cursor.image, c = cursor.channel, p = cursor.pixel();
    int64_t oy = cursor.row, ox = cursor.column;
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

template <typename T>
__global__ void avgPoolBackwardKernel(Map<T> outputGrad,
                                      Map<T> inputGrad,
                                      DeviceWindow window) {
  float scale = 1.0f / float(window.kernelHeight * window.kernelWidth);
  ELEMENTWISE_LOOP(inputGrad) {
    int64_t i = cursor.image, c = cursor.channel, p = cursor.pixel();
    int64_t y = cursor.row, x = cursor.column;
    int64_t firstRow, lastRow, firstColumn, lastColumn;
    windowsContaining(y, window.kernelHeight, window.strideHeight,
                      window.padHeight, outputGrad.h, firstRow, lastRow);
    windowsContaining(x, window.kernelWidth, window.strideWidth,
                      window.padWidth, outputGrad.w, firstColumn, lastColumn);
    // Each window's share, dy * scale, added in the CPU's order (windows
    // row by row); __fmul_rn keeps nvcc from fusing it into the sum.
    float sum = 0;
    for (int64_t oy = firstRow; oy <= lastRow; ++oy)
      for (int64_t ox = firstColumn; ox <= lastColumn; ++ox)
        sum += __fmul_rn(float(at(outputGrad, i, c, oy * outputGrad.w + ox)),
                         scale);
    at(inputGrad, i, c, p) = sum;
  }
}

template <typename T>
__global__ void globalAvgPoolForwardKernel(Map<T> input, Map<T> output) {
  int64_t pairs = input.n * input.c, plane = input.h * input.w;
  for (int64_t k = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; k < pairs;
       k += int64_t(gridDim.x) * blockDim.x) {
    int64_t i = k / input.c, c = k % input.c;
    double sum = 0;
    for (int64_t p = 0; p < plane; ++p)
      sum += at(input, i, c, p);
    at(output, i, c, 0) = float(sum / double(plane));
  }
}

template <typename T>
__global__ void globalAvgPoolBackwardKernel(Map<T> outputGrad,
                                            Map<T> inputGrad) {
  // Divided, not multiplied by the reciprocal: the CPU's bits (7 x 7
  // planes differ otherwise).
  float plane = float(inputGrad.h * inputGrad.w);
  ELEMENTWISE_LOOP(inputGrad) {
    int64_t i = cursor.image, c = cursor.channel, p = cursor.pixel();
    at(inputGrad, i, c, p) = float(at(outputGrad, i, c, 0)) / plane;
  }
}

template <typename T>
__global__ void addBiasKernel(Map<T> output, const float *bias) {
  for (int64_t k = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
       k < output.n * output.c; k += int64_t(gridDim.x) * blockDim.x)
    at(output, k / output.c, k % output.c, 0) += bias[k % output.c];
}

template <typename T>
__global__ void biasGradientKernel(Map<T> outputGrad, float *biasGrad) {
  int64_t o = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (o >= outputGrad.c)
    return;
  double sum = 0;
  for (int64_t i = 0; i < outputGrad.n; ++i)
    sum += at(outputGrad, i, o, 0);
  biasGrad[o] = float(sum);
}

template <typename T>
__global__ void softmaxCrossEntropyKernel(Map<T> logits, const int32_t *labels,
                                          float *loss, int64_t *correct,
                                          int32_t *invalidLabel) {
  int64_t batch = logits.n, classes = logits.c;
  double total = 0, right = 0;
  for (int64_t i = threadIdx.x; i < batch; i += blockDim.x) {
    int32_t label = labels[i];
    if (label < 0 || label >= classes) {
      *invalidLabel = 1;
      continue;
    }
    int64_t best = 0;
    for (int64_t k = 1; k < classes; ++k)
      if (float(at(logits, i, k, 0)) > float(at(logits, i, best, 0)))
        best = k;
    double top = float(at(logits, i, best, 0));
    double sum = 0;
    for (int64_t k = 0; k < classes; ++k)
      sum += exp(double(float(at(logits, i, k, 0))) - top);
    total += log(sum) + top - double(float(at(logits, i, label, 0)));
    right += best == label ? 1 : 0;
  }
  total = blockSum(total);
  right = blockSum(right);
  if (threadIdx.x == 0) {
    *loss = float(total / double(batch));
    *correct = int64_t(right);
  }
}

template <typename T>
__global__ void softmaxCrossEntropyBackwardKernel(
    Map<T> logits, const int32_t *labels, Map<T> logitsGrad,
    const DeviceLossScale *lossScale) {
  int64_t batch = logits.n, classes = logits.c;
  // f16: the gradient of the scaled loss (LossScale.h).
  double scale = lossScale ? double(lossScale->scale) : 1.0;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < batch;
       i += int64_t(gridDim.x) * blockDim.x) {
    double top = float(at(logits, i, 0, 0));
    for (int64_t k = 1; k < classes; ++k) {
      double z = float(at(logits, i, k, 0));
      top = z > top ? z : top;
    }
    double sum = 0;
    for (int64_t k = 0; k < classes; ++k)
      sum += exp(double(float(at(logits, i, k, 0))) - top);
    for (int64_t k = 0; k < classes; ++k) {
      double probability = exp(double(float(at(logits, i, k, 0))) - top) / sum;
      double gradient =
          (probability - (k == labels[i] ? 1.0 : 0.0)) / double(batch);
      at(logitsGrad, i, k, 0) =
          float(lossScale ? gradient * scale : gradient);
    }
  }
}

__global__ void sgdUpdateKernel(float *parameter, const float *gradient,
                                float *momentumBuffer, int64_t count,
                                const float *learningRate, float momentum,
                                float weightDecay, bool nesterov,
                                const DeviceLossScale *lossScale,
                                const int32_t *halted) {
  // A step whose gradients overflowed changes nothing (LossScale.h), nor
  // one with an invalid label.
  if ((lossScale && lossScale->overflow) || (halted && *halted))
    return;
  float rate = *learningRate;
  float unscale = lossScale ? 1.0f / lossScale->scale : 1.0f;
  for (int64_t k = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; k < count;
       k += int64_t(gridDim.x) * blockDim.x) {
    float raw = lossScale ? gradient[k] * unscale : gradient[k];
    float g = raw + weightDecay * parameter[k];
    float v = momentum * momentumBuffer[k] + g;
    momentumBuffer[k] = v;
    parameter[k] -= rate * (nesterov ? g + momentum * v : v);
  }
}

/// Grid (blocks, spans): block b of span s strides over span s, computing
/// what sgdUpdateKernel computes for each element.
__global__ void sgdUpdatesKernel(const SgdSpan *spans,
                                 const float *learningRate, float momentum,
                                 bool nesterov,
                                 const DeviceLossScale *lossScale,
                                 const int32_t *halted) {
  if ((lossScale && lossScale->overflow) || (halted && *halted))
    return;
  SgdSpan span = spans[blockIdx.y];
  float rate = *learningRate;
  float unscale = lossScale ? 1.0f / lossScale->scale : 1.0f;
  for (int64_t k = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
       k < span.count; k += int64_t(gridDim.x) * blockDim.x) {
    float raw = lossScale ? span.gradient[k] * unscale : span.gradient[k];
    float g = raw + span.weightDecay * span.parameter[k];
    float v = momentum * span.momentumBuffer[k] + g;
    span.momentumBuffer[k] = v;
    span.parameter[k] -= rate * (nesterov ? g + momentum * v : v);
  }
}

template <typename T>
__global__ void roundWeightsKernel(const float *weights, T *copy,
                                   int64_t count) {
  for (int64_t k = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; k < count;
       k += int64_t(gridDim.x) * blockDim.x)
    copy[k] = Element<T>::store(weights[k]);
}

template <typename T>
__global__ void widenGradientKernel(const T *gradient, float *widened,
                                    int64_t count) {
  for (int64_t k = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; k < count;
       k += int64_t(gridDim.x) * blockDim.x)
    widened[k] = Element<T>::load(gradient[k]);
}

__global__ void clearOverflowKernel(DeviceLossScale *lossScale) {
  lossScale->overflow = 0;
}

/// Grid (blocks, spans): block b of span s strides over span s. Every
/// thread that sees a value that is not finite stores 1; the order does not
/// matter, so no atomics are needed.
__global__ void checkFiniteKernel(const GradientSpan *spans,
                                  DeviceLossScale *lossScale) {
  GradientSpan span = spans[blockIdx.y];
  bool bad = false;
  for (int64_t k = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
       k < span.count; k += int64_t(gridDim.x) * blockDim.x)
    bad |= !isfinite(span.data[k]);
  if (bad)
    lossScale->overflow = 1;
}

__global__ void advanceLossScaleKernel(DeviceLossScale *lossScale,
                                       double growth, double backoff,
                                       int64_t interval,
                                       const int32_t *halted) {
  if (halted && *halted)
    return;
  advanceLossScaleRule(lossScale->scale, lossScale->goodSteps,
                       lossScale->skipped, lossScale->overflow != 0, growth,
                       backoff, interval);
}

int64_t elements(const DeviceMap &map) { return map.n * map.c * map.h * map.w; }

} // namespace

void cuda::batchNormForward(const DeviceMap &input, const float *weight,
                            const float *bias, const DeviceMap &output,
                            float *mean, float *variance, double epsilon,
                            int threads, cudaStream_t stream) {
  dispatch(input.storage, [&](auto type) {
    using T = decltype(type);
    withReductionThreads(threads, [&](auto count) {
      constexpr int Threads = decltype(count)::value;
      batchNormForwardKernel<T, Threads><<<int(input.c), Threads, 0, stream>>>(
          typed<T>(input), weight, bias, typed<T>(output), mean, variance,
          epsilon);
    });
    DENSENET_LAUNCHED();
  });
}

void cuda::batchNormInference(const DeviceMap &input, const float *weight,
                              const float *bias, const DeviceMap &output,
                              const float *runningMean,
                              const float *runningVariance, double epsilon,
                              cudaStream_t stream) {
  dispatch(input.storage, [&](auto type) {
    using T = decltype(type);
    batchNormInferenceKernel<<<blocksFor(elements(input)), kThreads, 0,
                               stream>>>(typed<T>(input), weight, bias,
                                         typed<T>(output), runningMean,
                                         runningVariance, epsilon);
    DENSENET_LAUNCHED();
  });
}

void cuda::batchNormBackward(const DeviceMap &outputGrad,
                             const DeviceMap &input, const float *weight,
                             const float *mean, const float *variance,
                             const DeviceMap &inputGrad, float *weightGrad,
                             float *biasGrad, double epsilon, int threads,
                             cudaStream_t stream) {
  dispatch(input.storage, [&](auto type) {
    using T = decltype(type);
    withReductionThreads(threads, [&](auto count) {
      constexpr int Threads = decltype(count)::value;
      batchNormBackwardKernel<T, Threads><<<int(input.c), Threads, 0, stream>>>(
          typed<T>(outputGrad), typed<T>(input), weight, mean, variance,
          typed<T>(inputGrad), weightGrad, biasGrad, epsilon);
    });
    DENSENET_LAUNCHED();
  });
}

void cuda::runningStatsUpdate(float *runningMean, float *runningVariance,
                              const float *mean, const float *variance,
                              int64_t channels, double momentum,
                              int64_t samples, cudaStream_t stream) {
  runningStatsKernel<<<blocksFor(channels), kThreads, 0, stream>>>(
      runningMean, runningVariance, mean, variance, channels, momentum,
      double(samples) / double(samples - 1));
  DENSENET_LAUNCHED();
}

void cuda::relu(const DeviceMap &input, const DeviceMap &output,
                cudaStream_t stream) {
  dispatch(input.storage, [&](auto type) {
    using T = decltype(type);
    reluKernel<<<blocksFor(elements(input)), kThreads, 0, stream>>>(
        typed<T>(input), typed<T>(output));
    DENSENET_LAUNCHED();
  });
}

void cuda::reluBackward(const DeviceMap &outputGrad, const DeviceMap &output,
                        const DeviceMap &inputGrad, cudaStream_t stream) {
  dispatch(output.storage, [&](auto type) {
    using T = decltype(type);
    reluBackwardKernel<<<blocksFor(elements(output)), kThreads, 0, stream>>>(
        typed<T>(outputGrad), typed<T>(output), typed<T>(inputGrad));
    DENSENET_LAUNCHED();
  });
}

void cuda::copyChannels(const DeviceMap &input, const DeviceMap &output,
                        int64_t channelOffset, cudaStream_t stream) {
  dispatch(input.storage, [&](auto type) {
    using T = decltype(type);
    copyChannelsKernel<<<blocksFor(elements(input)), kThreads, 0, stream>>>(
        typed<T>(input), typed<T>(output), channelOffset);
    DENSENET_LAUNCHED();
  });
}

void cuda::accumulate(const DeviceMap &value, const DeviceMap &buffer,
                      int64_t channelOffset, cudaStream_t stream) {
  dispatch(value.storage, [&](auto type) {
    using T = decltype(type);
    accumulateKernel<<<blocksFor(elements(value)), kThreads, 0, stream>>>(
        typed<T>(value), typed<T>(buffer), channelOffset);
    DENSENET_LAUNCHED();
  });
}

void cuda::dropout(const DeviceMap &input, const DeviceMap &output,
                   double rate, uint64_t layerKey,
                   const StepCounters *counters, cudaStream_t stream) {
  dispatch(input.storage, [&](auto type) {
    using T = decltype(type);
    dropoutKernel<<<blocksFor(elements(input)), kThreads, 0, stream>>>(
        typed<T>(input), typed<T>(output), rate, layerKey, counters);
    DENSENET_LAUNCHED();
  });
}

void cuda::maxPoolForward(const DeviceMap &input, const DeviceMap &output,
                          const DeviceWindow &window, cudaStream_t stream) {
  dispatch(input.storage, [&](auto type) {
    using T = decltype(type);
    maxPoolForwardKernel<<<blocksFor(elements(output)), kThreads, 0,
                           stream>>>(typed<T>(input), typed<T>(output),
                                     window);
    DENSENET_LAUNCHED();
  });
}

void cuda::maxPoolBackward(const DeviceMap &outputGrad, const DeviceMap &input,
                           const DeviceMap &output, const DeviceMap &inputGrad,
                           const DeviceWindow &window, cudaStream_t stream) {
  dispatch(input.storage, [&](auto type) {
    using T = decltype(type);
    maxPoolBackwardKernel<<<blocksFor(elements(input)), kThreads, 0,
                            stream>>>(typed<T>(outputGrad), typed<T>(input),
                                      typed<T>(output), typed<T>(inputGrad),
                                      window);
    DENSENET_LAUNCHED();
  });
}

void cuda::avgPoolForward(const DeviceMap &input, const DeviceMap &output,
                          const DeviceWindow &window, cudaStream_t stream) {
  dispatch(input.storage, [&](auto type) {
    using T = decltype(type);
    avgPoolForwardKernel<<<blocksFor(elements(output)), kThreads, 0,
                           stream>>>(typed<T>(input), typed<T>(output),
                                     window);
    DENSENET_LAUNCHED();
  });
}

void cuda::avgPoolBackward(const DeviceMap &outputGrad,
                           const DeviceMap &inputGrad,
                           const DeviceWindow &window, cudaStream_t stream) {
  dispatch(inputGrad.storage, [&](auto type) {
    using T = decltype(type);
    avgPoolBackwardKernel<<<blocksFor(elements(inputGrad)), kThreads, 0,
                            stream>>>(typed<T>(outputGrad),
                                      typed<T>(inputGrad), window);
    DENSENET_LAUNCHED();
  });
}

void cuda::globalAvgPoolForward(const DeviceMap &input, const DeviceMap &output,
                                cudaStream_t stream) {
  dispatch(input.storage, [&](auto type) {
    using T = decltype(type);
    globalAvgPoolForwardKernel<<<blocksFor(input.n * input.c), kThreads, 0,
                                 stream>>>(typed<T>(input), typed<T>(output));
    DENSENET_LAUNCHED();
  });
}

void cuda::globalAvgPoolBackward(const DeviceMap &outputGrad,
                                 const DeviceMap &inputGrad,
                                 cudaStream_t stream) {
  dispatch(inputGrad.storage, [&](auto type) {
    using T = decltype(type);
    globalAvgPoolBackwardKernel<<<blocksFor(elements(inputGrad)), kThreads, 0,
                                  stream>>>(typed<T>(outputGrad),
                                            typed<T>(inputGrad));
    DENSENET_LAUNCHED();
  });
}

void cuda::addBias(const DeviceMap &output, const float *bias,
                   cudaStream_t stream) {
  dispatch(output.storage, [&](auto type) {
    using T = decltype(type);
    addBiasKernel<<<blocksFor(output.n * output.c), kThreads, 0, stream>>>(
        typed<T>(output), bias);
    DENSENET_LAUNCHED();
  });
}

void cuda::biasGradient(const DeviceMap &outputGrad, float *biasGrad,
                        cudaStream_t stream) {
  dispatch(outputGrad.storage, [&](auto type) {
    using T = decltype(type);
    biasGradientKernel<<<blocksFor(outputGrad.c), kThreads, 0, stream>>>(
        typed<T>(outputGrad), biasGrad);
    DENSENET_LAUNCHED();
  });
}

void cuda::softmaxCrossEntropy(const DeviceMap &logits, const int32_t *labels,
                               float *loss, int64_t *correct,
                               int32_t *invalidLabel, cudaStream_t stream) {
  dispatch(logits.storage, [&](auto type) {
    using T = decltype(type);
    softmaxCrossEntropyKernel<<<1, kThreads, 0, stream>>>(
        typed<T>(logits), labels, loss, correct, invalidLabel);
    DENSENET_LAUNCHED();
  });
}

void cuda::softmaxCrossEntropyBackward(const DeviceMap &logits,
                                       const int32_t *labels,
                                       const DeviceMap &logitsGrad,
                                       const DeviceLossScale *lossScale,
                                       cudaStream_t stream) {
  dispatch(logits.storage, [&](auto type) {
    using T = decltype(type);
    softmaxCrossEntropyBackwardKernel<<<blocksFor(logits.n), kThreads, 0,
                                        stream>>>(
        typed<T>(logits), labels, typed<T>(logitsGrad), lossScale);
    DENSENET_LAUNCHED();
  });
}

void cuda::sgdUpdate(float *parameter, const float *gradient,
                     float *momentumBuffer, int64_t count,
                     const float *learningRate, double momentum,
                     double weightDecay, bool nesterov,
                     const DeviceLossScale *lossScale, const int32_t *halted,
                     cudaStream_t stream) {
  sgdUpdateKernel<<<blocksFor(count), kThreads, 0, stream>>>(
      parameter, gradient, momentumBuffer, count, learningRate,
      float(momentum), float(weightDecay), nesterov, lossScale, halted);
  DENSENET_LAUNCHED();
}

void cuda::sgdUpdates(const SgdSpan *spans, int spanCount, int64_t mostCount,
                      const float *learningRate, double momentum,
                      bool nesterov, const DeviceLossScale *lossScale,
                      const int32_t *halted, cudaStream_t stream) {
  if (spanCount > 0)
    sgdUpdatesKernel<<<dim3(unsigned(std::min(blocksFor(mostCount), 256)),
                            unsigned(spanCount)),
                       kThreads, 0, stream>>>(spans, learningRate,
                                              float(momentum), nesterov,
                                              lossScale, halted);
    DENSENET_LAUNCHED();
}

void cuda::roundWeights(const float *weights, void *copy, int64_t count,
                        Storage storage, cudaStream_t stream) {
  dispatch(storage, [&](auto type) {
    using T = decltype(type);
    roundWeightsKernel<<<blocksFor(count), kThreads, 0, stream>>>(
        weights, static_cast<T *>(copy), count);
    DENSENET_LAUNCHED();
  });
}

void cuda::widenGradient(const void *gradient, float *widened, int64_t count,
                         Storage storage, cudaStream_t stream) {
  dispatch(storage, [&](auto type) {
    using T = decltype(type);
    widenGradientKernel<<<blocksFor(count), kThreads, 0, stream>>>(
        static_cast<const T *>(gradient), widened, count);
    DENSENET_LAUNCHED();
  });
}

void cuda::clearOverflow(DeviceLossScale *lossScale, cudaStream_t stream) {
  clearOverflowKernel<<<1, 1, 0, stream>>>(lossScale);
  DENSENET_LAUNCHED();
}

void cuda::checkFinite(const GradientSpan *spans, int spanCount,
                       DeviceLossScale *lossScale, cudaStream_t stream) {
  if (spanCount > 0)
    checkFiniteKernel<<<dim3(8, unsigned(spanCount)), kThreads, 0, stream>>>(
        spans, lossScale);
    DENSENET_LAUNCHED();
}

void cuda::advanceLossScale(DeviceLossScale *lossScale, double growth,
                            double backoff, int64_t interval,
                            const int32_t *halted, cudaStream_t stream) {
  advanceLossScaleKernel<<<1, 1, 0, stream>>>(lossScale, growth, backoff,
                                              interval, halted);
  DENSENET_LAUNCHED();
}
