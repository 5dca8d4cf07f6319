// Internal to core/kernels*.cpp (and their tests): one table of kernel entry points per
// ISA. kernels_scalar.cpp, kernels_avx2.cpp and kernels_avx512.cpp each instantiate the
// templates of kernels_impl.h for their vector width and fill one table; kernels.cpp
// validates arguments and calls the table of active_isa(). Tests call the tables directly
// to compare ISAs. The entries have the signatures of the public kernels in kernels.h.
#pragma once
#include <cstdint>

#include "lmkit/core/cpu.h"

namespace lmkit::kernels::detail {

// The f32 scalar factors of one AdamW step (see adamw_coefs()).
struct AdamwCoefs {
  float decay;  // 1 - lr wd
  float beta1, one_minus_beta1, beta2, one_minus_beta2;
  float neg_step;  // -lr / (1 - beta1^t)
  float bc2_sqrt;  // sqrt(1 - beta2^t)
  float eps;
  float grad_scale;
};

struct KernelTable {
  void (*embedding_forward)(float* out, const int32_t* ids, const float* wte, const float* wpe,
                            int64_t B, int64_t T, int64_t C);
  void (*embedding_backward)(float* dwte, float* dwpe, const float* dout, const int32_t* ids,
                             int64_t B, int64_t T, int64_t C);
  void (*layernorm_forward)(float* out, float* mean, float* rstd, const float* x, const float* w,
                            const float* b, int64_t N, int64_t C, float eps);
  void (*layernorm_backward)(float* dx, float* dw, float* db, const float* dout, const float* x,
                             const float* w, const float* mean, const float* rstd, int64_t N,
                             int64_t C);
  void (*rmsnorm_forward)(float* out, float* rstd, const float* x, const float* w, int64_t N,
                          int64_t C, float eps);
  void (*rmsnorm_backward)(float* dx, float* dw, const float* dout, const float* x, const float* w,
                           const float* rstd, int64_t N, int64_t C);
  void (*gelu_forward)(float* out, const float* x, int64_t n);
  void (*gelu_backward)(float* dx, const float* x, const float* dout, int64_t n);
  void (*swiglu_forward)(float* out, const float* gate, const float* up, int64_t n);
  void (*swiglu_backward)(float* dgate, float* dup, const float* gate, const float* up,
                          const float* dout, int64_t n);
  // rope_forward (inverse = false) / rope_backward (inverse = true) with the cos/sin rows
  // of positions pos0 .. pos0+T-1 from rope_cos_sin(): cos_sin (T, 2, hs/2).
  void (*rope)(float* x, int64_t B, int64_t T, int64_t H, int64_t hs, const float* cos_sin,
               bool inverse);
  void (*softmax_forward)(float* out, const float* x, int64_t N, int64_t V);
  void (*cross_entropy_forward_backward)(float* losses, float* logits, const int32_t* targets,
                                         int64_t N, int64_t V, float grad_scale);
  void (*adamw_update)(float* param, float* m, float* v, const float* grad, int64_t n,
                       const AdamwCoefs& c);
  double (*sum_squares)(const float* x, int64_t n);
  void (*add_inplace)(float* y, const float* x, int64_t n);
  void (*add)(float* out, const float* a, const float* b, int64_t n);
  void (*dropout_forward)(float* out, const float* x, int64_t n, float p, uint64_t seed);
  void (*dropout_backward)(float* dx, const float* dout, int64_t n, float p, uint64_t seed);
  // The vector math of simd.h over an array, for tests: out = e^x, out = tanh(x).
  void (*exp)(float* out, const float* x, int64_t n);
  void (*tanh)(float* out, const float* x, int64_t n);
};

const KernelTable& scalar_table();
const KernelTable& avx2_table();    // call only when detect_isa() >= Isa::Avx2
const KernelTable& avx512_table();  // call only when detect_isa() >= Isa::Avx512
const KernelTable& table_for(Isa isa);

// The factors of AdamW step t as torch 1.13 `_single_tensor_adamw` computes them: in double
// from the Python floats, then rounded to f32 where the tensor ops use them. Our
// hyperparameters arrive as f32, so each is first widened to the shortest decimal that
// rounds to it (0.9f -> 0.9, what the config or Python literal held): then 1 - beta1 is
// 0.1f as in torch, not 1 - 0.9f = 0.10000002f.
AdamwCoefs adamw_coefs(float lr, float beta1, float beta2, float eps, float weight_decay, int64_t t,
                       float grad_scale);

// cos and sin of the RoPE angles for positions 0 .. pos_end-1: row p holds
// cos(p * inv_freq[i]) for i < half, then sin(...), with the angle the f32 product
// float(p) * inv_freq[i] (as HF LlamaRotaryEmbedding) and cos/sin evaluated in double.
// Cached per calling thread: built once for an inv_freq, extended when pos_end grows, so
// the many rope calls of a step (q and k, every layer, forward and backward) and the
// token-by-token decode steps share one table. Valid until this thread's next call.
const float* rope_cos_sin(const float* inv_freq, int64_t half, int64_t pos_end);

// A 64-byte aligned scratch block of at least n floats owned by the calling thread, valid
// until that thread's next call. It only grows, so steady-state kernels do not allocate.
// Kernels take it before starting the pool and hand slices of it to the workers.
float* scratch(int64_t n);

}  // namespace lmkit::kernels::detail
