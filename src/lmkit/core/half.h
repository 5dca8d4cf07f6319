// IEEE-754 binary16 (f16) and bfloat16 storage types with exact conversions.
// f32 -> f16/bf16 rounds to nearest, ties to even (IEEE 754-2008 §4.3.1), handling
// subnormals, overflow to inf and NaN (kept quiet, sign preserved). f16/bf16 -> f32 is exact.
#pragma once
#include <bit>
#include <cstdint>

namespace lmkit {

struct bf16 {
  uint16_t bits = 0;
};
struct f16 {
  uint16_t bits = 0;
};

inline float bf16_to_f32(bf16 h) { return std::bit_cast<float>(uint32_t(h.bits) << 16); }

inline bf16 f32_to_bf16(float f) {
  uint32_t u = std::bit_cast<uint32_t>(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return bf16{uint16_t((u >> 16) | 0x40)};  // quiet NaN
  // Round to nearest even: add 0x7fff plus the lowest kept bit, then truncate.
  u += 0x7fffu + ((u >> 16) & 1u);
  return bf16{uint16_t(u >> 16)};
}

inline float f16_to_f32(f16 h) {
  uint32_t sign = uint32_t(h.bits & 0x8000u) << 16;
  uint32_t exp = (h.bits >> 10) & 0x1fu;
  uint32_t man = h.bits & 0x3ffu;
  uint32_t u;
  if (exp == 0x1f) {
    u = sign | 0x7f800000u | (man << 13);  // inf / NaN
  } else if (exp != 0) {
    u = sign | ((exp + 112) << 23) | (man << 13);  // normal: rebias 15 -> 127
  } else if (man == 0) {
    u = sign;  // zero
  } else {
    // Subnormal f16 = man * 2^-24: normalise it into an f32 normal.
    int shift = std::countl_zero(man) - 21;  // bring the top set bit to position 10
    man = (man << shift) & 0x3ffu;
    u = sign | (uint32_t(113 - shift) << 23) | (man << 13);
  }
  return std::bit_cast<float>(u);
}

inline f16 f32_to_f16(float f) {
  uint32_t u = std::bit_cast<uint32_t>(f);
  uint16_t sign = uint16_t((u >> 16) & 0x8000u);
  uint32_t a = u & 0x7fffffffu;
  if (a > 0x7f800000u) return f16{uint16_t(sign | 0x7e00u | ((a >> 13) & 0x3ffu))};  // NaN
  if (a >= 0x477ff000u) return f16{uint16_t(sign | 0x7c00u)};  // rounds to >= 65520: inf
  if (a >= 0x38800000u) {
    // Normal f16 range (>= 2^-14): rebias and round the 13 dropped bits to nearest even.
    uint32_t r = a - (112u << 23);
    r += 0xfffu + ((r >> 13) & 1u);
    return f16{uint16_t(sign | (r >> 13))};
  }
  if (a < 0x33000000u) return f16{sign};  // below half the smallest subnormal (2^-25): zero
  // Subnormal f16: value = m * 2^-24 with m = a's significand shifted right.
  uint32_t exp = a >> 23;
  uint32_t man = (a & 0x7fffffu) | 0x800000u;
  uint32_t shift = 126 - exp;  // 113 - exp + 13
  uint32_t m = man >> shift;
  uint32_t rem = man & ((1u << shift) - 1);
  uint32_t half = 1u << (shift - 1);
  if (rem > half || (rem == half && (m & 1u))) ++m;
  return f16{uint16_t(sign | m)};
}

}  // namespace lmkit
