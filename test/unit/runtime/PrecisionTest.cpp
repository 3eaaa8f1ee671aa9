//===- PrecisionTest.cpp - Host rounding to bf16 and f16; loss scaling ----===//
//
// Precision.h must round exactly as the GPU's cvt.rn instructions do (the
// trainer writes every input batch of a low-precision plan through it), so
// it is checked exhaustively: every f16 value survives a round trip, and
// every midpoint between neighbours rounds to the even one. LossScale.h's
// rule is the one the GPU applies after each f16 step.
//
//===----------------------------------------------------------------------===//

#include "runtime/backend/Precision.h"
#include "runtime/backend/LossScale.h"
#include "runtime/cpu/LowPrecision.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>

using namespace densenet::runtime;
namespace cpu = densenet::runtime::cpu;

namespace {

bool isNanHalf(uint16_t h) { return (h & 0x7c00) == 0x7c00 && (h & 0x3ff); }

TEST(Precision, EveryHalfSurvivesARoundTrip) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    if (isNanHalf(uint16_t(h)))
      continue;
    ASSERT_EQ(toHalf(fromHalf(uint16_t(h))), h) << std::hex << h;
  }
}

TEST(Precision, HalfMidpointsRoundToEven) {
  // Between each finite half and the next one up (for the largest, the
  // first value past it, 65536): the midpoint ties to the even neighbour,
  // and a hair above or below it goes to the nearer one.
  for (uint32_t h = 0; h < 0x7c00; ++h) {
    float low = fromHalf(uint16_t(h));
    float high = h + 1 < 0x7c00 ? fromHalf(uint16_t(h + 1)) : 65536.0f;
    float middle = low + (high - low) / 2; // exact: one more bit
    uint16_t even = (h & 1) ? uint16_t(h + 1) : uint16_t(h);
    ASSERT_EQ(toHalf(middle), even) << std::hex << h;
    ASSERT_EQ(toHalf(-middle), even | 0x8000) << std::hex << h;
    ASSERT_EQ(toHalf(std::nextafter(middle, 0.0f)), h) << std::hex << h;
    ASSERT_EQ(toHalf(std::nextafter(middle, 1e30f)), h + 1) << std::hex << h;
  }
}

TEST(Precision, HalfEdges) {
  EXPECT_EQ(toHalf(65504.0f), 0x7bff);
  EXPECT_EQ(toHalf(1e6f), 0x7c00);
  EXPECT_EQ(toHalf(-std::numeric_limits<float>::infinity()), 0xfc00);
  EXPECT_TRUE(isNanHalf(toHalf(std::numeric_limits<float>::quiet_NaN())));
  EXPECT_EQ(toHalf(0x1p-25f), 0x0000);        // ties to even: zero
  EXPECT_EQ(toHalf(0x1.000002p-25f), 0x0001); // past the tie: 2^-24
  EXPECT_EQ(toHalf(1e-30f), 0x0000);
  EXPECT_EQ(toHalf(-0.0f), 0x8000);
  EXPECT_EQ(fromHalf(0x0001), 0x1p-24f);
  EXPECT_EQ(fromHalf(0x3c00), 1.0f);
}

TEST(Precision, BFloat16RoundsToNearestEven) {
  EXPECT_EQ(toBFloat16(1.0f), 0x3f80);
  // 1 + 2^-8 lies halfway between 1 and 1 + 2^-7: ties to even (1).
  EXPECT_EQ(toBFloat16(1.0f + 0x1p-8f), 0x3f80);
  // 1 + 3 * 2^-8 lies halfway between 1 + 2^-7 (odd) and 1 + 2^-6: up.
  EXPECT_EQ(toBFloat16(1.0f + 3 * 0x1p-8f), 0x3f82);
  EXPECT_EQ(toBFloat16(1.0f + 0x1p-8f + 0x1p-20f), 0x3f81);
  EXPECT_EQ(toBFloat16(3.4e38f), 0x7f80); // past bf16's largest: infinity
  uint16_t nan = toBFloat16(std::numeric_limits<float>::quiet_NaN());
  EXPECT_TRUE(std::isnan(fromBFloat16(nan)));
  for (uint32_t b = 0; b < 0x10000; ++b) {
    if (std::isnan(fromBFloat16(uint16_t(b))))
      continue;
    ASSERT_EQ(toBFloat16(fromBFloat16(uint16_t(b))), b) << std::hex << b;
  }
}

TEST(Precision, BuffersConvertBothWays) {
  std::vector<float> values{0.5f, -2.25f, 3.0f, 1e-3f};
  for (DType dtype : {DType::F32, DType::BF16, DType::F16}) {
    std::vector<uint8_t> bytes = toDType(dtype, values.data(), values.size());
    EXPECT_EQ(bytes.size(), values.size() * size_t(sizeOf(dtype)));
    std::vector<float> back(values.size());
    fromDType(dtype, bytes.data(), values.size(), back.data());
    for (size_t i = 0; i < values.size(); ++i)
      EXPECT_NEAR(back[i], values[i],
                  dtype == DType::F32 ? 0 : std::fabs(values[i]) * 0x1p-8);
    EXPECT_EQ(back[1], -2.25f); // exact in every type
  }
}

