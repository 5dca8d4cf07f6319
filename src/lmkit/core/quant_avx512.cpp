// AVX-512 VNNI quantized kernels (core/quant_kernels.h): int8 dot products with vpdpbusd
// (u8 x s8 -> int32, four products per lane) on activations quantized to Q8_0 and laid out
// once per product (prep_x), a 16-row decode kernel and a repacked GEMM tile for prefill
// (see "Q8_0 / Q4_0 weights x Q8_0 activations" below), and the same products on weights
// packed once at load (core/packed_quant.h, "packed weights" below); per block the exact int32 sum is
// scaled by d_w * d_x as in ggml-cpu/quants.c vec_dot_q8_0_q8_0. Activation quantization
// matches quantize_row_q8_0_ref bit for bit.
// Compiled with the avx512 flags (CMake: *_avx512.cpp) and entered only when CPUID
// reports AVX-512 F/BW/VL/DQ and VNNI (quant.cpp). Anonymous namespace, no inline
// functions from other headers.
#include "lmkit/core/quant_kernels.h"
#include "lmkit/core/quant_kquants_impl.h"

#include <type_traits>

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

// --- Q8_0 / Q4_0 weights x Q8_0 activations ------------------------------------------------
// vpdpbusd multiplies unsigned by signed bytes, four products per int32 lane. The weights
// are made unsigned by an offset that keeps them exact: Q8_0 quants as w + 128 (a flip of
// the sign bit), Q4_0 as the stored nibble (w + 8). The activations x stay signed, and the
// offset comes back out per block as c = 128 * sum(x) or 8 * sum(x), which depends on x
// alone and is computed once per product (prep_x). So for every (weight row, activation
// row, block) S_b = sum(wu * x) - c is exactly ggml's int32 block sum, and every output is
//   acc = 0; for b in order: acc = fma(float(S_b), d_w[b] * d_x[b], acc)
// in both kernels below, which therefore give bit-identical results:
//   - gemv16 (few activation rows, decode): 16 weight rows read in place, each row's two
//     blocks per step in one vector; the 16 per-row vectors are reduced to one vector of
//     16 block sums (lane = row);
//   - the tiled GEMM (prefill): 16 rows are first repacked so that one vector holds 4
//     bytes of each of the 16 rows (lane = row), and each 4 bytes of an activation row are
//     broadcast against it (the usual int8 GEMM micro-kernel, as oneDNN's / ggml's repacked
//     x86 kernels), a tile of 2 x 16 weight rows x 4 activation rows in registers.

// The activations of one product, per row: qs (nbp * 32 int8, natural order; nbp = the
// block count rounded up to even, the extra block zero), d (nbp f32) and c (nbp int32).
struct Prep {
  const int8_t* qs;
  const float* d;
  const int32_t* c;
};

inline int64_t even_blocks(int64_t n) {
  const int64_t nb = n / QK8_0;
  return nb + (nb & 1);
}
inline size_t align64(size_t b) { return (b + 63) & ~size_t(63); }

size_t prep_bytes(int64_t n, int64_t mrows) {
  const size_t nbp = size_t(even_blocks(n)), m = size_t(mrows);
  return align64(m * nbp * 32) + 2 * align64(m * nbp * 4);
}

Prep prep_row(const void* prep, int64_t n, int64_t mrows, int64_t m) {
  const size_t nbp = size_t(even_blocks(n));
  const auto* base = static_cast<const uint8_t*>(prep);
  const size_t qs_bytes = align64(size_t(mrows) * nbp * 32), f_bytes = align64(size_t(mrows) * nbp * 4);
  return {reinterpret_cast<const int8_t*>(base) + size_t(m) * nbp * 32,
          reinterpret_cast<const float*>(base + qs_bytes) + size_t(m) * nbp,
          reinterpret_cast<const int32_t*>(base + qs_bytes + f_bytes) + size_t(m) * nbp};
}

