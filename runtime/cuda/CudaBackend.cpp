//===- CudaBackend.cpp - The GPU backend: one device arena, cuDNN, cuBLAS -===//
//
// Mirrors the CPU backend (runtime/cpu/CpuBackend.cpp): one cudaMalloc of
// the plan's arena, every step bound once to a closure that enqueues its
// kernel on one stream. Convolutions are cuDNN calls on strided tensor
// descriptors (a channel slice of a block buffer is described where it
// lies), with, per step, the fastest deterministic algorithm whose workspace
// fits the plan's workspace buffer; the classifier is cuBLAS; the rest are
// the kernels of Kernels.cu, except that each batch norm followed by its
// ReLU, and each ReLU gradient followed by its batch norm's, runs as one
// kernel generated for the plan's shapes and compiled with NVRTC at load
// (FusedModule.h; DENSENET_FUSION=0 turns this off). After the first step,
// a whole training step is captured as a CUDA graph and replayed.
//
// Mixed precision (bf16 and f16 plans): feature maps are stored in the
// plan's dtype and computed in f32 (cuDNN's and cuBLAS's f32 compute type
// with tensor cores; the kernels widen and round). Weights stay f32: a
// convolution or classifier step rounds its weight into the low type at the
// start of its workspace, which the plan sized for it (format/WeightCopy.h),
// and the filter gradient is widened from there into its f32 buffer. f16
// plans scale the loss (LossScale.h): the updates, all after the backward
// pass, are preceded by one check of every gradient and followed by the
// scale's update, all inside the captured graph.
//
// This file uses cuDNN's legacy (v7-style) convolution API, deprecated but
// present in cuDNN 9; the graph API is the planned replacement.
//
// Status: compiled in every build; it has not yet run on a GPU (see
// scripts/gpu-check.sh and the conformance tests, which skip without one).
//
//===----------------------------------------------------------------------===//

#include "runtime/backend/Backend.h"
#include "runtime/backend/Binding.h"
#include "runtime/backend/Fusion.h"
#include "runtime/backend/OpProfile.h"
#include "runtime/backend/Philox.h"
#include "runtime/cuda/CudaCheck.h"
#include "runtime/cuda/DeviceMemory.h"
#include "runtime/cuda/FusedModule.h"
#include "runtime/cuda/Kernels.h"
#include "runtime/cuda/Settings.h"
#include "runtime/dist/Communicator.h"
#include "format/WeightCopy.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <functional>
#include <iostream>
#include <map>
#include <optional>

using namespace densenet::runtime;
using namespace densenet::runtime::cuda;

namespace {

/// The first of cuDNN's ranked candidates that succeeds, is deterministic
/// (so every plan of a model computes the same bits) and needs at most
/// `limit` bytes of workspace. A candidate is an (algorithm, math type)
/// pair: with tensor-op math allowed cuDNN lists both versions of an
/// algorithm, each with its own workspace, so the chosen math type must be
/// set on the descriptor too (as PyTorch does after cudnnGet*_v7):
/// `setMath` sets it. The heuristics' `memory` is an estimate: under the
/// candidate's math type, `workspaceSize(algorithm, &bytes)` asks cuDNN for
/// the exact size, which must fit too (as ONNX Runtime does). The chosen
/// candidate's math type stays set.
template <typename Performance, typename Query, typename WorkspaceSize,
          typename SetMath>
bool chooseAlgorithm(Query query, WorkspaceSize workspaceSize, SetMath setMath,
                     size_t limit, int &algorithm) {
  constexpr int kCandidates = 16;
  Performance results[kCandidates];
  int returned = 0;
  DENSENET_CHECK(query(kCandidates, &returned, results));
  for (int k = 0; k < returned; ++k) {
    const Performance &candidate = results[k];
    if (candidate.status != CUDNN_STATUS_SUCCESS || candidate.memory > limit ||
        candidate.determinism != CUDNN_DETERMINISTIC)
      continue;
    setMath(candidate.mathType);
    size_t bytes = 0;
    DENSENET_CHECK(workspaceSize(candidate.algo, &bytes));
    if (bytes <= limit) {
      algorithm = static_cast<int>(candidate.algo);
      return true;
    }
  }
  return false;
}

Storage storageOf(DType dtype) {
  switch (dtype) {
  case DType::BF16: return Storage::BF16;
  case DType::F16: return Storage::F16;
  default: return Storage::F32;
  }
}

cudnnDataType_t cudnnTypeOf(Storage storage) {
  switch (storage) {
  case Storage::BF16: return CUDNN_DATA_BFLOAT16;
  case Storage::F16: return CUDNN_DATA_HALF;
  default: return CUDNN_DATA_FLOAT;
  }
}

cudaDataType_t cublasTypeOf(Storage storage) {
  switch (storage) {
  case Storage::BF16: return CUDA_R_16BF;
  case Storage::F16: return CUDA_R_16F;
  default: return CUDA_R_32F;
  }
}

/// The cuDNN descriptors of one convolution step.
struct Convolution {
  cudnnTensorDescriptor_t input = nullptr, output = nullptr;
  cudnnFilterDescriptor_t filter = nullptr;
  cudnnConvolutionDescriptor_t convolution = nullptr;
  int algorithm = 0;
};

class CudaBackend final : public Backend {
public:
  CudaBackend(const Plan &plan, int device,
              densenet::dist::Communicator *communicator)
      : plan(plan), device(device), storage(storageOf(plan.dtype)),
        tracker(plan) {
    // A constructor that throws runs no destructor: what was made so far
    // is released here (tests create backends in one process).
    try {
      setUp(communicator);
    } catch (...) {
      release();
      throw;
    }
  }

