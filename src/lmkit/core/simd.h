// The small SIMD vector abstraction the f32 kernels (core/kernels_impl.h) are written over.
// Three "vector" types with the same static interface:
//   simd::Scalar  width 1, plain float (every build),
//   simd::Avx2    8 floats (__m256; only in TUs compiled with -mavx2 -mfma),
//   simd::Avx512  16 floats (__m512; only in TUs compiled with -mavx512f ...).
// A kernel template runs full vectors of its type and then a width-1 tail with Scalar.
//
// Everything here sits in an anonymous namespace: each kernels_<isa>.cpp gets a private
// copy compiled for its ISA, so no inline function can be emitted as a shared weak symbol
// whose AVX-512 body a scalar caller might link to. No std:: templates are used here.
//
// exp follows Cephes expf (S. L. Moshier, Cephes Math Library 2.x, expf.c): x = n ln2 + r
// with |r| <= ln2/2 (ln2 split in two parts, Cody & Waite 1980), a degree-7 polynomial for
// e^r, then the scale by 2^n is built in the exponent bits. About 1 ulp in all three
// widths. Results below 2^-125.5 (x < ~-87.0) flush to +0; x > ln(FLT_MAX) gives +inf;
// NaN propagates. tanh follows Cephes tanhf.c: an odd polynomial for |x| < 0.625, else
// (1 - e^-2|x|) / (1 + e^-2|x|), which cannot overflow for large |x| (it tends to +-1).
#pragma once
#include <cstdint>
#if defined(__AVX2__) || defined(__AVX512F__)
// GCC 12 reports its own _mm512_undefined_*() placeholders as (maybe-)uninitialized
// (GCC PR 105593, fixed in GCC 13); the warning points into the intrinsic headers.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop
#endif

namespace lmkit::simd {
namespace {

// Cephes expf constants.
constexpr float kExpHi = 89.0f;   // clamp: e^89 overflows to +inf through the scaling
constexpr float kExpLo = -87.6f;  // clamp: keeps n >= -126 so the 2^(n-1) bits are valid
constexpr float kLog2e = 1.44269504088896341f;
constexpr float kLn2Hi = 0.693359375f;  // ln 2 = kLn2Hi + kLn2Lo, kLn2Hi has 9 bits
constexpr float kLn2Lo = -2.12194440e-4f;
constexpr float kExpP0 = 1.9875691500e-4f;
constexpr float kExpP1 = 1.3981999507e-3f;
constexpr float kExpP2 = 8.3334519073e-3f;
constexpr float kExpP3 = 4.1665795894e-2f;
constexpr float kExpP4 = 1.6666665459e-1f;
constexpr float kExpP5 = 5.0000001201e-1f;
// Cephes tanhf constants (|x| < 0.625).
constexpr float kTanhSmall = 0.625f;
constexpr float kTanhP0 = -5.70498872745e-3f;
constexpr float kTanhP1 = 2.06390887954e-2f;
constexpr float kTanhP2 = -5.37397155531e-2f;
constexpr float kTanhP3 = 1.33314422036e-1f;
constexpr float kTanhP4 = -3.33332819422e-1f;

// lowbias32 (C. Wellons, "Hash function prospector", 2018): a 32-bit integer mixer with
// very low bias; the dropout mask hashes (seed, element index) with two rounds of it.
constexpr uint32_t kMixM1 = 0x7feb352dU;
constexpr uint32_t kMixM2 = 0x846ca68bU;

struct Scalar {
  static constexpr int W = 1;
  using V = float;     // W floats
  using U = uint32_t;  // W unsigned 32-bit lanes
  using D = double;    // double accumulator for W floats

