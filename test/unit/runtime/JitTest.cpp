//===- JitTest.cpp - Generated kernels compile; the cache keeps them ------===//
//
// NVRTC compiles without a GPU, so these run on every machine with the CUDA
// toolkit: the generated source of every fused kernel kind compiles for
// sm_90, and the on-disk cache hits, misses, heals and degrades as
// runtime/cuda/Jit.h says.
//
//===----------------------------------------------------------------------===//

#include "runtime/cuda/FusedKernels.h"
#include "runtime/cuda/Jit.h"
#include "runtime/plan/Plan.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <unistd.h>

namespace gpu = densenet::runtime::cuda;
using densenet::runtime::PlanError;

namespace {

std::vector<gpu::FusedShape> someShapes() {
  std::vector<gpu::FusedShape> shapes;
  for (auto kind : {gpu::FusedShape::NormRelu, gpu::FusedShape::ReluNormGrad})
    for (bool write : {false, true}) {
      gpu::FusedShape shape;
      shape.kind = kind;
      shape.batch = 64;
      shape.plane = 32 * 32;
      shape.writeIntermediate = write;
      shapes.push_back(shape);
    }
  return shapes;
}

/// A fresh directory under the test's temporary directory.
std::string freshDirectory(const std::string &name) {
  std::string path = std::filesystem::temp_directory_path().string() +
                     "/densenet-jit-" + name + "-" + std::to_string(getpid());
  std::filesystem::remove_all(path);
  return path;
}

bool isCubin(const std::string &image) {
  return image.size() > 4 && image.substr(0, 4) == "\x7f"
                                                   "ELF";
}

TEST(Jit, SourceDefinesEachShapeOnce) {
  std::vector<gpu::FusedShape> shapes = someShapes();
  shapes.push_back(shapes[0]); // a duplicate
  std::string source = gpu::fusedKernelSource(shapes);
  for (const gpu::FusedShape &shape : someShapes()) {
    std::string head = "\n" + shape.name() + "(";
    size_t first = source.find(head);
    ASSERT_NE(first, std::string::npos) << shape.name();
    EXPECT_EQ(source.find(head, first + 1), std::string::npos) << shape.name();
  }
  EXPECT_NE(source.find("kCount = 64LL * kPlane"), std::string::npos);
  EXPECT_NE(source.find("kPlane = 1024"), std::string::npos);
  // A channel's 65,536 elements are indexed in 32 bits.
  EXPECT_NE(source.find("for (unsigned e = threadIdx.x"), std::string::npos);
  EXPECT_EQ(source.find("long long e"), std::string::npos);
}

// A channel of 2^31 elements or more needs 64-bit indices; it compiles too.
TEST(Jit, HugeChannelsIndexIn64Bits) {
  std::vector<gpu::FusedShape> shapes = someShapes();
  for (gpu::FusedShape &shape : shapes) {
    shape.batch = 1 << 16;
    shape.plane = 1 << 15;
  }
  std::string source = gpu::fusedKernelSource(shapes);
  EXPECT_NE(source.find("for (long long e = threadIdx.x"), std::string::npos);
  EXPECT_EQ(source.find("unsigned e"), std::string::npos);
  gpu::KernelCache cache(freshDirectory("huge"));
  EXPECT_TRUE(isCubin(cache.compile(source, 90).image));
}

TEST(Jit, GeneratedKernelsCompileAndTheCacheKeepsThem) {
  std::string directory = freshDirectory("cache");
  gpu::KernelCache cache(directory);
  std::string source = gpu::fusedKernelSource(someShapes());

  gpu::CompiledKernels first = cache.compile(source, 90);
  EXPECT_TRUE(isCubin(first.image));
  EXPECT_FALSE(first.fromCache);
  ASSERT_FALSE(first.cachePath.empty());
  EXPECT_TRUE(std::filesystem::exists(first.cachePath));
  // Nothing but the entry: no temporary file left behind.
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(directory),
                          std::filesystem::directory_iterator()),
            1);

  gpu::CompiledKernels second = cache.compile(source, 90);
  EXPECT_TRUE(second.fromCache);
  EXPECT_EQ(second.image, first.image);
  EXPECT_EQ(second.cachePath, first.cachePath);

  // Another architecture or source is another entry.
  gpu::CompiledKernels other = cache.compile(source, 80);
  EXPECT_FALSE(other.fromCache);
  EXPECT_NE(other.cachePath, first.cachePath);
  EXPECT_TRUE(isCubin(other.image));

  // A damaged entry is compiled again and replaced.
  {
    std::ofstream damage(first.cachePath, std::ios::trunc);
    damage << "not a cubin";
  }
  gpu::CompiledKernels healed = cache.compile(source, 90);
  EXPECT_FALSE(healed.fromCache);
  EXPECT_EQ(healed.image, first.image);
  gpu::CompiledKernels again = cache.compile(source, 90);
  EXPECT_TRUE(again.fromCache);

  // An entry that looks like a cubin but that the driver refuses is
  // compiled again on request (FusedModule's retry) and replaced.
  {
    std::ofstream damage(first.cachePath, std::ios::trunc | std::ios::binary);
    damage << "\x7f" "ELF but damaged";
  }
  EXPECT_TRUE(cache.compile(source, 90).fromCache);
  gpu::CompiledKernels refreshed = cache.compile(source, 90, /*refresh=*/true);
  EXPECT_FALSE(refreshed.fromCache);
  EXPECT_EQ(refreshed.image, first.image);
  gpu::CompiledKernels replaced = cache.compile(source, 90);
  EXPECT_TRUE(replaced.fromCache);
  EXPECT_EQ(replaced.image, first.image);
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(directory),
                          std::filesystem::directory_iterator()),
            2); // sm_90 and sm_80, no temporary files
  std::filesystem::remove_all(directory);
}