  ~CudaBackend() override {
    if (profile && reportProfile && std::uncaught_exceptions() == 0)
      opTimes.report(std::cerr,
                     "kernels run one by one (no CUDA graph), each step's "
                     "between two CUDA events; all-reduces run on their own "
                     "stream, and a step that waits for one is charged the "
                     "wait");
    release();
  }

private:
  void setUp(densenet::dist::Communicator *communicator) {
    this->communicator = communicator;
    profile = OpProfile::requested();
    settings = CudaSettings::fromEnvironment();
    reportProfile = !communicator || communicator->rank() == 0;
    DENSENET_CHECK(cudaSetDevice(device));
    {
      // Kernels.cu is built for sm_90 and as compute_80 PTX (CUDA 13 builds
      // nothing older): an older GPU would fail at the first launch.
      cudaDeviceProp properties{};
      DENSENET_CHECK(cudaGetDeviceProperties(&properties, device));
      if (properties.major < 8)
        throw PlanError("densenet-run's CUDA kernels need a GPU of compute "
                        "capability 8.0 or later (this " +
                        std::string(properties.name) + " is " +
                        std::to_string(properties.major) + "." +
                        std::to_string(properties.minor) +
                        "); run " + plan.source +
                        " on the CPU (--device cpu) if its target allows");
    }
    DENSENET_CHECK(cudaFree(nullptr)); // the context, before measuring
    memory = std::make_unique<cuda::DeviceMemory>(device);
    size_t freeBefore = 0, total = 0;
    DENSENET_CHECK(cudaMemGetInfo(&freeBefore, &total));
    if (static_cast<int64_t>(freeBefore) < plan.arenaBytes)
      throw PlanError(plan.source + ": the plan's arena of " +
                      std::to_string(plan.arenaBytes) +
                      " bytes does not fit the GPU's free memory of " +
                      std::to_string(freeBefore) +
                      " bytes; compile a plan with a smaller --mem-budget");
    DENSENET_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
    DENSENET_CHECK(cudnnCreate(&cudnn));
    DENSENET_CHECK(cudnnSetStream(cudnn, stream));
    DENSENET_CHECK(cublasCreate(&cublas));
    DENSENET_CHECK(cublasSetStream(cublas, stream));
    // cuBLAS's workspace, fixed before the first step (after the stream:
    // cublasSetStream resets it to the library's pool). Left to its pool,
    // cuBLAS may allocate from the stream inside the captured graph, which
    // would then own memory the plan knows nothing of. NVIDIA's recommended
    // sizes: 32 MiB from compute capability 9.0 (Hopper), 4 MiB before.
    // Part of the target's reserve (docs/memory-model.md).
    {
      int major = 0;
      DENSENET_CHECK(cudaDeviceGetAttribute(
          &major, cudaDevAttrComputeCapabilityMajor, device));
      size_t bytes = size_t(major >= 9 ? 32 : 4) << 20;
      DENSENET_CHECK(cudaMalloc(&cublasWorkspace, bytes));
      DENSENET_CHECK(cublasSetWorkspace(cublas, cublasWorkspace, bytes));
    }
    // f32 plans: exact f32 products, as the CPU reference computes them.
    // Low precision: tensor cores, with every reduction (split-K too) in
    // f32 rather than in the output type. (DENSENET_TF32 leaves the
    // classifier in f32, as PyTorch's default leaves its matmuls.)
    DENSENET_CHECK(cublasSetMathMode(
        cublas, storage == Storage::F32
                    ? CUBLAS_PEDANTIC_MATH
                    : cublasMath_t(
                          CUBLAS_DEFAULT_MATH |
                          CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION)));
    DENSENET_CHECK(
        cudaMalloc(reinterpret_cast<void **>(&arena), std::max<int64_t>(
                                                          plan.arenaBytes, 1)));
    binding = std::make_unique<PlanBinding>(plan, arena);
    // The only device memory outside the arena, within the target's
    // reserve: the step counters, the invalid-label flag and the loss scale
    // (fixed, 64 bytes), for f16 plans the table of gradients to check (16
    // bytes per parameter), and the tables of the update runs (40 bytes per
    // update, prepareUpdateRuns).
    DENSENET_CHECK(cudaMalloc(reinterpret_cast<void **>(&counters), 64));
    invalidLabel = reinterpret_cast<int32_t *>(
        reinterpret_cast<uint8_t *>(counters) + sizeof(StepCounters));
    DENSENET_CHECK(cudaMemset(counters, 0, 64));
    static_assert(sizeof(StepCounters) + 16 + sizeof(DeviceLossScale) <= 64);
    if (plan.lossScale) {
      lossScale = reinterpret_cast<DeviceLossScale *>(
          reinterpret_cast<uint8_t *>(counters) + sizeof(StepCounters) + 16);
      DeviceLossScale initial{float(plan.lossScale->initial), 0, 0, 0};
      DENSENET_CHECK(cudaMemcpy(lossScale, &initial, sizeof initial,
                                cudaMemcpyHostToDevice));
      prepareGradientChecks();
    }
    if (std::any_of(plan.steps.begin(), plan.steps.end(), [](const Step &s) {
          return s.op == OpKind::AllReduce;
        }))
      joinNccl(communicator);
    scheduleWaits();
    prepareFusion();
    prepareUpdateRuns();
    for (size_t index = 0; index < plan.steps.size(); ++index)
      bind(static_cast<int>(index));
    if (profile)
      prepareProfile();
    // The memset and copies above ran on the legacy default stream, which
    // the non-blocking compute stream does not wait for.
    DENSENET_CHECK(cudaDeviceSynchronize());
  }

  /// Frees everything made so far (what was not made is still null).
  void release() {
    if (graph)
      cudaGraphExecDestroy(graph);
    graph = nullptr;
#if DENSENET_HAVE_NCCL
    // Destroying finalizes: it waits until the communicator is quiescent
    // on every rank, which a step that threw halfway never reaches; the
    // job is being aborted then (runTraining), so this rank aborts too.
    if (nccl) {
      if (std::uncaught_exceptions() > 0)
        ncclCommAbort(nccl);
      else
        ncclCommDestroy(nccl);
    }
#endif
    for (cudaEvent_t event : events)
      cudaEventDestroy(event);
    for (cudaEvent_t event : profileEvents)
      if (event)
        cudaEventDestroy(event);
    if (commStream)
      cudaStreamDestroy(commStream);
    for (Convolution &c : convolutions) {
      if (c.input)
        cudnnDestroyTensorDescriptor(c.input);
      if (c.output)
        cudnnDestroyTensorDescriptor(c.output);
      if (c.filter)
        cudnnDestroyFilterDescriptor(c.filter);
      if (c.convolution)
        cudnnDestroyConvolutionDescriptor(c.convolution);
    }
    cudaFree(gradientSpans);
    cudaFree(updateSpans);
    cudaFree(counters);
    cudaFree(arena);
    cudaFree(cublasWorkspace);
    if (cublas)
      cublasDestroy(cublas);
    if (cudnn)
      cudnnDestroy(cudnn);
    if (stream)
      cudaStreamDestroy(stream);
  }

public:

  std::string describe() const override {
    cudaDeviceProp properties{};
    cudaGetDeviceProperties(&properties, device);
    std::string text = "cuda (" + std::string(properties.name) + ", cuDNN " +
                       std::to_string(cudnnGetVersion());
    if (fused)
      text += ", " + std::to_string(fused->kernelCount()) +
              " fused kernels from " +
              (fused->compiled().fromCache ? "the kernel cache"
                                           : nvrtcVersionText()) +
              (fused->compiled().ptx
                   ? " (compute_" + std::to_string(fused->compiled().target) +
                         " PTX, compiled by the driver for this newer GPU)"
                   : std::string());
    if (pairsApart > 0)
      text += ", " + std::to_string(pairsApart) +
              " fusable pairs run apart (their results share the bytes of "
              "what they read)";
    if (!updateRuns.empty())
      text += ", " + std::to_string(runOfStep.size()) + " updates in " +
              std::to_string(updateRuns.size()) + " launches";
    if (settings.reductionThreads != kDefaultReductionThreads)
      text += ", batch norm in blocks of " +
              std::to_string(settings.reductionThreads) +
              " threads (DENSENET_BN_THREADS)";
    if (settings.tf32 && storage == Storage::F32)
      text += ", f32 convolutions on TF32 tensor cores (DENSENET_TF32=1)";
    if (profile)
      text += ", profiling (DENSENET_PROFILE): kernels one by one, no graph";
    return text + ")";
  }

  void train(const StepContext &context) override {
    StepCounters values{context.seed, context.step};
    DENSENET_CHECK(cudaMemcpyAsync(counters, &values, sizeof values,
                                   cudaMemcpyHostToDevice, stream));
    DENSENET_CHECK(cudaMemsetAsync(invalidLabel, 0, sizeof(int32_t), stream));
    bool timed = profile && opTimes.timeThisStep();
    if (graph) {
      DENSENET_CHECK(cudaGraphLaunch(graph, stream));
    } else if (timed) {
      DENSENET_CHECK(cudaEventRecord(profileEvents[0], stream));
      for (size_t index = 0; index < kernels.size(); ++index) {
        kernels[index]();
        DENSENET_CHECK(cudaEventRecord(profileEvents[index + 1], stream));
      }
    } else if (eager) {
      for (auto &kernel : kernels)
        kernel();
    } else {
      // The first step runs eagerly (and measures what it touches); the
      // same sequence is then captured once and replayed from step two on.
      tracker.begin();
      for (size_t index = 0; index < kernels.size(); ++index) {
        tracker.touch(static_cast<int>(index), touched[index]);
        kernels[index]();
      }
      tracker.finish();
      capture();
    }
    int32_t invalid = 0;
    DENSENET_CHECK(cudaMemcpyAsync(&invalid, invalidLabel, sizeof invalid,
                                   cudaMemcpyDeviceToHost, stream));
    DENSENET_CHECK(cudaStreamSynchronize(stream));
    if (invalid)
      throw PlanError("a label of this batch is outside [0, classes)");
    if (timed)
      collectProfile();
  }

