// AVX2 quantized kernels (core/quant_kernels.h), after ggml-cpu/arch/x86/quants.c:
// quantize_row_q8_0 (here with roundf's exact rounding, so the blocks equal the reference
// bit for bit), ggml_vec_dot_q8_0_q8_0 / q4_0_q8_0 (maddubs on |w| and sign(x, w)).
// Compiled with the avx2 flags (CMake: *_avx2.cpp); entered only after a CPUID check.
// Everything is in an anonymous namespace and uses no inline function from other headers
// (f16 is converted with F16C here), so no AVX2 body can be shared with scalar callers.
#include "lmkit/core/quant_kernels.h"
#include "lmkit/core/quant_kquants_impl.h"

#if !defined(__AVX2__) || !defined(__FMA__) || !defined(__F16C__)
#error "quant_avx2.cpp must be compiled with the avx2 flags"
#endif

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop

namespace lmkit::quant_detail {
namespace {

inline float half_to_float(f16 h) { return _cvtsh_ss(h.bits); }

// Sum of the 8 lanes: halves, then pairs.
inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

inline float hmax(__m256 v) {
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  s = _mm_max_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// roundf (half away from zero), exactly: trunc(p) + sign(p) where |p - trunc(p)| >= 0.5.
// p also feeds non-arithmetic uses (round, bit ops), so the compiler cannot fuse the
// product that made p into p - t (which would skip p's rounding).
inline __m256 round_half_away(__m256 p) {
  const __m256 sign = _mm256_set1_ps(-0.0f);
  const __m256 t = _mm256_round_ps(p, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
  const __m256 frac = _mm256_andnot_ps(sign, _mm256_sub_ps(p, t));
  const __m256 big = _mm256_cmp_ps(frac, _mm256_set1_ps(0.5f), _CMP_GE_OQ);
  const __m256 one = _mm256_or_ps(_mm256_set1_ps(1.0f), _mm256_and_ps(p, sign));
  return _mm256_add_ps(t, _mm256_and_ps(big, one));
}

// quantize_row_q8_0_ref with 8-wide arithmetic: the same amax (max is exact), the same
// scalar d and id, the same products and rounding.
void quantize_q8_0(const float* x, block_q8_0* y, int64_t k) {
  const __m256 sign = _mm256_set1_ps(-0.0f);
  for (int64_t i = 0; i < k / QK8_0; ++i) {
    const float* xb = x + i * QK8_0;
    __m256 v0 = _mm256_loadu_ps(xb), v1 = _mm256_loadu_ps(xb + 8);
    __m256 v2 = _mm256_loadu_ps(xb + 16), v3 = _mm256_loadu_ps(xb + 24);
    __m256 m = _mm256_max_ps(_mm256_max_ps(_mm256_andnot_ps(sign, v0), _mm256_andnot_ps(sign, v1)),
                             _mm256_max_ps(_mm256_andnot_ps(sign, v2), _mm256_andnot_ps(sign, v3)));
    const float amax = hmax(m);
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[i].d.bits = _cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const __m256 vid = _mm256_set1_ps(id);
    __m256i i0 = _mm256_cvttps_epi32(round_half_away(_mm256_mul_ps(v0, vid)));
    __m256i i1 = _mm256_cvttps_epi32(round_half_away(_mm256_mul_ps(v1, vid)));
    __m256i i2 = _mm256_cvttps_epi32(round_half_away(_mm256_mul_ps(v2, vid)));
    __m256i i3 = _mm256_cvttps_epi32(round_half_away(_mm256_mul_ps(v3, vid)));
    // Pack 32 int32 -> 32 int8 (values are within [-127, 127]) and undo the lane
    // interleaving of the packs (ggml's permutation).
    i0 = _mm256_packs_epi32(i0, i1);
    i2 = _mm256_packs_epi32(i2, i3);
    i0 = _mm256_packs_epi16(i0, i2);
    i0 = _mm256_permutevar8x32_epi32(i0, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(y[i].qs), i0);
  }
}

// ggml mul_sum_i8_pairs_float: the 8 int32 lane sums of w*x (as floats) via
// maddubs(|w|, sign(x, w)). x must not hold -128 (activations are in [-127, 127]).
inline __m256 mul_sum_i8(__m256i w, __m256i x) {
  const __m256i aw = _mm256_sign_epi8(w, w);
  const __m256i sx = _mm256_sign_epi8(x, w);
  const __m256i dot = _mm256_maddubs_epi16(aw, sx);
  return _mm256_cvtepi32_ps(_mm256_madd_epi16(dot, _mm256_set1_epi16(1)));
}

inline __m256i load_q8(const block_q8_0* b) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b->qs));
}

// ggml bytes_from_nibbles_32 then - 8: elements 0..15 (low nibbles), 16..31 (high).
inline __m256i load_q4(const block_q4_0* b) {
  const __m128i t = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b->qs));
  const __m256i bytes = _mm256_set_m128i(_mm_srli_epi16(t, 4), t);
  return _mm256_sub_epi8(_mm256_and_si256(bytes, _mm256_set1_epi8(0x0F)), _mm256_set1_epi8(8));
}

