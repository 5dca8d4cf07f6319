// AVX-512 VNNI quantized kernels (core/quant_kernels.h): int8 dot products with vpdpbusd
// (u8 x s8 -> int32, four products per lane), two 32-element blocks per 512-bit step, in
// tiles of 4 weight rows x 3 activation rows; per block the exact int32 sum is scaled by
// d_w * d_x as in ggml-cpu/quants.c vec_dot_q8_0_q8_0. Activation quantization matches
// quantize_row_q8_0_ref bit for bit.
// Compiled with the avx512 flags (CMake: *_avx512.cpp) and entered only when CPUID
// reports AVX-512 F/BW/VL/DQ and VNNI (quant.cpp). Anonymous namespace, no inline
// functions from other headers.
#include "lmkit/core/quant_kernels.h"
#include "lmkit/core/quant_kquants_impl.h"

#if !defined(__AVX512F__) || !defined(__AVX512BW__) || !defined(__AVX512VNNI__) || \
    !defined(__AVX512VL__) || !defined(__AVX512DQ__)
#error "quant_avx512.cpp must be compiled with the avx512 flags"
#endif

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop

namespace lmkit::quant_detail {
namespace {

inline float half_to_float(f16 h) { return _cvtsh_ss(h.bits); }

inline float hsum256(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

inline float hsum512(__m512 v) {
  return hsum256(_mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1)));
}

// roundf (half away from zero), exactly: trunc(p) + sign(p) where |p - trunc(p)| >= 0.5.
// p also feeds non-arithmetic uses (round, bit ops), so the compiler cannot fuse the
// product that made p into p - t (which would skip p's rounding).
inline __m512 round_half_away(__m512 p) {
  const __m512 t = _mm512_roundscale_ps(p, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
  const __m512 frac = _mm512_abs_ps(_mm512_sub_ps(p, t));
  const __mmask16 big = _mm512_cmp_ps_mask(frac, _mm512_set1_ps(0.5f), _CMP_GE_OQ);
  const __m512i sign = _mm512_and_si512(_mm512_castps_si512(p), _mm512_set1_epi32(int(0x80000000u)));
  const __m512 one = _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(_mm512_set1_ps(1.0f)), sign));
  return _mm512_mask_add_ps(t, big, t, one);
}

// quantize_row_q8_0_ref, 16 wide: the same amax (max is exact), scalar d and id, the same
// products and rounding.
void quantize_q8_0(const float* x, block_q8_0* y, int64_t k) {
  for (int64_t i = 0; i < k / QK8_0; ++i) {
    const __m512 v0 = _mm512_loadu_ps(x + i * QK8_0);
    const __m512 v1 = _mm512_loadu_ps(x + i * QK8_0 + 16);
    const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[i].d.bits = _cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const __m512 vid = _mm512_set1_ps(id);
    const __m512i i0 = _mm512_cvttps_epi32(round_half_away(_mm512_mul_ps(v0, vid)));
    const __m512i i1 = _mm512_cvttps_epi32(round_half_away(_mm512_mul_ps(v1, vid)));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(y[i].qs), _mm512_cvtepi32_epi8(i0));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(y[i].qs + 16), _mm512_cvtepi32_epi8(i1));
  }
}

inline __m256i load_q8(const block_q8_0* b) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b->qs));
}

// Elements 0..15 (low nibbles) then 16..31 (high nibbles), minus 8.
inline __m256i load_q4(const block_q4_0* b) {
  const __m128i t = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b->qs));
  const __m256i bytes = _mm256_inserti128_si256(_mm256_castsi128_si256(t), _mm_srli_epi16(t, 4), 1);
  return _mm256_sub_epi8(_mm256_and_si256(bytes, _mm256_set1_epi8(0x0F)), _mm256_set1_epi8(8));
}

template <typename Block>
inline __m256i load_w(const Block* b) {
  if constexpr (sizeof(Block) == sizeof(block_q8_0)) {
    return load_q8(reinterpret_cast<const block_q8_0*>(b));
  } else {
    return load_q4(reinterpret_cast<const block_q4_0*>(b));
  }
}

inline __m512i join(__m256i lo, __m256i hi) {
  return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}

inline __m512 join(float lo, float hi) {
  return _mm512_insertf32x8(_mm512_castps256_ps512(_mm256_set1_ps(lo)), _mm256_set1_ps(hi), 1);
}

// vpdpbusd multiplies unsigned by signed bytes. The activations x (in [-127, 127]) are made
// unsigned as x + 128 (a flip of the sign bit), and the accumulator starts at
// -128 * (lane sums of w), so each int32 lane ends at exactly sum(x * w) over its 4 bytes
// (the oneDNN / FBGEMM zero-point compensation). The correction depends on w alone and is
// shared by every activation row of a tile.
inline __m512i minus_128_lane_sums(__m512i w) {
  const __m512i s = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_set1_epi8(1), w);
  return _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_slli_epi32(s, 7));
}

// Blocks i and i+1 of a row as one vector, or block i and zeros when i is the last block
// (a zero block adds exactly 0 to the sums below).
template <typename Block>
inline __m512i load_pair(const Block* b, bool two) {
  return join(load_w(b), two ? load_w(b + 1) : _mm256_setzero_si256());
}
template <typename Block>
inline __m512 scales_pair(const Block* b, bool two) {
  return join(half_to_float(b[0].d), two ? half_to_float(b[1].d) : 0.0f);
}