  void infer() override {
    for (auto &kernel : inference)
      kernel();
    DENSENET_CHECK(cudaStreamSynchronize(stream));
  }

  void write(int id, const void *data, size_t bytes) override {
    DENSENET_CHECK(cudaMemcpyAsync(binding->transferTarget(id, bytes), data,
                                   bytes, cudaMemcpyHostToDevice, stream));
    DENSENET_CHECK(cudaStreamSynchronize(stream));
  }
  void read(int id, void *data, size_t bytes) const override {
    DENSENET_CHECK(cudaMemcpyAsync(data, binding->transferTarget(id, bytes),
                                   bytes, cudaMemcpyDeviceToHost, stream));
    DENSENET_CHECK(cudaStreamSynchronize(stream));
  }

  int64_t measuredPeakBytes() const override { return tracker.peakBytes(); }
  int64_t bytesOutsideArena() const override { return 0; }
  int64_t deviceProcessBytes(std::string *source,
                             bool *ownOnly) const override {
    return memory->processBytes(source, ownOnly);
  }

  std::optional<LossScaleStatus> lossScaleStatus() const override {
    if (!lossScale)
      return std::nullopt;
    DeviceLossScale state{};
    DENSENET_CHECK(cudaMemcpyAsync(&state, lossScale, sizeof state,
                                   cudaMemcpyDeviceToHost, stream));
    DENSENET_CHECK(cudaStreamSynchronize(stream));
    return LossScaleStatus{state.scale, state.goodSteps, state.skipped};
  }
  void restoreLossScale(const LossScaleStatus &status) override {
    if (!lossScale)
      return;
    DeviceLossScale state{float(status.scale), 0, status.goodSteps,
                          status.skipped};
    // On the compute stream, and finished before `state` goes: a pageable
    // cudaMemcpy on the legacy stream may return before its DMA lands, and
    // the non-blocking compute stream would not wait for it.
    DENSENET_CHECK(cudaMemcpyAsync(lossScale, &state, sizeof state,
                                   cudaMemcpyHostToDevice, stream));
    DENSENET_CHECK(cudaStreamSynchronize(stream));
  }

private:
  float *pointer(int id) const { return binding->pointer(id); }
  DeviceMap map(int id) const {
    return DeviceMap(binding->map(id), storageOf(plan.buffers[id].dtype));
  }
  static DeviceWindow window(const Attributes &a, int64_t kernelHeight,
                             int64_t kernelWidth) {
    DeviceWindow result;
    result.kernelHeight = static_cast<int>(kernelHeight);
    result.kernelWidth = static_cast<int>(kernelWidth);
    result.strideHeight = static_cast<int>(a.stride[0]);
    result.strideWidth = static_cast<int>(a.stride[1]);
    result.padHeight = static_cast<int>(a.padding[0]);
    result.padWidth = static_cast<int>(a.padding[1]);
    return result;
  }
  /// Creates `descriptor` for a map; set first, so that whoever holds it
  /// frees it even if describing the map fails.
  void createTensorDescriptor(cudnnTensorDescriptor_t &descriptor,
                              const DeviceMap &m) {
    DENSENET_CHECK(cudnnCreateTensorDescriptor(&descriptor));
    DENSENET_CHECK(cudnnSetTensor4dDescriptorEx(
        descriptor, cudnnTypeOf(m.storage), int(m.n), int(m.c), int(m.h),
        int(m.w),
        int(m.imageStride), int(m.h * m.w), int(m.w), 1));
  }

  /// Descriptors and the algorithm of a convolution step: among cuDNN's
  /// candidates, the first that is deterministic (so every plan computes the
  /// same bits) and whose workspace fits the plan's buffer.
  Convolution &convolution(const Step &step, const DeviceMap &input,
                           const std::vector<int64_t> &filter,
                           const DeviceMap &output) {
    // Held by `convolutions` from the start: if a call below throws,
    // release() frees the descriptors made so far.
    Convolution &c = convolutions.emplace_back();
    createTensorDescriptor(c.input, input);
    createTensorDescriptor(c.output, output);
    DENSENET_CHECK(cudnnCreateFilterDescriptor(&c.filter));
    DENSENET_CHECK(cudnnSetFilter4dDescriptor(
        c.filter, cudnnTypeOf(storage), CUDNN_TENSOR_NCHW, int(filter[0]),
        int(filter[1]), int(filter[2]), int(filter[3])));
    DENSENET_CHECK(cudnnCreateConvolutionDescriptor(&c.convolution));
    DENSENET_CHECK(cudnnSetConvolution2dDescriptor(
        c.convolution, int(step.attributes.padding[0]),
        int(step.attributes.padding[1]), int(step.attributes.stride[0]),
        int(step.attributes.stride[1]), 1, 1, CUDNN_CROSS_CORRELATION,
        CUDNN_DATA_FLOAT));
    // f32 plans compute in f32 (no TF32), as the CPU reference does, unless
    // DENSENET_TF32=1 lets cuDNN use TF32 (its default math on GPUs that
    // have it); low precision plans on tensor cores, accumulating in f32.
    bool fma = storage == Storage::F32 && !settings.tf32;
    DENSENET_CHECK(cudnnSetConvolutionMathType(
        c.convolution, fma ? CUDNN_FMA_MATH
                           : storage == Storage::F32 ? CUDNN_DEFAULT_MATH
                                                     : CUDNN_TENSOR_OP_MATH));
    // What the weight's copy leaves of the workspace (WeightCopy.h).
    size_t limit = step.workspace >= 0
                       ? static_cast<size_t>(plan.buffers[step.workspace].bytes)
                       : 0;
    limit -= std::min(limit, size_t(weightCopyBytes(
                                 filter[0] * filter[1] * filter[2] * filter[3])));
    bool found = false;
    // A candidate's math type on the descriptor. f32 plans keep FMA math
    // (CUDNN_DEFAULT_MATH would allow TF32 on newer GPUs; the candidates
    // were ranked under FMA math anyway) unless TF32 is allowed.
    auto setMath = [&](cudnnMathType_t candidate) {
      if (!fma)
        DENSENET_CHECK(cudnnSetConvolutionMathType(c.convolution, candidate));
    };
    if (step.op == OpKind::Conv2d)
      found = chooseAlgorithm<cudnnConvolutionFwdAlgoPerf_t>(
          [&](int requested, int *returned, auto *results) {
            return cudnnGetConvolutionForwardAlgorithm_v7(
                cudnn, c.input, c.filter, c.convolution, c.output, requested,
                returned, results);
          },
          [&](cudnnConvolutionFwdAlgo_t algo, size_t *bytes) {
            return cudnnGetConvolutionForwardWorkspaceSize(
                cudnn, c.input, c.filter, c.convolution, c.output, algo, bytes);
          },
          setMath, limit, c.algorithm);
    else if (step.op == OpKind::Conv2dGradInput)
      found = chooseAlgorithm<cudnnConvolutionBwdDataAlgoPerf_t>(
          [&](int requested, int *returned, auto *results) {
            return cudnnGetConvolutionBackwardDataAlgorithm_v7(
                cudnn, c.filter, c.output, c.convolution, c.input, requested,
                returned, results);
          },
          [&](cudnnConvolutionBwdDataAlgo_t algo, size_t *bytes) {
            return cudnnGetConvolutionBackwardDataWorkspaceSize(
                cudnn, c.filter, c.output, c.convolution, c.input, algo, bytes);
          },
          setMath, limit, c.algorithm);
    else
      found = chooseAlgorithm<cudnnConvolutionBwdFilterAlgoPerf_t>(
          [&](int requested, int *returned, auto *results) {
            return cudnnGetConvolutionBackwardFilterAlgorithm_v7(
                cudnn, c.input, c.output, c.convolution, c.filter, requested,
                returned, results);
          },
          [&](cudnnConvolutionBwdFilterAlgo_t algo, size_t *bytes) {
            return cudnnGetConvolutionBackwardFilterWorkspaceSize(
                cudnn, c.input, c.output, c.convolution, c.filter, algo, bytes);
          },
          setMath, limit, c.algorithm);
    if (!found)
      throw PlanError(plan.source + ": no deterministic cuDNN algorithm for '" +
                      step.layer + "' (" + step.opName + ") fits its " +
                      std::to_string(limit) +
                      " bytes of workspace; compile the plan for a CUDA "
                      "target");
    return c;
  }

