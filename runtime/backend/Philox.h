//===- Philox.h - Counter-based random numbers for dropout ------*- C++ -*-===//
//
// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2,
// 3", SC'11). Dropout masks are a pure function of the run seed, the step
// and the layer (docs/training-semantics.md), so a recomputed dropout
// reproduces its mask bit for bit on any backend and any thread count.
//
//===----------------------------------------------------------------------===//

#ifndef DENSENET_RUNTIME_BACKEND_PHILOX_H
#define DENSENET_RUNTIME_BACKEND_PHILOX_H

#include <cstdint>
#include <string_view>

// Callable from CUDA kernels too (runtime/cuda/Kernels.cu).
#ifdef __CUDACC__
#define DENSENET_HOST_DEVICE __host__ __device__
#else
#define DENSENET_HOST_DEVICE
#endif

namespace densenet::runtime {

/// The first 32-bit output of Philox4x32-10 for `counter` under `key`.
DENSENET_HOST_DEVICE inline uint32_t philox4x32First(const uint32_t key[2], const uint32_t counter[4]) {
  uint32_t c0 = counter[0], c1 = counter[1], c2 = counter[2], c3 = counter[3];
  uint32_t k0 = key[0], k1 = key[1];
  for (int round = 0; round < 10; ++round) {
    uint64_t product0 = uint64_t(0xD2511F53u) * c0;
    uint64_t product1 = uint64_t(0xCD9E8D57u) * c2;
    uint32_t next0 = uint32_t(product1 >> 32) ^ c1 ^ k0;
    uint32_t next1 = uint32_t(product1);
    uint32_t next2 = uint32_t(product0 >> 32) ^ c3 ^ k1;
    uint32_t next3 = uint32_t(product0);
    c0 = next0; c1 = next1; c2 = next2; c3 = next3;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return c0;
}

/// 64-bit FNV-1a of a layer name: the dropout layer key.
inline uint64_t layerKey(std::string_view name) {
  uint64_t hash = 0xcbf29ce484222325ull;
  for (unsigned char byte : name) {
    hash ^= byte;
    hash *= 0x100000001b3ull;
  }
  return hash;
}

/// Whether dropout keeps element `index` of layer `key` at `step`.
DENSENET_HOST_DEVICE inline bool dropoutKeeps(uint64_t seed, uint64_t key, int64_t step,
                         uint64_t index, double rate) {
  uint64_t mixed = seed ^ key;
  uint32_t keyWords[2] = {uint32_t(mixed), uint32_t(mixed >> 32)};
  uint64_t stepBits = static_cast<uint64_t>(step);
  uint32_t counter[4] = {uint32_t(index), uint32_t(index >> 32),
                         uint32_t(stepBits), uint32_t(stepBits >> 32)};
  return philox4x32First(keyWords, counter) * 0x1p-32 >= rate;
}

} // namespace densenet::runtime

#endif // DENSENET_RUNTIME_BACKEND_PHILOX_H
