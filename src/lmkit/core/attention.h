// Causal multi-head attention with grouped-query heads, flash-style (Dao et al. 2022,
// FlashAttention; Dao 2023, FlashAttention-2): the forward pass tiles keys and keeps an
// online softmax (running max and sum, Milakov & Gimelshein 2018), so memory per head is
// O(T) - the T x T score matrix is never stored. It saves the log-sum-exp of each query
// row; the backward pass recomputes probabilities tile by tile from it.
//
// Layout (as the q/k/v projections produce it, no transposes needed):
//   q   (B, T, NH,  hs)      k, v (B, T, NKV, hs)      out (B, T, NH, hs)
//   lse (B, NH, T)           query head h uses kv head h / (NH / NKV)
// scale is usually 1/sqrt(hs). Query t attends keys 0..t (causal), positions within the
// same sequence of length T.
//
// Kernels: scalar / AVX2 / AVX-512 (attention_scalar.cpp, attention_simd.h), chosen by
// active_isa(), run on the global thread pool with static partitions. Each calling thread
// keeps an O(T hs)-per-pool-thread scratch arena between calls (no allocation in steady
// state). Bad shapes (NH not a multiple of NKV, hs/NH/NKV <= 0, negative B/T, scale not
// positive) or null pointers throw lmkit::Error; B == 0 or T == 0 does nothing.
#pragma once
#include <cstdint>

namespace lmkit::kernels {

void attention_forward(float* out, float* lse, const float* q, const float* k, const float* v,
                       int64_t B, int64_t T, int64_t NH, int64_t NKV, int64_t hs, float scale);

// Accumulates (+=) into dq, dk, dv. Deterministic: parallel over (b, kv head) so no two
// threads write the same dk/dv rows.
void attention_backward(float* dq, float* dk, float* dv, const float* dout, const float* out,
                        const float* lse, const float* q, const float* k, const float* v, int64_t B,
                        int64_t T, int64_t NH, int64_t NKV, int64_t hs, float scale);

}  // namespace lmkit::kernels
