//===- KernelsTest.cpp - Numerical checks of the f32 CPU kernels ----------===//
//
// Checks the CPU backend's kernels against docs/training-semantics.md:
// every backward kernel against central differences of its forward kernel
// (L(x) = sum(G * forward(x)) for a random upstream gradient G), the forward
// kernels against naive loops, channel-slice views (maps whose images lie
// `imageStride` apart in a wider buffer) against dense copies with the bytes
// outside the slice checked untouched, Philox4x32-10 against the Random123
// known-answer vectors, and bitwise determinism of the reductions.
//
//===----------------------------------------------------------------------===//

#include "runtime/backend/Philox.h"
#include "runtime/cpu/Kernels.h"

#include <gtest/gtest.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

using namespace densenet::runtime;
using namespace densenet::runtime::cpu;

namespace {

//===----------------------------------------------------------------------===//
// Helpers
//===----------------------------------------------------------------------===//

/// A small deterministic generator (splitmix64), independent of the
/// standard library's distributions.
class Random {
public:
  explicit Random(uint64_t seed) : state(seed) {}

  uint64_t next() {
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  /// Uniform in [lo, hi).
  float uniform(float lo, float hi) {
    double unit = double(next() >> 11) * 0x1p-53;
    return static_cast<float>(lo + (hi - lo) * unit);
  }
  void fill(std::vector<float> &values, float lo, float hi) {
    for (float &v : values)
      v = uniform(lo, hi);
  }

private:
  uint64_t state;
};

/// A dense [n, c, h, w] tensor and its map.
struct Tensor {
  std::vector<float> values;
  Map map;

  Tensor(int64_t n, int64_t c, int64_t h, int64_t w)
      : values(static_cast<size_t>(n * c * h * w), 0.0f) {
    map.data = values.data();
    map.n = n;
    map.c = c;
    map.h = h;
    map.w = w;
    map.imageStride = c * h * w;
  }
  Tensor(const Tensor &other) : values(other.values), map(other.map) {
    map.data = values.data();
  }
  Tensor &operator=(const Tensor &) = delete;

  int64_t size() const { return static_cast<int64_t>(values.size()); }
};

/// A wide [n, rootChannels, h, w] buffer filled with a sentinel, and the
/// map of its channels [offset, offset + c).
struct Slice {
  std::vector<float> values;
  Map map;
  int64_t rootChannels, offset;

  Slice(int64_t n, int64_t c, int64_t h, int64_t w, int64_t rootChannels,
        int64_t offset)
      : values(static_cast<size_t>(n * rootChannels * h * w), sentinel()),
        rootChannels(rootChannels), offset(offset) {
    map.data = values.data() + offset * h * w;
    map.n = n;
    map.c = c;
    map.h = h;
    map.w = w;
    map.imageStride = rootChannels * h * w;
  }
  Slice(const Slice &) = delete;
  Slice &operator=(const Slice &) = delete;

  /// A quiet NaN with a recognizable payload: reading it poisons results,
  /// and writing anything over it is detected bitwise.
  static float sentinel() {
    uint32_t bits = 0x7FC0BEEFu;
    float value;
    std::memcpy(&value, &bits, sizeof value);
    return value;
  }

  bool inside(int64_t index) const {
    int64_t plane = map.h * map.w;
    int64_t channel = (index / plane) % rootChannels;
    return channel >= offset && channel < offset + map.c;
  }
};

/// Fills an output with the sentinel, so a kernel that accumulates into
/// its output instead of overwriting it (or skips elements) is caught.
void poison(std::vector<float> &values) {
  std::fill(values.begin(), values.end(), Slice::sentinel());
}

bool sameBits(float a, float b) {
  uint32_t x, y;
  std::memcpy(&x, &a, sizeof x);
  std::memcpy(&y, &b, sizeof y);
  return x == y;
}

float &at(const Map &map, int64_t i, int64_t c, int64_t y, int64_t x) {
  return map.channel(i, c)[y * map.w + x];
}

/// Copies a map's logical elements into another map of the same shape.
void copyMap(const Map &from, const Map &to) {
  for (int64_t i = 0; i < from.n; ++i)
    for (int64_t c = 0; c < from.c; ++c)
      std::copy(from.channel(i, c), from.channel(i, c) + from.plane(),
                to.channel(i, c));
}

/// Expects the logical elements of two maps of one shape to be equal
/// bitwise, and returns how many differ.
int64_t countDifferences(const Map &a, const Map &b) {
  int64_t differences = 0;
  for (int64_t i = 0; i < a.n; ++i)
    for (int64_t c = 0; c < a.c; ++c)
      for (int64_t p = 0; p < a.plane(); ++p)
        if (!sameBits(a.channel(i, c)[p], b.channel(i, c)[p]))
          ++differences;
  return differences;
}

/// Every element outside the slice still holds the sentinel.
void expectOutsideUntouched(const Slice &slice, const char *what) {
  int64_t touched = 0;
  for (int64_t k = 0; k < static_cast<int64_t>(slice.values.size()); ++k)
    if (!slice.inside(k) && !sameBits(slice.values[k], Slice::sentinel()))
      ++touched;
  EXPECT_EQ(touched, 0) << what << ": elements outside the channel slice "
                        << "were written";
}

double sumProduct(const std::vector<float> &g, const Map &map) {
  double sum = 0;
  int64_t k = 0;
  for (int64_t i = 0; i < map.n; ++i)
    for (int64_t c = 0; c < map.c; ++c)
      for (int64_t p = 0; p < map.plane(); ++p)
        sum += double(g[k++]) * double(map.channel(i, c)[p]);
  return sum;
}

double sumProduct(const std::vector<float> &g, const float *values) {
  double sum = 0;
  for (size_t k = 0; k < g.size(); ++k)
    sum += double(g[k]) * double(values[k]);
  return sum;
}

/// Sets the OpenMP thread count for one scope.
class ThreadCount {
public:
  explicit ThreadCount(int threads) {
#ifdef _OPENMP
    saved = omp_get_max_threads();
    omp_set_num_threads(threads);
#else
    (void)threads;
#endif
  }
  ~ThreadCount() {
#ifdef _OPENMP
    omp_set_num_threads(saved);
#endif
  }

private:
  int saved = 1;
};

/// Central differences of `loss` with respect to every element of `x`
/// (perturbed in place and restored). The step is `relativeStep` scaled to
/// the value, and the difference quotient divides by the step actually
/// taken in f32.
std::vector<double> numericGradient(float *x, int64_t count,
                                    const std::function<double()> &loss,
                                    double relativeStep) {
  // Thousands of tiny forwards: one thread avoids a barrier per parallel
  // region, which is slow on a loaded machine.
  ThreadCount singleThread(1);
  std::vector<double> gradient(static_cast<size_t>(count));
  for (int64_t k = 0; k < count; ++k) {
    float saved = x[k];
    double step = relativeStep * std::max(1.0, std::fabs(double(saved)));
    float plus = static_cast<float>(saved + step);
    float minus = static_cast<float>(saved - step);
    x[k] = plus;
    double lossPlus = loss();
    x[k] = minus;
    double lossMinus = loss();
    x[k] = saved;
    gradient[k] = (lossPlus - lossMinus) / (double(plus) - double(minus));
  }
  return gradient;
}

/// Compares an analytic gradient with a numeric one: every element within
/// `relative` of the largest magnitude. Requires a nonzero gradient so the
/// check cannot pass vacuously.
void expectGradientClose(const float *analytic,
                         const std::vector<double> &numeric,
                         const std::string &what, double relative = 2e-3) {
  double scale = 0;
  for (size_t k = 0; k < numeric.size(); ++k)
    scale = std::max({scale, std::fabs(numeric[k]),
                      std::fabs(double(analytic[k]))});
  ASSERT_GT(scale, 1e-3) << what << ": the gradient is (almost) zero";
  double tolerance = relative * scale;
  int reported = 0, bad = 0;
  for (size_t k = 0; k < numeric.size(); ++k) {
    double error = std::fabs(double(analytic[k]) - numeric[k]);
    if (!(error <= tolerance)) {
      ++bad;
      if (reported++ < 5)
        ADD_FAILURE() << what << "[" << k << "]: analytic " << analytic[k]
                      << ", numeric " << numeric[k] << " (tolerance "
                      << tolerance << ")";
    }
  }
  EXPECT_EQ(bad, 0) << what << ": " << bad << " of " << numeric.size()
                    << " elements differ from central differences";
}

int64_t outSize(int64_t in, int64_t kernel, int64_t stride, int64_t pad) {
  return (in + 2 * pad - kernel) / stride + 1;
}

Window window(int64_t kernel, int64_t stride, int64_t pad) {
  Window result;
  result.kernelHeight = result.kernelWidth = kernel;
  result.strideHeight = result.strideWidth = stride;
  result.padHeight = result.padWidth = pad;
  return result;
}

/// A convolution step's workspace as the plan sizes it: `slots` column
/// matrices (none for an unpadded 1x1 stride-1 convolution), then the
/// filter gradient's `slots - 1` partial sums. Filled with the sentinel so
/// a kernel that reads scratch it has not written is caught.
struct Workspace {
  std::vector<float> values;