void prep_x(GgmlType wt, int64_t n, const block_q8_0* x, int64_t mrows, void* prep) {
  const int64_t nb = n / QK8_0, nbp = even_blocks(n);
  const int shift = wt == GgmlType::Q8_0 ? 7 : 3;  // c = 128 * sum or 8 * sum
  const __m256i ones = _mm256_set1_epi8(1);
  for (int64_t m = 0; m < mrows; ++m) {
    const Prep p = prep_row(prep, n, mrows, m);
    auto* qs = const_cast<int8_t*>(p.qs);
    auto* d = const_cast<float*>(p.d);
    auto* c = const_cast<int32_t*>(p.c);
    for (int64_t b = 0; b < nbp; ++b) {
      if (b < nb) {
        const block_q8_0& blk = x[m * nb + b];
        const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk.qs));
        _mm256_store_si256(reinterpret_cast<__m256i*>(qs + b * 32), q);
        const __m256i s8 = _mm256_dpbusd_epi32(_mm256_setzero_si256(), ones, q);
        const __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(s8), _mm256_extracti128_si256(s8, 1));
        const __m128i s2 = _mm_add_epi32(s4, _mm_unpackhi_epi64(s4, s4));
        const int32_t sum = _mm_cvtsi128_si32(_mm_add_epi32(s2, _mm_shuffle_epi32(s2, 1)));
        d[b] = half_to_float(blk.d);
        c[b] = sum * (int32_t(1) << shift);
      } else {
        _mm256_store_si256(reinterpret_cast<__m256i*>(qs + b * 32), _mm256_setzero_si256());
        d[b] = 0.0f;
        c[b] = 0;
      }
    }
  }
}

// Blocks b and b+1 of a weight row, unsigned, elements in order (block b in the low 256
// bits); `two` false: block b only, zeros above. p: block b.
inline __m512i load_pair_q8(const uint8_t* p, bool two) {
  const __m256i lo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 2));
  const __m256i hi = two ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 2 + sizeof(block_q8_0)))
                         : _mm256_setzero_si256();
  return _mm512_xor_si512(_mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1), _mm512_set1_epi8(char(0x80)));
}

// The raw words of a Q4_0 block pair from its start ([d_b, t_b, d_b+1, t_b+1]) -> the
// unsigned nibbles in element order: [lo t_b, hi t_b, lo t_b+1, hi t_b+1].
inline __m512i nibbles_q4(__m512i raw) {
  const __m512i idx = _mm512_set_epi16(17, 16, 15, 14, 13, 12, 11, 10, 17, 16, 15, 14, 13, 12, 11, 10,
                                       8, 7, 6, 5, 4, 3, 2, 1, 8, 7, 6, 5, 4, 3, 2, 1);
  __m512i v = _mm512_permutexvar_epi16(idx, raw);
  v = _mm512_mask_srli_epi16(v, 0xFF00FF00u, v, 4);
  return _mm512_and_si512(v, _mm512_set1_epi8(0x0F));
}

// D[j]: the dpbusd lanes of row j for a block pair, 128-bit lanes [b, b, b+1, b+1].
// -> sb / sb1: the 16 rows' block sums of b / b+1 (lane j = row j).
inline void reduce16(const __m512i* D, __m512i& sb, __m512i& sb1) {
  __m512i E[8], F[4];
  for (int i = 0; i < 8; ++i)  // per 128-bit lane: [r0 l0+l2, r1 l0+l2, r0 l1+l3, r1 l1+l3]
    E[i] = _mm512_add_epi32(_mm512_unpacklo_epi32(D[2 * i], D[2 * i + 1]),
                            _mm512_unpackhi_epi32(D[2 * i], D[2 * i + 1]));
  for (int i = 0; i < 4; ++i)  // per 128-bit lane: rows 4i..4i+3, that lane's sum
    F[i] = _mm512_add_epi32(_mm512_unpacklo_epi64(E[2 * i], E[2 * i + 1]),
                            _mm512_unpackhi_epi64(E[2 * i], E[2 * i + 1]));
  // [b rows 0-3, b+1 rows 0-3, b rows 4-7, b+1 rows 4-7], and the same for rows 8-15.
  const __m512i g0 = _mm512_add_epi32(_mm512_shuffle_i32x4(F[0], F[1], 0x88), _mm512_shuffle_i32x4(F[0], F[1], 0xDD));
  const __m512i g1 = _mm512_add_epi32(_mm512_shuffle_i32x4(F[2], F[3], 0x88), _mm512_shuffle_i32x4(F[2], F[3], 0xDD));
  sb = _mm512_shuffle_i32x4(g0, g1, 0x88);
  sb1 = _mm512_shuffle_i32x4(g0, g1, 0xDD);
}


