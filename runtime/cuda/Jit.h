//===- Jit.h - NVRTC compilation with an on-disk cache ----------*- C++ -*-===//
//
// densenet-run compiles the kernels it generates for a plan (FusedKernels.h)
// with NVRTC when it loads the plan, to a cubin for the GPU it runs on.
// Compiling takes seconds, so results are kept in a directory, named by a
// hash of everything that determines them (the source, the architecture,
// the options, NVRTC's version): the same plan on the same machine compiles
// once. An entry is written to a temporary file (named by host, process and
// a random number: the directory may be shared) and renamed, so a reader
// never sees half of one; an entry that is not a cubin (a truncated file, a
// stray one) is compiled again and replaced, and so is one the driver
// refuses to load (FusedModule asks for it with `refresh`). A cache
// directory that cannot be written is not an error: the kernels are
// compiled for this run only.
//
// A GPU newer than this NVRTC knows (its architecture missing from
// nvrtcGetSupportedArchs) gets PTX for the newest architecture below it,
// which the driver compiles for the GPU at load: PTX of compute_XY runs on
// every GPU of compute capability XY and later. Only a GPU older than every
// architecture NVRTC knows is an error.
//
// NVRTC needs no GPU, so all of this is tested on machines without one.
//
//===----------------------------------------------------------------------===//

#ifndef DENSENET_RUNTIME_CUDA_JIT_H
#define DENSENET_RUNTIME_CUDA_JIT_H

#include <string>
#include <vector>

namespace densenet::runtime::cuda {

struct CompiledKernels {
  std::string image;       // the cubin, or PTX with its terminating NUL
  bool ptx = false;        // `image` is PTX, for the driver to compile
  int target = 0;          // the architecture compiled for (90: sm_90)
  bool fromCache = false;  // read from the cache directory
  std::string cachePath;   // where it is (or would be) kept; empty: none
};

class KernelCache {
public:
  /// `directory` empty: defaultDirectory().
  explicit KernelCache(std::string directory = "");

  /// $DENSENET_KERNEL_CACHE, else $XDG_CACHE_HOME/densenet/kernels, else
  /// $HOME/.cache/densenet/kernels; empty (no cache) when none is set.
  static std::string defaultDirectory();

  /// The cubin of `source` for compute capability `architecture` (90 for
  /// sm_90), or PTX (see above) when NVRTC does not know `architecture`;
  /// with `refresh`, compiled even if the cache has it, and the entry
  /// replaced. Throws PlanError with NVRTC's log when the source does not
  /// compile, and when NVRTC knows no architecture at or below
  /// `architecture`.
  CompiledKernels compile(const std::string &source, int architecture,
                          bool refresh = false) const;

  const std::string &directory() const { return root; }

private:
  std::string root;
};

/// "NVRTC 13.0", for messages and the cache key.
std::string nvrtcVersionText();

/// The architectures this NVRTC compiles cubins for, ascending (75, 80, ...).
std::vector<int> nvrtcArchitectures();

} // namespace densenet::runtime::cuda

#endif // DENSENET_RUNTIME_CUDA_JIT_H