  Workspace(int64_t channels, int64_t outChannels, const Window &win,
            int64_t oh, int64_t ow, int64_t slots) {
    int64_t reduction = channels * win.kernelHeight * win.kernelWidth;
    int64_t columns = isPlainGemm(win) ? 0 : reduction * oh * ow;
    values.assign(static_cast<size_t>(slots * columns +
                                      (slots - 1) * outChannels * reduction),
                  Slice::sentinel());
  }
  /// Null when empty: such a convolution must not touch it.
  float *data() { return values.empty() ? nullptr : values.data(); }
};

//===----------------------------------------------------------------------===//
// Naive references
//===----------------------------------------------------------------------===//

/// Cross-correlation with zero padding, in double.
std::vector<double> naiveConvolution(const Map &x, const float *filter,
                                     int64_t outChannels, const Window &win,
                                     int64_t oh, int64_t ow) {
  std::vector<double> y(static_cast<size_t>(x.n * outChannels * oh * ow));
  for (int64_t i = 0; i < x.n; ++i)
    for (int64_t o = 0; o < outChannels; ++o)
      for (int64_t oy = 0; oy < oh; ++oy)
        for (int64_t ox = 0; ox < ow; ++ox) {
          double sum = 0;
          for (int64_t c = 0; c < x.c; ++c)
            for (int64_t ky = 0; ky < win.kernelHeight; ++ky)
              for (int64_t kx = 0; kx < win.kernelWidth; ++kx) {
                int64_t yy = oy * win.strideHeight - win.padHeight + ky;
                int64_t xx = ox * win.strideWidth - win.padWidth + kx;
                if (yy < 0 || yy >= x.h || xx < 0 || xx >= x.w)
                  continue;
                double weight =
                    filter[((o * x.c + c) * win.kernelHeight + ky) *
                               win.kernelWidth +
                           kx];
                sum += weight * at(x, i, c, yy, xx);
              }
          y[((i * outChannels + o) * oh + oy) * ow + ox] = sum;
        }
  return y;
}

//===----------------------------------------------------------------------===//
// Gradient checks: convolution
//===----------------------------------------------------------------------===//

struct ConvolutionCase {
  int64_t n, c, h, w, outChannels, kernel, stride, pad, slots;
};

void checkConvolutionGradients(const ConvolutionCase &spec) {
  Window win = window(spec.kernel, spec.stride, spec.pad);
  int64_t oh = outSize(spec.h, spec.kernel, spec.stride, spec.pad);
  int64_t ow = outSize(spec.w, spec.kernel, spec.stride, spec.pad);
  Random random(17 + spec.kernel * 31 + spec.stride * 7 + spec.pad);

  Tensor x(spec.n, spec.c, spec.h, spec.w);
  random.fill(x.values, -1, 1);
  std::vector<float> filter(
      static_cast<size_t>(spec.outChannels * spec.c * spec.kernel * spec.kernel));
  random.fill(filter, -1, 1);
  Tensor y(spec.n, spec.outChannels, oh, ow);
  std::vector<float> g(static_cast<size_t>(y.size()));
  random.fill(g, -1, 1);
  Tensor dy(spec.n, spec.outChannels, oh, ow);
  dy.values = g;
  dy.map.data = dy.values.data();

  Workspace scratch(spec.c, spec.outChannels, win, oh, ow, spec.slots);
  float *workspace = scratch.data();
  const int64_t slots = spec.slots;

  auto loss = [&] {
    convolutionForward(x.map, filter.data(), y.map, win, workspace, slots);
    return sumProduct(g, y.map);
  };

  // Sanity: the forward equals the naive loops.
  loss();
  std::vector<double> reference =
      naiveConvolution(x.map, filter.data(), spec.outChannels, win, oh, ow);
  for (int64_t k = 0; k < y.size(); ++k)
    ASSERT_NEAR(y.values[k], reference[k], 1e-4) << "forward output " << k;

  // Input gradient; poison it first so every element must be written.
  Tensor dx(spec.n, spec.c, spec.h, spec.w);
  std::fill(dx.values.begin(), dx.values.end(), Slice::sentinel());
  convolutionBackwardData(dy.map, filter.data(), dx.map, win, workspace,
                          slots);
  std::vector<double> numeric =
      numericGradient(x.values.data(), x.size(), loss, 1e-2);
  expectGradientClose(dx.values.data(), numeric, "convolutionBackwardData");

  // Filter gradient.
  std::vector<float> dw(filter.size(), Slice::sentinel());
  convolutionBackwardFilter(x.map, dy.map, dw.data(), win, workspace,
                            slots);
  numeric = numericGradient(filter.data(), static_cast<int64_t>(filter.size()),
                            loss, 1e-2);
  expectGradientClose(dw.data(), numeric, "convolutionBackwardFilter");
}

TEST(ConvolutionGradient, Kernel3x3Stride1Pad1) {
  checkConvolutionGradients({2, 3, 5, 5, 4, 3, 1, 1, 1});
}

TEST(ConvolutionGradient, Kernel3x3Stride1Pad1TwoSlots) {
  checkConvolutionGradients({2, 3, 5, 5, 4, 3, 1, 1, 2});
}

TEST(ConvolutionGradient, Kernel1x1Stride1Pad0WithoutWorkspace) {
  // One slot: no column matrix and no partial sums, so a null workspace.
  checkConvolutionGradients({2, 3, 5, 5, 4, 1, 1, 0, 1});
}

TEST(ConvolutionGradient, Kernel1x1Stride1Pad0TwoSlots) {
  // Two slots: the workspace holds only the filter gradient's partial sum.
  checkConvolutionGradients({2, 3, 5, 5, 4, 1, 1, 0, 2});
}

TEST(ConvolutionGradient, Kernel7x7Stride2Pad3) {
  checkConvolutionGradients({2, 3, 7, 7, 4, 7, 2, 3, 2});
}

TEST(ConvolutionGradient, Kernel3x3Stride2Pad0) {
  // 6x6 with stride 2 leaves the last row and column out of every window:
  // their input gradient must be written as 0.
  checkConvolutionGradients({2, 3, 6, 6, 4, 3, 2, 0, 1});
}

TEST(ConvolutionGradient, Kernel3x3Stride2Pad0TwoSlots) {
  checkConvolutionGradients({2, 3, 6, 6, 4, 3, 2, 0, 2});
}

TEST(ConvolutionGradient, Kernel3x3Stride1Pad1NonSquareUnevenSlots) {
  // Three images in two slots (one and two images).
  checkConvolutionGradients({3, 2, 4, 6, 3, 3, 1, 1, 2});
}

//===----------------------------------------------------------------------===//
// Gradient checks: batch norm
//===----------------------------------------------------------------------===//

TEST(BatchNormGradient, InputWeightAndBias) {
  const int64_t n = 2, c = 3, h = 5, w = 5;
  const double epsilon = 1e-5;
  Random random(101);
  Tensor x(n, c, h, w);
  random.fill(x.values, -1, 1);
  // Different means and spreads per channel.
  for (int64_t i = 0; i < n; ++i)
    for (int64_t ch = 0; ch < c; ++ch)
      for (int64_t p = 0; p < h * w; ++p) {
        float &v = x.map.channel(i, ch)[p];
        v = v * (0.5f + ch) + 0.3f * ch;
      }
  std::vector<float> weight(c), bias(c);
  random.fill(weight, 0.5f, 1.5f);
  random.fill(bias, -0.5f, 0.5f);
  std::vector<float> g(static_cast<size_t>(x.size()));
  random.fill(g, -1, 1);

  Tensor y(n, c, h, w);
  std::vector<float> mean(c), variance(c);
  auto loss = [&] {
    batchNormForward(x.map, weight.data(), bias.data(), y.map, mean.data(),
                     variance.data(), epsilon);
    return sumProduct(g, y.map);
  };
  loss();
  std::vector<float> batchMean = mean, batchVariance = variance;

  Tensor dy(n, c, h, w);
  dy.values = g;
  dy.map.data = dy.values.data();
  Tensor dx(n, c, h, w);
  std::vector<float> dweight(c), dbias(c);
  poison(dx.values);
  poison(dweight);
  poison(dbias);
  batchNormBackward(dy.map, x.map, weight.data(), batchMean.data(),
                    batchVariance.data(), dx.map, dweight.data(), dbias.data(),
                    epsilon);

  expectGradientClose(dx.values.data(),
                      numericGradient(x.values.data(), x.size(), loss, 1e-2),
                      "batchNormBackward input");
  expectGradientClose(dweight.data(),
                      numericGradient(weight.data(), c, loss, 1e-2),
                      "batchNormBackward weight");
  expectGradientClose(dbias.data(), numericGradient(bias.data(), c, loss, 1e-2),
                      "batchNormBackward bias");
}

//===----------------------------------------------------------------------===//
// Gradient checks: elementwise ops and pools
//===----------------------------------------------------------------------===//

TEST(ReluGradient, FromOutputAwayFromZero) {
  const int64_t n = 2, c = 3, h = 5, w = 5;
  Random random(7);
  Tensor x(n, c, h, w);
  for (float &v : x.values) {
    float magnitude = random.uniform(0.2f, 1.0f);
    v = (random.next() & 1) ? magnitude : -magnitude;
  }
  std::vector<float> g(static_cast<size_t>(x.size()));
  random.fill(g, -1, 1);
  Tensor y(n, c, h, w);
  auto loss = [&] {
    relu(x.map, y.map);
    return sumProduct(g, y.map);
  };
  loss();
  Tensor dy(n, c, h, w);
  dy.values = g;
  dy.map.data = dy.values.data();
  Tensor dx(n, c, h, w);
  poison(dx.values);
  reluBackward(dy.map, y.map, dx.map);
  expectGradientClose(dx.values.data(),
                      numericGradient(x.values.data(), x.size(), loss, 1e-2),
                      "reluBackward");
}

TEST(MaxPoolGradient, Kernel3x3Stride2Pad1) {
  const int64_t n = 2, c = 3, h = 5, w = 5;
  Window win = window(3, 2, 1);
  int64_t oh = outSize(h, 3, 2, 1), ow = outSize(w, 3, 2, 1);
  ASSERT_EQ(oh, 3);
  Tensor x(n, c, h, w);
  // Distinct values 0.1 apart in a scrambled order: no ties, and the step
  // of the differences never reorders them.
  int64_t count = x.size();
  for (int64_t k = 0; k < count; ++k)
    x.values[k] = 0.1f * float((k * 37) % count) - 3.0f;
  Random random(3);
  Tensor y(n, c, oh, ow);
  std::vector<float> g(static_cast<size_t>(y.size()));
  random.fill(g, -1, 1);
  auto loss = [&] {
    maxPoolForward(x.map, y.map, win);
    return sumProduct(g, y.map);
  };
  loss();
  Tensor dy(n, c, oh, ow);
  dy.values = g;
  dy.map.data = dy.values.data();
  Tensor dx(n, c, h, w);
  std::fill(dx.values.begin(), dx.values.end(), Slice::sentinel());
  maxPoolBackward(dy.map, x.map, y.map, dx.map, win);
  expectGradientClose(dx.values.data(),
                      numericGradient(x.values.data(), count, loss, 1e-2),
                      "maxPoolBackward");
}

TEST(MaxPoolGradient, TiesGoToTheFirstMaximum) {
  // A constant 3x3 image under a 3x3 stride-1 window without padding: one
  // output, and its gradient goes to the first element only.
  Tensor x(1, 1, 3, 3);
  std::fill(x.values.begin(), x.values.end(), 2.0f);
  Tensor y(1, 1, 1, 1);
  Window win = window(3, 1, 0);
  maxPoolForward(x.map, y.map, win);
  EXPECT_EQ(y.values[0], 2.0f);
  Tensor dy(1, 1, 1, 1);
  dy.values[0] = 5.0f;
  Tensor dx(1, 1, 3, 3);
  maxPoolBackward(dy.map, x.map, y.map, dx.map, win);
  EXPECT_EQ(dx.values[0], 5.0f);
  for (int k = 1; k < 9; ++k)
    EXPECT_EQ(dx.values[k], 0.0f) << k;
}

TEST(AvgPoolGradient, Kernel2x2Stride2) {
  // 5x5 in floor mode: the last row and column belong to no window.
  const int64_t n = 2, c = 3, h = 5, w = 5;
  Window win = window(2, 2, 0);
  int64_t oh = outSize(h, 2, 2, 0), ow = outSize(w, 2, 2, 0);
  ASSERT_EQ(oh, 2);
  Random random(5);
  Tensor x(n, c, h, w);
  random.fill(x.values, -1, 1);
  Tensor y(n, c, oh, ow);
  std::vector<float> g(static_cast<size_t>(y.size()));
  random.fill(g, -1, 1);
  auto loss = [&] {
    avgPoolForward(x.map, y.map, win);
    return sumProduct(g, y.map);
  };
  Tensor dy(n, c, oh, ow);
  dy.values = g;
  dy.map.data = dy.values.data();
  Tensor dx(n, c, h, w);
  std::fill(dx.values.begin(), dx.values.end(), Slice::sentinel());
  avgPoolBackward(dy.map, dx.map, win);
  expectGradientClose(dx.values.data(),
                      numericGradient(x.values.data(), x.size(), loss, 1e-2),
                      "avgPoolBackward");
}

TEST(AvgPoolGradient, Kernel3x3Stride2Pad1CountsPadding) {
  const int64_t n = 1, c = 2, h = 5, w = 5;
  Window win = window(3, 2, 1);
  int64_t oh = outSize(h, 3, 2, 1), ow = outSize(w, 3, 2, 1);
  Random random(6);
  Tensor x(n, c, h, w);
  random.fill(x.values, -1, 1);
  Tensor y(n, c, oh, ow);
  std::vector<float> g(static_cast<size_t>(y.size()));
  random.fill(g, -1, 1);
  auto loss = [&] {
    avgPoolForward(x.map, y.map, win);
    return sumProduct(g, y.map);
  };
  Tensor dy(n, c, oh, ow);
  dy.values = g;
  dy.map.data = dy.values.data();
  Tensor dx(n, c, h, w);
  poison(dx.values);
  avgPoolBackward(dy.map, dx.map, win);
  expectGradientClose(dx.values.data(),
                      numericGradient(x.values.data(), x.size(), loss, 1e-2),
                      "avgPoolBackward (padded)");
}

TEST(GlobalAvgPoolGradient, MeanOverPlane) {
  const int64_t n = 2, c = 3, h = 5, w = 5;
  Random random(8);
  Tensor x(n, c, h, w);
  random.fill(x.values, -1, 1);
  std::vector<float> y(static_cast<size_t>(n * c));
  std::vector<float> g(y.size());
  random.fill(g, -1, 1);
  auto loss = [&] {
    globalAvgPoolForward(x.map, y.data());
    return sumProduct(g, y.data());
  };
  Tensor dx(n, c, h, w);
  poison(dx.values);
  globalAvgPoolBackward(g.data(), dx.map);
  expectGradientClose(dx.values.data(),
                      numericGradient(x.values.data(), x.size(), loss, 1e-2),
                      "globalAvgPoolBackward");
}

TEST(LinearGradient, InputWeightAndBias) {
  const int64_t batch = 3, inputs = 5, outputs = 4;
  Random random(9);
  std::vector<float> x(batch * inputs), weight(outputs * inputs),
      bias(outputs), y(batch * outputs), g(batch * outputs);
  random.fill(x, -1, 1);
  random.fill(weight, -1, 1);
  random.fill(bias, -1, 1);
  random.fill(g, -1, 1);
  auto loss = [&] {
    linearForward(x.data(), weight.data(), bias.data(), y.data(), batch, inputs,
                  outputs);
    return sumProduct(g, y.data());
  };
  // Forward against x W^T + b.
  loss();
  for (int64_t i = 0; i < batch; ++i)
    for (int64_t o = 0; o < outputs; ++o) {
      double expected = bias[o];
      for (int64_t k = 0; k < inputs; ++k)
        expected += double(x[i * inputs + k]) * weight[o * inputs + k];
      EXPECT_NEAR(y[i * outputs + o], expected, 1e-5) << i << "," << o;
    }

  std::vector<float> dx(x.size()), dweight(weight.size()), dbias(bias.size());
  poison(dx);
  poison(dweight);
  poison(dbias);
  linearBackward(g.data(), x.data(), weight.data(), dx.data(), dweight.data(),
                 dbias.data(), batch, inputs, outputs);
  expectGradientClose(dx.data(), numericGradient(x.data(), batch * inputs, loss, 1e-2),
                      "linearBackward input");
  expectGradientClose(dweight.data(),
                      numericGradient(weight.data(), outputs * inputs, loss, 1e-2),
                      "linearBackward weight");
  expectGradientClose(dbias.data(),
                      numericGradient(bias.data(), outputs, loss, 1e-2),
                      "linearBackward bias");
}

TEST(SoftmaxCrossEntropyGradient, AgainstLoss) {
  const int64_t batch = 3, classes = 5;
  Random random(10);
  std::vector<float> logits(batch * classes);
  random.fill(logits, -2, 2);
  std::vector<int32_t> labels = {1, 4, 0};
  auto loss = [&] {
    float value = 0;
    int64_t correct = 0;
    softmaxCrossEntropy(logits.data(), labels.data(), batch, classes, &value,
                        &correct);
    return double(value);
  };
  std::vector<float> dz(logits.size());
  poison(dz);
  softmaxCrossEntropyBackward(logits.data(), labels.data(), batch, classes,
                              dz.data());
  expectGradientClose(dz.data(),
                      numericGradient(logits.data(), batch * classes, loss, 1e-2),
                      "softmaxCrossEntropyBackward");
  // Each row of (softmax - onehot) / N sums to 0.
  for (int64_t i = 0; i < batch; ++i) {
    double sum = 0;
    for (int64_t k = 0; k < classes; ++k)
      sum += dz[i * classes + k];
    EXPECT_NEAR(sum, 0.0, 1e-6) << "row " << i;
  }
}

TEST(DropoutGradient, BackwardIsTheSameMask) {
  const int64_t n = 2, c = 3, h = 5, w = 5;
  const double rate = 0.3;
  const uint64_t seed = 1234, key = layerKey("features.denseblock1.denselayer1.dropout");
  const int64_t step = 7;
  Random random(11);
  Tensor x(n, c, h, w);
  random.fill(x.values, -1, 1);
  Tensor y(n, c, h, w);
  Tensor gradient(n, c, h, w);
  random.fill(gradient.values, -1, 1);
  std::vector<float> g = gradient.values;
  auto loss = [&] {
    dropout(x.map, y.map, rate, seed, key, step);
    return sumProduct(g, y.map);
  };
  // The backward: dropout applied to the upstream gradient.
  Tensor dx(n, c, h, w);
  poison(dx.values);
  dropout(gradient.map, dx.map, rate, seed, key, step);
  expectGradientClose(dx.values.data(),
                      numericGradient(x.values.data(), x.size(), loss, 1e-2),
                      "dropout backward", 1e-3);
  // Some elements dropped and some kept, so the check is not trivial.
  int64_t zeros = std::count(dx.values.begin(), dx.values.end(), 0.0f);
  EXPECT_GT(zeros, 0);
  EXPECT_LT(zeros, x.size());
}

//===----------------------------------------------------------------------===//
// accumulate and concat
//===----------------------------------------------------------------------===//

TEST(Accumulate, AddsIntoTheChannelRangeOnly) {
  const int64_t n = 2, c = 3, h = 4, w = 4, rootChannels = 7, offset = 2;
  Random random(12);
  // The value is itself a channel slice of a wider buffer.
  Slice value(n, c, h, w, 5, 1);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t ch = 0; ch < c; ++ch)
      for (int64_t p = 0; p < h * w; ++p)
        value.map.channel(i, ch)[p] = random.uniform(-1, 1);
  Tensor buffer(n, rootChannels, h, w);
  random.fill(buffer.values, -1, 1);
  std::vector<float> before = buffer.values;
  std::vector<float> valueBefore = value.values;