inline __m512 block_step(__m512 acc, __m512i s, int32_t c, __m512 dw, float dx) {
  return _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(s, _mm512_set1_epi32(c))),
                         _mm512_mul_ps(dw, _mm512_set1_ps(dx)), acc);
}

constexpr size_t kPrefetchRows = 16;

// y[j] = dot(row j, x) for j < nrows <= 16 (lanes past nrows repeat the last row). Full:
// nrows == 16, rows reached by stepping one pointer (no table of 16 row pointers, which
// would not fit the registers).
template <bool Q4, bool Full>
void gemv16(int64_t nb, const uint8_t* w, size_t stride, int64_t nrows, const Prep& x, float* y,
            int64_t seg_blocks = 0, size_t lds = 0) {
  constexpr size_t bs = Q4 ? sizeof(block_q4_0) : sizeof(block_q8_0);
  const uint8_t* row[16];
  if constexpr (!Full)
    for (int j = 0; j < 16; ++j) row[j] = w + size_t(j < nrows ? j : nrows - 1) * stride;
  // Word permute index of the scales: words 0..15 take word 0 (d_b), 16..31 word 9 (Q4_0:
  // d_b+1 18 bytes on) or 17 (Q8_0: 34 bytes on).
  const __m512i didx = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(Q4 ? 9 : 17), 1);
  __m512 acc = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; b += 2) {
    const bool two = b + 1 < nb;
    const __m512i xv = _mm512_load_si512(x.qs + b * 32);
    // The 16 rows' scales of blocks b and b+1 collect in the words of ds: row j's d_b in
    // word j, its d_b+1 in word 16 + j (one merge-masked word permute per row, cheaper
    // than a gather or scalar loads).
    __m512i ds = _mm512_setzero_si512();
    __m512i D[16];
    const uint8_t* p = w + size_t(b) * bs;
    for (int j = 0; j < 16; ++j, p += stride) {
      const uint8_t* q = Full ? p : row[j] + size_t(b) * bs;
      // The same place 16 rows on (the next group): rows are too short (a few hundred
      // bytes) for the hardware prefetcher to pick up 16 interleaved streams in time.
      if constexpr (Full) _mm_prefetch(reinterpret_cast<const char*>(q + kPrefetchRows * stride), _MM_HINT_T0);
      __m512i wv, dv;
      if constexpr (Q4) {
        // Words of the two blocks: d_b (0), t_b (1..8), d_b+1 (9), t_b+1 (10..17).
        const __m512i raw = _mm512_maskz_loadu_epi16(two ? 0x3FFFFu : 0x1FFu, q);
        wv = nibbles_q4(raw);
        dv = raw;
      } else {
        wv = load_pair_q8(q, two);
        dv = _mm512_maskz_loadu_epi16(two ? 0x20001u : 0x1u, q);  // d_b (word 0), d_b+1 (word 17)
      }
      ds = _mm512_mask_permutexvar_epi16(ds, (1u << j) | (1u << (16 + j)), didx, dv);
      D[j] = _mm512_dpbusd_epi32(_mm512_setzero_si512(), wv, xv);
    }
    __m512i sb, sb1;
    reduce16(D, sb, sb1);
    acc = block_step(acc, sb, x.c[b], _mm512_cvtph_ps(_mm512_castsi512_si256(ds)), x.d[b]);
    if (two)
      acc = block_step(acc, sb1, x.c[b + 1], _mm512_cvtph_ps(_mm512_extracti64x4_epi64(ds, 1)), x.d[b + 1]);
    if (seg_blocks > 0 && (b + 2) % seg_blocks == 0) {  // the end of a column segment
      _mm512_mask_storeu_ps(y + size_t((b + 2) / seg_blocks - 1) * lds, __mmask16((1u << nrows) - 1u), acc);
      acc = _mm512_setzero_ps();
    }
  }
  if (seg_blocks == 0) _mm512_mask_storeu_ps(y, __mmask16((1u << nrows) - 1u), acc);
}

// Repacked weights of 16 rows, per block: 8 groups of 64 bytes (lane j: 4 unsigned weight
// bytes of row j) then the 16 rows' scales as f32.
constexpr size_t kRepBlock = 8 * 64 + 64;

