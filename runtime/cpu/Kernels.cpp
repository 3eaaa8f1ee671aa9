//===- Kernels.cpp - f32 kernels of the CPU backend -----------------------===//

#include "runtime/cpu/Kernels.h"

#include "runtime/backend/Philox.h"
#include "runtime/plan/Plan.h"

#include <dnnl.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>

using namespace densenet::runtime;
using namespace densenet::runtime::cpu;

namespace {

/// Row-major C = alpha op(A) op(B) + beta C through oneDNN's JIT sgemm.
void gemm(char transposeA, char transposeB, int64_t m, int64_t n, int64_t k,
          const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
          float *c, int64_t ldc) {
  dnnl_status_t status = dnnl_sgemm(transposeA, transposeB, m, n, k, 1.0f, a,
                                    lda, b, ldb, beta, c, ldc);
  if (status != dnnl_success)
    throw PlanError("oneDNN sgemm failed (status " +
                    std::to_string(static_cast<int>(status)) + ") for " +
                    std::to_string(m) + "x" + std::to_string(n) + "x" +
                    std::to_string(k));
}


/// One image [c, h, w] to its column matrix [c * kh * kw, oh * ow].
void imageToColumns(const float *image, int64_t channels, int64_t height,
                    int64_t width, int64_t outHeight, int64_t outWidth,
                    const Window &window, float *columns) {
  int64_t kernelArea = window.kernelHeight * window.kernelWidth;
  int64_t outArea = outHeight * outWidth;
#pragma omp parallel for schedule(static)
  for (int64_t channel = 0; channel < channels; ++channel) {
    const float *plane = image + channel * height * width;
    for (int64_t ky = 0; ky < window.kernelHeight; ++ky)
      for (int64_t kx = 0; kx < window.kernelWidth; ++kx) {
        float *row = columns + (channel * kernelArea + ky * window.kernelWidth +
                                kx) * outArea;
        for (int64_t oy = 0; oy < outHeight; ++oy) {
          int64_t y = oy * window.strideHeight - window.padHeight + ky;
          float *out = row + oy * outWidth;
          if (y < 0 || y >= height) {
            std::fill(out, out + outWidth, 0.0f);
            continue;
          }
          const float *in = plane + y * width;
          for (int64_t ox = 0; ox < outWidth; ++ox) {
            int64_t x = ox * window.strideWidth - window.padWidth + kx;
            out[ox] = (x >= 0 && x < width) ? in[x] : 0.0f;
          }
        }
      }
  }
}

/// The adjoint of imageToColumns: adds each column entry back to its pixel.
void columnsToImage(const float *columns, int64_t channels, int64_t height,
                    int64_t width, int64_t outHeight, int64_t outWidth,
                    const Window &window, float *image) {
  int64_t kernelArea = window.kernelHeight * window.kernelWidth;
  int64_t outArea = outHeight * outWidth;
#pragma omp parallel for schedule(static)
  for (int64_t channel = 0; channel < channels; ++channel) {
    float *plane = image + channel * height * width;
    std::fill(plane, plane + height * width, 0.0f);
    for (int64_t ky = 0; ky < window.kernelHeight; ++ky)
      for (int64_t kx = 0; kx < window.kernelWidth; ++kx) {
        const float *row = columns + (channel * kernelArea +
                                      ky * window.kernelWidth + kx) * outArea;
        for (int64_t oy = 0; oy < outHeight; ++oy) {
          int64_t y = oy * window.strideHeight - window.padHeight + ky;
          if (y < 0 || y >= height)
            continue;
          float *out = plane + y * width;
          const float *in = row + oy * outWidth;
          for (int64_t ox = 0; ox < outWidth; ++ox) {
            int64_t x = ox * window.strideWidth - window.padWidth + kx;
            if (x >= 0 && x < width)
              out[x] += in[ox];
          }
        }
      }
  }
}

/// Runs body(slot, firstImage, endImage) for each of `slots` contiguous
/// image ranges, in parallel when there are threads for them. Inside, the
/// GEMMs and loops run on the calling thread (nested regions serialize).
template <typename Body>
void forEachSlot(int64_t images, int64_t slots, Body body) {
  bool parallel = slots > 1 && omp_get_max_threads() >= slots;
#pragma omp parallel for num_threads(slots) schedule(static, 1) if (parallel)
  for (int64_t slot = 0; slot < slots; ++slot)
    body(slot, slot * images / slots, (slot + 1) * images / slots);
}

} // namespace

