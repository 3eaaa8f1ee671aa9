//===- Targets.cpp - Device profiles for planning -------------------------===//
//
// Rates are vendor peak figures (dense, no sparsity); they rank plans, they
// do not promise a step time. Reserves are estimates of what a process holds
// outside the arena (CUDA context, cuDNN/cuBLAS handles and kernels, NVRTC
// modules); docs/memory-model.md says how they were chosen, and --reserve
// overrides them.
//
//===----------------------------------------------------------------------===//

#include "compiler/Targets.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringSwitch.h"

#include <vector>

using namespace densenet;

static constexpr int64_t kMiB = 1024 * 1024;
static constexpr double kTera = 1e12, kGiga = 1e9;

static std::vector<Target> buildTargets() {
  std::vector<Target> targets;
  auto add = [&](Target target) { targets.push_back(std::move(target)); };
  add({"cuda", "cuda", "generic CUDA GPU with 16 GiB (V100/T4 class rates)",
       16384 * kMiB, 512 * kMiB, 256, "nchw", 15 * kTera, 60 * kTera,
       900 * kGiga, 32 * kMiB});
  add({"h200", "cuda", "NVIDIA H200 (141 GB HBM3e, 4.8 TB/s)", 143771 * kMiB,
       1024 * kMiB, 256, "nchw", 67 * kTera, 989 * kTera, 4800 * kGiga,
       64 * kMiB});
  add({"a100-80gb", "cuda", "NVIDIA A100 80GB SXM (2.0 TB/s)", 81920 * kMiB,
       768 * kMiB, 256, "nchw", 19.5 * kTera, 312 * kTera, 2039 * kGiga,
       64 * kMiB});
  add({"v100-16gb", "cuda", "NVIDIA V100 16GB (900 GB/s; f16 only, no bf16)",
       16160 * kMiB, 512 * kMiB, 256, "nchw", 15.7 * kTera, 125 * kTera,
       900 * kGiga, 32 * kMiB});
  add({"titan-x-12gb", "cuda",
       "NVIDIA Titan X (Pascal) 12GB, the TensorFlow memory-efficient "
       "DenseNet's GPU (480 GB/s)",
       12196 * kMiB, 384 * kMiB, 256, "nchw", 11 * kTera, 0.17 * kTera,
       480 * kGiga, 16 * kMiB});
  Target cpu{"cpu", "cpu", "host CPU with oneDNN (2 AVX-512 cores, ~20 GB/s)",
             0, 64 * kMiB, 64, "nchw", 0.15 * kTera, 0.3 * kTera, 20 * kGiga,
             0};
  cpu.imageSlots = 2; // this project's machines: 2 cores
  add(cpu);
  // All-reduce bandwidth per rank (docs/cost-model.md): NVLink 4 / 3 / 2 bus
  // bandwidth as NCCL's tests reach it, PCIe for the generic GPU and the
  // Titan X, and Open MPI's shared-memory transport for CPU processes.
  for (Target &target : targets)
    target.linkBandwidth = llvm::StringSwitch<double>(target.name)
                               .Case("h200", 360 * kGiga)
                               .Case("a100-80gb", 230 * kGiga)
                               .Case("v100-16gb", 130 * kGiga)
                               .Case("titan-x-12gb", 10 * kGiga)
                               .Case("cpu", 5 * kGiga)
                               .Default(20 * kGiga);
  return targets;
}

llvm::ArrayRef<Target> densenet::getTargets() {
  static const std::vector<Target> targets = buildTargets();
  return targets;
}

llvm::Expected<Target> densenet::getTarget(llvm::StringRef name) {
  for (const Target &target : getTargets())
    if (target.name == name)
      return target;
  llvm::SmallVector<llvm::StringRef> names = llvm::to_vector(
      llvm::map_range(getTargets(), [](const Target &t) -> llvm::StringRef {
        return t.name;
      }));
  std::string message = "unknown target '" + name.str() + "'";
  std::string suggestion = closestMatch(name, names);
  if (!suggestion.empty())
    message += " (did you mean '" + suggestion + "'?)";
  return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                 message + "; valid targets: " +
                                     llvm::join(names, ", "));
}
