//===- Backend.h - What a device must provide to run a plan -----*- C++ -*-===//
//
// The one small interface between the training loop and a device (DESIGN.md;
// in the spirit of ggml-backend and IREE's HAL). A backend owns the plan's
// single arena, builds a kernel for every step when it is created, and then
// only executes: a whole training step, or the forward pass in inference
// mode for evaluation. Host data enters and leaves through write/read of
// root buffers. The CPU backend (runtime/cpu) is the reference.
//
//===----------------------------------------------------------------------===//

#ifndef DENSENET_RUNTIME_BACKEND_BACKEND_H
#define DENSENET_RUNTIME_BACKEND_BACKEND_H

#include "runtime/plan/Plan.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace densenet::dist {
class Communicator;
} // namespace densenet::dist

namespace densenet::runtime {

/// What a training step needs besides its buffers: dropout masks are a pure
/// function of (seed, step, layer) (docs/training-semantics.md).
struct StepContext {
  uint64_t seed = 0;
  int64_t step = 0;
};

class Backend {
public:
  virtual ~Backend();

  /// "cpu (oneDNN 2.6, 2 threads)" and the like, for the log.
  virtual std::string describe() const = 0;

  /// Runs every step of the plan in order: one optimizer step.
  virtual void train(const StepContext &context) = 0;
  /// Runs the forward steps up to the logits with batch norm in inference
  /// mode (running statistics) and dropout off; nothing persistent changes.
  virtual void infer() = 0;

  /// Copies host bytes into a root buffer, or out of one; `bytes` must be
  /// the buffer's size.
  virtual void write(int buffer, const void *data, size_t bytes) = 0;
  virtual void read(int buffer, void *data, size_t bytes) const = 0;

  /// The most bytes the backend held at once during the steps run so far:
  /// the buffers its kernels touched, over their observed lifetimes, plus
  /// workspaces and anything allocated outside the arena; the reserve is
  /// not included. For a correct backend this equals the plan's
  /// predicted_peak_bytes - reserve_bytes.
  virtual int64_t measuredPeakBytes() const = 0;
  /// Bytes the backend allocated besides the arena (documented, fixed).
  virtual int64_t bytesOutsideArena() const = 0;
  /// What this process holds on the device now as the device counts it
  /// (on a GPU: context, library kernels and allocations, from NVML), how
  /// it was counted, and whether the figure is this process's alone (a
  /// device-wide difference also counts other processes); -1 where there is
  /// no such figure (the CPU, whose arena is measured above).
  virtual int64_t deviceProcessBytes(std::string *source = nullptr,
                                     bool *ownOnly = nullptr) const {
    (void)source, (void)ownOnly;
    return -1;
  }

  /// f16 plans: the dynamic loss scale now, the finite steps since it last
  /// changed and the steps skipped so far because a gradient overflowed
  /// (runtime/backend/LossScale.h); checkpoints carry it.
  struct LossScaleStatus {
    double scale = 1;
    int64_t goodSteps = 0;
    int64_t skipped = 0;
  };
  virtual std::optional<LossScaleStatus> lossScaleStatus() const {
    return std::nullopt;
  }
  /// Sets it back, as a checkpoint saved it (no-op without loss scaling).
  virtual void restoreLossScale(const LossScaleStatus &status) {
    (void)status;
  }
};

struct CpuOptions {
  int threads = 0; // 0: all cores
  /// The job's ranks, for the all-reduce steps of a data-parallel plan
  /// (not owned; null for one process).
  dist::Communicator *communicator = nullptr;
};

/// The oneDNN CPU backend; throws PlanError when the plan cannot run on it.
std::unique_ptr<Backend> createCpuBackend(const Plan &plan,
                                          const CpuOptions &options);

/// Whether this build has the CUDA backend and a usable GPU; if not, `why`
/// says why (built without CUDA, no driver, no device).
bool cudaAvailable(std::string &why);
/// The CUDA backend on GPU 0; throws PlanError when the plan cannot run on it.
/// `communicator`: the job's ranks, for a data-parallel plan's NCCL
/// all-reduces (not owned; null for one process).
std::unique_ptr<Backend>
createCudaBackend(const Plan &plan,
                  dist::Communicator *communicator = nullptr);

} // namespace densenet::runtime

#endif // DENSENET_RUNTIME_BACKEND_BACKEND_H