template <bool Q4>
void repack16(int64_t nb, const uint8_t* w, size_t stride, int64_t nrows, uint8_t* out) {
  constexpr size_t bs = Q4 ? sizeof(block_q4_0) : sizeof(block_q8_0);
  const __m256i gidx = _mm256_setr_epi32(0, 16, 32, 48, 64, 80, 96, 112);  // dword index of group g
  for (int j = 0; j < 16; ++j) {
    const uint8_t* r = w + size_t(j < nrows ? j : nrows - 1) * stride;
    for (int64_t b = 0; b < nb; ++b) {
      const uint8_t* p = r + size_t(b) * bs;
      __m256i v;
      if constexpr (Q4) {
        const __m128i t = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 2));
        const __m128i m = _mm_set1_epi8(0x0F);
        v = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_and_si128(t, m)),
                                    _mm_and_si128(_mm_srli_epi16(t, 4), m), 1);
      } else {
        v = _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 2)),
                             _mm256_set1_epi8(char(0x80)));
      }
      uint8_t* ob = out + size_t(b) * kRepBlock;
      _mm256_i32scatter_epi32(ob + j * 4, gidx, v, 4);
      f16 d;
      __builtin_memcpy(&d, p, sizeof(d));
      reinterpret_cast<float*>(ob + 512)[j] = half_to_float(d);
    }
  }
}

// RG (1 or 2) repacked groups of 16 rows x RX activation rows. y + r*16 + m*ystride;
// valid[r]: rows of group r to store.
template <int RG, int RX>
void gemm_tile(int64_t nb, const uint8_t* const* rep, const Prep* xs, float* y, size_t ystride,
               const int* valid) {
  __m512 acc[RG][RX];
  for (int r = 0; r < RG; ++r)
    for (int m = 0; m < RX; ++m) acc[r][m] = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    __m512i s[RG][RX];
    for (int r = 0; r < RG; ++r)
      for (int m = 0; m < RX; ++m) s[r][m] = _mm512_setzero_si512();
    for (int g = 0; g < 8; ++g) {
      __m512i wv[RG];
      for (int r = 0; r < RG; ++r) wv[r] = _mm512_load_si512(rep[r] + size_t(b) * kRepBlock + g * 64);
      for (int m = 0; m < RX; ++m) {
        int32_t x4;
        __builtin_memcpy(&x4, xs[m].qs + b * 32 + g * 4, 4);
        const __m512i xb = _mm512_set1_epi32(x4);
        for (int r = 0; r < RG; ++r) s[r][m] = _mm512_dpbusd_epi32(s[r][m], wv[r], xb);
      }
    }
    for (int r = 0; r < RG; ++r) {
      const __m512 dw = _mm512_load_ps(reinterpret_cast<const float*>(rep[r] + size_t(b) * kRepBlock + 512));
      for (int m = 0; m < RX; ++m) acc[r][m] = block_step(acc[r][m], s[r][m], xs[m].c[b], dw, xs[m].d[b]);
    }
  }
  for (int r = 0; r < RG; ++r)
    for (int m = 0; m < RX; ++m)
      _mm512_mask_storeu_ps(y + size_t(m) * ystride + size_t(r) * 16, __mmask16((1u << valid[r]) - 1u),
                            acc[r][m]);
}

constexpr int kGemmRows = 4;     // activation rows per GEMM tile
constexpr int64_t kGemmMin = 4;  // from this many activation rows on, repack and use the GEMM

size_t gemm_scratch_bytes(int64_t n) { return 2 * size_t(n / QK8_0) * kRepBlock; }

template <bool Q4, int RG>
void gemm_rows(int64_t nb, const uint8_t* const* rep, const void* prep, int64_t n, int64_t mrows,
               float* y, size_t ystride, const int* valid) {
  int64_t m = 0;
  for (; m + kGemmRows <= mrows; m += kGemmRows) {
    Prep xs[kGemmRows];
    for (int i = 0; i < kGemmRows; ++i) xs[i] = prep_row(prep, n, mrows, m + i);
    gemm_tile<RG, kGemmRows>(nb, rep, xs, y + size_t(m) * ystride, ystride, valid);
  }
  for (; m < mrows; ++m) {
    const Prep xs = prep_row(prep, n, mrows, m);
    gemm_tile<RG, 1>(nb, rep, &xs, y + size_t(m) * ystride, ystride, valid);
  }
}