  void bind(int index) {
    const Step &step = plan.steps[index];
    const Attributes &a = step.attributes;
    const std::vector<int> &r = step.reads, &w = step.writes, &u = step.updates;
    void *workspace = step.workspace >= 0 ? pointer(step.workspace) : nullptr;
    size_t workspaceBytes =
        step.workspace >= 0 ? size_t(plan.buffers[step.workspace].bytes) : 0;
    cudaStream_t s = stream;
    Storage low = storage;
    // Low precision: the step's weight in the plan's dtype at the start of
    // the workspace, the kernels' scratch after it (WeightCopy.h).
    auto splitWorkspace = [&](int64_t weightElements) {
      int64_t copy = weightCopyBytes(weightElements);
      void *start = workspace;
      if (copy > 0) {
        workspace = static_cast<uint8_t *>(workspace) + copy;
        workspaceBytes -= size_t(copy);
      }
      return start;
    };
    std::function<void()> kernel, inferenceKernel;
    switch (step.op) {
    case OpKind::Conv2d: {
      DeviceMap x = map(r[0]), y = map(w[0]);
      Convolution c =
          convolution(step, x, plan.buffers[r[1]].shape, y);
      const float *weights = pointer(r[1]);
      int64_t count = plan.buffers[r[1]].elements();
      void *filter = splitWorkspace(count);
      if (low == Storage::F32)
        filter = const_cast<float *>(weights);
      cudnnHandle_t handle = cudnn;
      kernel = [=] {
        float one = 1, zero = 0;
        if (low != Storage::F32)
          roundWeights(weights, filter, count, low, s);
        DENSENET_CHECK(cudnnConvolutionForward(
            handle, &one, c.input, x.data, c.filter, filter, c.convolution,
            cudnnConvolutionFwdAlgo_t(c.algorithm), workspace, workspaceBytes,
            &zero, c.output, y.data));
      };
      inferenceKernel = kernel;
      break;
    }
    case OpKind::Conv2dGradInput: {
      DeviceMap dy = map(r[0]), dx = map(w[0]);
      Convolution c = convolution(step, dx, plan.buffers[r[1]].shape, dy);
      const float *weights = pointer(r[1]);
      int64_t count = plan.buffers[r[1]].elements();
      void *filter = splitWorkspace(count);
      if (low == Storage::F32)
        filter = const_cast<float *>(weights);
      cudnnHandle_t handle = cudnn;
      kernel = [=] {
        float one = 1, zero = 0;
        if (low != Storage::F32)
          roundWeights(weights, filter, count, low, s);
        DENSENET_CHECK(cudnnConvolutionBackwardData(
            handle, &one, c.filter, filter, c.output, dy.data, c.convolution,
            cudnnConvolutionBwdDataAlgo_t(c.algorithm), workspace,
            workspaceBytes, &zero, c.input, dx.data));
      };
      break;
    }
    case OpKind::Conv2dGradFilter: {
      DeviceMap x = map(r[0]), dy = map(r[1]);
      Convolution c = convolution(step, x, plan.buffers[w[0]].shape, dy);
      float *filterGrad = pointer(w[0]);
      int64_t count = plan.buffers[w[0]].elements();
      // Low precision: cuDNN writes the gradient in the plan's dtype into
      // the workspace; it is widened into the f32 buffer after.
      void *gradient = splitWorkspace(count);
      if (low == Storage::F32)
        gradient = filterGrad;
      cudnnHandle_t handle = cudnn;
      kernel = [=] {
        float one = 1, zero = 0;
        DENSENET_CHECK(cudnnConvolutionBackwardFilter(
            handle, &one, c.input, x.data, c.output, dy.data, c.convolution,
            cudnnConvolutionBwdFilterAlgo_t(c.algorithm), workspace,
            workspaceBytes, &zero, c.filter, gradient));
        if (low != Storage::F32)
          widenGradient(gradient, filterGrad, count, low, s);
      };
      break;
    }
    case OpKind::BatchNorm: {
      DeviceMap x = map(r[0]), y = map(w[0]);
      float *weight = pointer(r[1]), *bias = pointer(r[2]);
      float *mean = pointer(w[1]), *variance = pointer(w[2]);
      double epsilon = a.epsilon;
      int threads = settings.reductionThreads;
      kernel = [=] {
        batchNormForward(x, weight, bias, y, mean, variance, epsilon, threads,
                         s);
      };
      if (step.phase == Phase::Forward) {
        float *runningMean = pointer(binding->runningStatistic(step, ".running_mean"));
        float *runningVariance =
            pointer(binding->runningStatistic(step, ".running_var"));
        inferenceKernel = [=] {
          batchNormInference(x, weight, bias, y, runningMean, runningVariance,
                             epsilon, s);
        };
      }
      break;
    }
    case OpKind::BatchNormGrad: {
      DeviceMap dy = map(r[0]), x = map(r[1]), dx = map(w[0]);
      float *weight = pointer(r[2]), *mean = pointer(r[3]),
            *variance = pointer(r[4]);
      float *weightGrad = pointer(w[1]), *biasGrad = pointer(w[2]);
      double epsilon = a.epsilon;
      int threads = settings.reductionThreads;
      kernel = [=] {
        batchNormBackward(dy, x, weight, mean, variance, dx, weightGrad,
                          biasGrad, epsilon, threads, s);
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
                           channels, momentum, samples, s);
      };
      break;
    }
    case OpKind::Relu: {
      DeviceMap x = map(r[0]), y = map(w[0]);
      kernel = [=] { relu(x, y, s); };
      inferenceKernel = kernel;
      break;
    }
    case OpKind::ReluGrad: {
      DeviceMap dy = map(r[0]), y = map(r[1]), dx = map(w[0]);
      kernel = [=] { reluBackward(dy, y, dx, s); };
      break;
    }
    case OpKind::Concat: {
      std::vector<DeviceMap> inputs;
      for (int id : r)
        inputs.push_back(map(id));
      DeviceMap y = map(w[0]);
      kernel = [=] {
        int64_t offset = 0;
        for (const DeviceMap &input : inputs) {
          copyChannels(input, y, offset, s);
          offset += input.c;
        }
      };
      inferenceKernel = kernel;
      break;
    }
    case OpKind::MaxPool:
    case OpKind::AvgPool: {
      DeviceMap x = map(r[0]), y = map(w[0]);
      DeviceWindow geometry = window(a, a.kernel[0], a.kernel[1]);
      if (step.op == OpKind::MaxPool)
        kernel = [=] { maxPoolForward(x, y, geometry, s); };
      else
        kernel = [=] { avgPoolForward(x, y, geometry, s); };
      inferenceKernel = kernel;
      break;
    }
    case OpKind::MaxPoolGrad: {
      DeviceMap dy = map(r[0]), x = map(r[1]), y = map(r[2]), dx = map(w[0]);
      DeviceWindow geometry = window(a, a.kernel[0], a.kernel[1]);
      kernel = [=] { maxPoolBackward(dy, x, y, dx, geometry, s); };
      break;
    }
    case OpKind::AvgPoolGrad: {
      DeviceMap dy = map(r[0]), dx = map(w[0]);
      DeviceWindow geometry = window(a, a.kernel[0], a.kernel[1]);
      kernel = [=] { avgPoolBackward(dy, dx, geometry, s); };
      break;
    }
    case OpKind::GlobalAvgPool: {
      DeviceMap x = map(r[0]), y = map(w[0]);
      kernel = [=] { globalAvgPoolForward(x, y, s); };
      inferenceKernel = kernel;
      break;
    }
    case OpKind::GlobalAvgPoolGrad: {
      DeviceMap dy = map(r[0]), dx = map(w[0]);
      kernel = [=] { globalAvgPoolBackward(dy, dx, s); };
      break;
    }
    case OpKind::Linear: {
      // Row-major y[N,M] = x[N,K] W[M,K]^T + b is, column-major,
      // y^T[M,N] = W^T... : cuBLAS computes C = op(A) op(B) with
      // A = W (K x M column-major, transposed), B = x (K x N column-major).
      const auto &shape = plan.buffers[r[1]].shape;
      DeviceMap x = map(r[0]), y = map(w[0]);
      const float *weights = pointer(r[1]), *bias = pointer(r[2]);
      int64_t count = plan.buffers[r[1]].elements();
      void *weight = splitWorkspace(count);
      if (low == Storage::F32)
        weight = const_cast<float *>(weights);
      int batch = int(plan.batchSize), inputs = int(shape[1]),
          outputs = int(shape[0]);
      cudaDataType_t type = cublasTypeOf(low);
      cublasComputeType_t compute = computeType();
      cublasHandle_t handle = cublas;
      kernel = [=] {
        float one = 1, zero = 0;
        if (low != Storage::F32)
          roundWeights(weights, weight, count, low, s);
        DENSENET_CHECK(cublasGemmEx(handle, CUBLAS_OP_T, CUBLAS_OP_N, outputs,
                                    batch, inputs, &one, weight, type, inputs,
                                    x.data, type, inputs, &zero, y.data, type,
                                    outputs, compute, CUBLAS_GEMM_DEFAULT));
        addBias(y, bias, s);
      };
      inferenceKernel = kernel;
      break;
    }
    case OpKind::LinearGrad: {
      const auto &shape = plan.buffers[r[2]].shape;
      DeviceMap dy = map(r[0]), x = map(r[1]), dx = map(w[0]);
      const float *weights = pointer(r[2]);
      float *weightGrad = pointer(w[1]), *biasGrad = pointer(w[2]);
      int64_t count = plan.buffers[r[2]].elements();
      void *weight = splitWorkspace(count);
      if (low == Storage::F32)
        weight = const_cast<float *>(weights);
      int batch = int(plan.batchSize), inputs = int(shape[1]),
          outputs = int(shape[0]);
      cudaDataType_t type = cublasTypeOf(low);
      cublasComputeType_t compute = computeType();
      cublasHandle_t handle = cublas;
      kernel = [=] {
        float one = 1, zero = 0;
        if (low != Storage::F32)
          roundWeights(weights, weight, count, low, s);
        // dx[N,K] = dy[N,M] W[M,K]  (column-major: dx^T = W^T dy^T)
        DENSENET_CHECK(cublasGemmEx(handle, CUBLAS_OP_N, CUBLAS_OP_N, inputs,
                                    batch, outputs, &one, weight, type, inputs,
                                    dy.data, type, outputs, &zero, dx.data,
                                    type, inputs, compute,
                                    CUBLAS_GEMM_DEFAULT));
        // dW[M,K] = dy^T[M,N] x[N,K]  (column-major: dW^T = x^T dy). Low
        // precision: in the plan's dtype into the weight's copy, which the
        // product above has consumed (same stream), then widened into the
        // f32 gradient, as a convolution's filter gradient is (WeightCopy.h).
        DENSENET_CHECK(cublasGemmEx(
            handle, CUBLAS_OP_N, CUBLAS_OP_T, inputs, outputs, batch, &one,
            x.data, type, inputs, dy.data, type, outputs, &zero,
            low == Storage::F32 ? static_cast<void *>(weightGrad) : weight,
            type, inputs, compute, CUBLAS_GEMM_DEFAULT));
        if (low != Storage::F32)
          widenGradient(weight, weightGrad, count, low, s);
        biasGradient(dy, biasGrad, s);
      };
      break;
    }
    case OpKind::Dropout:
    case OpKind::DropoutGrad: {
      DeviceMap x = map(r[0]), y = map(w[0]);
      double rate = a.rate;
      uint64_t key = layerKey(step.layer);
      const StepCounters *stepCounters = counters;
      kernel = [=] { dropout(x, y, rate, key, stepCounters, s); };
      if (step.op == OpKind::Dropout)
        inferenceKernel = [=] { copyChannels(x, y, 0, s); };
      break;
    }
    case OpKind::SoftmaxCrossEntropy: {
      DeviceMap logits = map(r[0]);
      const int32_t *labels = reinterpret_cast<int32_t *>(pointer(r[1]));
      float *loss = pointer(w[0]);
      int64_t *correct = reinterpret_cast<int64_t *>(pointer(w[1]));
      int32_t *flag = invalidLabel;
      kernel = [=] {
        softmaxCrossEntropy(logits, labels, loss, correct, flag, s);
      };
      break;
    }
    case OpKind::SoftmaxCrossEntropyGrad: {
      DeviceMap logits = map(r[0]), logitsGrad = map(w[0]);
      const int32_t *labels = reinterpret_cast<int32_t *>(pointer(r[1]));
      const DeviceLossScale *scale = lossScale;
      kernel = [=] {
        softmaxCrossEntropyBackward(logits, labels, logitsGrad, scale, s);
      };
      break;
    }
    case OpKind::Accumulate: {
      DeviceMap value = map(r[0]), target = map(u[0]);
      int64_t offset = a.offset;
      kernel = [=] { accumulate(value, target, offset, s); };
      break;
    }
    case OpKind::AllReduce: {
      // The bucket is averaged on the communication stream once the
      // compute stream has written it; the first step that reads it again
      // waits for `done` (scheduleWaits). Both are stream-ordered, so the
      // step is captured into the CUDA graph with the NCCL call inside.
      int bucket = binding->rootOf(u[0]);
      float *data = pointer(bucket);
      size_t count = size_t(plan.buffers[bucket].bytes) / sizeof(float);
      cudaEvent_t ready = events[2 * reductionIndex[index]];
      cudaEvent_t done = events[2 * reductionIndex[index] + 1];
      cudaStream_t communication = commStream;
#if DENSENET_HAVE_NCCL
      ncclComm_t comm = nccl;
      kernel = [=] {
        DENSENET_CHECK(cudaEventRecord(ready, s));
        DENSENET_CHECK(cudaStreamWaitEvent(communication, ready, 0));
        DENSENET_CHECK(ncclAllReduce(data, data, count, ncclFloat, ncclAvg,
                                     comm, communication));
        DENSENET_CHECK(cudaEventRecord(done, communication));
      };
#else
      // Without NCCL only a one-rank plan gets here (joinNccl): averaging
      // over one rank changes nothing, and the waits see it done.
      (void)data, (void)count, (void)ready, (void)communication;
      kernel = [=] { DENSENET_CHECK(cudaEventRecord(done, s)); };
#endif
      break;
    }
    case OpKind::SgdUpdate: {
      float *gradient = pointer(r[0]), *learningRate = pointer(r[1]);
      float *parameter = pointer(u[0]), *momentumBuffer = pointer(u[1]);
      int64_t count = plan.buffers[r[0]].elements();
      double momentum = a.momentum, weightDecay = a.weightDecay;
      bool nesterov = a.nesterov;
      const DeviceLossScale *scale = lossScale;
      const int32_t *halted = invalidLabel;
      kernel = [=] {
        sgdUpdate(parameter, gradient, momentumBuffer, count, learningRate,
                  momentum, weightDecay, nesterov, scale, halted, s);
      };
      if (const UpdateRun *run = updateRunAt(index)) {
        // The run's first update launches them all; the others are done.
        if (run->first == index) {
          const SgdSpan *spans = updateSpans + run->offset;
          int spanCount = run->length;
          int64_t mostCount = run->mostCount;
          kernel = [=] {
            sgdUpdates(spans, spanCount, mostCount, learningRate, momentum,
                       nesterov, scale, halted, s);
          };
        } else {
          kernel = [] {};
        }
      }
      if (lossScale)
        kernel = withLossScaling(index, std::move(kernel));
      break;
    }
    }
    if (fusedFirst[index]) {
      kernel = fusedKernel(index, *fusedFirst[index]);
    } else if (fusedSecond[index]) {
      kernel = [] {}; // its work ran in the step before
    }
    if (!waitsBefore[index].empty()) {
      std::vector<cudaEvent_t> waits;
      for (int reduction : waitsBefore[index])
        waits.push_back(events[2 * reductionIndex[reduction] + 1]);
      kernel = [waits, s, inner = std::move(kernel)] {
        for (cudaEvent_t done : waits)
          DENSENET_CHECK(cudaStreamWaitEvent(s, done, 0));
        inner();
      };
    }
    if (index + 1 == static_cast<int>(plan.steps.size()) &&
        !waitsBefore.back().empty()) {
      // The step ends when every bucket is averaged (the compute stream
      // joins the communication stream, as graph capture requires).
      std::vector<cudaEvent_t> waits;
      for (int reduction : waitsBefore.back())
        waits.push_back(events[2 * reductionIndex[reduction] + 1]);
      kernel = [waits, s, inner = std::move(kernel)] {
        inner();
        for (cudaEvent_t done : waits)
          DENSENET_CHECK(cudaStreamWaitEvent(s, done, 0));
      };
    }
    kernels.push_back(std::move(kernel));
    if (step.phase == Phase::Forward && inferenceKernel)
      inference.push_back(std::move(inferenceKernel));
    touched.push_back(binding->rootsOf(step));
  }