bool cpu::isPlainGemm(const Window &window) {
  return window.kernelHeight == 1 && window.kernelWidth == 1 &&
         window.strideHeight == 1 && window.strideWidth == 1 &&
         window.padHeight == 0 && window.padWidth == 0;
}

void cpu::convolutionForward(const Map &input, const float *filter,
                             const Map &output, const Window &window,
                             float *workspace, int64_t slots) {
  int64_t reduction = input.c * window.kernelHeight * window.kernelWidth;
  if (isPlainGemm(window)) {
    // Every image is an independent GEMM: parallel over images.
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < input.n; ++i)
      gemm('N', 'N', output.c, output.plane(), input.c, filter, input.c,
           input.image(i), input.plane(), 0.0f, output.image(i),
           output.plane());
    return;
  }
  int64_t columnElements = reduction * output.plane();
  forEachSlot(input.n, slots, [&](int64_t slot, int64_t first, int64_t end) {
    float *columns = workspace + slot * columnElements;
    for (int64_t i = first; i < end; ++i) {
      imageToColumns(input.image(i), input.c, input.h, input.w, output.h,
                     output.w, window, columns);
      gemm('N', 'N', output.c, output.plane(), reduction, filter, reduction,
           columns, output.plane(), 0.0f, output.image(i), output.plane());
    }
  });
}

void cpu::convolutionBackwardData(const Map &outputGrad, const float *filter,
                                  const Map &inputGrad, const Window &window,
                                  float *workspace, int64_t slots) {
  int64_t reduction = inputGrad.c * window.kernelHeight * window.kernelWidth;
  if (isPlainGemm(window)) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < outputGrad.n; ++i)
      gemm('T', 'N', inputGrad.c, inputGrad.plane(), outputGrad.c, filter,
           inputGrad.c, outputGrad.image(i), outputGrad.plane(), 0.0f,
           inputGrad.image(i), inputGrad.plane());
    return;
  }
  int64_t columnElements = reduction * outputGrad.plane();
  forEachSlot(outputGrad.n, slots,
              [&](int64_t slot, int64_t first, int64_t end) {
                float *columns = workspace + slot * columnElements;
                for (int64_t i = first; i < end; ++i) {
                  gemm('T', 'N', reduction, outputGrad.plane(), outputGrad.c,
                       filter, reduction, outputGrad.image(i),
                       outputGrad.plane(), 0.0f, columns, outputGrad.plane());
                  columnsToImage(columns, inputGrad.c, inputGrad.h,
                                 inputGrad.w, outputGrad.h, outputGrad.w,
                                 window, inputGrad.image(i));
                }
              });
}

void cpu::convolutionBackwardFilter(const Map &input, const Map &outputGrad,
                                    float *filterGrad, const Window &window,
                                    float *workspace, int64_t slots) {
  int64_t reduction = input.c * window.kernelHeight * window.kernelWidth;
  bool plain = isPlainGemm(window);
  int64_t columnElements = plain ? 0 : reduction * outputGrad.plane();
  int64_t filterElements = outputGrad.c * reduction;
  float *partials = workspace + slots * columnElements;
  forEachSlot(input.n, slots, [&](int64_t slot, int64_t first, int64_t end) {
    float *columns = workspace + slot * columnElements;
    float *sum = slot == 0 ? filterGrad : partials + (slot - 1) * filterElements;
    for (int64_t i = first; i < end; ++i) {
      const float *source = input.image(i);
      if (!plain) {
        imageToColumns(source, input.c, input.h, input.w, outputGrad.h,
                       outputGrad.w, window, columns);
        source = columns;
      }
      // Each slot sums its images in order (beta = 1 after the first).
      gemm('N', 'T', outputGrad.c, reduction, outputGrad.plane(),
           outputGrad.image(i), outputGrad.plane(), source, outputGrad.plane(),
           i == first ? 0.0f : 1.0f, sum, reduction);
    }
  });
  // The slots' partial sums, in slot order.
  for (int64_t slot = 1; slot < slots; ++slot) {
    const float *partial = partials + (slot - 1) * filterElements;
#pragma omp parallel for simd schedule(static)
    for (int64_t e = 0; e < filterElements; ++e)
      filterGrad[e] += partial[e];
  }
}

