//===- LossScale.h - Dynamic loss scaling's rule ----------------*- C++ -*-===//
//
// f16 plans multiply the loss gradient by a scale so that small activation
// gradients do not flush to zero in f16, and adapt the scale every step as
// torch.amp.GradScaler does: a step with a gradient that is not finite is
// skipped (no parameter changes) and the scale is multiplied by `backoff`;
// after `interval` finite steps in a row it is multiplied by `growth`, unless
// that would overflow f32. Header-only and usable on both sides of CUDA: the
// GPU applies it in a kernel at the end of each captured step, the CPU tests
// check it.
//
//===----------------------------------------------------------------------===//

#ifndef DENSENET_RUNTIME_BACKEND_LOSSSCALE_H
#define DENSENET_RUNTIME_BACKEND_LOSSSCALE_H

#include <cstdint>

#if defined(__CUDACC__)
#define DENSENET_HOST_DEVICE __host__ __device__
#else
#define DENSENET_HOST_DEVICE
#endif

namespace densenet::runtime {

/// The scale after a step; `overflow`: some gradient of the step was not
/// finite. `goodSteps` counts finite steps since the last change.
DENSENET_HOST_DEVICE inline void
advanceLossScaleRule(float &scale, int64_t &goodSteps, int64_t &skipped,
                     bool overflow, double growth, double backoff,
                     int64_t interval) {
  if (overflow) {
    scale = float(double(scale) * backoff);
    goodSteps = 0;
    ++skipped;
    return;
  }
  if (++goodSteps < interval)
    return;
  float grown = float(double(scale) * growth);
  // f32's largest finite value; grown is inf past it.
  if (grown <= 3.40282347e38f)
    scale = grown;
  goodSteps = 0;
}

} // namespace densenet::runtime

#endif // DENSENET_RUNTIME_BACKEND_LOSSSCALE_H
