//===- LowPrecision.cpp - bf16 and f16 plans on the CPU, emulated ---------===//

#include "runtime/cpu/LowPrecision.h"

#include "runtime/backend/Precision.h"

#include <immintrin.h>

#include <algorithm>
#include <cstring>

using namespace densenet::runtime;
using namespace densenet::runtime::cpu;

// Conversions with F16C (f16) and AVX2 (bf16) where the CPU has them (x86
// CPUs since 2012 and 2013): the same rounding as Precision.h, much faster.
// PrecisionTest checks that both give the same bits.
__attribute__((target("avx,f16c"))) static void
toHalfF16c(const float *values, size_t count, uint16_t *bits) {
  size_t i = 0;
  for (; i + 8 <= count; i += 8)
    _mm_storeu_si128(reinterpret_cast<__m128i *>(bits + i),
                     _mm256_cvtps_ph(_mm256_loadu_ps(values + i),
                                     _MM_FROUND_TO_NEAREST_INT));
  for (; i < count; ++i)
    bits[i] = toHalf(values[i]);
}

__attribute__((target("avx,f16c"))) static void
fromHalfF16c(const uint16_t *bits, size_t count, float *values) {
  size_t i = 0;
  for (; i + 8 <= count; i += 8)
    _mm256_storeu_ps(values + i,
                     _mm256_cvtph_ps(_mm_loadu_si128(
                         reinterpret_cast<const __m128i *>(bits + i))));
  for (; i < count; ++i)
    values[i] = fromHalf(bits[i]);
}

// bf16 with AVX2 integer arithmetic, as toBFloat16 computes it.
__attribute__((target("avx2"))) static void
toBFloat16Avx2(const float *values, size_t count, uint16_t *bits) {
  const __m256i one = _mm256_set1_epi32(1), bias = _mm256_set1_epi32(0x7fff);
  const __m256i magnitude = _mm256_set1_epi32(0x7fffffff),
                infinity = _mm256_set1_epi32(0x7f800000),
                quiet = _mm256_set1_epi32(0x40);
  size_t i = 0;
  for (; i + 8 <= count; i += 8) {
    __m256i x = _mm256_castps_si256(_mm256_loadu_ps(values + i));
    __m256i rounded = _mm256_srli_epi32(
        _mm256_add_epi32(_mm256_add_epi32(x, bias),
                         _mm256_and_si256(_mm256_srli_epi32(x, 16), one)),
        16);
    __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(x, magnitude), infinity);
    __m256i kept = _mm256_or_si256(_mm256_srli_epi32(x, 16), quiet);
    __m256i result = _mm256_blendv_epi8(rounded, kept, nan);
    // 8 x 32 -> 8 x 16 bits (values fit: no saturation), lanes in order.
    __m256i packed = _mm256_packus_epi32(result, result);
    packed = _mm256_permute4x64_epi64(packed, 0x08);
    _mm_storeu_si128(reinterpret_cast<__m128i *>(bits + i),
                     _mm256_castsi256_si128(packed));
  }
  for (; i < count; ++i)
    bits[i] = toBFloat16(values[i]);
}

__attribute__((target("avx2"))) static void
fromBFloat16Avx2(const uint16_t *bits, size_t count, float *values) {
  size_t i = 0;
  for (; i + 8 <= count; i += 8) {
    __m256i wide = _mm256_cvtepu16_epi32(
        _mm_loadu_si128(reinterpret_cast<const __m128i *>(bits + i)));
    _mm256_storeu_ps(values + i,
                     _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16)));
  }
  for (; i < count; ++i)
    values[i] = fromBFloat16(bits[i]);
}

static bool haveAvx2() {
  static const bool have = __builtin_cpu_supports("avx2");
  return have;
}

static bool haveF16c() {
  static const bool have =
      __builtin_cpu_supports("f16c") && __builtin_cpu_supports("avx");
  return have;
}

void densenet::runtime::cpu::roundInto(DType dtype, const float *values,
                                       size_t count, uint8_t *bytes) {
  if (dtype == DType::F16 && haveF16c()) {
    // uint16_t stores through a byte pointer: memcpy-free when aligned,
    // which the arena's 2-byte elements are.
    toHalfF16c(values, count, reinterpret_cast<uint16_t *>(bytes));
    return;
  }
  if (dtype == DType::BF16 && haveAvx2()) {
    toBFloat16Avx2(values, count, reinterpret_cast<uint16_t *>(bytes));
    return;
  }
  toDTypeInto(dtype, values, count, bytes);
}

void densenet::runtime::cpu::widenFrom(DType dtype, const uint8_t *bytes,
                                       size_t count, float *values) {
  if (dtype == DType::F16 && haveF16c()) {
    fromHalfF16c(reinterpret_cast<const uint16_t *>(bytes), count, values);
    return;
  }
  if (dtype == DType::BF16 && haveAvx2()) {
    fromBFloat16Avx2(reinterpret_cast<const uint16_t *>(bytes), count, values);
    return;
  }
  fromDType(dtype, bytes, count, values);
}

void densenet::runtime::cpu::roundThrough(DType dtype, const float *values,
                                          size_t count, float *rounded) {
  // In chunks through a buffer on the stack: weights are rounded every step,
  // and a heap buffer of their size would be mapped and unmapped each time.
  constexpr size_t kChunk = 2048;
  uint8_t bits[2 * kChunk];
  for (size_t at = 0; at < count; at += kChunk) {
    size_t n = std::min(kChunk, count - at);
    roundInto(dtype, values + at, n, bits);
    widenFrom(dtype, bits, n, rounded + at);
  }
}

