// AVX2 + FMA flash attention kernels: attention_simd.h over 8-float vectors. Entered only
// when active_isa() is Avx2 (attention.cpp).
// GCC 12 reports its own _mm512_undefined_*() placeholders as (maybe-)uninitialized
// (GCC PR 105593, fixed in GCC 13); the warning points into the intrinsic headers.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop

#include "lmkit/core/attention_simd.h"
#include "lmkit/core/simd.h"

namespace lmkit::kernels::attention_isa {
namespace {

// The basic vector ops (load, fma, reductions, ...) are simd.h's; this adds the tile
// sizes and the attention-specific lane, transpose and exp2 / log operations.
struct Avx2 : simd::Avx2 {
  using R = __m256;
  // Tiles and register blocks (16 ymm registers: up to 12 accumulators, the loaded row
  // vectors and one broadcast).
  static constexpr int64_t kTileQ = 64, kTileK = 64;
  static constexpr int kMrScores = 6, kNvScores = 2;
  static constexpr int kNvAccum = 2, kMrAccumMax = 8;
  static constexpr int mr_accum(int nv) { return nv == 1 ? 8 : 6; }

  // The first n lanes (0 < n < W) of p; the rest read as zero / are not written.
  static __m256i first_lanes(int64_t n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n)),
                              _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  static R load_first(const float* p, int64_t n) { return _mm256_maskload_ps(p, first_lanes(n)); }
  static void store_first(float* p, R x, int64_t n) { _mm256_maskstore_ps(p, first_lanes(n), x); }
  // Lanes >= n (0 < n < W) replaced by fill.
  static R keep_first(R x, int64_t n, float fill) {
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i inside = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n)), lane);
    return _mm256_blendv_ps(_mm256_set1_ps(fill), x, _mm256_castsi256_ps(inside));
  }
  // dst[j * ds + i] = src[i * ss + j] * mul for i < W, j < cols: an 8 x 8 transpose in
  // registers (unpack, in-lane shuffle, 128-bit lane permute). Source rows >= rows read as
  // zero; only the first cols source columns are read.
  static void transpose_block(const float* src, int64_t ss, int64_t rows, int64_t cols, float* dst,
                              int64_t ds, float mul) {
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i cmask = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(cols)), lane);
    const R vm = _mm256_set1_ps(mul);
    R r[8], t[8];
#pragma GCC unroll 8
    for (int i = 0; i < 8; ++i)
      r[i] = i < rows ? _mm256_maskload_ps(src + i * ss, cmask) : _mm256_setzero_ps();
#pragma GCC unroll 4
    for (int i = 0; i < 4; ++i) {
      t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
      t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    // r[4g + j], lane L: rows 4g..4g+3 of column 4L + j.
#pragma GCC unroll 2
    for (int g = 0; g < 2; ++g) {
      r[4 * g] = _mm256_shuffle_ps(t[4 * g], t[4 * g + 2], 0x44);
      r[4 * g + 1] = _mm256_shuffle_ps(t[4 * g], t[4 * g + 2], 0xEE);
      r[4 * g + 2] = _mm256_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0x44);
      r[4 * g + 3] = _mm256_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0xEE);
    }
#pragma GCC unroll 4
    for (int j = 0; j < 4; ++j) {
      t[j] = _mm256_permute2f128_ps(r[j], r[4 + j], 0x20);
      t[4 + j] = _mm256_permute2f128_ps(r[j], r[4 + j], 0x31);
    }
#pragma GCC unroll 8
    for (int j = 0; j < 8; ++j)
      if (j < cols) _mm256_storeu_ps(dst + j * ds, _mm256_mul_ps(t[j], vm));
  }
  // Lanes < n (0 < n < W) replaced by fill.
  static R keep_from(R x, int64_t n, float fill) {
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i before = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n)), lane);
    return _mm256_blendv_ps(x, _mm256_set1_ps(fill), _mm256_castsi256_ps(before));
  }
  // Natural log of positive normal x after Cephes logf (S. L. Moshier, Cephes Math
  // Library 2.x, logf.c): x = 2^e m with m in [sqrt(1/2), sqrt(2)), log(m) = f - f^2/2 +
  // f^3 P(f) for f = m - 1, plus e ln 2 in two parts. About 1 ulp.
  static R log(R x) {
    const __m256i xi = _mm256_castps_si256(x);
    R e = _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_srli_epi32(xi, 23), _mm256_set1_epi32(127)));
    R m = _mm256_castsi256_ps(_mm256_or_si256(_mm256_and_si256(xi, _mm256_set1_epi32(0x007fffff)),
                                              _mm256_set1_epi32(0x3f800000)));  // [1, 2)
    const R big = _mm256_cmp_ps(m, _mm256_set1_ps(1.41421356237f), _CMP_GT_OQ);
    m = _mm256_blendv_ps(m, _mm256_mul_ps(m, _mm256_set1_ps(0.5f)), big);
    e = _mm256_add_ps(e, _mm256_and_ps(big, _mm256_set1_ps(1.f)));
    return cephes_log_tail<Avx2>(_mm256_sub_ps(m, _mm256_set1_ps(1.f)), e);
  }

  // 2^x after Cephes exp2f (S. L. Moshier, Cephes Math Library 2.x, exp2f.c): x = n + f,
  // |f| <= 1/2, 2^f = 1 + f P(f) with a degree-5 P (about 2 ulp), times 2^n built in the
  // exponent bits. x < -125 gives +0 (no denormals), -inf gives +0, NaN stays NaN.
  static R exp2(R x) {
    const R keep = _mm256_cmp_ps(x, _mm256_set1_ps(-125.f), _CMP_NLT_UQ);
    // Clamp to [-127, 127] so 2^n has valid exponent bits (max/min return the second
    // operand when one is NaN, so NaN passes through).
    x = _mm256_max_ps(_mm256_set1_ps(-127.f), x);
    x = _mm256_min_ps(_mm256_set1_ps(127.f), x);
    const R n = _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const R f = _mm256_sub_ps(x, n);
    const R p = cephes_exp2_poly<Avx2>(f);
    const __m256i e =
        _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_and_ps(_mm256_mul_ps(p, _mm256_castsi256_ps(e)), keep);
  }
};

}  // namespace

const Kernels avx2_kernels = {Flash<Avx2>::forward_scratch, Flash<Avx2>::forward,
                              Flash<Avx2>::backward_scratch, Flash<Avx2>::backward};

}  // namespace lmkit::kernels::attention_isa