// Mixed precision: the same kernels over bf16 and f16 maps (16-bit patterns
// converted with cvt.rn, no headers). bf16's conversion needs sm_80; f16's
// compiles for older GPUs too.
TEST(Jit, LowPrecisionKernelsCompile) {
  gpu::KernelCache cache(freshDirectory("low-precision"));
  for (auto storage : {gpu::FusedShape::BF16, gpu::FusedShape::F16}) {
    std::vector<gpu::FusedShape> shapes = someShapes();
    for (gpu::FusedShape &shape : shapes)
      shape.storage = storage;
    std::string source = gpu::fusedKernelSource(shapes);
    const char *suffix = storage == gpu::FusedShape::BF16 ? "bf16" : "f16";
    EXPECT_NE(source.find(std::string("dn_store_") + suffix + "("),
              std::string::npos);
    EXPECT_EQ(source.find("dn_store_f32"), std::string::npos);
    EXPECT_NE(shapes[0].name().find(suffix), std::string::npos);
    for (int architecture : {80, 90}) {
      EXPECT_TRUE(isCubin(cache.compile(source, architecture).image))
          << suffix << " sm_" << architecture;
    }
    if (storage == gpu::FusedShape::F16) {
      EXPECT_TRUE(isCubin(cache.compile(source, 75).image));
    }
  }
  // One plan's storage differs from another's: a different kernel.
  gpu::FusedShape f32 = someShapes()[0], f16 = f32;
  f16.storage = gpu::FusedShape::F16;
  EXPECT_FALSE(f32 == f16);
  EXPECT_NE(f32.name(), f16.name());
}

// A GPU newer than NVRTC gets PTX for the newest architecture NVRTC knows
// below it (the driver compiles it at load); one older than all is refused.
TEST(Jit, GpusNvrtcDoesNotKnowGetPtx) {
  std::vector<int> known = gpu::nvrtcArchitectures();
  ASSERT_FALSE(known.empty());
  ASSERT_TRUE(std::is_sorted(known.begin(), known.end()));
  std::string directory = freshDirectory("ptx");
  gpu::KernelCache cache(directory);
  std::string source = gpu::fusedKernelSource(someShapes());

  gpu::CompiledKernels exact = cache.compile(source, known.back());
  EXPECT_FALSE(exact.ptx);
  EXPECT_EQ(exact.target, known.back());
  EXPECT_TRUE(isCubin(exact.image));

  int newer = known.back() + 1;
  gpu::CompiledKernels ptx = cache.compile(source, newer);
  EXPECT_TRUE(ptx.ptx);
  EXPECT_EQ(ptx.target, known.back());
  EXPECT_FALSE(isCubin(ptx.image));
  ASSERT_FALSE(ptx.image.empty());
  EXPECT_EQ(ptx.image.back(), '\0'); // what the driver's loader expects
  EXPECT_NE(ptx.image.find(".target sm_" + std::to_string(known.back())),
            std::string::npos);
  for (const gpu::FusedShape &shape : someShapes())
    EXPECT_NE(ptx.image.find(".entry " + shape.name() + "("),
              std::string::npos)
        << shape.name();
  ASSERT_FALSE(ptx.cachePath.empty());
  EXPECT_EQ(std::filesystem::path(ptx.cachePath).extension(), ".ptx");

  gpu::CompiledKernels cached = cache.compile(source, newer);
  EXPECT_TRUE(cached.fromCache);
  EXPECT_TRUE(cached.ptx);
  EXPECT_EQ(cached.image, ptx.image);
  // A truncated entry (no terminating NUL) is compiled again.
  {
    std::ofstream damage(ptx.cachePath, std::ios::trunc | std::ios::binary);
    damage << ptx.image.substr(0, ptx.image.size() / 2);
  }
  gpu::CompiledKernels healed = cache.compile(source, newer);
  EXPECT_FALSE(healed.fromCache);
  EXPECT_EQ(healed.image, ptx.image);

  // Between two known architectures: PTX for the lower one.
  for (size_t i = 1; i < known.size(); ++i)
    if (known[i] > known[i - 1] + 1) {
      gpu::CompiledKernels between = cache.compile(source, known[i] - 1);
      EXPECT_TRUE(between.ptx);
      EXPECT_EQ(between.target, known[i - 1]);
      break;
    }

  try {
    cache.compile(source, known.front() - 1);
    FAIL() << "compiled for a GPU older than NVRTC knows";
  } catch (const PlanError &error) {
    std::string message = error.what();
    EXPECT_NE(message.find("compiles for sm_" + std::to_string(known.front()) +
                           " and later"),
              std::string::npos)
        << message;
    EXPECT_NE(message.find("sm_" + std::to_string(known.front() - 1)),
              std::string::npos)
        << message;
  }
  std::filesystem::remove_all(directory);
}