  accumulate(value.map, buffer.map, offset);

  for (int64_t i = 0; i < n; ++i)
    for (int64_t ch = 0; ch < rootChannels; ++ch)
      for (int64_t p = 0; p < h * w; ++p) {
        int64_t k = (i * rootChannels + ch) * h * w + p;
        float expected = before[k];
        if (ch >= offset && ch < offset + c)
          expected += value.map.channel(i, ch - offset)[p];
        EXPECT_TRUE(sameBits(buffer.values[k], expected))
            << "image " << i << " channel " << ch << " element " << p
            << ": got " << buffer.values[k] << ", expected " << expected;
      }
  for (size_t k = 0; k < valueBefore.size(); ++k)
    ASSERT_TRUE(sameBits(value.values[k], valueBefore[k]))
        << "accumulate wrote its value operand at " << k;
}

TEST(Concat, ChannelConcatenationIntoSlices) {
  const int64_t n = 2, h = 3, w = 3;
  Random random(13);
  Tensor a(n, 2, h, w), b(n, 3, h, w);
  random.fill(a.values, -1, 1);
  random.fill(b.values, -1, 1);
  Slice out(n, 5, h, w, 8, 2);
  Map inputs[2] = {a.map, b.map};
  concat(inputs, 2, out.map);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t ch = 0; ch < 5; ++ch)
      for (int64_t p = 0; p < h * w; ++p) {
        float expected =
            ch < 2 ? a.map.channel(i, ch)[p] : b.map.channel(i, ch - 2)[p];
        EXPECT_TRUE(sameBits(out.map.channel(i, ch)[p], expected))
            << i << "," << ch << "," << p;
      }
  expectOutsideUntouched(out, "concat");
}