template <bool Q4>
void gemm_prepped_t(int64_t n, const uint8_t* w, size_t stride, int64_t nrows, const void* prep,
                    int64_t mrows, float* y, size_t ystride, void* scratch) {
  const int64_t nb = n / QK8_0;
  if (mrows < kGemmMin) {
    for (int64_t r0 = 0; r0 < nrows; r0 += 16) {
      const int64_t nr = nrows - r0 < 16 ? nrows - r0 : 16;
      for (int64_t m = 0; m < mrows; ++m)
        (nr == 16 ? gemv16<Q4, true> : gemv16<Q4, false>)(nb, w + size_t(r0) * stride, stride, nr,
                                                           prep_row(prep, n, mrows, m),
                                                           y + size_t(m) * ystride + size_t(r0), 0, 0);
    }
    return;
  }
  uint8_t* rep[2] = {static_cast<uint8_t*>(scratch), static_cast<uint8_t*>(scratch) + size_t(nb) * kRepBlock};
  for (int64_t r0 = 0; r0 < nrows; r0 += 32) {
    int valid[2];
    valid[0] = int(nrows - r0 < 16 ? nrows - r0 : 16);
    valid[1] = int(nrows - r0 - 16 < 16 ? nrows - r0 - 16 : 16);
    repack16<Q4>(nb, w + size_t(r0) * stride, stride, valid[0], rep[0]);
    if (valid[1] > 0) {
      repack16<Q4>(nb, w + size_t(r0 + 16) * stride, stride, valid[1], rep[1]);
      gemm_rows<Q4, 2>(nb, rep, prep, n, mrows, y + r0, ystride, valid);
    } else {
      gemm_rows<Q4, 1>(nb, rep, prep, n, mrows, y + r0, ystride, valid);
    }
  }
}

// Partial products over column segments of seg_blocks blocks (even): gemv16 stores and
// restarts its sums at every segment's end. mrows < kGemmMin.
template <bool Q4>
void gemv_segments_t(int64_t n, const uint8_t* w, size_t stride, int64_t nrows, const void* prep,
                     int64_t mrows, float* y, size_t ystride, int64_t seg_blocks, size_t lds) {
  const int64_t nb = n / QK8_0;
  for (int64_t r0 = 0; r0 < nrows; r0 += 16) {
    const int64_t nr = nrows - r0 < 16 ? nrows - r0 : 16;
    for (int64_t m = 0; m < mrows; ++m)
      (nr == 16 ? gemv16<Q4, true> : gemv16<Q4, false>)(nb, w + size_t(r0) * stride, stride, nr,
                                                         prep_row(prep, n, mrows, m),
                                                         y + size_t(m) * ystride + size_t(r0),
                                                         seg_blocks, lds);
  }
}

// The table's entry points take the weight type at run time; their bodies are templates
// on it (Q4: true for Q4_0, false for Q8_0): body(std::true_type / std::false_type).
template <class F>
void by_weight_type(GgmlType wt, F&& body) {
  if (wt == GgmlType::Q4_0)
    body(std::true_type{});
  else
    body(std::false_type{});
}

void gemv_segments(GgmlType wt, int64_t n, const uint8_t* w, size_t stride, int64_t nrows,
                   const void* prep, int64_t mrows, float* y, size_t ystride, int64_t seg_blocks,
                   size_t lds) {
  by_weight_type(wt, [&](auto q4) {
    gemv_segments_t<decltype(q4)::value>(n, w, stride, nrows, prep, mrows, y, ystride, seg_blocks, lds);
  });
}

// --- packed weights (core/packed_quant.h) ---------------------------------------------------
// 16 rows per group, lane j = row j, as the tiled GEMM's repacked tile but packed once at
// load time and Q4_0 still in nibbles: per block, V vectors of 4 quant bytes per row,
// each broadcast 4 bytes of an activation row against it. No cross-lane reduction, no
// scale gather: the block sums of 16 rows come out in 16 lanes, and the per-block
// arithmetic is block_step's, in block order, as gemv16 and gemm_tile: the same bits.
template <bool Q4>
constexpr size_t kPackVecBytes = Q4 ? 4 * 64 : 8 * 64;  // one block's vectors
template <bool Q4>
constexpr size_t kPackPairBytes = 64 + 2 * kPackVecBytes<Q4>;