  static V load(const float* p) { return *p; }
  static void store(float* p, V a) { *p = a; }
  static V set1(float a) { return a; }
  static V zero() { return 0.0f; }
  static V add(V a, V b) { return a + b; }
  static V sub(V a, V b) { return a - b; }
  static V mul(V a, V b) { return a * b; }
  static V div(V a, V b) { return a / b; }
  // a * b + c (one rounding where the ISA has FMA) and c - a * b.
  static V fma(V a, V b, V c) { return a * b + c; }
  static V fnma(V a, V b, V c) { return c - a * b; }
  // a * b + c with exactly one rounding everywhere (libm fmaf in the baseline build): for
  // code that must round as a vectorised reference does (AdamW vs ATen).
  static V fma_fused(V a, V b, V c) { return __builtin_fmaf(a, b, c); }
  // max/min return b when either is NaN, like the x86 instructions.
  static V max(V a, V b) { return a > b ? a : b; }
  static V min(V a, V b) { return a < b ? a : b; }
  static V sqrt(V a) { return __builtin_sqrtf(a); }
  static float reduce_add(V a) { return a; }
  static float reduce_max(V a) { return a; }
  // An optimisation barrier: GCC contracts a * b + c into an FMA (C++ defaults to
  // -ffp-contract=fast); opaque(a * b) + c keeps the product rounded on its own, as
  // torch rounds the result of each tensor op.
  static V opaque(V a) {
    __asm__("" : "+x"(a));
    return a;
  }

  static V exp(V x) {
    if (x != x) return x;
    x = x > kExpHi ? kExpHi : x;
    x = x < kExpLo ? kExpLo : x;
    // floor(t) without a libm call (no SSE4.1 round in the baseline ISA) and without a
    // data-dependent branch; |t| < 130.
    const float t = x * kLog2e + 0.5f;
    int32_t n = static_cast<int32_t>(t);
    n -= static_cast<int32_t>(t < static_cast<float>(n));
    const float fx = static_cast<float>(n);
    float r = x - fx * kLn2Hi;
    r = r - fx * kLn2Lo;
    const float z = r * r;
    float p = kExpP0;
    p = p * r + kExpP1;
    p = p * r + kExpP2;
    p = p * r + kExpP3;
    p = p * r + kExpP4;
    p = p * r + kExpP5;
    p = p * z + r;
    p = p + 1.0f;
    // 2^(n-1) from its exponent bits (n in [-126, 128]), times 2p (exact).
    const float scale = __builtin_bit_cast(float, static_cast<uint32_t>(n + 126) << 23);
    return (p + p) * scale;
  }

  static V tanh(V x) {
    // tanh(|x|), then the sign of x (so tanh(-0) = -0).
    const float a = __builtin_fabsf(x);
    if (a < kTanhSmall) {
      const float z = a * a;
      float p = kTanhP0;
      p = p * z + kTanhP1;
      p = p * z + kTanhP2;
      p = p * z + kTanhP3;
      p = p * z + kTanhP4;
      return __builtin_copysignf((p * z) * a + a, x);
    }
    const float t = exp(-2.0f * a);
    return __builtin_copysignf((1.0f - t) / (1.0f + t), x);
  }

  // Integer lanes for the counter-based dropout hash.
  static U index(uint32_t base) { return base; }  // lanes base, base+1, ...
  static U uset1(uint32_t a) { return a; }
  static U uxor(U a, U b) { return a ^ b; }
  static U umul(U a, uint32_t m) { return a * m; }
  static U uadd(U a, uint32_t b) { return a + b; }
  template <int k>
  static U ushr(U a) {
    return a >> k;
  }
  // (h >> 8) >= thr ? a : 0, with thr in [1, 2^24].
  static V keep_if(U h, uint32_t thr, V a) { return (h >> 8) >= thr ? a : 0.0f; }

  // Double accumulation of squares.
  static D dzero() { return 0.0; }
  static D dadd_sq(D acc, V x) {
    const double d = x;
    return acc + d * d;
  }
  static double dreduce(D acc) { return acc; }
};

#if defined(__AVX2__) && defined(__FMA__)
struct Avx2 {
  static constexpr int W = 8;
  using V = __m256;
  using U = __m256i;
  struct D {
    __m256d lo, hi;
  };