//===----------------------------------------------------------------------===//
// Channel-slice views
//===----------------------------------------------------------------------===//

void checkConvolutionOnSlices(const Window &win, int64_t slots) {
  const int64_t n = 2, c = 3, h = 5, w = 5, outChannels = 4;
  int64_t oh = outSize(h, win.kernelHeight, win.strideHeight, win.padHeight);
  int64_t ow = outSize(w, win.kernelWidth, win.strideWidth, win.padWidth);
  Random random(21 + win.kernelHeight);
  Tensor x(n, c, h, w);
  random.fill(x.values, -1, 1);
  std::vector<float> filter(
      static_cast<size_t>(outChannels * c * win.kernelHeight * win.kernelWidth));
  random.fill(filter, -1, 1);
  Workspace scratch(c, outChannels, win, oh, ow, slots);
  float *workspace = scratch.data();

  // Dense reference.
  Tensor y(n, outChannels, oh, ow);
  convolutionForward(x.map, filter.data(), y.map, win, workspace,
                    slots);

  // The same on slices: input channels [2, 5) of 7, output [4, 8) of 9.
  Slice xs(n, c, h, w, 7, 2), ys(n, outChannels, oh, ow, 9, 4);
  copyMap(x.map, xs.map);
  convolutionForward(xs.map, filter.data(), ys.map, win, workspace,
                    slots);
  EXPECT_EQ(countDifferences(y.map, ys.map), 0)
      << "convolutionForward on a channel slice differs from a dense copy";
  expectOutsideUntouched(ys, "convolutionForward output");

  // Backward data: gradient slices in and out.
  Tensor dy(n, outChannels, oh, ow);
  random.fill(dy.values, -1, 1);
  Tensor dx(n, c, h, w);
  convolutionBackwardData(dy.map, filter.data(), dx.map, win, workspace,
                    slots);
  Slice dys(n, outChannels, oh, ow, 6, 1), dxs(n, c, h, w, 8, 5);
  copyMap(dy.map, dys.map);
  convolutionBackwardData(dys.map, filter.data(), dxs.map, win, workspace,
                    slots);
  EXPECT_EQ(countDifferences(dx.map, dxs.map), 0)
      << "convolutionBackwardData on channel slices differs from dense";
  expectOutsideUntouched(dxs, "convolutionBackwardData input gradient");

  // Backward filter from slices.
  std::vector<float> dw(filter.size()), dws(filter.size());
  convolutionBackwardFilter(x.map, dy.map, dw.data(), win, workspace,
                    slots);
  convolutionBackwardFilter(xs.map, dys.map, dws.data(), win, workspace,
                    slots);
  for (size_t k = 0; k < dw.size(); ++k)
    EXPECT_TRUE(sameBits(dw[k], dws[k]))
        << "convolutionBackwardFilter on slices, element " << k << ": "
        << dws[k] << " vs dense " << dw[k];
}