  /// Workspace bytes of a weight's low-precision copy (WeightCopy.h).
  int64_t weightCopyBytes(int64_t elements) const {
    return storage == Storage::F32
               ? 0
               : densenet::format::weightCopyBytes(elements, sizeOf(plan.dtype));
  }
  cublasComputeType_t computeType() const {
    return storage == Storage::F32 ? CUBLAS_COMPUTE_32F_PEDANTIC
                                   : CUBLAS_COMPUTE_32F;
  }

  /// f16: the table of every gradient an update reads, in device memory,
  /// for the one check that precedes the updates.
  void prepareGradientChecks() {
    std::vector<int> updates = binding->updateSteps();
    if (updates.empty())
      return;
    firstUpdate = updates.front();
    lastUpdate = updates.back();
    std::vector<GradientSpan> spans;
    for (int index : updates) {
      int gradient = plan.steps[index].reads[0];
      spans.push_back({pointer(gradient), plan.buffers[gradient].elements()});
    }
    spanCount = int(spans.size());
    gradientSpans = uploadTable(spans);
  }

  /// The first update of an f16 step first checks every gradient (after
  /// every all-reduce, since the plan defers all updates to the end); the
  /// last one then advances the scale.
  std::function<void()> withLossScaling(int index,
                                        std::function<void()> update) {
    cudaStream_t s = stream;
    DeviceLossScale *scale = lossScale;
    if (index == firstUpdate) {
      std::vector<cudaEvent_t> reduced;
      for (size_t e = 1; e < events.size(); e += 2)
        reduced.push_back(events[e]);
      const GradientSpan *spans = gradientSpans;
      int count = spanCount;
      update = [=, inner = std::move(update)] {
        for (cudaEvent_t done : reduced)
          DENSENET_CHECK(cudaStreamWaitEvent(s, done, 0));
        clearOverflow(scale, s);
        checkFinite(spans, count, scale, s);
        inner();
      };
    }
    if (index == lastUpdate) {
      const Plan::LossScale settings = *plan.lossScale;
      const int32_t *halted = invalidLabel;
      update = [=, inner = std::move(update)] {
        inner();
        advanceLossScale(scale, settings.growth, settings.backoff,
                         settings.interval, halted, s);
      };
    }
    return update;
  }

