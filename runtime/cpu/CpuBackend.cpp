//===- CpuBackend.cpp - The reference backend: host memory, oneDNN --------===//
//
// One arena allocation of the plan's size holds every buffer at its planned
// offset; convolution scratch is the plan's workspace buffer of the step.
// At creation every step becomes a bound kernel call (pointers, shapes and
// attributes resolved once), so a training step is a loop over closures.
//
// bf16 and f16 plans run emulated (LowPrecision.h): f32 kernels on f32
// stand-ins of the low-precision operands, rounded back after each step;
// f16 plans scale the loss as the GPU does (LossScale.h).
//
// oneDNN's convolution, batch-norm, pooling and eltwise primitives select
// their reference implementations for the strided channel slices an
// in-place dense block is made of (docs/architecture.md has the numbers),
// and size their scratch by thread count; the kernels therefore use
// oneDNN's JIT sgemm with leading dimensions, and loops of their own.
//
//===----------------------------------------------------------------------===//

#include "runtime/backend/Backend.h"
#include "runtime/backend/Binding.h"
#include "runtime/backend/LossScale.h"
#include "runtime/backend/OpProfile.h"
#include "runtime/backend/Philox.h"
#include "runtime/cpu/Kernels.h"
#include "runtime/cpu/LowPrecision.h"
#include "runtime/dist/Communicator.h"
#include "format/WeightCopy.h"

#include <dnnl.h>
#include <omp.h>

#include <sys/mman.h>
#include <sys/resource.h>

#include <fstream>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <cstring>
#include <functional>
#include <iostream>

using namespace densenet::runtime;
using namespace densenet::runtime::cpu;

Backend::~Backend() = default;