TEST(ChannelSlice, Convolution3x3Stride1Pad1) {
  checkConvolutionOnSlices(window(3, 1, 1), 1);
  checkConvolutionOnSlices(window(3, 1, 1), 2);
}

TEST(ChannelSlice, Convolution1x1PlainGemm) {
  checkConvolutionOnSlices(window(1, 1, 0), 1);
  checkConvolutionOnSlices(window(1, 1, 0), 2);
}

TEST(ChannelSlice, Convolution7x7Stride2Pad3) {
  checkConvolutionOnSlices(window(7, 2, 3), 2);
}

TEST(ChannelSlice, BatchNormForwardAndBackward) {
  const int64_t n = 2, c = 3, h = 5, w = 5;
  const double epsilon = 1e-5;
  Random random(22);
  Tensor x(n, c, h, w);
  random.fill(x.values, -2, 3);
  std::vector<float> weight(c), bias(c);
  random.fill(weight, 0.5f, 1.5f);
  random.fill(bias, -0.5f, 0.5f);

  Tensor y(n, c, h, w);
  std::vector<float> mean(c), variance(c);
  batchNormForward(x.map, weight.data(), bias.data(), y.map, mean.data(),
                   variance.data(), epsilon);

  Slice xs(n, c, h, w, 7, 3), ys(n, c, h, w, 4, 1);
  copyMap(x.map, xs.map);
  std::vector<float> means(c), variances(c);
  batchNormForward(xs.map, weight.data(), bias.data(), ys.map, means.data(),
                   variances.data(), epsilon);
  EXPECT_EQ(countDifferences(y.map, ys.map), 0)
      << "batchNormForward on a channel slice differs from a dense copy";
  for (int64_t ch = 0; ch < c; ++ch) {
    EXPECT_TRUE(sameBits(mean[ch], means[ch])) << ch;
    EXPECT_TRUE(sameBits(variance[ch], variances[ch])) << ch;
  }
  expectOutsideUntouched(ys, "batchNormForward output");
  for (size_t k = 0; k < xs.values.size(); ++k) {
    if (!xs.inside(static_cast<int64_t>(k))) {
      ASSERT_TRUE(sameBits(xs.values[k], Slice::sentinel()))
          << "batchNormForward wrote its input buffer at " << k;
    }
  }

  // Backward on slices too.
  Tensor dy(n, c, h, w);
  random.fill(dy.values, -1, 1);
  Tensor dx(n, c, h, w);
  std::vector<float> dweight(c), dbias(c);
  batchNormBackward(dy.map, x.map, weight.data(), mean.data(), variance.data(),
                    dx.map, dweight.data(), dbias.data(), epsilon);
  Slice dys(n, c, h, w, 5, 2), dxs(n, c, h, w, 6, 0);
  copyMap(dy.map, dys.map);
  std::vector<float> dweights(c), dbiases(c);
  batchNormBackward(dys.map, xs.map, weight.data(), mean.data(),
                    variance.data(), dxs.map, dweights.data(), dbiases.data(),
                    epsilon);
  EXPECT_EQ(countDifferences(dx.map, dxs.map), 0)
      << "batchNormBackward on channel slices differs from dense";
  for (int64_t ch = 0; ch < c; ++ch) {
    EXPECT_TRUE(sameBits(dweight[ch], dweights[ch])) << ch;
    EXPECT_TRUE(sameBits(dbias[ch], dbiases[ch])) << ch;
  }
  expectOutsideUntouched(dxs, "batchNormBackward input gradient");
}