  /// DENSENET_FUSION=0 runs every step with its own kernel (fused pairs and
  /// update runs off), to compare.
  bool fusionEnabled() const { return settings.fusion; }

  /// A host table copied into a device allocation of its own, which the
  /// destructor frees; the kernels read it from the captured graph.
  template <typename T> static T *uploadTable(const std::vector<T> &table) {
    T *device = nullptr;
    DENSENET_CHECK(cudaMalloc(reinterpret_cast<void **>(&device),
                              table.size() * sizeof(T)));
    DENSENET_CHECK(cudaMemcpy(device, table.data(), table.size() * sizeof(T),
                              cudaMemcpyHostToDevice));
    return device;
  }

  /// Runs of consecutive updates (f16 plans defer them all to the end of
  /// the step) become one multi-tensor launch each (Kernels.h: sgdUpdates):
  /// hundreds of tiny kernels fewer. A run breaks where a step waits for an
  /// all-reduce or the SGD settings change; DENSENET_FUSION=0 keeps every
  /// update separate.
  struct UpdateRun {
    int first = 0, length = 0; // steps [first, first + length)
    int offset = 0;            // into updateSpans
    int64_t mostCount = 0;
  };
  void prepareUpdateRuns() {
    if (!fusionEnabled())
      return;
    std::vector<SgdSpan> spans;
    // The run's launch reads its first update's learning rate.
    auto sameSettings = [&](int a, int b) {
      return plan.steps[a].attributes.momentum ==
                 plan.steps[b].attributes.momentum &&
             plan.steps[a].attributes.nesterov ==
                 plan.steps[b].attributes.nesterov &&
             plan.steps[a].reads[1] == plan.steps[b].reads[1];
    };
    for (size_t index = 0; index < plan.steps.size();) {
      size_t end = index;
      while (end < plan.steps.size() &&
             plan.steps[end].op == OpKind::SgdUpdate &&
             (end == index ||
              (waitsBefore[end].empty() && sameSettings(int(index), int(end)))))
        ++end;
      if (end - index >= 2) {
        UpdateRun run;
        run.first = int(index);
        run.length = int(end - index);
        run.offset = int(spans.size());
        for (size_t k = index; k < end; ++k) {
          const Step &step = plan.steps[k];
          SgdSpan span{pointer(step.updates[0]), pointer(step.reads[0]),
                       pointer(step.updates[1]),
                       plan.buffers[step.reads[0]].elements(),
                       float(step.attributes.weightDecay)};
          run.mostCount = std::max(run.mostCount, span.count);
          spans.push_back(span);
          runOfStep[k] = int(updateRuns.size());
        }
        updateRuns.push_back(run);
      }
      index = std::max(end, index + 1);
    }
    if (spans.empty())
      return;
    updateSpans = uploadTable(spans);
  }
  const UpdateRun *updateRunAt(int index) const {
    auto found = runOfStep.find(index);
    return found == runOfStep.end() ? nullptr : &updateRuns[found->second];
  }