inline __m512i bcast4(const int8_t* p) {
  int32_t v;
  __builtin_memcpy(&v, p, 4);
  return _mm512_set1_epi32(v);
}

// s[r][m] = the unsigned-weight block sums (before the offset c) of the block whose
// vectors start at blk[r], against activation quants xq[m] (that block's 32 bytes).
template <bool Q4, int RG, int RX>
inline void packed_block_sums(const uint8_t* const* blk, const int8_t* const* xq, __m512i (&s)[RG][RX]) {
  for (int r = 0; r < RG; ++r)
    for (int m = 0; m < RX; ++m) s[r][m] = _mm512_setzero_si512();
  if constexpr (Q4 && RG * RX > 6) {
    // GEMM tiles: the high nibbles shifted down (one instruction per vector, shared by the
    // RX activation rows) and summed with the low ones, so that the tile fits the registers;
    // each activation row's 4 bytes broadcast just before use, against every group.
    const __m512i lo_mask = _mm512_set1_epi8(0x0F);
    for (int v = 0; v < 4; ++v) {
      __m512i lo[RG], hi[RG];
      for (int r = 0; r < RG; ++r) {
        const __m512i raw = _mm512_load_si512(blk[r] + 64 * v);
        lo[r] = _mm512_and_si512(raw, lo_mask);
        hi[r] = _mm512_and_si512(_mm512_srli_epi16(raw, 4), lo_mask);
      }
      for (int m = 0; m < RX; ++m) {
        const __m512i xl = bcast4(xq[m] + 4 * v), xh = bcast4(xq[m] + 16 + 4 * v);
        for (int r = 0; r < RG; ++r) {
          s[r][m] = _mm512_dpbusd_epi32(s[r][m], lo[r], xl);
          s[r][m] = _mm512_dpbusd_epi32(s[r][m], hi[r], xh);
        }
      }
    }
  } else if constexpr (Q4) {
    // Decode: the low nibbles are elements 4v..4v+3, the high ones 16+4v..: the high
    // nibbles are summed in place (16 times their value, masked but not shifted) and the
    // sum shifted down once per block (exact: a multiple of 16, at most 16*4*4*15*128).
    __m512i sh[RG][RX];
    for (int r = 0; r < RG; ++r)
      for (int m = 0; m < RX; ++m) sh[r][m] = _mm512_setzero_si512();
    const __m512i lo_mask = _mm512_set1_epi8(0x0F), hi_mask = _mm512_set1_epi8(char(0xF0));
    for (int v = 0; v < 4; ++v) {
      __m512i xl[RX], xh[RX];
      for (int m = 0; m < RX; ++m) xl[m] = bcast4(xq[m] + 4 * v), xh[m] = bcast4(xq[m] + 16 + 4 * v);
      for (int r = 0; r < RG; ++r) {
        const __m512i raw = _mm512_load_si512(blk[r] + 64 * v);
        const __m512i lo = _mm512_and_si512(raw, lo_mask), hi = _mm512_and_si512(raw, hi_mask);
        for (int m = 0; m < RX; ++m) {
          s[r][m] = _mm512_dpbusd_epi32(s[r][m], lo, xl[m]);
          sh[r][m] = _mm512_dpbusd_epi32(sh[r][m], hi, xh[m]);
        }
      }
    }
    for (int r = 0; r < RG; ++r)
      for (int m = 0; m < RX; ++m) s[r][m] = _mm512_add_epi32(s[r][m], _mm512_srai_epi32(sh[r][m], 4));
  } else {
    for (int v = 0; v < 8; ++v) {
      __m512i xb[RX];
      for (int m = 0; m < RX; ++m) xb[m] = bcast4(xq[m] + 4 * v);
      for (int r = 0; r < RG; ++r) {
        const __m512i wv = _mm512_load_si512(blk[r] + 64 * v);
        for (int m = 0; m < RX; ++m) s[r][m] = _mm512_dpbusd_epi32(s[r][m], wv, xb[m]);
      }
    }
  }
}

