//===- LowPrecision.h - bf16 and f16 plans on the CPU, emulated -*- C++ -*-===//
//
// oneDNN 2.6 has bf16 kernels only for AVX512 CPUs and f16 ones for none,
// so the CPU backend runs a bf16 or f16 plan with its f32 kernels: each step
// widens its low-precision operands into f32 stand-ins, runs, and rounds
// what it wrote back into the arena (runtime/backend/Precision.h, round to
// nearest even). The numbers are the GPU's: f32 arithmetic, every stored
// feature map rounded, and, as there, convolutions and the classifier
// multiply with their weight rounded to the low type and produce the weight
// gradient in the low type before it is widened into its f32 buffer.
//
// The stand-ins live in scratch memory outside the plan (the most one step
// needs, reported by describe()), so on the CPU a low-precision plan's
// budget covers the arena, not the process: this is the reference for the
// mixed-precision semantics (loss scaling included), not a way to save host
// memory.
//
//===----------------------------------------------------------------------===//

#ifndef DENSENET_RUNTIME_CPU_LOWPRECISION_H
#define DENSENET_RUNTIME_CPU_LOWPRECISION_H

#include "runtime/backend/Binding.h"
#include "runtime/cpu/Kernels.h"

#include <functional>
#include <vector>

namespace densenet::runtime::cpu {

/// Precision.h's conversions of `count` values, vectorised where the CPU
/// allows (F16C for f16) with the same bits.
void roundInto(DType dtype, const float *values, size_t count, uint8_t *bytes);
void widenFrom(DType dtype, const uint8_t *bytes, size_t count, float *values);
/// `count` f32 values as `dtype` holds them, widened back (`rounded` may be
/// `values`).
void roundThrough(DType dtype, const float *values, size_t count,
                  float *rounded);

class LowPrecisionSteps {
public:
  LowPrecisionSteps(const Plan &plan, const PlanBinding &binding);

  /// Whether the plan is bf16 or f16 (else nothing here applies).
  bool active() const { return active_; }
  int64_t scratchBytes() const {
    return int64_t(scratch.size() * sizeof(float));
  }

  /// Operands of step `step` as its f32 kernel reads and writes them: the
  /// stand-in of a low-precision buffer, the buffer itself otherwise.
  float *pointer(int step, int id) const;
  Map map(int step, int id) const;
  /// The step's workspace for the f32 kernels: twice the plan's, which
  /// holds the im2col columns in the low type (and the weight copy the GPU
  /// needs).
  float *workspace(int step) const;

  /// `kernel` with the widening before and the rounding after.
  std::function<void()> wrap(int step, std::function<void()> kernel) const;

private:
  struct StandIn {
    int id;
    size_t offset; // in floats, into `scratch`
    bool widen, round;
    bool weight; // an f32 weight, read rounded to the low type
  };
  const StandIn *find(int step, int id) const;
  void widen(const StandIn &standIn) const;
  void round(const StandIn &standIn) const;

  const Plan &plan;
  const PlanBinding &binding;
  bool active_ = false;
  std::vector<std::vector<StandIn>> standIns; // per step
  std::vector<size_t> workspaceOffset;        // per step, in floats
  std::vector<std::vector<int>> weightGrads;  // per step: f32, rounded after
  mutable std::vector<float> scratch;
};

} // namespace densenet::runtime::cpu

#endif // DENSENET_RUNTIME_CPU_LOWPRECISION_H