  static V load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, V a) { _mm256_storeu_ps(p, a); }
  static V set1(float a) { return _mm256_set1_ps(a); }
  static V zero() { return _mm256_setzero_ps(); }
  static V add(V a, V b) { return _mm256_add_ps(a, b); }
  static V sub(V a, V b) { return _mm256_sub_ps(a, b); }
  static V mul(V a, V b) { return _mm256_mul_ps(a, b); }
  static V div(V a, V b) { return _mm256_div_ps(a, b); }
  static V fma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  static V fnma(V a, V b, V c) { return _mm256_fnmadd_ps(a, b, c); }
  static V fma_fused(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  static V max(V a, V b) { return _mm256_max_ps(a, b); }
  static V min(V a, V b) { return _mm256_min_ps(a, b); }
  static V sqrt(V a) { return _mm256_sqrt_ps(a); }
  static V opaque(V a) {
    __asm__("" : "+x"(a));
    return a;
  }
  static float reduce_add(V a) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
  }
  static float reduce_max(V a) {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
  }

  static V exp(V x) {
    // min/max return their second operand when one is NaN: x stays NaN.
    x = _mm256_min_ps(_mm256_set1_ps(kExpHi), x);
    x = _mm256_max_ps(_mm256_set1_ps(kExpLo), x);
    const V fx = _mm256_floor_ps(
        _mm256_add_ps(_mm256_mul_ps(x, _mm256_set1_ps(kLog2e)), _mm256_set1_ps(0.5f)));
    V r = _mm256_fnmadd_ps(fx, _mm256_set1_ps(kLn2Hi), x);
    r = _mm256_fnmadd_ps(fx, _mm256_set1_ps(kLn2Lo), r);
    const V z = _mm256_mul_ps(r, r);
    V p = _mm256_set1_ps(kExpP0);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kExpP1));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kExpP2));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kExpP3));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kExpP4));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kExpP5));
    p = _mm256_fmadd_ps(p, z, r);
    p = _mm256_add_ps(p, _mm256_set1_ps(1.0f));
    const __m256i n = _mm256_cvttps_epi32(fx);
    const __m256i bits = _mm256_slli_epi32(_mm256_add_epi32(n, _mm256_set1_epi32(126)), 23);
    return _mm256_mul_ps(_mm256_add_ps(p, p), _mm256_castsi256_ps(bits));
  }

  static V tanh(V x) {
    const V sign = _mm256_set1_ps(-0.0f);
    const V a = _mm256_andnot_ps(sign, x);
    const V z = _mm256_mul_ps(a, a);
    V p = _mm256_set1_ps(kTanhP0);
    p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(kTanhP1));
    p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(kTanhP2));
    p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(kTanhP3));
    p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(kTanhP4));
    const V small = _mm256_fmadd_ps(_mm256_mul_ps(p, z), a, a);
    const V t = exp(_mm256_mul_ps(_mm256_set1_ps(-2.0f), a));
    const V one = _mm256_set1_ps(1.0f);
    const V large = _mm256_div_ps(_mm256_sub_ps(one, t), _mm256_add_ps(one, t));
    const V is_small = _mm256_cmp_ps(a, _mm256_set1_ps(kTanhSmall), _CMP_LT_OQ);
    return _mm256_or_ps(_mm256_blendv_ps(large, small, is_small), _mm256_and_ps(sign, x));
  }

  static U index(uint32_t base) {
    return _mm256_add_epi32(_mm256_set1_epi32(static_cast<int>(base)),
                            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  static U uset1(uint32_t a) { return _mm256_set1_epi32(static_cast<int>(a)); }
  static U uxor(U a, U b) { return _mm256_xor_si256(a, b); }
  static U umul(U a, uint32_t m) {
    return _mm256_mullo_epi32(a, _mm256_set1_epi32(static_cast<int>(m)));
  }
  static U uadd(U a, uint32_t b) {
    return _mm256_add_epi32(a, _mm256_set1_epi32(static_cast<int>(b)));
  }
  template <int k>
  static U ushr(U a) {
    return _mm256_srli_epi32(a, k);
  }
  static V keep_if(U h, uint32_t thr, V a) {
    // (h >> 8) < 2^24, so a signed compare is exact: keep where (h >> 8) > thr - 1.
    const __m256i m =
        _mm256_cmpgt_epi32(_mm256_srli_epi32(h, 8), _mm256_set1_epi32(static_cast<int>(thr) - 1));
    return _mm256_and_ps(a, _mm256_castsi256_ps(m));
  }

  static D dzero() { return {_mm256_setzero_pd(), _mm256_setzero_pd()}; }
  static D dadd_sq(D acc, V x) {
    const __m256d lo = _mm256_cvtps_pd(_mm256_castps256_ps128(x));
    const __m256d hi = _mm256_cvtps_pd(_mm256_extractf128_ps(x, 1));
    return {_mm256_fmadd_pd(lo, lo, acc.lo), _mm256_fmadd_pd(hi, hi, acc.hi)};
  }
  static double dreduce(D acc) {
    const __m256d s = _mm256_add_pd(acc.lo, acc.hi);
    __m128d t = _mm_add_pd(_mm256_castpd256_pd128(s), _mm256_extractf128_pd(s, 1));
    t = _mm_add_sd(t, _mm_unpackhi_pd(t, t));
    return _mm_cvtsd_f64(t);
  }
};
#endif  // __AVX2__ && __FMA__

#if defined(__AVX512F__) && defined(__AVX512DQ__)
struct Avx512 {
  static constexpr int W = 16;
  using V = __m512;
  using U = __m512i;
  struct D {
    __m512d lo, hi;
  };

  static V load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, V a) { _mm512_storeu_ps(p, a); }
  static V set1(float a) { return _mm512_set1_ps(a); }
  static V zero() { return _mm512_setzero_ps(); }
  static V add(V a, V b) { return _mm512_add_ps(a, b); }
  static V sub(V a, V b) { return _mm512_sub_ps(a, b); }
  static V mul(V a, V b) { return _mm512_mul_ps(a, b); }
  static V div(V a, V b) { return _mm512_div_ps(a, b); }
  static V fma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  static V fnma(V a, V b, V c) { return _mm512_fnmadd_ps(a, b, c); }
  static V fma_fused(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  static V max(V a, V b) { return _mm512_max_ps(a, b); }
  static V min(V a, V b) { return _mm512_min_ps(a, b); }
  static V sqrt(V a) { return _mm512_sqrt_ps(a); }
  static V opaque(V a) {
    __asm__("" : "+v"(a));
    return a;
  }
  static float reduce_add(V a) {
    const __m256 h = _mm256_add_ps(_mm512_castps512_ps256(a), _mm512_extractf32x8_ps(a, 1));
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
  }
  static float reduce_max(V a) {
    const __m256 h = _mm256_max_ps(_mm512_castps512_ps256(a), _mm512_extractf32x8_ps(a, 1));
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
  }

  static V exp(V x) {
    x = _mm512_min_ps(_mm512_set1_ps(kExpHi), x);
    x = _mm512_max_ps(_mm512_set1_ps(kExpLo), x);
    const V fx = _mm512_roundscale_ps(
        _mm512_add_ps(_mm512_mul_ps(x, _mm512_set1_ps(kLog2e)), _mm512_set1_ps(0.5f)),
        _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
    V r = _mm512_fnmadd_ps(fx, _mm512_set1_ps(kLn2Hi), x);
    r = _mm512_fnmadd_ps(fx, _mm512_set1_ps(kLn2Lo), r);
    const V z = _mm512_mul_ps(r, r);
    V p = _mm512_set1_ps(kExpP0);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kExpP1));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kExpP2));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kExpP3));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kExpP4));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kExpP5));
    p = _mm512_fmadd_ps(p, z, r);
    p = _mm512_add_ps(p, _mm512_set1_ps(1.0f));
    const __m512i n = _mm512_cvttps_epi32(fx);
    const __m512i bits = _mm512_slli_epi32(_mm512_add_epi32(n, _mm512_set1_epi32(126)), 23);
    return _mm512_mul_ps(_mm512_add_ps(p, p), _mm512_castsi512_ps(bits));
  }

  static V tanh(V x) {
    const V a = _mm512_abs_ps(x);
    const V z = _mm512_mul_ps(a, a);
    V p = _mm512_set1_ps(kTanhP0);
    p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(kTanhP1));
    p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(kTanhP2));
    p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(kTanhP3));
    p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(kTanhP4));
    const V small = _mm512_fmadd_ps(_mm512_mul_ps(p, z), a, a);
    const V t = exp(_mm512_mul_ps(_mm512_set1_ps(-2.0f), a));
    const V one = _mm512_set1_ps(1.0f);
    const V large = _mm512_div_ps(_mm512_sub_ps(one, t), _mm512_add_ps(one, t));
    const __mmask16 is_small = _mm512_cmp_ps_mask(a, _mm512_set1_ps(kTanhSmall), _CMP_LT_OQ);
    return _mm512_or_ps(_mm512_mask_blend_ps(is_small, large, small),
                        _mm512_and_ps(_mm512_set1_ps(-0.0f), x));
  }

  static U index(uint32_t base) {
    return _mm512_add_epi32(
        _mm512_set1_epi32(static_cast<int>(base)),
        _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
  }
  static U uset1(uint32_t a) { return _mm512_set1_epi32(static_cast<int>(a)); }
  static U uxor(U a, U b) { return _mm512_xor_si512(a, b); }
  static U umul(U a, uint32_t m) {
    return _mm512_mullo_epi32(a, _mm512_set1_epi32(static_cast<int>(m)));
  }
  static U uadd(U a, uint32_t b) {
    return _mm512_add_epi32(a, _mm512_set1_epi32(static_cast<int>(b)));
  }
  template <int k>
  static U ushr(U a) {
    return _mm512_srli_epi32(a, k);
  }
  static V keep_if(U h, uint32_t thr, V a) {
    const __mmask16 m =
        _mm512_cmpge_epu32_mask(_mm512_srli_epi32(h, 8), _mm512_set1_epi32(static_cast<int>(thr)));
    return _mm512_maskz_mov_ps(m, a);
  }

  static D dzero() { return {_mm512_setzero_pd(), _mm512_setzero_pd()}; }
  static D dadd_sq(D acc, V x) {
    const __m512d lo = _mm512_cvtps_pd(_mm512_castps512_ps256(x));
    const __m512d hi = _mm512_cvtps_pd(_mm512_extractf32x8_ps(x, 1));
    return {_mm512_fmadd_pd(lo, lo, acc.lo), _mm512_fmadd_pd(hi, hi, acc.hi)};
  }
  static double dreduce(D acc) {
    const __m512d s = _mm512_add_pd(acc.lo, acc.hi);
    const __m256d h = _mm256_add_pd(_mm512_castpd512_pd256(s), _mm512_extractf64x4_pd(s, 1));
    __m128d t = _mm_add_pd(_mm256_castpd256_pd128(h), _mm256_extractf128_pd(h, 1));
    t = _mm_add_sd(t, _mm_unpackhi_pd(t, t));
    return _mm_cvtsd_f64(t);
  }
};
#endif  // __AVX512F__ && __AVX512DQ__

}  // namespace
}  // namespace lmkit::simd