TEST(ChannelSlice, ReluPoolsAndDropout) {
  const int64_t n = 2, c = 3, h = 5, w = 5;
  Random random(23);
  Tensor x(n, c, h, w);
  random.fill(x.values, -1, 1);
  Slice xs(n, c, h, w, 6, 2);
  copyMap(x.map, xs.map);

  Tensor y(n, c, h, w);
  Slice ys(n, c, h, w, 5, 1);
  relu(x.map, y.map);
  relu(xs.map, ys.map);
  EXPECT_EQ(countDifferences(y.map, ys.map), 0) << "relu";
  expectOutsideUntouched(ys, "relu");

  Window pool = window(3, 2, 1);
  Tensor p(n, c, 3, 3);
  Slice ps(n, c, 3, 3, 4, 1);
  maxPoolForward(x.map, p.map, pool);
  maxPoolForward(xs.map, ps.map, pool);
  EXPECT_EQ(countDifferences(p.map, ps.map), 0) << "maxPoolForward";
  expectOutsideUntouched(ps, "maxPoolForward");

  Tensor d(n, c, h, w);
  Slice ds(n, c, h, w, 7, 4);
  dropout(x.map, d.map, 0.5, 99, 5, 3);
  dropout(xs.map, ds.map, 0.5, 99, 5, 3);
  EXPECT_EQ(countDifferences(d.map, ds.map), 0)
      << "dropout's mask must index the logical tensor, not the buffer";
  expectOutsideUntouched(ds, "dropout");
}

//===----------------------------------------------------------------------===//
// Forward references
//===----------------------------------------------------------------------===//

TEST(ForwardReference, ConvolutionPaddingAndStride) {
  const Window cases[] = {window(3, 1, 1), window(1, 1, 0), window(7, 2, 3),
                          window(3, 2, 0), window(2, 2, 1)};
  for (const Window &win : cases) {
    SCOPED_TRACE("kernel " + std::to_string(win.kernelHeight) + " stride " +
                 std::to_string(win.strideHeight) + " pad " +
                 std::to_string(win.padHeight));
    const int64_t n = 3, c = 2, h = 6, w = 5, outChannels = 3;
    int64_t oh = outSize(h, win.kernelHeight, win.strideHeight, win.padHeight);
    int64_t ow = outSize(w, win.kernelWidth, win.strideWidth, win.padWidth);
    Random random(31 + win.kernelHeight * 3 + win.padHeight);
    Tensor x(n, c, h, w);
    random.fill(x.values, -1, 1);
    std::vector<float> filter(static_cast<size_t>(
        outChannels * c * win.kernelHeight * win.kernelWidth));
    random.fill(filter, -1, 1);
    std::vector<double> expected =
        naiveConvolution(x.map, filter.data(), outChannels, win, oh, ow);
    for (int64_t slots = 1; slots <= n; ++slots) {
      Workspace scratch(c, outChannels, win, oh, ow, slots);
      Tensor y(n, outChannels, oh, ow);
      std::fill(y.values.begin(), y.values.end(), Slice::sentinel());
      convolutionForward(x.map, filter.data(), y.map, win, scratch.data(),
                         slots);
      for (int64_t k = 0; k < y.size(); ++k)
        EXPECT_NEAR(y.values[k], expected[k], 1e-4)
            << "output " << k << " with " << slots << " slots";
    }
  }
}

TEST(ForwardReference, ConvolutionHandComputed) {
  // 1 image, 1 channel, 3x3 input 1..9, all-ones 3x3 filter, pad 1: each
  // output is the sum of its in-bounds 3x3 neighborhood.
  Tensor x(1, 1, 3, 3);
  for (int k = 0; k < 9; ++k)
    x.values[k] = float(k + 1);
  std::vector<float> filter(9, 1.0f), columns(9 * 9);
  Tensor y(1, 1, 3, 3);
  convolutionForward(x.map, filter.data(), y.map, window(3, 1, 1),
                     columns.data(), 1);
  const float expected[9] = {12, 21, 16, 27, 45, 33, 24, 39, 28};
  for (int k = 0; k < 9; ++k)
    EXPECT_EQ(y.values[k], expected[k]) << k;
}

TEST(ForwardReference, MaxPoolPadsWithMinusInfinity) {
  // All inputs negative: padding with 0 instead of -inf would show up as
  // zeros on the border.
  const int64_t n = 2, c = 2, h = 5, w = 5;
  Window win = window(3, 2, 1);
  int64_t oh = outSize(h, 3, 2, 1), ow = outSize(w, 3, 2, 1);
  Random random(41);
  Tensor x(n, c, h, w);
  random.fill(x.values, -5, -1);
  Tensor y(n, c, oh, ow);
  maxPoolForward(x.map, y.map, win);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t ch = 0; ch < c; ++ch)
      for (int64_t oy = 0; oy < oh; ++oy)
        for (int64_t ox = 0; ox < ow; ++ox) {
          float best = -std::numeric_limits<float>::infinity();
          for (int64_t ky = 0; ky < 3; ++ky)
            for (int64_t kx = 0; kx < 3; ++kx) {
              int64_t yy = oy * 2 - 1 + ky, xx = ox * 2 - 1 + kx;
              if (yy >= 0 && yy < h && xx >= 0 && xx < w)
                best = std::max(best, at(x.map, i, ch, yy, xx));
            }
          EXPECT_EQ(at(y.map, i, ch, oy, ox), best)
              << i << "," << ch << "," << oy << "," << ox;
          EXPECT_LT(at(y.map, i, ch, oy, ox), 0.0f);
        }
}

TEST(ForwardReference, AvgPoolCountsPadding) {
  const int64_t n = 1, c = 2, h = 5, w = 5;
  const Window cases[] = {window(2, 2, 0), window(3, 2, 1)};
  for (const Window &win : cases) {
    SCOPED_TRACE("kernel " + std::to_string(win.kernelHeight));
    int64_t k = win.kernelHeight, s = win.strideHeight, pad = win.padHeight;
    int64_t oh = outSize(h, k, s, pad), ow = outSize(w, k, s, pad);
    Random random(42);
    Tensor x(n, c, h, w);
    random.fill(x.values, 0.5f, 1.5f);
    Tensor y(n, c, oh, ow);
    avgPoolForward(x.map, y.map, win);
    for (int64_t ch = 0; ch < c; ++ch)
      for (int64_t oy = 0; oy < oh; ++oy)
        for (int64_t ox = 0; ox < ow; ++ox) {
          double sum = 0;
          for (int64_t ky = 0; ky < k; ++ky)
            for (int64_t kx = 0; kx < k; ++kx) {
              int64_t yy = oy * s - pad + ky, xx = ox * s - pad + kx;
              if (yy >= 0 && yy < h && xx >= 0 && xx < w)
                sum += at(x.map, 0, ch, yy, xx);
            }
          EXPECT_NEAR(at(y.map, 0, ch, oy, ox), sum / double(k * k), 1e-6)
              << ch << "," << oy << "," << ox;
        }
  }
  // The corner output of the padded case sees 4 of 9 elements.
  Tensor ones(1, 1, 3, 3);
  std::fill(ones.values.begin(), ones.values.end(), 1.0f);
  Tensor y(1, 1, 2, 2);
  avgPoolForward(ones.map, y.map, window(3, 2, 1));
  EXPECT_FLOAT_EQ(y.values[0], 4.0f / 9.0f);
}

TEST(ForwardReference, GlobalAvgPool) {
  const int64_t n = 2, c = 3, h = 4, w = 3;
  Random random(43);
  Slice x(n, c, h, w, 5, 1);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t ch = 0; ch < c; ++ch)
      for (int64_t p = 0; p < h * w; ++p)
        x.map.channel(i, ch)[p] = random.uniform(-1, 1);
  std::vector<float> y(n * c);
  globalAvgPoolForward(x.map, y.data());
  for (int64_t i = 0; i < n; ++i)
    for (int64_t ch = 0; ch < c; ++ch) {
      double sum = 0;
      for (int64_t p = 0; p < h * w; ++p)
        sum += x.map.channel(i, ch)[p];
      EXPECT_NEAR(y[i * c + ch], sum / double(h * w), 1e-6);
    }
}