// The CPU backend's vectorised conversions (F16C where the CPU has it) give
// Precision.h's bits: every half widens alike, and rounding agrees on
// random values, midpoints between halves, and the edges.
TEST(Precision, VectorisedConversionsMatch) {
  std::vector<uint16_t> halves(0x10000);
  for (uint32_t h = 0; h < 0x10000; ++h)
    halves[h] = uint16_t(h);
  std::vector<float> widened(halves.size());
  for (DType dtype : {DType::F16, DType::BF16}) {
    cpu::widenFrom(dtype, reinterpret_cast<const uint8_t *>(halves.data()),
                   halves.size(), widened.data());
    for (uint32_t h = 0; h < 0x10000; ++h) {
      float expected = dtype == DType::F16 ? fromHalf(uint16_t(h))
                                           : fromBFloat16(uint16_t(h));
      if (std::isnan(expected))
        ASSERT_TRUE(std::isnan(widened[h])) << std::hex << h;
      else
        ASSERT_EQ(bitsOf(widened[h]), bitsOf(expected)) << std::hex << h;
    }
  }
  std::vector<float> values;
  std::mt19937 generator(7);
  std::uniform_real_distribution<float> exponent(-30, 17);
  for (int i = 0; i < 200000; ++i)
    values.push_back((i % 2 ? -1.0f : 1.0f) * std::exp2(exponent(generator)));
  for (uint32_t h = 0; h + 1 < 0x7c00; h += 7)
    values.push_back(fromHalf(uint16_t(h)) +
                     (fromHalf(uint16_t(h + 1)) - fromHalf(uint16_t(h))) / 2);
  for (float edge :
       {0.0f, -0.0f, 65504.0f, 65520.0f, 1e9f, 0x1p-25f, 0x1p-24f, 3.4e38f,
        -3.4e38f, 1.0f + 0x1p-8f, std::numeric_limits<float>::infinity(),
        -std::numeric_limits<float>::infinity(),
        std::numeric_limits<float>::quiet_NaN(),
        -std::numeric_limits<float>::quiet_NaN()})
    values.push_back(edge);
  // bf16 ties: 1 + 2^-8 (to even, down) and 1 + 3 * 2^-8 (up), over
  // exponents; values between bf16 neighbours.
  for (int e = -20; e < 20; ++e)
    for (float m : {1.0f + 0x1p-8f, 1.0f + 3 * 0x1p-8f, 1.0f + 0x1p-9f})
      values.push_back(std::ldexp(m, e));
  for (DType dtype : {DType::F16, DType::BF16}) {
    std::vector<uint16_t> fast(values.size());
    cpu::roundInto(dtype, values.data(), values.size(),
                   reinterpret_cast<uint8_t *>(fast.data()));
    for (size_t i = 0; i < values.size(); ++i)
      ASSERT_EQ(fast[i],
                dtype == DType::F16 ? toHalf(values[i]) : toBFloat16(values[i]))
          << values[i];
  }
}

// torch.amp.GradScaler's update, step by step.
TEST(LossScale, OverflowHalvesAndSkipsGrowthDoubles) {
  float scale = 65536;
  int64_t good = 0, skipped = 0;
  advanceLossScaleRule(scale, good, skipped, true, 2, 0.5, 3);
  EXPECT_EQ(scale, 32768);
  EXPECT_EQ(skipped, 1);
  EXPECT_EQ(good, 0);
  advanceLossScaleRule(scale, good, skipped, false, 2, 0.5, 3);
  advanceLossScaleRule(scale, good, skipped, false, 2, 0.5, 3);
  EXPECT_EQ(scale, 32768);
  EXPECT_EQ(good, 2);
  // An overflow restarts the count.
  advanceLossScaleRule(scale, good, skipped, true, 2, 0.5, 3);
  EXPECT_EQ(scale, 16384);
  EXPECT_EQ(good, 0);
  EXPECT_EQ(skipped, 2);
  for (int i = 0; i < 3; ++i)
    advanceLossScaleRule(scale, good, skipped, false, 2, 0.5, 3);
  EXPECT_EQ(scale, 32768);
  EXPECT_EQ(good, 0);
  EXPECT_EQ(skipped, 2);
}

TEST(LossScale, GrowthStopsBeforeInfinity) {
  float scale = 0x1p127f;
  int64_t good = 0, skipped = 0;
  advanceLossScaleRule(scale, good, skipped, false, 2, 0.5, 1);
  EXPECT_EQ(scale, 0x1p127f);
  EXPECT_EQ(good, 0);
  EXPECT_TRUE(std::isfinite(scale));
}

} // namespace
