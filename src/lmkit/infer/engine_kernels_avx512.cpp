// The engine kernels (engine_kernels_impl.h) compiled for Avx512 (CMake gives *_avx512.cpp the
// ISA flags); entered only after the CPUID check in engine_kernels.cpp.
#include "lmkit/core/half.h"
#include "lmkit/core/simd.h"
#include "lmkit/infer/engine_kernels_isa.h"

#if !defined(__AVX512F__)
#error "engine_kernels_avx512.cpp must be compiled with the avx512 flags"
#endif

namespace lmkit::infer_kernels::detail {
namespace {

using simd::Avx512;

float h2f(f16 h) { return _cvtsh_ss(h.bits); }

template <class S>
typename S::V load_half(const f16* p);
template <>
typename Avx512::V load_half<Avx512>(const f16* p) {
  return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}

#include "lmkit/infer/engine_kernels_impl.h"

void attend_k(float* out, const float* q, const uint8_t* k, const uint8_t* v, bool kv_f16,
              int64_t n, int64_t hs, float scale, float* probs) {
  attend_impl<Avx512>(out, q, k, v, kv_f16, n, hs, scale, probs);
}

// One activation row against rows that start 32 bytes into a cache line (f32 tensors in
// GGUF files, whose default alignment is 32): every 64-byte vector load would straddle two
// lines. Each line is loaded once, aligned, and vector k..k+15 is spliced from two
// neighbouring lines (valignd); the first and last half lines are masked loads, so nothing
// outside the row is read. Lane l still sums elements l, l+16, ... in the same order as the
// plain kernels: the results are bit-identical to them. K % 16 == 0.
// Columns [k0, k1) of whole blocks of R rows, as gemv_f32_segments (segments of seg
// columns, sums stored at y[s * lds + r]; whole rows: k0 = 0, k1 = seg = K), prefetched
// R rows on as gemv_rows does. Returns the rows done (n_rows rounded down to R).
int64_t gemv1_half_line_blocks(float* y, int64_t lds, const float* x, const float* w, int64_t K,
                               int64_t k0, int64_t k1, int64_t seg, int64_t n_rows) {
  constexpr int R = 8;
  int64_t r = 0;
  for (; r + R <= n_rows; r += R) {
    const float* w0 = w + r * K;
    __m512 acc[R], prev[R];
    for (int i = 0; i < R; ++i) {
      acc[i] = _mm512_setzero_ps();
      prev[i] = _mm512_maskz_loadu_ps(0xFF00, w0 + i * K + k0 - 8);  // elements k0.. in lanes 8..15
    }
    for (int64_t k = k0; k < k1; k += 16) {
      const __m512 xv = _mm512_loadu_ps(x + k);
      for (int i = 0; i < R; ++i) {
        const float* line = w0 + i * K + k + 8;
        _mm_prefetch(reinterpret_cast<const char*>(line + R * K), _MM_HINT_T0);
        const __m512 next = k + 16 < K ? _mm512_load_ps(line) : _mm512_maskz_loadu_ps(0x00FF, line);
        const __m512 wv = _mm512_castsi512_ps(
            _mm512_alignr_epi32(_mm512_castps_si512(next), _mm512_castps_si512(prev[i]), 8));
        acc[i] = _mm512_fmadd_ps(wv, xv, acc[i]);
        prev[i] = next;
      }
      if ((k + 16 - k0) % seg == 0) {  // the end of a segment
        float* ys = y + ((k + 16 - k0) / seg - 1) * lds + r;
        for (int i = 0; i < R; ++i) {
          ys[i] = Avx512::reduce_add(acc[i]);
          acc[i] = _mm512_setzero_ps();
        }
      }
    }
  }
  return r;
}

void gemv_k(float* y, int64_t ldy, const float* x, int64_t M, const float* w, int64_t K,
            int64_t n_rows) {
  if (M == 1 && K % 16 == 0 && reinterpret_cast<uintptr_t>(w) % 64 == 32) {
    const int64_t r = gemv1_half_line_blocks(y, 0, x, w, K, 0, K, K, n_rows);
    if (r < n_rows) gemv_f32_impl<Avx512>(y + r, 1, x, 1, w + r * K, K, n_rows - r);
  } else {
    gemv_f32_impl<Avx512>(y, ldy, x, M, w, K, n_rows);
  }
}

// Round to nearest even: the same bits as core/half.h f32_to_f16.
void f32_to_f16_k(const float* src, f16* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i),
                        _mm512_cvtps_ph(_mm512_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
  for (; i < n; ++i) dst[i].bits = _cvtss_sh(src[i], _MM_FROUND_TO_NEAREST_INT);
}

void attend_many_k(float* const* out, const float* const* q, const int64_t* n, int64_t nq,
                   const uint8_t* k, const uint8_t* v, bool kv_f16, int64_t hs, float scale,
                   float* scratch) {
  attend_many_impl<Avx512>(out, q, n, nq, k, v, kv_f16, hs, scale, scratch);
}

void gemv_seg_k(float* y, int64_t ldy, int64_t lds, const float* x, int64_t M, const float* w,
                int64_t K, int64_t k0, int64_t k1, int64_t seg, int64_t n_rows) {
  if (M == 1 && K % 16 == 0 && reinterpret_cast<uintptr_t>(w) % 64 == 32) {
    const int64_t r = gemv1_half_line_blocks(y, lds, x, w, K, k0, k1, seg, n_rows);
    if (r < n_rows)
      gemv_f32_segments_impl<Avx512>(y + r, 1, lds, x, 1, w + r * K, K, k0, k1, seg, n_rows - r);
  } else {
    gemv_f32_segments_impl<Avx512>(y, ldy, lds, x, M, w, K, k0, k1, seg, n_rows);
  }
}

constexpr Table kTable{attend_k, gemv_k, f32_to_f16_k, attend_many_k, gemv_seg_k};

}  // namespace

const Table& avx512_table() { return kTable; }

}  // namespace lmkit::infer_kernels::detail