TEST(ForwardReference, BatchNormBiasedVariance) {
  const int64_t n = 2, c = 3, h = 4, w = 5;
  const double epsilon = 1e-5;
  Random random(44);
  Tensor x(n, c, h, w);
  random.fill(x.values, -1, 3);
  std::vector<float> weight(c), bias(c), mean(c), variance(c);
  random.fill(weight, 0.5f, 1.5f);
  random.fill(bias, -0.5f, 0.5f);
  Tensor y(n, c, h, w);
  batchNormForward(x.map, weight.data(), bias.data(), y.map, mean.data(),
                   variance.data(), epsilon);
  const double count = double(n * h * w);
  for (int64_t ch = 0; ch < c; ++ch) {
    double sum = 0;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t p = 0; p < h * w; ++p)
        sum += x.map.channel(i, ch)[p];
    double m = sum / count, squares = 0;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t p = 0; p < h * w; ++p) {
        double d = x.map.channel(i, ch)[p] - m;
        squares += d * d;
      }
    double v = squares / count; // biased
    EXPECT_NEAR(mean[ch], m, 1e-5) << "mean of channel " << ch;
    EXPECT_NEAR(variance[ch], v, 1e-5 * std::max(1.0, v))
        << "biased variance of channel " << ch;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t p = 0; p < h * w; ++p) {
        double expected = (x.map.channel(i, ch)[p] - m) / std::sqrt(v + epsilon) *
                              weight[ch] +
                          bias[ch];
        EXPECT_NEAR(y.map.channel(i, ch)[p], expected, 1e-5)
            << ch << "," << i << "," << p;
      }
  }
}

TEST(ForwardReference, BatchNormInferenceUsesRunningStats) {
  const int64_t n = 2, c = 2, h = 3, w = 3;
  const double epsilon = 1e-5;
  Random random(45);
  Tensor x(n, c, h, w);
  random.fill(x.values, -1, 1);
  std::vector<float> weight = {0.7f, 1.3f}, bias = {0.1f, -0.2f};
  std::vector<float> runningMean = {0.25f, -0.5f}, runningVariance = {2.0f, 0.5f};
  Tensor y(n, c, h, w);
  batchNormInference(x.map, weight.data(), bias.data(), y.map,
                     runningMean.data(), runningVariance.data(), epsilon);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t ch = 0; ch < c; ++ch)
      for (int64_t p = 0; p < h * w; ++p) {
        double expected = (x.map.channel(i, ch)[p] - runningMean[ch]) /
                              std::sqrt(runningVariance[ch] + epsilon) *
                              weight[ch] +
                          bias[ch];
        EXPECT_NEAR(y.map.channel(i, ch)[p], expected, 1e-6);
      }
}

TEST(ForwardReference, RunningStatsUnbiasedVarianceAndMomentum) {
  const int64_t channels = 3, samples = 50;
  const double momentum = 0.1;
  std::vector<float> runningMean = {0.0f, 1.0f, -2.0f};
  std::vector<float> runningVariance = {1.0f, 0.5f, 4.0f};
  std::vector<float> mean = {0.3f, -0.7f, 1.5f};
  std::vector<float> variance = {0.9f, 2.0f, 0.01f};
  std::vector<double> expectedMean(channels), expectedVariance(channels);
  for (int64_t c = 0; c < channels; ++c) {
    expectedMean[c] = (1 - momentum) * runningMean[c] + momentum * mean[c];
    expectedVariance[c] = (1 - momentum) * runningVariance[c] +
                          momentum * variance[c] * samples / (samples - 1.0);
  }
  runningStatsUpdate(runningMean.data(), runningVariance.data(), mean.data(),
                     variance.data(), channels, momentum, samples);
  for (int64_t c = 0; c < channels; ++c) {
    EXPECT_NEAR(runningMean[c], expectedMean[c], 1e-6) << c;
    EXPECT_NEAR(runningVariance[c], expectedVariance[c], 1e-6) << c;
  }
  // With momentum 1 the running variance is exactly the unbiased one.
  std::vector<float> rm = {5.0f}, rv = {5.0f}, m = {2.0f}, v = {3.0f};
  runningStatsUpdate(rm.data(), rv.data(), m.data(), v.data(), 1, 1.0, 4);
  EXPECT_FLOAT_EQ(rm[0], 2.0f);
  EXPECT_FLOAT_EQ(rv[0], 4.0f); // 3 * 4 / 3
}

void checkSgd(double momentum, double weightDecay, bool nesterov) {
  SCOPED_TRACE("momentum " + std::to_string(momentum) + " weight decay " +
               std::to_string(weightDecay) + (nesterov ? " nesterov" : ""));
  const int64_t count = 37;
  const float learningRate = 0.1f;
  Random random(51);
  std::vector<float> parameter(count), buffer(count, 0.0f);
  random.fill(parameter, -1, 1);
  std::vector<double> w(parameter.begin(), parameter.end()), v(count, 0.0);
  for (int stepIndex = 0; stepIndex < 2; ++stepIndex) {
    std::vector<float> gradient(count);
    random.fill(gradient, -1, 1);
    for (int64_t i = 0; i < count; ++i) {
      double g = gradient[i] + weightDecay * w[i];
      // PyTorch: the first step sets the buffer to g (buffer starts at 0).
      v[i] = stepIndex == 0 ? g : momentum * v[i] + g;
      w[i] -= double(learningRate) * (nesterov ? g + momentum * v[i] : v[i]);
    }
    sgdUpdate(parameter.data(), gradient.data(), buffer.data(), count,
              learningRate, momentum, weightDecay, nesterov);
    for (int64_t i = 0; i < count; ++i) {
      ASSERT_NEAR(parameter[i], w[i], 1e-6) << "step " << stepIndex << ", " << i;
      ASSERT_NEAR(buffer[i], v[i], 1e-6) << "step " << stepIndex << ", " << i;
    }
  }
}

TEST(ForwardReference, SgdMomentumWeightDecay) { checkSgd(0.9, 1e-2, false); }
TEST(ForwardReference, SgdNesterov) { checkSgd(0.9, 1e-2, true); }
TEST(ForwardReference, SgdPlain) { checkSgd(0.0, 0.0, false); }

TEST(ForwardReference, SgdHandComputed) {
  // w = 1, g = 0.5, lr = 0.1, momentum 0.9, decay 0.1, nesterov:
  // g' = 0.6, v = 0.6, w = 1 - 0.1 * (0.6 + 0.54) = 0.886.
  float w = 1.0f, g = 0.5f, v = 0.0f;
  sgdUpdate(&w, &g, &v, 1, 0.1f, 0.9, 0.1, true);
  EXPECT_NEAR(v, 0.6f, 1e-7);
  EXPECT_NEAR(w, 0.886f, 1e-6);
}