// R weight rows against one activation row; each row's arithmetic is the same for any R
// (so results do not depend on how rows are grouped across threads).
template <typename Block, int R>
void dot_rows_r(int64_t nb, const uint8_t* w, size_t stride, const block_q8_0* x, float* out) {
  __m256 acc[R];
  for (int r = 0; r < R; ++r) acc[r] = _mm256_setzero_ps();
  for (int64_t i = 0; i < nb; ++i) {
    const __m256i qx = load_q8(x + i);
    const float dx = half_to_float(x[i].d);
    for (int r = 0; r < R; ++r) {
      const Block* b = reinterpret_cast<const Block*>(w + size_t(r) * stride) + i;
      __m256i qw;
      if constexpr (sizeof(Block) == sizeof(block_q8_0)) {
        qw = load_q8(reinterpret_cast<const block_q8_0*>(b));
      } else {
        qw = load_q4(reinterpret_cast<const block_q4_0*>(b));
      }
      const __m256 d = _mm256_set1_ps(half_to_float(b->d) * dx);
      acc[r] = _mm256_fmadd_ps(d, mul_sum_i8(qw, qx), acc[r]);
    }
  }
  for (int r = 0; r < R; ++r) out[r] = hsum(acc[r]);
}

template <typename Block>
void dot_rows(int64_t n, const uint8_t* w, size_t stride, int64_t nrows, const block_q8_0* x,
              float* out) {
  const int64_t nb = n / QK8_0;
  int64_t r = 0;
  for (; r + 4 <= nrows; r += 4) dot_rows_r<Block, 4>(nb, w + size_t(r) * stride, stride, x, out + r);
  for (; r < nrows; ++r) dot_rows_r<Block, 1>(nb, w + size_t(r) * stride, stride, x, out + r);
}

void dot_rows_q8_0(int64_t n, const uint8_t* w, size_t stride, int64_t nrows, const block_q8_0* x,
                   float* out) {
  dot_rows<block_q8_0>(n, w, stride, nrows, x, out);
}

void dot_rows_q4_0(int64_t n, const uint8_t* w, size_t stride, int64_t nrows, const block_q8_0* x,
                   float* out) {
  dot_rows<block_q4_0>(n, w, stride, nrows, x, out);
}

// One activation row at a time (the int8 path's arithmetic does not depend on mrows).
template <void (*DotRows)(int64_t, const uint8_t*, size_t, int64_t, const block_q8_0*, float*)>
void gemm_rows(int64_t n, const uint8_t* w, size_t stride, int64_t nrows, const block_q8_0* x,
                int64_t mrows, float* y, size_t ystride) {
  for (int64_t m = 0; m < mrows; ++m)
    DotRows(n, w, stride, nrows, x + size_t(m) * size_t(n / QK8_0), y + size_t(m) * ystride);
}

// Plain float weight rows (f32 / f16 via F16C / bf16 via a 16-bit shift) against f32
// activations: 8 lanes with FMA per row, R rows sharing each load of x.
inline __m256 load8(const float* p) { return _mm256_loadu_ps(p); }
inline __m256 load8(const f16* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}
inline __m256 load8(const bf16* p) {
  const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}
inline float load1(float v) { return v; }
inline float load1(f16 v) { return _cvtsh_ss(v.bits); }
inline float load1(bf16 v) {
  return _mm_cvtss_f32(_mm_castsi128_ps(_mm_cvtsi32_si128(int(uint32_t(v.bits) << 16))));
}

template <typename T, int R>
void dot_rows_float_r(int64_t n, const uint8_t* w, size_t stride, const float* x, float* out) {
  __m256 acc[R];
  for (int r = 0; r < R; ++r) acc[r] = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 xv = _mm256_loadu_ps(x + i);
    for (int r = 0; r < R; ++r)
      acc[r] = _mm256_fmadd_ps(load8(reinterpret_cast<const T*>(w + size_t(r) * stride) + i), xv, acc[r]);
  }
  for (int r = 0; r < R; ++r) {
    const T* wr = reinterpret_cast<const T*>(w + size_t(r) * stride);
    float s = hsum(acc[r]);
    for (int64_t j = i; j < n; ++j) s += load1(wr[j]) * x[j];
    out[r] = s;
  }
}

template <typename T>
void dot_rows_float(int64_t n, const uint8_t* w, size_t stride, int64_t nrows, const float* x,
                    float* out) {
  int64_t r = 0;
  for (; r + 4 <= nrows; r += 4) dot_rows_float_r<T, 4>(n, w + size_t(r) * stride, stride, x, out + r);
  for (; r < nrows; ++r) dot_rows_float_r<T, 1>(n, w + size_t(r) * stride, stride, x, out + r);
}

constexpr QuantKernels kKernels{quantize_q8_0,         gemm_rows<dot_rows_q8_0>, gemm_rows<dot_rows_q4_0>,
                                dot_rows_float<float>, dot_rows_float<f16>, dot_rows_float<bf16>,
                                dequant_q4_K<half_to_float>, dequant_q6_K<half_to_float>,
                                nullptr, nullptr, nullptr, nullptr, nullptr, nullptr};

}  // namespace

const QuantKernels& quant_kernels_avx2() { return kKernels; }

}  // namespace lmkit::quant_detail