  /// Finds the pairs of steps to run as one kernel (Fusion.h) and compiles
  /// their kernels. A pair whose second step waits for an all-reduce stays
  /// apart (its work would move before the wait).
  void prepareFusion() {
    fusedFirst.assign(plan.steps.size(), std::nullopt);
    fusedSecond.assign(plan.steps.size(), false);
    if (!fusionEnabled())
      return;
    Fusions found = findFusions(plan);
    pairsApart = found.refused;
    std::vector<FusedShape> shapes;
    auto add = [&](int first, int second, FusedShape::Kind kind, int input,
                   bool writeIntermediate) {
      if (!waitsBefore[second].empty())
        return;
      DeviceMap x = map(input);
      FusedShape shape;
      shape.kind = kind;
      shape.batch = x.n;
      shape.plane = x.plane();
      shape.writeIntermediate = writeIntermediate;
      shape.threads = settings.reductionThreads;
      shape.storage = storage == Storage::F32    ? FusedShape::F32
                      : storage == Storage::BF16 ? FusedShape::BF16
                                                 : FusedShape::F16;
      fusedFirst[first] = shape;
      fusedSecond[second] = true;
      shapes.push_back(shape);
    };
    for (const NormReluFusion &pair : found.forward)
      add(pair.norm, pair.relu, FusedShape::NormRelu,
          plan.steps[pair.norm].reads[0], pair.writeNormalized);
    for (const ReluNormGradFusion &pair : found.backward)
      add(pair.reluGrad, pair.normGrad, FusedShape::ReluNormGrad,
          plan.steps[pair.normGrad].reads[1], pair.writeGradient);
    if (shapes.empty())
      return;
    // The fused kernels are an optimization: if NVRTC or loading its cubin
    // fails, the separate kernels compute the same values.
    try {
      fused = std::make_unique<FusedModule>(shapes, KernelCache());
    } catch (const PlanError &error) {
      cudaGetLastError();
      std::cerr << "densenet-run: warning: the fused kernels are not "
                   "available ("
                << error.what() << "); the steps run unfused\n";
      fusedFirst.assign(plan.steps.size(), std::nullopt);
      fusedSecond.assign(plan.steps.size(), false);
      pairsApart = 0;
    }
  }

  /// The fused kernel that runs step `index` and the one after it.
  std::function<void()> fusedKernel(int index, const FusedShape &shape) {
    const Step &first = plan.steps[index], &second = plan.steps[index + 1];
    cudaStream_t s = stream;
    const FusedModule *module = fused.get();
    if (shape.kind == FusedShape::NormRelu) {
      // batch_norm(x, weight, bias) -> (y, mean, variance); relu(y) -> r
      DeviceMap x = map(first.reads[0]), y = map(first.writes[0]),
                r = map(second.writes[0]);
      float *weight = pointer(first.reads[1]), *bias = pointer(first.reads[2]);
      float *mean = pointer(first.writes[1]),
            *variance = pointer(first.writes[2]);
      double epsilon = first.attributes.epsilon;
      return [=] {
        module->normRelu(shape, x, weight, bias, y, r, mean, variance, epsilon,
                         s);
      };
    }
    // relu_grad(dr, r) -> dy; batch_norm_grad(dy, x, weight, mean, variance)
    // -> (dx, weightGrad, biasGrad)
    DeviceMap dr = map(first.reads[0]), r = map(first.reads[1]),
              dy = map(first.writes[0]);
    DeviceMap x = map(second.reads[1]), dx = map(second.writes[0]);
    float *weight = pointer(second.reads[2]), *mean = pointer(second.reads[3]),
          *variance = pointer(second.reads[4]);
    float *weightGrad = pointer(second.writes[1]),
          *biasGrad = pointer(second.writes[2]);
    double epsilon = second.attributes.epsilon;
    return [=] {
      module->reluNormGrad(shape, dr, r, x, weight, mean, variance, dx,
                           weightGrad, biasGrad, dy, epsilon, s);
    };
  }

  /// One GPU per local rank, and an NCCL communicator over the job's ranks
  /// (its unique id travels from rank 0 over MPI).
  void joinNccl(densenet::dist::Communicator *communicator) {
    // One rank needs no MPI: a plan for one rank with all-reduces (densenetc
    // --world-size 1 --bucket-size ...) tests the NCCL path on one GPU.
    int ranks = communicator ? communicator->size() : 1;
    if (ranks != plan.worldSize)
      throw PlanError(plan.source + " averages gradients over " +
                      std::to_string(plan.worldSize) +
                      " ranks; run it with mpirun -np " +
                      std::to_string(plan.worldSize));
#if DENSENET_HAVE_NCCL
    ncclUniqueId id{};
    if (!communicator || communicator->rank() == 0)
      DENSENET_CHECK(ncclGetUniqueId(&id));
    if (communicator)
      communicator->broadcast(&id, sizeof id, 0, "the NCCL unique id");
    DENSENET_CHECK(ncclCommInitRank(&nccl, ranks, id,
                                    communicator ? communicator->rank() : 0));
    DENSENET_CHECK(
        cudaStreamCreateWithFlags(&commStream, cudaStreamNonBlocking));
#else
    if (ranks == 1)
      return; // averaging over one rank needs no NCCL
    throw PlanError(plan.source + " averages gradients over " +
                    std::to_string(plan.worldSize) +
                    " ranks, but this densenet-run was built without NCCL; "
                    "install NCCL and rebuild");
#endif
  }

  /// A ready/done event pair per all-reduce step, and where each is
  /// awaited (PlanBinding::allReduceWaits).
  void scheduleWaits() {
    waitsBefore = binding->allReduceWaits();
    reductionIndex.assign(plan.steps.size(), -1);
    int reductions = 0;
    for (size_t index = 0; index < plan.steps.size(); ++index)
      if (plan.steps[index].op == OpKind::AllReduce)
        reductionIndex[index] = reductions++;
    events.resize(2 * reductions);
    for (cudaEvent_t &event : events)
      DENSENET_CHECK(
          cudaEventCreateWithFlags(&event, cudaEventDisableTiming));
  }

  /// DENSENET_PROFILE: what each step is called in the table, whether it
  /// launches its own work (a run), and an event before every step and
  /// after the last. A step whose work runs in another's kernel (the second
  /// of a fused pair, an update of a multi-tensor run) takes that kernel's
  /// label without counting a run: what it still does (the f16 loss
  /// scale's update, waits for all-reduces) is charged there.
  void prepareProfile() {
    profileLabels.assign(plan.steps.size(), std::string());
    profileRuns.assign(plan.steps.size(), true);
    for (size_t index = 0; index < plan.steps.size(); ++index) {
      const Step &step = plan.steps[index];
      if (fusedSecond[index]) {
        profileLabels[index] = profileLabels[index - 1];
        profileRuns[index] = false;
      } else if (fusedFirst[index]) {
        profileLabels[index] = step.opName + "+" + plan.steps[index + 1].opName;
      } else if (const UpdateRun *run =
                     updateRunAt(static_cast<int>(index))) {
        profileLabels[index] = step.opName + " (multi-tensor)";
        profileRuns[index] = run->first == static_cast<int>(index);
      } else {
        profileLabels[index] = step.opName;
      }
    }
    profileEvents.assign(plan.steps.size() + 1, nullptr);
    for (cudaEvent_t &event : profileEvents)
      DENSENET_CHECK(cudaEventCreate(&event));
  }