LowPrecisionSteps::LowPrecisionSteps(const Plan &plan,
                                     const PlanBinding &binding)
    : plan(plan), binding(binding),
      active_(plan.dtype == DType::BF16 || plan.dtype == DType::F16) {
  if (!active_)
    return;
  // Steps run one at a time, so they share one scratch area: each lays its
  // stand-ins out from the start, and the area is the most one step needs.
  size_t most = 0;
  standIns.resize(plan.steps.size());
  workspaceOffset.assign(plan.steps.size(), 0);
  weightGrads.resize(plan.steps.size());
  for (size_t index = 0; index < plan.steps.size(); ++index) {
    const Step &step = plan.steps[index];
    size_t offset = 0;
    auto add = [&](int id, bool widen, bool round, bool weight = false) {
      if (!weight && plan.buffers[id].dtype != plan.dtype)
        return;
      for (StandIn &known : standIns[index])
        if (known.id == id) {
          known.widen |= widen;
          known.round |= round;
          return;
        }
      standIns[index].push_back({id, offset, widen, round, weight});
      // 16 floats (64 bytes) apart, as the kernels' vector loads like.
      offset += (size_t(plan.buffers[id].elements()) + 15) / 16 * 16;
    };
    // The weight a product reads, and the weight gradient it writes (the
    // GPU's weight copy, format/WeightCopy.h).
    switch (step.op) {
    case OpKind::Conv2d:
    case OpKind::Conv2dGradInput:
    case OpKind::Linear:
      add(step.reads[1], true, false, /*weight=*/true);
      break;
    case OpKind::LinearGrad:
      add(step.reads[2], true, false, /*weight=*/true);
      weightGrads[index].push_back(step.writes[1]);
      break;
    case OpKind::Conv2dGradFilter:
      weightGrads[index].push_back(step.writes[0]);
      break;
    default:
      break;
    }
    for (int id : step.reads)
      add(id, true, false);
    for (int id : step.updates)
      add(id, true, true);
    for (int id : step.writes)
      if (id != step.workspace)
        add(id, false, true);
    if (step.workspace >= 0) {
      workspaceOffset[index] = offset;
      offset += size_t(2 * plan.buffers[step.workspace].bytes + 63) / 64 * 16;
    }
    most = std::max(most, offset);
  }
  scratch.assign(std::max<size_t>(most, 1), 0.0f);
}

const LowPrecisionSteps::StandIn *LowPrecisionSteps::find(int step,
                                                          int id) const {
  if (!active_)
    return nullptr;
  for (const StandIn &standIn : standIns[step])
    if (standIn.id == id)
      return &standIn;
  return nullptr;
}

float *LowPrecisionSteps::pointer(int step, int id) const {
  const StandIn *standIn = find(step, id);
  return standIn ? scratch.data() + standIn->offset : binding.pointer(id);
}

Map LowPrecisionSteps::map(int step, int id) const {
  Map result = binding.map(id);
  if (const StandIn *standIn = find(step, id)) {
    // Dense: the stand-in of a channel slice holds just its channels.
    result.data = scratch.data() + standIn->offset;
    result.imageStride = result.c * result.h * result.w;
  }
  return result;
}

float *LowPrecisionSteps::workspace(int step) const {
  if (plan.steps[step].workspace < 0)
    return nullptr;
  return active_ ? scratch.data() + workspaceOffset[step]
                 : binding.pointer(plan.steps[step].workspace);
}

void LowPrecisionSteps::widen(const StandIn &standIn) const {
  if (standIn.weight) {
    // f32 in the arena: the stand-in is the weight rounded to the low type.
    roundThrough(plan.dtype, binding.pointer(standIn.id),
                 size_t(plan.buffers[standIn.id].elements()),
                 scratch.data() + standIn.offset);
    return;
  }
  Map stored = binding.map(standIn.id);
  int64_t image = stored.c * stored.h * stored.w;
  const uint8_t *base = reinterpret_cast<const uint8_t *>(stored.data);
  float *target = scratch.data() + standIn.offset;
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < stored.n; ++i)
    widenFrom(plan.dtype, base + 2 * i * stored.imageStride, size_t(image),
              target + i * image);
}

void LowPrecisionSteps::round(const StandIn &standIn) const {
  Map stored = binding.map(standIn.id);
  int64_t image = stored.c * stored.h * stored.w;
  uint8_t *base = reinterpret_cast<uint8_t *>(stored.data);
  const float *source = scratch.data() + standIn.offset;
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < stored.n; ++i)
    roundInto(plan.dtype, source + i * image, size_t(image),
              base + 2 * i * stored.imageStride);
}

std::function<void()>
LowPrecisionSteps::wrap(int step, std::function<void()> kernel) const {
  if (!active_ || (standIns[step].empty() && weightGrads[step].empty()))
    return kernel;
  return [this, step, inner = std::move(kernel)] {
    for (const StandIn &standIn : standIns[step])
      if (standIn.widen)
        widen(standIn);
    inner();
    for (const StandIn &standIn : standIns[step])
      if (standIn.round)
        round(standIn);
    // The weight gradient as the low type holds it, widened in place.
    for (int id : weightGrads[step]) {
      float *gradient = binding.pointer(id);
      roundThrough(plan.dtype, gradient, size_t(plan.buffers[id].elements()),
                   gradient);
    }
  };
}