void cpu::batchNormForward(const Map &input, const float *weight,
                           const float *bias, const Map &output, float *mean,
                           float *variance, double epsilon) {
  int64_t plane = input.plane();
  double count = static_cast<double>(input.n * plane);
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < input.c; ++c) {
    double sum = 0;
    for (int64_t i = 0; i < input.n; ++i) {
      const float *x = input.channel(i, c);
      float partial = 0;
#pragma omp simd reduction(+ : partial)
      for (int64_t p = 0; p < plane; ++p)
        partial += x[p];
      sum += partial;
    }
    double average = sum / count;
    double squares = 0;
    for (int64_t i = 0; i < input.n; ++i) {
      const float *x = input.channel(i, c);
      float partial = 0;
      float center = static_cast<float>(average);
#pragma omp simd reduction(+ : partial)
      for (int64_t p = 0; p < plane; ++p) {
        float d = x[p] - center;
        partial += d * d;
      }
      squares += partial;
    }
    double biased = squares / count;
    mean[c] = static_cast<float>(average);
    variance[c] = static_cast<float>(biased);
    float scale = static_cast<float>(weight[c] / std::sqrt(biased + epsilon));
    float shift = static_cast<float>(bias[c] - average * scale);
    for (int64_t i = 0; i < input.n; ++i) {
      const float *x = input.channel(i, c);
      float *y = output.channel(i, c);
#pragma omp simd
      for (int64_t p = 0; p < plane; ++p)
        y[p] = x[p] * scale + shift;
    }
  }
}

void cpu::batchNormInference(const Map &input, const float *weight,
                             const float *bias, const Map &output,
                             const float *runningMean,
                             const float *runningVariance, double epsilon) {
  int64_t plane = input.plane();
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < input.c; ++c) {
    float scale = static_cast<float>(
        weight[c] / std::sqrt(double(runningVariance[c]) + epsilon));
    float shift = static_cast<float>(bias[c] - double(runningMean[c]) * scale);
    for (int64_t i = 0; i < input.n; ++i) {
      const float *x = input.channel(i, c);
      float *y = output.channel(i, c);
#pragma omp simd
      for (int64_t p = 0; p < plane; ++p)
        y[p] = x[p] * scale + shift;
    }
  }
}

void cpu::batchNormBackward(const Map &outputGrad, const Map &input,
                            const float *weight, const float *mean,
                            const float *variance, const Map &inputGrad,
                            float *weightGrad, float *biasGrad,
                            double epsilon) {
  int64_t plane = input.plane();
  double count = static_cast<double>(input.n * plane);
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < input.c; ++c) {
    double inverseStd = 1.0 / std::sqrt(double(variance[c]) + epsilon);
    float center = mean[c];
    double sumGrad = 0, sumGradCentered = 0;
    for (int64_t i = 0; i < input.n; ++i) {
      const float *dy = outputGrad.channel(i, c);
      const float *x = input.channel(i, c);
      float partialGrad = 0, partialCentered = 0;
#pragma omp simd reduction(+ : partialGrad, partialCentered)
      for (int64_t p = 0; p < plane; ++p) {
        partialGrad += dy[p];
        partialCentered += dy[p] * (x[p] - center);
      }
      sumGrad += partialGrad;
      sumGradCentered += partialCentered;
    }
    double gradWeight = sumGradCentered * inverseStd; // sum dy * xhat
    weightGrad[c] = static_cast<float>(gradWeight);
    biasGrad[c] = static_cast<float>(sumGrad);
    // dx = w / std * (dy - sum(dy) / M - xhat * sum(dy * xhat) / M)
    float scale = static_cast<float>(weight[c] * inverseStd);
    float meanGrad = static_cast<float>(sumGrad / count);
    float slope = static_cast<float>(gradWeight * inverseStd / count);
    for (int64_t i = 0; i < input.n; ++i) {
      const float *dy = outputGrad.channel(i, c);
      const float *x = input.channel(i, c);
      float *dx = inputGrad.channel(i, c);
#pragma omp simd
      for (int64_t p = 0; p < plane; ++p)
        dx[p] = scale * (dy[p] - meanGrad - (x[p] - center) * slope);
    }
  }
}

