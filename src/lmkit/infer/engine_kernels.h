// Internal: the small kernels of the inference engine (infer/engine.cpp) that core/ does
// not have: RoPE at arbitrary per-token positions in either pairing, attention of one
// query over a KV cache (f32 or f16), f16 conversion of cache rows, and llama2.c's grouped
// int8 matrix product (runq.c). attend and gemv_f32 are vectorised (engine_kernels_impl.h,
// compiled for scalar / AVX2 / AVX-512 and picked by core/cpu.h active_isa()).
#pragma once
#include <cstdint>

#include "lmkit/core/half.h"

namespace lmkit::infer_kernels {

// Rotates the H heads of one token in place. x (H, hs); cos_sin (2, hs/2): the cos row
// then the sin row of this token's position. interleaved: pairs (2i, 2i+1) (Meta,
// llama2.c run.c); else (i, i + hs/2) (HF rotate_half). Rounded as core/kernels rope:
// x1 c - x2 s and x2 c + x1 s, no fused multiply-add.
void rope(float* x, int64_t H, int64_t hs, const float* cos_sin, bool interleaved);

// GELU as llama.cpp's CPU backend computes it (ggml-cpu vec.h ggml_vec_gelu_f32 with
// GGML_GELU_FP16): x <= -10 -> 0, x >= 10 -> x, else the input is rounded to f16 and looked
// up in a table of f16(gelu_tanh(x)) over all f16 values (ggml_table_gelu_f16). About 3
// significant digits; used for GGUF models so that lmkit computes what llama.cpp does.
void gelu_ggml(float* out, const float* x, int64_t n);

// x rounded through f16 (or bf16): what ggml feeds an f16 (bf16) matmul, whose
// activations it converts to the weight type (vec_dot_type). out may equal x.
void round_to_f16(float* out, const float* x, int64_t n);
void round_to_bf16(float* out, const float* x, int64_t n);

// dst (n) = f16(src (n)), round to nearest even.
void f32_to_f16_row(const float* src, f16* dst, int64_t n);

// One query row against n cached positions: s_j = (q . k_j) * scale, p = softmax(s),
// out = sum_j p_j v_j. q, out (hs); k, v (n, hs) rows of f32 or f16 (kv_f16);
// probs (n) receives p.
void attend(float* out, const float* q, const uint8_t* k, const uint8_t* v, bool kv_f16,
            int64_t n, int64_t hs, float scale, float* probs);

// Several query rows against one head's cache (prefill: the tokens of one sequence and
// the query heads that share a KV head): query r (hs) attends to positions 0..n[r]-1, as
// attend (the same softmax and the same order of the weighted sum; the scores' sums are
// associated differently). out[r] (hs); scratch: attend_many_scratch(nq, max n, hs) floats.
void attend_many(float* const* out, const float* const* q, const int64_t* n, int64_t nq,
                 const uint8_t* k, const uint8_t* v, bool kv_f16, int64_t hs, float scale,
                 float* scratch);
int64_t attend_many_scratch(int64_t nq, int64_t n_max, int64_t hs);

// y[m * ldy + r] = w_r . x_m: rows r < n_rows of w (n_rows, K) against x (M, K), each
// weight row read once for up to four activation rows (decode's matrix-vector products).
void gemv_f32(float* y, int64_t ldy, const float* x, int64_t M, const float* w, int64_t K,
              int64_t n_rows);

// Partial f32 products over column segments (decode with a matrix's columns split over
// threads): for every segment s of `seg` columns in [k0, k1),
//   y[s * lds + m * ldy + r] = sum over the segment's columns k of w[r, k] x[m, k]
// for rows r < n_rows of w (n_rows, K) and m < M <= 3 of x (M, K). seg % 16 == 0. Each
// row is read once; the arithmetic does not depend on k0 / k1 (segments are independent).
void gemv_f32_segments(float* y, int64_t ldy, int64_t lds, const float* x, int64_t M,
                       const float* w, int64_t K, int64_t k0, int64_t k1, int64_t seg,
                       int64_t n_rows);

// llama2.c runq.c matmul on grouped int8 (QuantizedTensor, group size gs): each row of x
// (M, K) is quantized as runq.c quantize() does (per group of gs: scale = max|x| / 127,
// q = round(x / scale)), then y[m, r] = sum over whole groups j of
// (float)(int32 sum_k xq[j+k] wq[r K + j + k]) * ws[(r K + j) / gs] * xs[j / gs], the exact
// loop of runq.c (the last K % gs inputs of a row are not used, as there).
// wq (N*K int8), ws (N*K/gs f32), y (M, N).
void matmul_llama2c_q8(float* y, const float* x, const int8_t* wq, const float* ws, int64_t gs,
                       int64_t M, int64_t K, int64_t N);

}  // namespace lmkit::infer_kernels
