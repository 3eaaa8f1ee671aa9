//===- Precision.h - f32 to bf16 and f16 and back, on the host --*- C++ -*-===//
//
// Mixed-precision plans keep feature maps, the input batch among them, in
// bf16 or f16 (docs/training-semantics.md). The trainer converts each batch
// on the host before writing it, and the logits back after inference. The
// rounding is to nearest, ties to even, as the GPU's cvt.rn instructions
// (Kernels.cu, FusedKernels.cpp) round: overflow gives infinity, NaN stays
// NaN (quiet), f16 keeps subnormals.
//
//===----------------------------------------------------------------------===//

#ifndef DENSENET_RUNTIME_BACKEND_PRECISION_H
#define DENSENET_RUNTIME_BACKEND_PRECISION_H

#include "runtime/plan/Plan.h"

#include <cstdint>
#include <cstring>
#include <vector>

namespace densenet::runtime {

inline uint32_t bitsOf(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  return bits;
}
inline float floatOf(uint32_t bits) {
  float value;
  std::memcpy(&value, &bits, sizeof value);
  return value;
}

inline uint16_t toBFloat16(float value) {
  uint32_t bits = bitsOf(value);
  if ((bits & 0x7fffffffu) > 0x7f800000u) // NaN: keep it quiet
    return uint16_t((bits >> 16) | 0x40u);
  return uint16_t((bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16);
}
inline float fromBFloat16(uint16_t bits) {
  return floatOf(uint32_t(bits) << 16);
}

inline uint16_t toHalf(float value) {
  uint32_t bits = bitsOf(value);
  uint16_t sign = uint16_t((bits >> 16) & 0x8000u);
  uint32_t exponent = (bits >> 23) & 0xffu, mantissa = bits & 0x7fffffu;
  if (exponent == 0xff) // infinity, or NaN (quiet, keeping its top bits)
    return uint16_t(sign | 0x7c00u |
                    (mantissa ? 0x200u | (mantissa >> 13) : 0u));
  if (exponent > 142) // 2^16 and beyond
    return uint16_t(sign | 0x7c00u);
  if (exponent < 102) // below 2^-25, half the smallest subnormal
    return sign;
  uint32_t result, remainder, halfway;
  if (exponent < 113) {
    // A subnormal half: units of 2^-24.
    uint32_t significand = mantissa | 0x800000u;
    uint32_t shift = 126 - exponent;
    result = significand >> shift;
    remainder = significand & ((1u << shift) - 1);
    halfway = 1u << (shift - 1);
  } else {
    result = ((exponent - 112) << 10) | (mantissa >> 13);
    remainder = mantissa & 0x1fffu;
    halfway = 0x1000u;
  }
  // Rounding up may carry into the exponent: to the smallest normal, or
  // from 65504 to infinity, both correct encodings.
  if (remainder > halfway || (remainder == halfway && (result & 1u)))
    ++result;
  return uint16_t(sign | result);
}

inline float fromHalf(uint16_t half) {
  uint32_t sign = uint32_t(half & 0x8000u) << 16;
  uint32_t exponent = (half >> 10) & 0x1fu, mantissa = half & 0x3ffu;
  if (exponent == 0x1f)
    return floatOf(sign | 0x7f800000u | (mantissa << 13));
  if (exponent == 0) {
    // Zero or subnormal: mantissa * 2^-24, exact in f32.
    float magnitude = float(mantissa) * 0x1p-24f;
    return sign ? -magnitude : magnitude;
  }
  return floatOf(sign | ((exponent + 112) << 23) | (mantissa << 13));
}

/// `count` values in `dtype` (f32, bf16 or f16) at `bytes`, as a buffer
/// holds them.
inline void toDTypeInto(DType dtype, const float *values, size_t count,
                        uint8_t *bytes) {
  if (dtype == DType::F32) {
    std::memcpy(bytes, values, count * sizeof(float));
    return;
  }
  for (size_t i = 0; i < count; ++i) {
    uint16_t bits =
        dtype == DType::BF16 ? toBFloat16(values[i]) : toHalf(values[i]);
    std::memcpy(bytes + 2 * i, &bits, 2);
  }
}

inline std::vector<uint8_t> toDType(DType dtype, const float *values,
                                    size_t count) {
  std::vector<uint8_t> bytes(count * size_t(sizeOf(dtype)));
  toDTypeInto(dtype, values, count, bytes.data());
  return bytes;
}

/// The inverse: `count` values of `dtype` at `bytes`, widened to f32.
inline void fromDType(DType dtype, const uint8_t *bytes, size_t count,
                      float *values) {
  if (dtype == DType::F32) {
    std::memcpy(values, bytes, count * sizeof(float));
    return;
  }
  for (size_t i = 0; i < count; ++i) {
    uint16_t bits;
    std::memcpy(&bits, bytes + 2 * i, 2);
    values[i] = dtype == DType::BF16 ? fromBFloat16(bits) : fromHalf(bits);
  }
}

} // namespace densenet::runtime

#endif // DENSENET_RUNTIME_BACKEND_PRECISION_H
