// The engine kernels (engine_kernels_impl.h) compiled for Avx2 (CMake gives *_avx2.cpp the
// ISA flags); entered only after the CPUID check in engine_kernels.cpp.
#include "lmkit/core/half.h"
#include "lmkit/core/simd.h"
#include "lmkit/infer/engine_kernels_isa.h"

#if !defined(__AVX2__)
#error "engine_kernels_avx2.cpp must be compiled with the avx2 flags"
#endif

namespace lmkit::infer_kernels::detail {
namespace {

using simd::Avx2;

float h2f(f16 h) { return _cvtsh_ss(h.bits); }

template <class S>
typename S::V load_half(const f16* p);
template <>
typename Avx2::V load_half<Avx2>(const f16* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}

#include "lmkit/infer/engine_kernels_impl.h"

void attend_k(float* out, const float* q, const uint8_t* k, const uint8_t* v, bool kv_f16,
              int64_t n, int64_t hs, float scale, float* probs) {
  attend_impl<Avx2>(out, q, k, v, kv_f16, n, hs, scale, probs);
}

void gemv_k(float* y, int64_t ldy, const float* x, int64_t M, const float* w, int64_t K,
            int64_t n_rows) {
  gemv_f32_impl<Avx2>(y, ldy, x, M, w, K, n_rows);
}

// F16C conversion, round to nearest even: the same bits as core/half.h f32_to_f16.
void f32_to_f16_k(const float* src, f16* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i),
                     _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
  for (; i < n; ++i) dst[i].bits = _cvtss_sh(src[i], _MM_FROUND_TO_NEAREST_INT);
}

void attend_many_k(float* const* out, const float* const* q, const int64_t* n, int64_t nq,
                   const uint8_t* k, const uint8_t* v, bool kv_f16, int64_t hs, float scale,
                   float* scratch) {
  attend_many_impl<Avx2>(out, q, n, nq, k, v, kv_f16, hs, scale, scratch);
}

void gemv_seg_k(float* y, int64_t ldy, int64_t lds, const float* x, int64_t M, const float* w,
                int64_t K, int64_t k0, int64_t k1, int64_t seg, int64_t n_rows) {
  gemv_f32_segments_impl<Avx2>(y, ldy, lds, x, M, w, K, k0, k1, seg, n_rows);
}

constexpr Table kTable{attend_k, gemv_k, f32_to_f16_k, attend_many_k, gemv_seg_k};

}  // namespace

const Table& avx2_table() { return kTable; }

}  // namespace lmkit::infer_kernels::detail