// RW weight rows x RX activation rows. Per pair of blocks and output:
// acc += float(sum_i x_i w_i) * d_w * d_x (two blocks in the low / high 256 bits).
template <typename Block, int RW, int RX>
void gemm_tile(int64_t nb, const uint8_t* w, size_t stride, const block_q8_0* x, float* y,
               size_t ystride) {
  __m512 acc[RW][RX];
  for (int r = 0; r < RW; ++r)
    for (int m = 0; m < RX; ++m) acc[r][m] = _mm512_setzero_ps();
  const __m512i flip = _mm512_set1_epi8(char(0x80));
  for (int64_t i = 0; i < nb; i += 2) {
    const bool two = i + 1 < nb;
    __m512i xu[RX];
    __m512 dx[RX];
    for (int m = 0; m < RX; ++m) {
      const block_q8_0* xb = x + size_t(m) * size_t(nb) + i;
      xu[m] = _mm512_xor_si512(load_pair(xb, two), flip);
      dx[m] = scales_pair(xb, two);
    }
    for (int r = 0; r < RW; ++r) {
      const Block* b = reinterpret_cast<const Block*>(w + size_t(r) * stride) + i;
      const __m512i qw = load_pair(b, two);
      const __m512i corr = minus_128_lane_sums(qw);
      const __m512 dw = scales_pair(b, two);
      for (int m = 0; m < RX; ++m) {
        const __m512i dot = _mm512_dpbusd_epi32(corr, xu[m], qw);
        acc[r][m] = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(dot), dw), dx[m], acc[r][m]);
      }
    }
  }
  for (int r = 0; r < RW; ++r)
    for (int m = 0; m < RX; ++m) y[size_t(m) * ystride + size_t(r)] = hsum512(acc[r][m]);
}

constexpr int kTileW = 4;  // weight rows per tile
constexpr int kTileX = 3;  // activation rows per tile (4 x 3 accumulators + operands fit 32 zmm)

template <typename Block>
void gemm(int64_t n, const uint8_t* w, size_t stride, int64_t nrows, const block_q8_0* x,
          int64_t mrows, float* y, size_t ystride) {
  const int64_t nb = n / QK8_0;
  int64_t m = 0;
  for (; m + kTileX <= mrows; m += kTileX) {
    const block_q8_0* xm = x + size_t(m) * size_t(nb);
    float* ym = y + size_t(m) * ystride;
    int64_t r = 0;
    for (; r + kTileW <= nrows; r += kTileW)
      gemm_tile<Block, kTileW, kTileX>(nb, w + size_t(r) * stride, stride, xm, ym + r, ystride);
    for (; r < nrows; ++r)
      gemm_tile<Block, 1, kTileX>(nb, w + size_t(r) * stride, stride, xm, ym + r, ystride);
  }
  for (; m < mrows; ++m) {
    const block_q8_0* xm = x + size_t(m) * size_t(nb);
    float* ym = y + size_t(m) * ystride;
    int64_t r = 0;
    for (; r + kTileW <= nrows; r += kTileW)
      gemm_tile<Block, kTileW, 1>(nb, w + size_t(r) * stride, stride, xm, ym + r, ystride);
    for (; r < nrows; ++r) gemm_tile<Block, 1, 1>(nb, w + size_t(r) * stride, stride, xm, ym + r, ystride);
  }
}

void gemm_q8_0(int64_t n, const uint8_t* w, size_t stride, int64_t nrows, const block_q8_0* x,
               int64_t mrows, float* y, size_t ystride) {
  gemm<block_q8_0>(n, w, stride, nrows, x, mrows, y, ystride);
}

void gemm_q4_0(int64_t n, const uint8_t* w, size_t stride, int64_t nrows, const block_q8_0* x,
               int64_t mrows, float* y, size_t ystride) {
  gemm<block_q4_0>(n, w, stride, nrows, x, mrows, y, ystride);
}

// Plain float weight rows (f32 / f16 via F16C / bf16 via a 16-bit shift) against f32
// activations: 16 lanes with FMA per row, R rows sharing each load of x.
inline __m512 load16(const float* p) { return _mm512_loadu_ps(p); }
inline __m512 load16(const f16* p) {
  return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}
inline __m512 load16(const bf16* p) {
  const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}
inline float load1(float v) { return v; }
inline float load1(f16 v) { return _cvtsh_ss(v.bits); }
inline float load1(bf16 v) {
  return _mm_cvtss_f32(_mm_castsi128_ps(_mm_cvtsi32_si128(int(uint32_t(v.bits) << 16))));
}

template <typename T, int R>
void dot_rows_float_r(int64_t n, const uint8_t* w, size_t stride, const float* x, float* out) {
  __m512 acc[R];
  for (int r = 0; r < R; ++r) acc[r] = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512 xv = _mm512_loadu_ps(x + i);
    for (int r = 0; r < R; ++r)
      acc[r] = _mm512_fmadd_ps(load16(reinterpret_cast<const T*>(w + size_t(r) * stride) + i), xv, acc[r]);
  }
  for (int r = 0; r < R; ++r) {
    const T* wr = reinterpret_cast<const T*>(w + size_t(r) * stride);
    float s = hsum512(acc[r]);
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

constexpr QuantKernels kKernels{quantize_q8_0,         gemm_q8_0,            gemm_q4_0,
                                dot_rows_float<float>, dot_rows_float<f16>, dot_rows_float<bf16>,
                                dequant_q4_K<half_to_float>, dequant_q6_K<half_to_float>};

}  // namespace

const QuantKernels& quant_kernels_avx512_vnni() { return kKernels; }

}  // namespace lmkit::quant_detail