void cpu::runningStatsUpdate(float *runningMean, float *runningVariance,
                             const float *mean, const float *variance,
                             int64_t channels, double momentum,
                             int64_t samples) {
  double unbias = double(samples) / double(samples - 1);
  for (int64_t c = 0; c < channels; ++c) {
    runningMean[c] = static_cast<float>((1 - momentum) * runningMean[c] +
                                        momentum * mean[c]);
    runningVariance[c] = static_cast<float>(
        (1 - momentum) * runningVariance[c] + momentum * variance[c] * unbias);
  }
}

void cpu::relu(const Map &input, const Map &output) {
  int64_t plane = input.plane();
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t i = 0; i < input.n; ++i)
    for (int64_t c = 0; c < input.c; ++c) {
      const float *x = input.channel(i, c);
      float *y = output.channel(i, c);
#pragma omp simd
      for (int64_t p = 0; p < plane; ++p)
        y[p] = x[p] > 0.0f ? x[p] : 0.0f;
    }
}

void cpu::reluBackward(const Map &outputGrad, const Map &output,
                       const Map &inputGrad) {
  int64_t plane = output.plane();
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t i = 0; i < output.n; ++i)
    for (int64_t c = 0; c < output.c; ++c) {
      const float *dy = outputGrad.channel(i, c);
      const float *y = output.channel(i, c);
      float *dx = inputGrad.channel(i, c);
      // Both operands are loaded unconditionally so the select vectorizes
      // (a conditional load of dy would not, and mispredicts on real data).
#pragma omp simd
      for (int64_t p = 0; p < plane; ++p) {
        float gradient = dy[p];
        dx[p] = y[p] > 0.0f ? gradient : 0.0f;
      }
    }
}

void cpu::concat(const Map *inputs, int count, const Map &output) {
  int64_t plane = output.plane();
  for (int64_t i = 0; i < output.n; ++i) {
    int64_t channel = 0;
    for (int k = 0; k < count; ++k) {
      std::memmove(output.channel(i, channel), inputs[k].image(i),
                   sizeof(float) * inputs[k].c * plane);
      channel += inputs[k].c;
    }
  }
}

void cpu::accumulate(const Map &value, const Map &buffer,
                     int64_t channelOffset) {
  int64_t plane = value.plane();
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t i = 0; i < value.n; ++i)
    for (int64_t c = 0; c < value.c; ++c) {
      const float *source = value.channel(i, c);
      float *target = buffer.channel(i, channelOffset + c);
#pragma omp simd
      for (int64_t p = 0; p < plane; ++p)
        target[p] += source[p];
    }
}

void cpu::maxPoolForward(const Map &input, const Map &output,
                         const Window &window) {
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t i = 0; i < input.n; ++i)
    for (int64_t c = 0; c < input.c; ++c) {
      const float *x = input.channel(i, c);
      float *y = output.channel(i, c);
      for (int64_t oy = 0; oy < output.h; ++oy)
        for (int64_t ox = 0; ox < output.w; ++ox) {
          float best = -std::numeric_limits<float>::infinity();
          for (int64_t ky = 0; ky < window.kernelHeight; ++ky) {
            int64_t yy = oy * window.strideHeight - window.padHeight + ky;
            if (yy < 0 || yy >= input.h)
              continue;
            for (int64_t kx = 0; kx < window.kernelWidth; ++kx) {
              int64_t xx = ox * window.strideWidth - window.padWidth + kx;
              if (xx >= 0 && xx < input.w && x[yy * input.w + xx] > best)
                best = x[yy * input.w + xx];
            }
          }
          y[oy * output.w + ox] = best;
        }
    }
}

void cpu::maxPoolBackward(const Map &outputGrad, const Map &input,
                          const Map &output, const Map &inputGrad,
                          const Window &window) {
  // Each output's gradient goes to the first maximum of its window (the
  // forward's choice); a pixel in several windows sums them.
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t i = 0; i < input.n; ++i)
    for (int64_t c = 0; c < input.c; ++c) {
      const float *x = input.channel(i, c);
      const float *y = output.channel(i, c);
      const float *dy = outputGrad.channel(i, c);
      float *dx = inputGrad.channel(i, c);
      std::fill(dx, dx + input.plane(), 0.0f);
      for (int64_t oy = 0; oy < output.h; ++oy)
        for (int64_t ox = 0; ox < output.w; ++ox) {
          float best = y[oy * output.w + ox];
          int64_t where = -1;
          for (int64_t ky = 0; ky < window.kernelHeight && where < 0; ++ky) {
            int64_t yy = oy * window.strideHeight - window.padHeight + ky;
            if (yy < 0 || yy >= input.h)
              continue;
            for (int64_t kx = 0; kx < window.kernelWidth; ++kx) {
              int64_t xx = ox * window.strideWidth - window.padWidth + kx;
              if (xx >= 0 && xx < input.w && x[yy * input.w + xx] == best) {
                where = yy * input.w + xx;
                break;
              }
            }
          }
          if (where >= 0)
            dx[where] += dy[oy * output.w + ox];
        }
    }
}