// How far ahead decode prefetches, in block pairs of the same group: ~2.2 KB (Q4_0 4
// pairs, Q8_0 2). The groups are contiguous, but RG streams of a few KB each start too
// often for the hardware prefetcher alone: without it llama110m decodes 7-25% slower;
// 1 to 4 pairs (Q8_0) and 2 to 4 (Q4_0) measured alike, 12 slower (paired rounds).
template <bool Q4>
constexpr int64_t kPackPrefetchPairs = Q4 ? 4 : 2;

// RG groups (group_stride bytes apart) x RX activation rows over nb blocks: y + r*16 +
// m*ystride (valid[r] lanes of group r); seg_blocks > 0: per segment at y + s*lds.
template <bool Q4, int RG, int RX>
void packed_tile(int64_t nb, const uint8_t* w, size_t group_stride, const Prep* xs, float* y,
                 size_t ystride, const int* valid, int64_t seg_blocks, size_t lds) {
  constexpr size_t pb = kPackPairBytes<Q4>;
  __m512 acc[RG][RX];
  for (int r = 0; r < RG; ++r)
    for (int m = 0; m < RX; ++m) acc[r][m] = _mm512_setzero_ps();
  auto store = [&](float* out) {
    for (int r = 0; r < RG; ++r)
      for (int m = 0; m < RX; ++m)
        _mm512_mask_storeu_ps(out + size_t(m) * ystride + size_t(r) * 16, __mmask16((1u << valid[r]) - 1u),
                              acc[r][m]);
  };
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* pair[RG];
    const uint8_t* blk[RG];
    for (int r = 0; r < RG; ++r) {
      pair[r] = w + size_t(r) * group_stride + size_t(b / 2) * pb;
      blk[r] = pair[r] + 64 + size_t(b & 1) * kPackVecBytes<Q4>;
      if (RX < kGemmRows && (b & 1) == 0)
        for (size_t l = 0; l < pb; l += 64)
          _mm_prefetch(reinterpret_cast<const char*>(pair[r] + kPackPrefetchPairs<Q4> * pb + l), _MM_HINT_T0);
    }
    const int8_t* xq[RX];
    for (int m = 0; m < RX; ++m) xq[m] = xs[m].qs + b * 32;
    __m512i s[RG][RX];
    packed_block_sums<Q4, RG, RX>(blk, xq, s);
    for (int r = 0; r < RG; ++r) {
      const __m512 dw = _mm512_cvtph_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(pair[r] + (b & 1) * 32)));
      for (int m = 0; m < RX; ++m) acc[r][m] = block_step(acc[r][m], s[r][m], xs[m].c[b], dw, xs[m].d[b]);
    }
    if (seg_blocks > 0 && (b + 1) % seg_blocks == 0) {  // the end of a column segment
      store(y + size_t((b + 1) / seg_blocks - 1) * lds);
      for (int r = 0; r < RG; ++r)
        for (int m = 0; m < RX; ++m) acc[r][m] = _mm512_setzero_ps();
    }
  }
  if (seg_blocks == 0) store(y);
}

// Groups [0, ngroups) of RG at a time, then one at a time, for RX activation rows.
template <bool Q4, int RG, int RX>
void packed_groups(int64_t nb, const uint8_t* w, size_t group_stride, int64_t nrows, const Prep* xs,
                   float* y, size_t ystride, int64_t seg_blocks, size_t lds) {
  const int64_t ngroups = (nrows + 15) / 16;
  auto valid = [&](int64_t g) { return int(nrows - g * 16 < 16 ? nrows - g * 16 : 16); };
  int64_t g = 0;
  for (; g + RG <= ngroups; g += RG) {
    int v[RG];
    for (int r = 0; r < RG; ++r) v[r] = valid(g + r);
    packed_tile<Q4, RG, RX>(nb, w + size_t(g) * group_stride, group_stride, xs, y + g * 16, ystride, v,
                            seg_blocks, lds);
  }
  for (; g < ngroups; ++g) {
    const int v = valid(g);
    packed_tile<Q4, 1, RX>(nb, w + size_t(g) * group_stride, group_stride, xs, y + g * 16, ystride, &v,
                           seg_blocks, lds);
  }
}

