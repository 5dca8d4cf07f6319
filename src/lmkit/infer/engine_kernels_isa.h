// Internal: the per-ISA table of the vectorised engine kernels (engine_kernels_impl.h).
#pragma once
#include <cstdint>

#include "lmkit/core/half.h"

namespace lmkit::infer_kernels::detail {

struct Table {
  void (*attend)(float* out, const float* q, const uint8_t* k, const uint8_t* v, bool kv_f16,
                 int64_t n, int64_t hs, float scale, float* probs);
  void (*gemv_f32)(float* y, int64_t ldy, const float* x, int64_t M, const float* w, int64_t K,
                   int64_t n_rows);
  void (*f32_to_f16)(const float* src, f16* dst, int64_t n);
  void (*attend_many)(float* const* out, const float* const* q, const int64_t* n, int64_t nq,
                      const uint8_t* k, const uint8_t* v, bool kv_f16, int64_t hs, float scale,
                      float* scratch);
  void (*gemv_f32_segments)(float* y, int64_t ldy, int64_t lds, const float* x, int64_t M,
                            const float* w, int64_t K, int64_t k0, int64_t k1, int64_t seg,
                            int64_t n_rows);
};

const Table& scalar_table();
const Table& avx2_table();
const Table& avx512_table();

}  // namespace lmkit::infer_kernels::detail