void cpu::avgPoolForward(const Map &input, const Map &output,
                         const Window &window) {
  float scale = 1.0f / float(window.kernelHeight * window.kernelWidth);
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t i = 0; i < input.n; ++i)
    for (int64_t c = 0; c < input.c; ++c) {
      const float *x = input.channel(i, c);
      float *y = output.channel(i, c);
      for (int64_t oy = 0; oy < output.h; ++oy)
        for (int64_t ox = 0; ox < output.w; ++ox) {
          float sum = 0;
          for (int64_t ky = 0; ky < window.kernelHeight; ++ky) {
            int64_t yy = oy * window.strideHeight - window.padHeight + ky;
            if (yy < 0 || yy >= input.h)
              continue;
            for (int64_t kx = 0; kx < window.kernelWidth; ++kx) {
              int64_t xx = ox * window.strideWidth - window.padWidth + kx;
              if (xx >= 0 && xx < input.w)
                sum += x[yy * input.w + xx];
            }
          }
          y[oy * output.w + ox] = sum * scale;
        }
    }
}

void cpu::avgPoolBackward(const Map &outputGrad, const Map &inputGrad,
                          const Window &window) {
  float scale = 1.0f / float(window.kernelHeight * window.kernelWidth);
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t i = 0; i < inputGrad.n; ++i)
    for (int64_t c = 0; c < inputGrad.c; ++c) {
      const float *dy = outputGrad.channel(i, c);
      float *dx = inputGrad.channel(i, c);
      std::fill(dx, dx + inputGrad.plane(), 0.0f);
      for (int64_t oy = 0; oy < outputGrad.h; ++oy)
        for (int64_t ox = 0; ox < outputGrad.w; ++ox) {
          float share = dy[oy * outputGrad.w + ox] * scale;
          for (int64_t ky = 0; ky < window.kernelHeight; ++ky) {
            int64_t yy = oy * window.strideHeight - window.padHeight + ky;
            if (yy < 0 || yy >= inputGrad.h)
              continue;
            for (int64_t kx = 0; kx < window.kernelWidth; ++kx) {
              int64_t xx = ox * window.strideWidth - window.padWidth + kx;
              if (xx >= 0 && xx < inputGrad.w)
                dx[yy * inputGrad.w + xx] += share;
            }
          }
        }
    }
}

void cpu::globalAvgPoolForward(const Map &input, float *output) {
  int64_t plane = input.plane();
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t i = 0; i < input.n; ++i)
    for (int64_t c = 0; c < input.c; ++c) {
      const float *x = input.channel(i, c);
      double sum = 0;
      for (int64_t p = 0; p < plane; ++p)
        sum += x[p];
      output[i * input.c + c] = static_cast<float>(sum / double(plane));
    }
}

void cpu::globalAvgPoolBackward(const float *outputGrad, const Map &inputGrad) {
  int64_t plane = inputGrad.plane();
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t i = 0; i < inputGrad.n; ++i)
    for (int64_t c = 0; c < inputGrad.c; ++c) {
      float share = outputGrad[i * inputGrad.c + c] / float(plane);
      float *dx = inputGrad.channel(i, c);
      std::fill(dx, dx + plane, share);
    }
}

void cpu::linearForward(const float *input, const float *weight,
                        const float *bias, float *output, int64_t batch,
                        int64_t inputs, int64_t outputs) {
  gemm('N', 'T', batch, outputs, inputs, input, inputs, weight, inputs, 0.0f,
       output, outputs);
  if (bias)
    linearBias(bias, output, batch, outputs);
}

void cpu::linearBias(const float *bias, float *output, int64_t batch,
                     int64_t outputs) {
  for (int64_t i = 0; i < batch; ++i)
    for (int64_t o = 0; o < outputs; ++o)
      output[i * outputs + o] += bias[o];
}