// Kernels for 1024 threads per batch-norm block (DENSENET_BN_THREADS)
// compile, under their own names.
TEST(Jit, ReductionThreadsAreCompiledIn) {
  EXPECT_TRUE(gpu::validReductionThreads(gpu::kDefaultReductionThreads));
  for (int threads : {128, 768, 2048})
    EXPECT_FALSE(gpu::validReductionThreads(threads)) << threads;
  gpu::KernelCache cache(freshDirectory("threads"));
  std::vector<gpu::FusedShape> shapes = someShapes();
  for (gpu::FusedShape &shape : shapes)
    shape.threads = 1024;
  EXPECT_NE(shapes[0].name(), someShapes()[0].name());
  EXPECT_FALSE(shapes[0] == someShapes()[0]);
  std::string source = gpu::fusedKernelSource(shapes);
  EXPECT_NE(source.find("__launch_bounds__(1024)"), std::string::npos);
  EXPECT_NE(source.find("dn_block_sum<1024>("), std::string::npos);
  EXPECT_EQ(source.find("256"), std::string::npos);
  EXPECT_TRUE(isCubin(cache.compile(source, 90).image));
}

TEST(Jit, AnUnwritableCacheStillCompiles) {
  // The "directory" is a file, so nothing can be created under it.
  std::string blocker = freshDirectory("blocker");
  { std::ofstream file(blocker); }
  gpu::KernelCache cache(blocker + "/kernels");
  gpu::CompiledKernels result =
      cache.compile(gpu::fusedKernelSource(someShapes()), 90);
  EXPECT_TRUE(isCubin(result.image));
  EXPECT_FALSE(result.fromCache);
  EXPECT_TRUE(result.cachePath.empty());
  std::filesystem::remove(blocker);
}

TEST(Jit, CompileErrorsCarryNvrtcsLog) {
  gpu::KernelCache cache(freshDirectory("errors"));
  try {
    cache.compile("extern \"C\" __global__ void broken() { undeclared(); }",
                  90);
    FAIL() << "a broken source compiled";
  } catch (const PlanError &error) {
    std::string message = error.what();
    EXPECT_NE(message.find("NVRTC could not compile"), std::string::npos)
        << message;
    EXPECT_NE(message.find("undeclared"), std::string::npos) << message;
  }
}

TEST(Jit, DefaultDirectoryFollowsTheEnvironment) {
  setenv("DENSENET_KERNEL_CACHE", "/somewhere/kernels", 1);
  EXPECT_EQ(gpu::KernelCache::defaultDirectory(), "/somewhere/kernels");
  unsetenv("DENSENET_KERNEL_CACHE");
  setenv("XDG_CACHE_HOME", "/xdg", 1);
  EXPECT_EQ(gpu::KernelCache::defaultDirectory(), "/xdg/densenet/kernels");
  unsetenv("XDG_CACHE_HOME");
  setenv("HOME", "/home/user", 1);
  EXPECT_EQ(gpu::KernelCache::defaultDirectory(),
            "/home/user/.cache/densenet/kernels");
}

} // namespace