  /// Adds the step just run (synchronized) to the profile.
  void collectProfile() {
    for (size_t index = 0; index < profileLabels.size(); ++index) {
      float milliseconds = 0;
      DENSENET_CHECK(cudaEventElapsedTime(&milliseconds, profileEvents[index],
                                          profileEvents[index + 1]));
      opTimes.add(profileLabels[index], milliseconds / 1e3,
                  profileRuns[index]);
    }
    opTimes.countStep();
  }

  /// Captures the step's kernels as one CUDA graph. Host-side values that
  /// change per step (seed, step, learning rate, the batch) live in device
  /// memory the graph reads, so the same graph serves every step.
  /// DENSENET_CUDA_GRAPH=0 runs every step's kernels one by one, without
  /// capturing them as a graph.
  bool graphsEnabled() const { return settings.graphs; }

  /// Captures the step's kernels as one CUDA graph, replayed from then on.
  /// Where capture fails (an operation a graph cannot hold), the steps go on
  /// running one by one, slower but the same, and the reason goes to
  /// stderr; the stream is left out of capture mode either way.
  void capture() {
    if (graphsEnabled() && !profile)
      captureGraph();
    else
      eager = true;
    // NCCL: whether an all-reduce is launched from a captured graph must be
    // the same on every rank, so one rank whose capture failed (or that
    // has DENSENET_CUDA_GRAPH=0) makes every rank run its steps one by one.
    if (communicator && communicator->size() > 1) {
      double captured = graph ? 1 : 0;
      communicator->sum(&captured, 1, "whether every rank captured its step");
      if (captured < communicator->size() && graph) {
        cudaGraphExecDestroy(graph);
        graph = nullptr;
        eager = true;
        if (communicator->rank() == 0)
          std::cerr << "densenet-run: warning: a rank could not capture its "
                       "training step as a CUDA graph; every rank runs its "
                       "kernels one by one\n";
      }
    }
  }

  void captureGraph() {
    cudaGraph_t captured = nullptr;
    try {
      DENSENET_CHECK(
          cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
      try {
        for (auto &kernel : kernels)
          kernel();
      } catch (...) {
        cudaStreamEndCapture(stream, &captured);
        if (captured)
          cudaGraphDestroy(captured);
        captured = nullptr;
        throw;
      }
      DENSENET_CHECK(cudaStreamEndCapture(stream, &captured));
      DENSENET_CHECK(cudaGraphInstantiate(&graph, captured, 0));
      DENSENET_CHECK(cudaGraphDestroy(captured));
    } catch (const PlanError &error) {
      if (captured)
        cudaGraphDestroy(captured);
      cudaGetLastError(); // the capture's error is reported here, not later
      graph = nullptr;
      eager = true;
      std::cerr << "densenet-run: warning: capturing the training step as a "
                   "CUDA graph failed ("
                << error.what() << "); its kernels run one by one instead\n";
    }
  }

  const Plan &plan;
  int device = 0;
  Storage storage = Storage::F32; // of the plan's feature maps
  CudaSettings settings; // from the environment (Settings.h)
  cudaStream_t stream = nullptr;
  cudnnHandle_t cudnn = nullptr;
  cublasHandle_t cublas = nullptr;
  void *cublasWorkspace = nullptr;
  densenet::dist::Communicator *communicator = nullptr; // not owned
  uint8_t *arena = nullptr;
  StepCounters *counters = nullptr;
  int32_t *invalidLabel = nullptr;
  // f16 plans: the loss scale (in `counters`), and the gradients to check.
  DeviceLossScale *lossScale = nullptr;
  GradientSpan *gradientSpans = nullptr;
  int spanCount = 0, firstUpdate = -1, lastUpdate = -1;
  // Runs of consecutive updates launched as one (prepareUpdateRuns).
  std::vector<UpdateRun> updateRuns;
  std::map<int, int> runOfStep; // step -> its run
  SgdSpan *updateSpans = nullptr;
  cudaGraphExec_t graph = nullptr;
  bool eager = false; // no graph: every step runs its kernels one by one
  std::vector<Convolution> convolutions;
  std::vector<std::function<void()>> kernels, inference;
  std::vector<std::vector<int>> touched; // root buffers of each step
  // Data parallelism: the communicator, the stream its all-reduces run on,
  // a ready/done event pair per all-reduce step, and where each is awaited.
#if DENSENET_HAVE_NCCL
  ncclComm_t nccl = nullptr;
#endif
  cudaStream_t commStream = nullptr;
  std::vector<cudaEvent_t> events;
  std::vector<int> reductionIndex;
  std::vector<std::vector<int>> waitsBefore;
  std::unique_ptr<PlanBinding> binding;
  std::unique_ptr<cuda::DeviceMemory> memory;
  // Fused pairs: the kernel bound to each pair's first step, and which
  // steps are second (their work runs with the first).
  std::unique_ptr<FusedModule> fused;
  int pairsApart = 0; // fusable pairs the plan's layout keeps apart
  std::vector<std::optional<FusedShape>> fusedFirst;
  std::vector<bool> fusedSecond;
  PeakTracker tracker;
  // DENSENET_PROFILE (OpProfile.h): every step after the first runs its
  // kernels one by one between events; rank 0 prints the table at the end.
  bool profile = false, reportProfile = false;
  OpProfile opTimes;
  std::vector<std::string> profileLabels;
  std::vector<bool> profileRuns;
  std::vector<cudaEvent_t> profileEvents;
};

} // namespace

bool densenet::runtime::cudaAvailable(std::string &why) {
  int count = 0;
  cudaError_t status = cudaGetDeviceCount(&count);
  if (status == cudaErrorInsufficientDriver || status == cudaErrorNoDevice) {
    // What CUDA says on a machine without an NVIDIA driver ("CUDA driver
    // version is insufficient") misleads; say what is missing.
    int runtime = 0;
    cudaRuntimeGetVersion(&runtime);
    why = "no NVIDIA driver for CUDA " + std::to_string(runtime / 1000) + "." +
          std::to_string(runtime % 1000 / 10) + " (" +
          cudaGetErrorString(status) + ")";
    return false;
  }
  if (status != cudaSuccess) {
    why = cudaGetErrorString(status);
    return false;
  }
  if (count == 0) {
    why = "no CUDA device";
    return false;
  }
  return true;
}

std::unique_ptr<Backend>
densenet::runtime::createCudaBackend(const Plan &plan,
                                     densenet::dist::Communicator *communicator) {
  if (plan.targetKind != "cuda")
    throw PlanError(plan.source + ": the plan was made for target '" +
                    plan.targetName + "' (" + plan.targetKind +
                    "); compile one for the GPU with densenetc --target cuda "
                    "(or h200, a100-80gb, ...)");
  // One GPU per rank on this machine.
  int devices = 1;
  DENSENET_CHECK(cudaGetDeviceCount(&devices));
  // NCCL refuses two ranks on one GPU.
  if (communicator && communicator->localSize() > devices)
    throw PlanError(std::to_string(communicator->localSize()) +
                    " ranks run on this machine, which has " +
                    std::to_string(devices) +
                    " GPU(s): each rank needs a GPU of its own; start at most " +
                    std::to_string(devices) +
                    " ranks per machine (mpirun --map-by ppr:" +
                    std::to_string(devices) + ":node)");
  int device = communicator ? communicator->localRank() % std::max(devices, 1)
                            : 0;
  return std::make_unique<CudaBackend>(plan, device, communicator);
}
