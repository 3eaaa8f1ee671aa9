//===- Fusion.h - Steps a backend may run as one kernel ---------*- C++ -*-===//
//
// A dense layer normalizes then rectifies (norm -> relu) on the way forward
// and takes the two gradients in the opposite order on the way back
// (relu_grad -> norm_grad). Run separately, each pair writes an
// intermediate map to memory and reads it straight back; fused, one kernel
// reads the input once and writes only what a later step needs. The plan
// keeps both steps and both buffers (its memory accounting and liveness
// stay as they are); a backend that fuses runs the first step's kernel with
// the second's work folded in and the second step as nothing.
//
// Pure plan analysis: no device code, so it is tested on any machine.
//
//===----------------------------------------------------------------------===//

#ifndef DENSENET_RUNTIME_BACKEND_FUSION_H
#define DENSENET_RUNTIME_BACKEND_FUSION_H

#include "runtime/plan/Plan.h"

#include <vector>

namespace densenet::runtime {

/// Step `norm` (tg.batch_norm, training statistics) directly followed by
/// step `relu` reading its output. The normalized map must still be
/// written when another step reads it (or it has views).
struct NormReluFusion {
  int norm = -1, relu = -1;
  bool writeNormalized = true;
};

/// Step `reluGrad` directly followed by step `normGrad` reading the
/// gradient it writes. That gradient must still be written when another
/// step reads it (or it has views).
struct ReluNormGradFusion {
  int reluGrad = -1, normGrad = -1;
  bool writeGradient = true;
};

struct Fusions {
  std::vector<NormReluFusion> forward;
  std::vector<ReluNormGradFusion> backward;
  /// Pairs left apart because the second step writes bytes the pair still
  /// reads (see findFusions).
  int refused = 0;
};

/// The fusable pairs of `plan`, in step order. A step is in at most one
/// pair. The plan's lifetimes are per step, so a buffer the first step
/// reads last may share arena bytes with one the second step writes: two
/// kernels one after the other are fine with that, one fused kernel is not.
/// Such a pair stays apart unless the shared bytes are the same elements
/// in the same layout (which a fused kernel reads before it writes them).
Fusions findFusions(const Plan &plan);

} // namespace densenet::runtime

#endif // DENSENET_RUNTIME_BACKEND_FUSION_H
