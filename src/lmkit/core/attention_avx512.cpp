// AVX-512 flash attention kernels: attention_simd.h over 16-float vectors. Entered only
// when active_isa() is Avx512 (attention.cpp).
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
struct Avx512 : simd::Avx512 {
  using R = __m512;
  // Tiles and register blocks (32 zmm registers: up to 24 accumulators, the loaded row
  // vectors and one broadcast).
  static constexpr int64_t kTileQ = 64, kTileK = 64;
  static constexpr int kMrScores = 6, kNvScores = 4;
  static constexpr int kNvAccum = 4, kMrAccumMax = 12;
  static constexpr int mr_accum(int nv) { return nv <= 2 ? 12 : nv == 3 ? 8 : 6; }

  // The first n lanes (0 < n < W) of p; the rest read as zero / are not written.
  static R load_first(const float* p, int64_t n) {
    return _mm512_maskz_loadu_ps(static_cast<__mmask16>((1u << n) - 1), p);
  }
  static void store_first(float* p, R x, int64_t n) {
    _mm512_mask_storeu_ps(p, static_cast<__mmask16>((1u << n) - 1), x);
  }
  // Lanes >= n (0 < n < W) replaced by fill.
  static R keep_first(R x, int64_t n, float fill) {
    return _mm512_mask_mov_ps(_mm512_set1_ps(fill), static_cast<__mmask16>((1u << n) - 1), x);
  }
  // dst[j * ds + i] = src[i * ss + j] * mul for i < W, j < cols: a 16 x 16 transpose in
  // registers (unpack, in-lane shuffle, two 128-bit lane shuffles). Source rows >= rows
  // read as zero; only the first cols source columns are read.
  static void transpose_block(const float* src, int64_t ss, int64_t rows, int64_t cols, float* dst,
                              int64_t ds, float mul) {
    const __mmask16 cmask = static_cast<__mmask16>((1u << cols) - 1);
    const R vm = _mm512_set1_ps(mul);
    R r[16], t[16];
#pragma GCC unroll 16
    for (int i = 0; i < 16; ++i)
      r[i] = i < rows ? _mm512_maskz_loadu_ps(cmask, src + i * ss) : _mm512_setzero_ps();
#pragma GCC unroll 8
    for (int i = 0; i < 8; ++i) {
      t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
      t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    // r[4g + j], lane L: rows 4g..4g+3 of column 4L + j.
#pragma GCC unroll 4
    for (int g = 0; g < 4; ++g) {
      r[4 * g] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], 0x44);
      r[4 * g + 1] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], 0xEE);
      r[4 * g + 2] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0x44);
      r[4 * g + 3] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0xEE);
    }
#pragma GCC unroll 4
    for (int j = 0; j < 4; ++j) {
      t[j] = _mm512_shuffle_f32x4(r[j], r[4 + j], 0x88);
      t[4 + j] = _mm512_shuffle_f32x4(r[j], r[4 + j], 0xDD);
      t[8 + j] = _mm512_shuffle_f32x4(r[8 + j], r[12 + j], 0x88);
      t[12 + j] = _mm512_shuffle_f32x4(r[8 + j], r[12 + j], 0xDD);
    }
    // r[j] = column j.
#pragma GCC unroll 4
    for (int j = 0; j < 4; ++j) {
      r[j] = _mm512_shuffle_f32x4(t[j], t[8 + j], 0x88);
      r[8 + j] = _mm512_shuffle_f32x4(t[j], t[8 + j], 0xDD);
      r[4 + j] = _mm512_shuffle_f32x4(t[4 + j], t[12 + j], 0x88);
      r[12 + j] = _mm512_shuffle_f32x4(t[4 + j], t[12 + j], 0xDD);
    }
#pragma GCC unroll 16
    for (int j = 0; j < 16; ++j)
      if (j < cols) _mm512_storeu_ps(dst + j * ds, _mm512_mul_ps(r[j], vm));
  }
  // Lanes < n (0 < n < W) replaced by fill.
  static R keep_from(R x, int64_t n, float fill) {
    return _mm512_mask_mov_ps(_mm512_set1_ps(fill), static_cast<__mmask16>(~((1u << n) - 1)), x);
  }
  // Natural log of positive normal x after Cephes logf (S. L. Moshier, Cephes Math
  // Library 2.x, logf.c): x = 2^e m with m in [sqrt(1/2), sqrt(2)), log(m) = f - f^2/2 +
  // f^3 P(f) for f = m - 1, plus e ln 2 in two parts. About 1 ulp.
  static R log(R x) {
    R e = _mm512_getexp_ps(x);
    R m = _mm512_getmant_ps(x, _MM_MANT_NORM_1_2, _MM_MANT_SIGN_src);  // [1, 2)
    const __mmask16 big = _mm512_cmp_ps_mask(m, _mm512_set1_ps(1.41421356237f), _CMP_GT_OQ);
    m = _mm512_mask_mul_ps(m, big, m, _mm512_set1_ps(0.5f));
    e = _mm512_mask_add_ps(e, big, e, _mm512_set1_ps(1.f));
    return cephes_log_tail<Avx512>(_mm512_sub_ps(m, _mm512_set1_ps(1.f)), e);
  }

  // 2^x after Cephes exp2f (S. L. Moshier, Cephes Math Library 2.x, exp2f.c): x = n + f,
  // |f| <= 1/2, 2^f = 1 + f P(f) with a degree-5 P (about 2 ulp), scaled by 2^n with
  // vscalefps. x < -125 gives +0 (no denormals), -inf gives +0, NaN stays NaN.
  static R exp2(R x) {
    const __mmask16 keep = _mm512_cmp_ps_mask(x, _mm512_set1_ps(-125.f), _CMP_NLT_UQ);
    const R n = _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const R f = _mm512_sub_ps(x, n);
    const R p = cephes_exp2_poly<Avx512>(f);
    return _mm512_maskz_scalef_ps(keep, p, n);
  }
};

}  // namespace

const Kernels avx512_kernels = {Flash<Avx512>::forward_scratch, Flash<Avx512>::forward,
                                Flash<Avx512>::backward_scratch, Flash<Avx512>::backward};

}  // namespace lmkit::kernels::attention_isa