void cpu::linearBackward(const float *outputGrad, const float *input,
                         const float *weight, float *inputGrad,
                         float *weightGrad, float *biasGrad, int64_t batch,
                         int64_t inputs, int64_t outputs) {
  gemm('N', 'N', batch, inputs, outputs, outputGrad, outputs, weight, inputs,
       0.0f, inputGrad, inputs);
  gemm('T', 'N', outputs, inputs, batch, outputGrad, outputs, input, inputs,
       0.0f, weightGrad, inputs);
  for (int64_t o = 0; o < outputs; ++o) {
    double sum = 0;
    for (int64_t i = 0; i < batch; ++i)
      sum += outputGrad[i * outputs + o];
    biasGrad[o] = static_cast<float>(sum);
  }
}

void cpu::dropout(const Map &input, const Map &output, double rate,
                  uint64_t seed, uint64_t key, int64_t step) {
  float scale = static_cast<float>(1.0 / (1.0 - rate));
  int64_t plane = input.plane();
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t i = 0; i < input.n; ++i)
    for (int64_t c = 0; c < input.c; ++c) {
      const float *x = input.channel(i, c);
      float *y = output.channel(i, c);
      uint64_t first = static_cast<uint64_t>((i * input.c + c) * plane);
      for (int64_t p = 0; p < plane; ++p)
        y[p] = dropoutKeeps(seed, key, step, first + p, rate) ? x[p] * scale
                                                              : 0.0f;
    }
}

void cpu::softmaxCrossEntropy(const float *logits, const int32_t *labels,
                              int64_t batch, int64_t classes, float *loss,
                              int64_t *correct) {
  double total = 0;
  int64_t right = 0;
  for (int64_t i = 0; i < batch; ++i) {
    const float *z = logits + i * classes;
    int32_t label = labels[i];
    if (label < 0 || label >= classes)
      throw PlanError("label " + std::to_string(label) + " of sample " +
                      std::to_string(i) + " is outside [0, " +
                      std::to_string(classes) + ")");
    int64_t best = 0;
    for (int64_t k = 1; k < classes; ++k)
      if (z[k] > z[best])
        best = k;
    double sum = 0;
    for (int64_t k = 0; k < classes; ++k)
      sum += std::exp(double(z[k]) - double(z[best]));
    total += std::log(sum) + double(z[best]) - double(z[label]);
    right += best == label;
  }
  *loss = static_cast<float>(total / double(batch));
  *correct = right;
}

void cpu::softmaxCrossEntropyBackward(const float *logits,
                                      const int32_t *labels, int64_t batch,
                                      int64_t classes, float *logitsGrad) {
  for (int64_t i = 0; i < batch; ++i) {
    const float *z = logits + i * classes;
    float *dz = logitsGrad + i * classes;
    double top = z[0];
    for (int64_t k = 1; k < classes; ++k)
      top = std::max(top, double(z[k]));
    double sum = 0;
    for (int64_t k = 0; k < classes; ++k)
      sum += std::exp(double(z[k]) - top);
    for (int64_t k = 0; k < classes; ++k) {
      double probability = std::exp(double(z[k]) - top) / sum;
      dz[k] = static_cast<float>(
          (probability - (k == labels[i] ? 1.0 : 0.0)) / double(batch));
    }
  }
}

void cpu::sgdUpdate(float *parameter, const float *gradient,
                    float *momentumBuffer, int64_t count, float learningRate,
                    double momentum, double weightDecay, bool nesterov,
                    float gradientScale) {
  float decay = static_cast<float>(weightDecay);
  float beta = static_cast<float>(momentum);
  if (gradientScale != 1.0f) {
#pragma omp parallel for simd schedule(static)
    for (int64_t i = 0; i < count; ++i) {
      float g = gradient[i] * gradientScale + decay * parameter[i];
      float v = beta * momentumBuffer[i] + g;
      momentumBuffer[i] = v;
      parameter[i] -= learningRate * (nesterov ? g + beta * v : v);
    }
    return;
  }
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < count; ++i) {
    float g = gradient[i] + decay * parameter[i];
    float v = beta * momentumBuffer[i] + g;
    momentumBuffer[i] = v;
    parameter[i] -= learningRate * (nesterov ? g + beta * v : v);
  }
}