TEST(ForwardReference, SoftmaxCrossEntropyLossAndCorrect) {
  const int64_t batch = 3, classes = 4;
  // Row 1 has a tie between classes 1 and 3: argmax is the first (1).
  std::vector<float> logits = {1.0f, 2.0f, 0.5f, -1.0f, //
                               0.0f, 3.0f, 1.0f, 3.0f,  //
                               -2.0f, 0.0f, 0.0f, 5.0f};
  std::vector<int32_t> labels = {1, 3, 3};
  float loss = 0;
  int64_t correct = -1;
  softmaxCrossEntropy(logits.data(), labels.data(), batch, classes, &loss,
                      &correct);
  double total = 0;
  for (int64_t i = 0; i < batch; ++i) {
    double sum = 0;
    for (int64_t k = 0; k < classes; ++k)
      sum += std::exp(double(logits[i * classes + k]));
    total += std::log(sum) - logits[i * classes + labels[i]];
  }
  EXPECT_NEAR(loss, total / batch, 1e-6);
  EXPECT_EQ(correct, 2); // rows 0 and 2; row 1's tie goes to class 1

  // Large logits do not overflow.
  std::vector<float> large = {1000.0f, 0.0f};
  std::vector<int32_t> label = {1};
  softmaxCrossEntropy(large.data(), label.data(), 1, 2, &loss, &correct);
  EXPECT_NEAR(loss, 1000.0f, 1e-3);
  std::vector<float> grad(2);
  softmaxCrossEntropyBackward(large.data(), label.data(), 1, 2, grad.data());
  EXPECT_NEAR(grad[0], 1.0f, 1e-6);
  EXPECT_NEAR(grad[1], -1.0f, 1e-6);

  std::vector<int32_t> bad = {4};
  EXPECT_THROW(softmaxCrossEntropy(logits.data(), bad.data(), 1, classes, &loss,
                                   &correct),
               std::runtime_error);
  bad[0] = -1;
  EXPECT_THROW(softmaxCrossEntropy(logits.data(), bad.data(), 1, classes, &loss,
                                   &correct),
               std::runtime_error);
}

//===----------------------------------------------------------------------===//
// Philox and dropout masks
//===----------------------------------------------------------------------===//

TEST(Philox, KnownAnswerVectors) {
  // Random123's kat_vectors for philox4x32_10 (first output word).
  {
    uint32_t key[2] = {0, 0}, counter[4] = {0, 0, 0, 0};
    EXPECT_EQ(philox4x32First(key, counter), 0x6627E8D5u);
  }
  {
    uint32_t key[2] = {0xFFFFFFFFu, 0xFFFFFFFFu};
    uint32_t counter[4] = {0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu};
    EXPECT_EQ(philox4x32First(key, counter), 0x408F276Du);
  }
  {
    uint32_t key[2] = {0xA4093822u, 0x299F31D0u};
    uint32_t counter[4] = {0x243F6A88u, 0x85A308D3u, 0x13198A2Eu, 0x03707344u};
    EXPECT_EQ(philox4x32First(key, counter), 0xD16CFE09u);
  }
}

TEST(Philox, LayerKeyIsFnv1a) {
  EXPECT_EQ(layerKey(""), 0xcbf29ce484222325ull);
  EXPECT_EQ(layerKey("a"), 0xaf63dc4c8601ec8cull);
}

TEST(Dropout, KeepsAboutOneMinusRateAndIsDeterministic) {
  const int64_t n = 4, c = 25, h = 10, w = 10; // 10000 elements
  const double rate = 0.3;
  const uint64_t seed = 42, key = layerKey("features.denseblock2.denselayer3.dropout");
  Tensor x(n, c, h, w);
  Random random(61);
  random.fill(x.values, 0.5f, 1.5f); // never 0, so zeros are dropped ones
  Tensor y(n, c, h, w), again(n, c, h, w), other(n, c, h, w);
  dropout(x.map, y.map, rate, seed, key, 5);
  dropout(x.map, again.map, rate, seed, key, 5);
  dropout(x.map, other.map, rate, seed, key, 6);

  const float scale = static_cast<float>(1.0 / (1.0 - rate));
  int64_t kept = 0;
  for (int64_t k = 0; k < x.size(); ++k) {
    bool keeps = dropoutKeeps(seed, key, 5, static_cast<uint64_t>(k), rate);
    if (y.values[k] != 0.0f) {
      ++kept;
      ASSERT_EQ(y.values[k], x.values[k] * scale) << k;
    }
    ASSERT_EQ(y.values[k] != 0.0f, keeps)
        << "element " << k << " disagrees with dropoutKeeps at its "
        << "row-major index";
  }
  double fraction = double(kept) / double(x.size());
  EXPECT_GT(fraction, 0.67);
  EXPECT_LT(fraction, 0.73);
  EXPECT_EQ(countDifferences(y.map, again.map), 0)
      << "dropout is not deterministic";
  EXPECT_GT(countDifferences(y.map, other.map), 1000)
      << "the mask does not change with the step";

  // Rate 0 keeps everything unscaled.
  Tensor all(n, c, h, w);
  dropout(x.map, all.map, 0.0, seed, key, 5);
  EXPECT_EQ(countDifferences(x.map, all.map), 0);
}

//===----------------------------------------------------------------------===//
// Determinism
//===----------------------------------------------------------------------===//

TEST(Determinism, ConvolutionBackwardFilterBitwise) {
  const int64_t n = 4, c = 8, h = 8, w = 8, outChannels = 6;
  Random random(71);
  Tensor x(n, c, h, w), dy(n, outChannels, h, w);
  random.fill(x.values, -1, 1);
  random.fill(dy.values, -1, 1);
  for (const Window &win : {window(3, 1, 1), window(1, 1, 0)}) {
    for (int64_t slots : {1, 2}) {
      SCOPED_TRACE("kernel " + std::to_string(win.kernelHeight) + ", " +
                   std::to_string(slots) + " slots");
      Workspace scratch(c, outChannels, win, h, w, slots);
      auto run = [&](int threadCount) {
        ThreadCount threads(threadCount);
        std::vector<float> result(
            static_cast<size_t>(outChannels * c * win.kernelHeight *
                                win.kernelWidth),
            Slice::sentinel());
        convolutionBackwardFilter(x.map, dy.map, result.data(), win,
                                  scratch.data(), slots);
        return result;
      };
      std::vector<float> first = run(2), second = run(2);
      int64_t differences = 0;
      for (size_t k = 0; k < first.size(); ++k)
        differences += !sameBits(first[k], second[k]);
      EXPECT_EQ(differences, 0) << "two runs with 2 threads differ";
      if (slots > 1) {
        // The slots' partial sums are added in slot order, so the thread
        // count does not matter (Kernels.h).
        std::vector<float> single = run(1);
        differences = 0;
        for (size_t k = 0; k < first.size(); ++k)
          differences += !sameBits(first[k], single[k]);
        EXPECT_EQ(differences, 0) << "1 and 2 threads differ";
      }
    }
  }
}

TEST(Determinism, BatchNormForwardBitwise) {
  const int64_t n = 4, c = 8, h = 8, w = 8;
  Random random(72);
  Tensor x(n, c, h, w);
  random.fill(x.values, -1, 2);
  std::vector<float> weight(c), bias(c);
  random.fill(weight, 0.5f, 1.5f);
  random.fill(bias, -0.5f, 0.5f);
  auto run = [&](int threadCount, Tensor &y, std::vector<float> &mean,
                 std::vector<float> &variance) {
    ThreadCount threads(threadCount);
    batchNormForward(x.map, weight.data(), bias.data(), y.map, mean.data(),
                     variance.data(), 1e-5);
  };
  Tensor y1(n, c, h, w), y2(n, c, h, w), y3(n, c, h, w);
  std::vector<float> m1(c), m2(c), m3(c), v1(c), v2(c), v3(c);
  run(2, y1, m1, v1);
  run(2, y2, m2, v2);
  run(1, y3, m3, v3); // per-channel reductions: independent of threads
  EXPECT_EQ(countDifferences(y1.map, y2.map), 0);
  EXPECT_EQ(countDifferences(y1.map, y3.map), 0);
  for (int64_t ch = 0; ch < c; ++ch) {
    EXPECT_TRUE(sameBits(m1[ch], m2[ch]) && sameBits(m1[ch], m3[ch])) << ch;
    EXPECT_TRUE(sameBits(v1[ch], v2[ch]) && sameBits(v1[ch], v3[ch])) << ch;
  }
}

} // namespace
