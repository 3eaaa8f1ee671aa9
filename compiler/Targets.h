//===- Targets.h - Device profiles for planning -----------------*- C++ -*-===//
//
// What the planner needs to know about a device: how much memory it has,
// what the runtime holds outside the arena (the reserve), how buffers are
// aligned and laid out, and the rates of the roofline time model.
//
//===----------------------------------------------------------------------===//

#ifndef DENSENET_COMPILER_TARGETS_H
#define DENSENET_COMPILER_TARGETS_H

#include "compiler/ModelSpec.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <string>

namespace densenet {

struct Target {
  std::string name;
  std::string kind; // "cpu" or "cuda": the runtime backend that runs the plan
  std::string description;
  int64_t deviceBytes = 0;  // memory of the device; 0 when not fixed (cpu)
  int64_t reserveBytes = 0; // held outside the arena: context, handles, code
  int64_t alignment = 64;   // arena offsets are multiples of this
  std::string layout = "nchw";
  double peakFlopsF32 = 0;  // FLOP/s for f32 activations
  double peakFlopsHalf = 0; // FLOP/s for bf16/f16 activations (0: unsupported)
  double bandwidth = 0;     // bytes/s
  int64_t convWorkspaceBytes = 0; // scratch each convolution may use
  /// The CPU backend lowers a convolution to im2col + GEMM, one image at a
  /// time in each of `imageSlots` parallel slots (0: not this backend). A
  /// slot's scratch is one image's column matrix (none for an unpadded 1x1
  /// stride-1 convolution, which is a GEMM as it stands); a filter gradient
  /// also holds a partial sum per slot but the first. The slot count is part
  /// of the plan so that the summation order, and hence every bit of the
  /// result, does not depend on the machine's thread count.
  int64_t imageSlots = 0;
  /// Bytes/s one rank sends (and receives) in a data-parallel all-reduce:
  /// NCCL's bus bandwidth between GPUs, shared memory between CPU processes.
  double linkBandwidth = 0;

  double peakFlops(DType dtype) const {
    return dtype == DType::F32 ? peakFlopsF32 : peakFlopsHalf;
  }
};

/// The built-in profiles, in the order --help lists them.
llvm::ArrayRef<Target> getTargets();
/// The profile called `name`, or an error listing the valid names.
llvm::Expected<Target> getTarget(llvm::StringRef name);

} // namespace densenet

#endif // DENSENET_COMPILER_TARGETS_H
