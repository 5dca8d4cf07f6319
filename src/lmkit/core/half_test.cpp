#include "lmkit/core/half.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

namespace lmkit {
namespace {

// Every finite f16 converts to f32 and back unchanged; NaNs stay NaN.
TEST(Half, F16RoundTripsAllBitPatterns) {
  for (uint32_t b = 0; b < 65536; ++b) {
    f16 h{uint16_t(b)};
    float f = f16_to_f32(h);
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(f16_to_f32(f32_to_f16(f))));
      continue;
    }
    EXPECT_EQ(f32_to_f16(f).bits, h.bits) << "bits " << b;
  }
}

TEST(Half, Bf16RoundTripsAllBitPatterns) {
  for (uint32_t b = 0; b < 65536; ++b) {
    bf16 h{uint16_t(b)};
    float f = bf16_to_f32(h);
    if (std::isnan(f)) continue;
    EXPECT_EQ(f32_to_bf16(f).bits, h.bits) << "bits " << b;
  }
}

// Independent reference: the nearest of the two neighbouring representable values
// (computed in double), ties to the even bit pattern.
template <typename H, typename ToF, typename FromF>
void check_nearest_even(ToF to_f, FromF from_f, float x) {
  H h = from_f(x);
  double got = to_f(h);
  if (std::isinf(got)) return;  // overflow handled by its own test
  H lo{uint16_t(h.bits - 1)}, hi{uint16_t(h.bits + 1)};
  double dg = std::fabs(double(x) - got);
  for (H n : {lo, hi}) {
    double v = to_f(n);
    if (std::isnan(v) || std::isinf(v) || (std::signbit(v) != std::signbit(got) && v != 0)) continue;
    double dn = std::fabs(double(x) - v);
    EXPECT_LE(dg, dn) << "x=" << x;
    if (dg == dn) {
      EXPECT_EQ(h.bits & 1, 0) << "tie not to even for x=" << x;
    }
  }
}

TEST(Half, RoundsToNearestEven) {
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> mant(-1, 1);
  std::uniform_int_distribution<int> ex(-30, 15);
  for (int i = 0; i < 200000; ++i) {
    float x = std::ldexp(mant(rng), ex(rng));
    check_nearest_even<f16>(f16_to_f32, f32_to_f16, x);
    check_nearest_even<bf16>(bf16_to_f32, f32_to_bf16, x);
  }
  // Exact ties: 1 + 2^-11 lies halfway between 1 and 1 + 2^-10 -> 1 (even).
  EXPECT_EQ(f32_to_f16(1.0f + std::ldexp(1.0f, -11)).bits, 0x3c00);
  EXPECT_EQ(f32_to_f16(1.0f + 3 * std::ldexp(1.0f, -11)).bits, 0x3c02);
  EXPECT_EQ(f32_to_bf16(1.0f + std::ldexp(1.0f, -8)).bits, 0x3f80);
  // Smallest subnormal, half of it (tie -> 0) and just above half.
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -24)).bits, 1);
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -25)).bits, 0);
  EXPECT_EQ(f32_to_f16(std::ldexp(1.5f, -25)).bits, 1);
}

TEST(Half, OverflowAndSpecials) {
  EXPECT_EQ(f32_to_f16(65504.0f).bits, 0x7bff);
  EXPECT_EQ(f32_to_f16(65519.0f).bits, 0x7bff);
  EXPECT_EQ(f32_to_f16(65520.0f).bits, 0x7c00);
  EXPECT_EQ(f32_to_f16(-1e9f).bits, 0xfc00);
  EXPECT_EQ(f32_to_f16(std::numeric_limits<float>::infinity()).bits, 0x7c00);
  EXPECT_TRUE(std::isnan(f16_to_f32(f32_to_f16(std::nanf("")))));
  EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(std::nanf("")))));
  EXPECT_EQ(f32_to_bf16(std::numeric_limits<float>::max()).bits, 0x7f80);  // rounds up to inf
}

}  // namespace
}  // namespace lmkit
