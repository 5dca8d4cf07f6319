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

namespace lmkit::kernels::attention_isa {
namespace {

struct Avx512 {
  using R = __m512;
  static constexpr int W = 16;
  // Tiles and register blocks (32 zmm registers: up to 24 accumulators, the loaded row
  // vectors and one broadcast).
  static constexpr int64_t kTileQ = 64, kTileK = 64;
  static constexpr int kMrScores = 6, kNvScores = 4;
  static constexpr int kNvAccum = 4, kMrAccumMax = 12;
  static constexpr int mr_accum(int nv) { return nv <= 2 ? 12 : nv == 3 ? 8 : 6; }

  static R load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, R a) { _mm512_storeu_ps(p, a); }
  static R set1(float a) { return _mm512_set1_ps(a); }
  static R zero() { return _mm512_setzero_ps(); }
  static R add(R a, R b) { return _mm512_add_ps(a, b); }
  static R sub(R a, R b) { return _mm512_sub_ps(a, b); }
  static R mul(R a, R b) { return _mm512_mul_ps(a, b); }
  static R fma(R a, R b, R c) { return _mm512_fmadd_ps(a, b, c); }
  static R max(R a, R b) { return _mm512_max_ps(a, b); }
  // Horizontal reductions by in-register folds (a fixed order: deterministic).
  static float reduce_add(R a) {
    a = _mm512_add_ps(a, _mm512_shuffle_f32x4(a, a, _MM_SHUFFLE(1, 0, 3, 2)));
    a = _mm512_add_ps(a, _mm512_shuffle_f32x4(a, a, _MM_SHUFFLE(2, 3, 0, 1)));
    a = _mm512_add_ps(a, _mm512_permute_ps(a, _MM_SHUFFLE(1, 0, 3, 2)));
    a = _mm512_add_ps(a, _mm512_permute_ps(a, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm512_cvtss_f32(a);
  }
  static float reduce_max(R a) {
    a = _mm512_max_ps(a, _mm512_shuffle_f32x4(a, a, _MM_SHUFFLE(1, 0, 3, 2)));
    a = _mm512_max_ps(a, _mm512_shuffle_f32x4(a, a, _MM_SHUFFLE(2, 3, 0, 1)));
    a = _mm512_max_ps(a, _mm512_permute_ps(a, _MM_SHUFFLE(1, 0, 3, 2)));
    a = _mm512_max_ps(a, _mm512_permute_ps(a, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm512_cvtss_f32(a);
  }
  // Lanes >= n (0 < n < W) replaced by fill.
  static R keep_first(R x, int64_t n, float fill) {
    return _mm512_mask_mov_ps(_mm512_set1_ps(fill), static_cast<__mmask16>((1u << n) - 1), x);
  }
  // 2^x after Cephes exp2f (S. L. Moshier, Cephes Math Library 2.x, exp2f.c): x = n + f,
  // |f| <= 1/2, 2^f = 1 + f P(f) with a degree-5 P (about 2 ulp), scaled by 2^n with
  // vscalefps. x < -125 gives +0 (no denormals), -inf gives +0, NaN stays NaN.
  static R exp2(R x) {
    const __mmask16 keep = _mm512_cmp_ps_mask(x, _mm512_set1_ps(-125.f), _CMP_NLT_UQ);
    const R n = _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const R f = _mm512_sub_ps(x, n);
    R p = _mm512_set1_ps(1.535336188319500e-4f);
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.339887440266574e-3f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(9.618437357674640e-3f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(5.550332471162809e-2f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(2.402264791363012e-1f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(6.931472028550421e-1f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.f));
    return _mm512_maskz_scalef_ps(keep, p, n);
  }
};

}  // namespace

const Kernels avx512_kernels = {Flash<Avx512>::forward_scratch, Flash<Avx512>::forward,
                                Flash<Avx512>::backward_scratch, Flash<Avx512>::backward};

}  // namespace lmkit::kernels::attention_isa