template <bool Q4>
void gemm_packed_t(int64_t n, const uint8_t* w, size_t group_stride, int64_t nrows, const void* prep,
                   int64_t mrows, float* y, size_t ystride, int64_t seg_blocks, size_t lds) {
  const int64_t nb = n / QK8_0;
  Prep xs[kGemmRows];
  auto rows_from = [&](int64_t m0, int count) {
    for (int i = 0; i < count; ++i) xs[i] = prep_row(prep, n, mrows, m0 + i);
  };
  // Decode (one to three activation rows): four (or two) groups at once, for independent
  // accumulation chains and streams (llama110m Q4_0 decode: two or eight groups at once
  // were 5-20% slower than four in paired rounds).
  if (mrows == 1) {
    rows_from(0, 1);
    packed_groups<Q4, 4, 1>(nb, w, group_stride, nrows, xs, y, ystride, seg_blocks, lds);
    return;
  }
  if (mrows == 2) {
    rows_from(0, 2);
    packed_groups<Q4, 2, 2>(nb, w, group_stride, nrows, xs, y, ystride, seg_blocks, lds);
    return;
  }
  if (mrows == 3) {
    rows_from(0, 3);
    packed_groups<Q4, 2, 3>(nb, w, group_stride, nrows, xs, y, ystride, seg_blocks, lds);
    return;
  }
  // Prefill: two groups (32 rows, as gemm_tile) against every activation row, four at a
  // time (the groups' bytes stay in L1 meanwhile, each broadcast of x serves both).
  const int64_t ngroups = (nrows + 15) / 16;
  auto tiles = [&]<int RG>(int64_t g) {
    int v[RG];
    for (int r = 0; r < RG; ++r) v[r] = int(nrows - (g + r) * 16 < 16 ? nrows - (g + r) * 16 : 16);
    const uint8_t* wg = w + size_t(g) * group_stride;
    int64_t m = 0;
    for (; m + kGemmRows <= mrows; m += kGemmRows) {
      rows_from(m, kGemmRows);
      packed_tile<Q4, RG, kGemmRows>(nb, wg, group_stride, xs, y + size_t(m) * ystride + g * 16, ystride, v,
                                     seg_blocks, lds);
    }
    for (; m < mrows; ++m) {
      rows_from(m, 1);
      packed_tile<Q4, RG, 1>(nb, wg, group_stride, xs, y + size_t(m) * ystride + g * 16, ystride, v,
                             seg_blocks, lds);
    }
  };
  int64_t g = 0;
  for (; g + 2 <= ngroups; g += 2) tiles.template operator()<2>(g);
  if (g < ngroups) tiles.template operator()<1>(g);
}

void gemm_packed(GgmlType wt, int64_t n, const uint8_t* w, size_t group_stride, int64_t nrows,
                 const void* prep, int64_t mrows, float* y, size_t ystride, int64_t seg_blocks,
                 size_t lds) {
  by_weight_type(wt, [&](auto q4) {
    gemm_packed_t<decltype(q4)::value>(n, w, group_stride, nrows, prep, mrows, y, ystride, seg_blocks, lds);
  });
}

void gemm_prepped(GgmlType wt, int64_t n, const uint8_t* w, size_t stride, int64_t nrows,
                  const void* prep, int64_t mrows, float* y, size_t ystride, void* scratch) {
  by_weight_type(wt, [&](auto q4) {
    gemm_prepped_t<decltype(q4)::value>(n, w, stride, nrows, prep, mrows, y, ystride, scratch);
  });
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

constexpr QuantKernels kKernels{quantize_q8_0,
                                nullptr,  // gemm_q8_0 / gemm_q4_0: the prepared path below
                                nullptr,
                                dot_rows_float<float>,
                                dot_rows_float<f16>,
                                dot_rows_float<bf16>,
                                dequant_q4_K<half_to_float>,
                                dequant_q6_K<half_to_float>,
                                prep_bytes,
                                prep_x,
                                gemm_scratch_bytes,
                                gemm_prepped,
                                gemv_segments,
                                gemm_packed};

}  // namespace

const QuantKernels& quant_kernels_avx512_vnni() { return kKernels; }

}  // namespace lmkit::quant_detail