namespace {

/// The arena: anonymous pages, so untouched bytes cost nothing and the
/// allocation is page-aligned (every planned offset is then aligned too).
std::string mebibytes(int64_t bytes) {
  char text[64];
  std::snprintf(text, sizeof text, "%.1f MiB", double(bytes) / (1 << 20));
  return text;
}

/// A number read from a one-line file such as cgroup's memory.max; nullopt
/// when absent or "max".
std::optional<int64_t> readNumber(const char *path) {
  std::ifstream file(path);
  std::string text;
  if (!(file >> text) || text.empty() || text == "max")
    return std::nullopt;
  try {
    return std::stoll(text);
  } catch (const std::exception &) {
    return std::nullopt;
  }
}

/// The host memory a new allocation can have without swapping or being
/// killed, and where that figure comes from: the kernel's MemAvailable, the
/// cgroup's limit (containers), and the address-space and data limits
/// (`ulimit -v`, `ulimit -d`), whichever is smallest.
std::pair<int64_t, std::string> availableHostMemory() {
  int64_t available = INT64_MAX;
  std::string source;
  auto consider = [&](int64_t bytes, std::string what) {
    if (bytes >= 0 && bytes < available) {
      available = bytes;
      source = std::move(what);
    }
  };
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  int64_t kib;
  std::string unit;
  while (meminfo >> key >> kib) {
    std::getline(meminfo, unit);
    if (key == "MemAvailable:")
      consider(kib * 1024, "MemAvailable in /proc/meminfo");
  }
  if (auto limit = readNumber("/sys/fs/cgroup/memory.max")) {
    int64_t used = readNumber("/sys/fs/cgroup/memory.current").value_or(0);
    consider(*limit - used, "the cgroup's memory.max less memory.current");
  }
  struct rlimit limit {};
  if (getrlimit(RLIMIT_AS, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY)
    consider(static_cast<int64_t>(limit.rlim_cur),
             "the address-space limit (ulimit -v)");
  if (getrlimit(RLIMIT_DATA, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY)
    consider(static_cast<int64_t>(limit.rlim_cur),
             "the data-segment limit (ulimit -d)");
  return {available, source};
}

class Arena {
public:
  explicit Arena(const Plan &plan) : bytes(std::max<int64_t>(plan.arenaBytes, 1)) {
    // Refuse before training rather than be killed by the OOM killer part
    // way through the first step (the pages are only touched then).
    auto [available, source] = availableHostMemory();
    if (plan.arenaBytes > available)
      throw PlanError(plan.source + ": the plan's arena of " +
                      mebibytes(plan.arenaBytes) + " (" +
                      std::to_string(plan.arenaBytes) +
                      " bytes) does not fit this machine's available memory "
                      "of " + mebibytes(available) + " (" + source +
                      "); compile a plan that fits with densenetc --target "
                      "cpu --mem-budget " +
                      std::to_string(std::max<int64_t>(available >> 20, 1)) +
                      "MiB, or a smaller --batch-size");
    void *memory = mmap(nullptr, this->bytes, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (memory == MAP_FAILED)
      throw PlanError("cannot allocate the plan's arena of " +
                      std::to_string(plan.arenaBytes) + " bytes: " +
                      std::strerror(errno));
    base = static_cast<uint8_t *>(memory);
  }
  ~Arena() { munmap(base, bytes); }
  Arena(const Arena &) = delete;
  Arena &operator=(const Arena &) = delete;

  uint8_t *base = nullptr;
  int64_t bytes = 0;
};

class CpuBackend final : public Backend {
public:
  CpuBackend(const Plan &plan, const CpuOptions &options)
      : plan(plan), arena(plan), binding(plan, arena.base),
        lowPrecision(plan, binding), tracker(plan) {
    if (plan.lossScale) {
      scaling.scale = plan.lossScale->initial;
      // The gradients the check before the first update reads.
      for (int index : binding.updateSteps()) {
        if (firstUpdate < 0)
          firstUpdate = index;
        lastUpdate = index;
        int id = plan.steps[index].reads[0];
        gradients.push_back({binding.pointer(id), plan.buffers[id].elements()});
      }
    }
    profile = OpProfile::requested();
    threads = options.threads > 0 ? options.threads : omp_get_max_threads();
    omp_set_num_threads(threads);
    communicator = options.communicator;
    tickets.assign(plan.steps.size(), 0);
    // Each bucket's all-reduce runs while later steps compute; one rank
    // (no communicator) has nothing in flight.
    waitsBefore = communicator ? binding.allReduceWaits()
                               : std::vector<std::vector<int>>(
                                     plan.steps.size() + 1);
    if (plan.lossScale && communicator && firstUpdate >= 0) {
      // f16: the check before the first update reads every gradient, so
      // every bucket must be averaged by then (and all ranks then agree).
      std::vector<int> &waits = waitsBefore[firstUpdate];
      for (size_t index = 0; index < plan.steps.size(); ++index)
        if (plan.steps[index].op == OpKind::AllReduce &&
            std::find(waits.begin(), waits.end(), int(index)) == waits.end())
          waits.push_back(int(index));
    }
    for (size_t index = 0; index < plan.steps.size(); ++index)
      bind(static_cast<int>(index));
  }

  std::string describe() const override {
    const dnnl_version_t *version = dnnl_version();
    return "cpu (oneDNN " + std::to_string(version->major) + "." +
           std::to_string(version->minor) + "." +
           std::to_string(version->patch) + " sgemm, " +
           std::to_string(threads) + " threads" +
           (lowPrecision.active()
                ? std::string(", ") + stringify(plan.dtype) +
                      " emulated in f32 with " +
                      mebibytes(lowPrecision.scratchBytes()) +
                      " of scratch outside the plan"
                : std::string()) +
           ")";
  }

  std::optional<LossScaleStatus> lossScaleStatus() const override {
    if (!plan.lossScale)
      return std::nullopt;
    return scaling;
  }
  void restoreLossScale(const LossScaleStatus &status) override {
    if (plan.lossScale)
      scaling = status;
  }

  void train(const StepContext &context) override {
    current = context;
    bool timed = profile && opSeconds.timeThisStep();
    tracker.begin();
    for (size_t index = 0; index < kernels.size(); ++index) {
      for (int reduction : waitsBefore[index])
        communicator->wait(tickets[reduction]);
      tracker.touch(static_cast<int>(index), touched[index]);
      if (timed) {
        auto start = std::chrono::steady_clock::now();
        kernels[index]();
        opSeconds.add(plan.steps[index].opName,
                      std::chrono::duration<double>(
                          std::chrono::steady_clock::now() - start)
                          .count());
      } else {
        kernels[index]();
      }
    }
    for (int reduction : waitsBefore.back())
      communicator->wait(tickets[reduction]);
    tracker.finish();
    if (timed)
      opSeconds.countStep();
  }

  void infer() override {
    for (auto &kernel : inference)
      kernel();
  }

  void write(int id, const void *data, size_t bytes) override {
    std::memcpy(binding.transferTarget(id, bytes), data, bytes);
  }
  void read(int id, void *data, size_t bytes) const override {
    std::memcpy(data, binding.transferTarget(id, bytes), bytes);
  }

  int64_t measuredPeakBytes() const override { return tracker.peakBytes(); }
  int64_t bytesOutsideArena() const override { return 0; }

private:
  // The operands of the step being bound, as its kernel sees them (f32
  // stand-ins of low-precision buffers, LowPrecision.h).
  float *pointer(int id) const { return lowPrecision.pointer(boundStep, id); }
  Map map(int id) const { return lowPrecision.map(boundStep, id); }
  static Window window(const Attributes &attributes, int64_t kernelHeight,
                       int64_t kernelWidth) {
    Window result;
    result.kernelHeight = kernelHeight;
    result.kernelWidth = kernelWidth;
    result.strideHeight = attributes.stride[0];
    result.strideWidth = attributes.stride[1];
    result.padHeight = attributes.padding[0];
    result.padWidth = attributes.padding[1];
    return result;
  }
  /// Resolves step `index` to a closure over its pointers and shapes.
  void bind(int index) {
    const Step &step = plan.steps[index];
    const Attributes &a = step.attributes;
    const std::vector<int> &r = step.reads, &w = step.writes, &u = step.updates;
    boundStep = index;
    float *workspace = lowPrecision.workspace(index);
    std::function<void()> kernel, inferenceKernel;
    switch (step.op) {
    case OpKind::Conv2d: {
      Map x = map(r[0]), y = map(w[0]);
      const auto &f = plan.buffers[r[1]].shape;
      float *filter = pointer(r[1]);
      Window geometry = window(a, f[2], f[3]);
      int64_t slots = convolutionSlots(step, f, y, geometry);
      kernel = [=] {
        convolutionForward(x, filter, y, geometry, workspace, slots);
      };
      inferenceKernel = kernel;
      break;
    }
    case OpKind::Conv2dGradInput: {
      Map dy = map(r[0]), dx = map(w[0]);
      const auto &f = plan.buffers[r[1]].shape;
      float *filter = pointer(r[1]);
      Window geometry = window(a, f[2], f[3]);
      int64_t slots = convolutionSlots(step, f, dy, geometry);
      kernel = [=] {
        convolutionBackwardData(dy, filter, dx, geometry, workspace, slots);
      };
      break;
    }
    case OpKind::Conv2dGradFilter: {
      Map x = map(r[0]), dy = map(r[1]);
      const auto &f = plan.buffers[w[0]].shape;
      float *filterGrad = pointer(w[0]);
      Window geometry = window(a, f[2], f[3]);
      int64_t slots = convolutionSlots(step, f, dy, geometry);
      kernel = [=] {
        convolutionBackwardFilter(x, dy, filterGrad, geometry, workspace,
                                  slots);
      };
      break;
    }
    case OpKind::BatchNorm: {
      Map x = map(r[0]), y = map(w[0]);
      float *weight = pointer(r[1]), *bias = pointer(r[2]);
      float *mean = pointer(w[1]), *variance = pointer(w[2]);
      double epsilon = a.epsilon;
      kernel = [=] {
        batchNormForward(x, weight, bias, y, mean, variance, epsilon);
      };
      if (step.phase == Phase::Forward) {
        float *runningMean = pointer(binding.runningStatistic(step, ".running_mean"));
        float *runningVariance =
            pointer(binding.runningStatistic(step, ".running_var"));
        inferenceKernel = [=] {
          batchNormInference(x, weight, bias, y, runningMean, runningVariance,
                             epsilon);
        };
      }
      break;
    }
    case OpKind::BatchNormGrad: {
      Map dy = map(r[0]), x = map(r[1]), dx = map(w[0]);
      float *weight = pointer(r[2]), *mean = pointer(r[3]),
            *variance = pointer(r[4]);
      float *weightGrad = pointer(w[1]), *biasGrad = pointer(w[2]);
      double epsilon = a.epsilon;
      kernel = [=] {
        batchNormBackward(dy, x, weight, mean, variance, dx, weightGrad,
                          biasGrad, epsilon);
      };
      break;
    }
    case OpKind::RunningStatsUpdate: {
      float *mean = pointer(r[0]), *variance = pointer(r[1]);
      float *runningMean = pointer(u[0]), *runningVariance = pointer(u[1]);
      int64_t channels = plan.buffers[r[0]].shape[0];
      double momentum = a.momentum;
      int64_t samples = a.samples;
      kernel = [=] {
        runningStatsUpdate(runningMean, runningVariance, mean, variance,
                           channels, momentum, samples);
      };
      break;
    }
    case OpKind::Relu: {
      Map x = map(r[0]), y = map(w[0]);
      kernel = [=] { relu(x, y); };
      inferenceKernel = kernel;
      break;
    }
    case OpKind::ReluGrad: {
      Map dy = map(r[0]), y = map(r[1]), dx = map(w[0]);
      kernel = [=] { reluBackward(dy, y, dx); };
      break;
    }
    case OpKind::Concat: {
      std::vector<Map> inputs;
      for (int id : r)
        inputs.push_back(map(id));
      Map y = map(w[0]);
      kernel = [=] {
        concat(inputs.data(), static_cast<int>(inputs.size()), y);
      };
      inferenceKernel = kernel;
      break;
    }
    case OpKind::MaxPool:
    case OpKind::AvgPool: {
      Map x = map(r[0]), y = map(w[0]);
      Window geometry = window(a, a.kernel[0], a.kernel[1]);
      if (step.op == OpKind::MaxPool)
        kernel = [=] { maxPoolForward(x, y, geometry); };
      else
        kernel = [=] { avgPoolForward(x, y, geometry); };
      inferenceKernel = kernel;
      break;
    }
    case OpKind::MaxPoolGrad: {
      Map dy = map(r[0]), x = map(r[1]), y = map(r[2]), dx = map(w[0]);
      Window geometry = window(a, a.kernel[0], a.kernel[1]);
      kernel = [=] { maxPoolBackward(dy, x, y, dx, geometry); };
      break;
    }
    case OpKind::AvgPoolGrad: {
      Map dy = map(r[0]), dx = map(w[0]);
      Window geometry = window(a, a.kernel[0], a.kernel[1]);
      kernel = [=] { avgPoolBackward(dy, dx, geometry); };
      break;
    }
    case OpKind::GlobalAvgPool: {
      Map x = map(r[0]);
      float *y = pointer(w[0]);
      kernel = [=] { globalAvgPoolForward(x, y); };
      inferenceKernel = kernel;
      break;
    }
    case OpKind::GlobalAvgPoolGrad: {
      float *dy = pointer(r[0]);
      Map dx = map(w[0]);
      kernel = [=] { globalAvgPoolBackward(dy, dx); };
      break;
    }
    case OpKind::Linear: {
      const auto &weightShape = plan.buffers[r[1]].shape;
      float *x = pointer(r[0]), *weight = pointer(r[1]), *bias = pointer(r[2]);
      float *y = pointer(w[0]);
      int64_t batch = plan.batchSize, inputs = weightShape[1],
              outputs = weightShape[0];
      // Low precision: the product is stored in the plan's dtype before the
      // f32 bias is added, and rounded again after, as on the GPU (cuBLAS
      // writes the product in the output's type).
      std::optional<DType> product;
      if (lowPrecision.active())
        product = plan.dtype;
      kernel = [=] {
        linearForward(x, weight, product ? nullptr : bias, y, batch, inputs,
                      outputs);
        if (product) {
          roundThrough(*product, y, size_t(batch * outputs), y);
          linearBias(bias, y, batch, outputs);
        }
      };
      inferenceKernel = kernel;
      break;
    }
    case OpKind::LinearGrad: {
      const auto &weightShape = plan.buffers[r[2]].shape;
      float *dy = pointer(r[0]), *x = pointer(r[1]), *weight = pointer(r[2]);
      float *dx = pointer(w[0]), *weightGrad = pointer(w[1]),
            *biasGrad = pointer(w[2]);
      int64_t batch = plan.batchSize, inputs = weightShape[1],
              outputs = weightShape[0];
      kernel = [=] {
        linearBackward(dy, x, weight, dx, weightGrad, biasGrad, batch, inputs,
                       outputs);
      };
      break;
    }
    case OpKind::Dropout:
    case OpKind::DropoutGrad: {
      Map x = map(r[0]), y = map(w[0]);
      double rate = a.rate;
      // The backward's mask is the forward's: same layer key, same step.
      std::string name = step.layer;
      uint64_t key = layerKey(name);
      kernel = [=] {
        dropout(x, y, rate, current.seed, key, current.step);
      };
      if (step.op == OpKind::Dropout)
        inferenceKernel = [=] { dropout(x, y, 0.0, 0, 0, 0); };
      break;
    }
    case OpKind::SoftmaxCrossEntropy: {
      float *logits = pointer(r[0]);
      const int32_t *labels = reinterpret_cast<int32_t *>(pointer(r[1]));
      float *loss = pointer(w[0]);
      int64_t *correct = reinterpret_cast<int64_t *>(pointer(w[1]));
      int64_t batch = plan.batchSize, classes = plan.buffers[r[0]].shape[1];
      kernel = [=] {
        softmaxCrossEntropy(logits, labels, batch, classes, loss, correct);
      };
      break;
    }
    case OpKind::SoftmaxCrossEntropyGrad: {
      float *logits = pointer(r[0]), *logitsGrad = pointer(w[0]);
      const int32_t *labels = reinterpret_cast<int32_t *>(pointer(r[1]));
      int64_t batch = plan.batchSize, classes = plan.buffers[r[0]].shape[1];
      const LossScaleStatus *scale = plan.lossScale ? &scaling : nullptr;
      kernel = [=] {
        softmaxCrossEntropyBackward(logits, labels, batch, classes,
                                    logitsGrad);
        // f16: the gradient of the scaled loss, before it is rounded.
        if (scale) {
          float factor = float(scale->scale);
          for (int64_t k = 0; k < batch * classes; ++k)
            logitsGrad[k] *= factor;
        }
      };
      break;
    }
    case OpKind::Accumulate: {
      Map value = map(r[0]), target = map(u[0]);
      int64_t offset = a.offset;
      kernel = [=] { accumulate(value, target, offset); };
      break;
    }
    case OpKind::SgdUpdate: {
      float *gradient = pointer(r[0]), *learningRate = pointer(r[1]);
      float *parameter = pointer(u[0]), *momentumBuffer = pointer(u[1]);
      int64_t count = plan.buffers[r[0]].elements();
      double momentum = a.momentum, weightDecay = a.weightDecay;
      bool nesterov = a.nesterov;
      if (!plan.lossScale) {
        kernel = [=] {
          sgdUpdate(parameter, gradient, momentumBuffer, count, *learningRate,
                    momentum, weightDecay, nesterov);
        };
        break;
      }
      // f16 (LossScale.h): the first update checks every gradient, a step
      // that overflowed updates nothing, the last update moves the scale.
      bool first = index == firstUpdate, last = index == lastUpdate;
      kernel = [=] {
        if (first)
          overflow = !gradientsFinite();
        if (!overflow)
          sgdUpdate(parameter, gradient, momentumBuffer, count, *learningRate,
                    momentum, weightDecay, nesterov,
                    float(1.0 / scaling.scale));
        if (last) {
          float scale = float(scaling.scale);
          advanceLossScaleRule(scale, scaling.goodSteps, scaling.skipped,
                               overflow, plan.lossScale->growth,
                               plan.lossScale->backoff,
                               plan.lossScale->interval);
          scaling.scale = scale;
        }
      };
      break;
    }
    case OpKind::AllReduce: {
      if (!communicator && plan.worldSize == 1) {
        kernel = [] {}; // the average over one rank
        break;
      }
      if (!communicator)
        throw PlanError(plan.source + " averages gradients over " +
                        std::to_string(plan.worldSize) +
                        " ranks; run it with mpirun -np " +
                        std::to_string(plan.worldSize));
      // One collective over the whole bucket, alignment gaps included.
      int bucket = binding.rootOf(u[0]);
      float *data = pointer(bucket);
      int64_t count = plan.buffers[bucket].bytes / int64_t(sizeof(float));
      std::string what = "the all-reduce of " + plan.buffers[bucket].name;
      kernel = [=] {
        tickets[index] = communicator->startAverage(data, count, what);
      };
      break;
    }
    }
    kernels.push_back(lowPrecision.wrap(index, std::move(kernel)));
    if (step.phase == Phase::Forward && inferenceKernel)
      inference.push_back(lowPrecision.wrap(index, std::move(inferenceKernel)));

    touched.push_back(binding.rootsOf(step));
  }

  /// f16: whether every gradient an update reads is finite.
  bool gradientsFinite() const {
    for (auto [gradient, count] : gradients) {
      bool finite = true;
#pragma omp parallel for reduction(&& : finite) schedule(static)
      for (int64_t i = 0; i < count; ++i)
        finite = finite && std::isfinite(gradient[i]);
      if (!finite)
        return false;
    }
    return true;
  }

  /// The number of image slots the plan's workspace provides for a
  /// convolution step (Targets.h, imageSlots): `slots` column matrices, and
  /// for a filter gradient `slots - 1` partial sums.
  int64_t convolutionSlots(const Step &step, const std::vector<int64_t> &filter,
                           const Map &output, const Window &geometry) {
    // The plan sizes column matrices in the activation dtype; partial sums
    // are f32. Low precision: the weight's copy comes first (WeightCopy.h).
    int64_t element = sizeOf(plan.dtype);
    int64_t filterElements = filter[0] * filter[1] * filter[2] * filter[3];
    int64_t columns = isPlainGemm(geometry)
                          ? 0
                          : filter[1] * filter[2] * filter[3] * output.plane() *
                                element;
    int64_t partial = step.op == OpKind::Conv2dGradFilter
                          ? filterElements * int64_t(sizeof(float))
                          : 0;
    int64_t bytes = step.workspace < 0 ? 0 : plan.buffers[step.workspace].bytes;
    if (lowPrecision.active())
      bytes -= std::min(bytes, densenet::format::weightCopyBytes(
                                   filterElements, element));
    if (columns == 0 && partial == 0)
      return 1;
    // bytes = slots * columns + (slots - 1) * partial
    int64_t slots = (bytes + partial) / (columns + partial);
    if (slots < 1 || slots > output.n ||
        slots * columns + (slots - 1) * partial != bytes)
      throw PlanError(plan.source + ": convolution step '" + step.layer +
                      "' has a workspace of " + std::to_string(bytes) +
                      " bytes, which is not a whole number of image slots of " +
                      std::to_string(columns) + " bytes (plus partial sums of " +
                      std::to_string(partial) +
                      "); compile the plan for this backend with --target cpu");
    return slots;
  }

  const Plan &plan;
  Arena arena;
  PlanBinding binding;
  LowPrecisionSteps lowPrecision;
  int boundStep = 0; // the step bind() resolves
  // f16 plans: dynamic loss scaling, and whether this step overflowed.
  LossScaleStatus scaling;
  bool overflow = false;
  int firstUpdate = -1, lastUpdate = -1;
  std::vector<std::pair<const float *, int64_t>> gradients; // every update's
  PeakTracker tracker;
  int threads = 1;
  StepContext current;
  std::vector<std::function<void()>> kernels, inference;
  std::vector<std::vector<int>> touched; // root buffers of each step
  densenet::dist::Communicator *communicator = nullptr;
  // The ticket of each all-reduce step's collective in the current step,
  // and the all-reduce steps to wait for before each step (last: the end).
  std::vector<int64_t> tickets;
  std::vector<std::vector<int>> waitsBefore;
  bool profile = false; // DENSENET_PROFILE (OpProfile.h)
  OpProfile opSeconds;

public:
  ~CpuBackend() override {
    if (profile)
      opSeconds.report(std::cerr,
                       "each step's kernel timed by the wall clock");
  }
};

} // namespace

std::unique_ptr<Backend>
densenet::runtime::createCpuBackend(const Plan &plan,
                                    const CpuOptions &options) {
  if (plan.targetKind != "cpu")
    throw PlanError(plan.source + ": the plan was made for target '" +
                    plan.targetName + "' (" + plan.targetKind +
                    "), whose memory model is not the CPU's; compile one for "
                    "this machine with densenetc --target cpu");
  return std::make_unique<CpuBackend>(plan, options);
}
