// Fused f32 kernels for everything around the GEMMs (llm.c's layer functions, one per
// layer and direction). Each has scalar, AVX2 and AVX-512 versions (kernels_scalar.cpp,
// kernels_avx2.cpp, kernels_avx512.cpp instantiate one template source) picked at run
// time by active_isa(); tests compare them. All kernels parallelise over rows on the
// global thread pool with static partitions, so results are deterministic for a given
// thread count.
//
// Letters: N rows (= B*T tokens), C channels, V vocab, B batch, T time, NH heads,
// hs head size. All arrays are contiguous row-major f32 unless stated.
// Backward kernels ACCUMULATE (+=) into parameter gradients and into dx (rope_backward,
// which rotates dx in place, and the cross-entropy, which overwrites logits, say so).
// Arrays must not overlap unless a comment allows it. The implementations: simd.h (vector
// types), kernels_impl.h (the template source), kernels_<isa>.cpp, kernels.cpp (dispatch).
#pragma once
#include <cstdint>

namespace lmkit::kernels {

// out[b,t,:] = wte[ids[b,t],:] + (wpe ? wpe[t,:] : 0)
// out (B,T,C), ids (B,T), wte (V,C), wpe (Tmax,C) or null. Ids must be < V (checked by caller).
void embedding_forward(float* out, const int32_t* ids, const float* wte, const float* wpe,
                       int64_t B, int64_t T, int64_t C);
// dwte[ids[b,t],:] += dout[b,t,:]; dwpe[t,:] += sum_b dout[b,t,:] (if dwpe).
void embedding_backward(float* dwte, float* dwpe, const float* dout, const int32_t* ids, int64_t B,
                        int64_t T, int64_t C);

// LayerNorm (Ba et al. 2016): out = (x - mean) * rstd * w + b, rstd = 1/sqrt(var + eps),
// biased variance. out, x (N,C); w, b (C) (b may be null); mean, rstd (N) saved for backward
// (may be null when no backward follows). Backward: db may be null.
void layernorm_forward(float* out, float* mean, float* rstd, const float* x, const float* w,
                       const float* b, int64_t N, int64_t C, float eps);
void layernorm_backward(float* dx, float* dw, float* db, const float* dout, const float* x,
                        const float* w, const float* mean, const float* rstd, int64_t N, int64_t C);

// RMSNorm (Zhang & Sennrich 2019): out = x * rstd * w, rstd = 1/sqrt(mean(x^2) + eps).
// out, x (N,C); w (C); rstd (N) (may be null in forward when no backward follows).
void rmsnorm_forward(float* out, float* rstd, const float* x, const float* w, int64_t N, int64_t C,
                     float eps);
void rmsnorm_backward(float* dx, float* dw, const float* dout, const float* x, const float* w,
                      const float* rstd, int64_t N, int64_t C);

// GELU, tanh form (Hendrycks & Gimpel 2016; GPT-2's gelu_new):
// 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). out, x (n).
void gelu_forward(float* out, const float* x, int64_t n);
void gelu_backward(float* dx, const float* x, const float* dout, int64_t n);

// SwiGLU gate (Shazeer 2020): out = silu(gate) * up, silu(g) = g / (1 + e^-g). All (n).
void swiglu_forward(float* out, const float* gate, const float* up, int64_t n);
void swiglu_backward(float* dgate, float* dup, const float* gate, const float* up,
                     const float* dout, int64_t n);

// RoPE (Su et al. 2021, RoFormer), in the "rotate_half" (NeoX / HF Llama) pairing: element
// i is paired with i + hs/2. x (B,T,H,hs) rotated in place; position of row t = pos0 + t.
// inv_freq (hs/2) are the inverse frequencies from rope_inv_freq(); hs must be even. As in
// HF, the angle is the f32 product (pos0 + t) * inv_freq[i].
void rope_forward(float* x, int64_t B, int64_t T, int64_t H, int64_t hs, const float* inv_freq,
                  int64_t pos0);
// The inverse rotation of dx in place (the transpose of the forward rotation); it does not
// accumulate.
void rope_backward(float* dx, int64_t B, int64_t T, int64_t H, int64_t hs, const float* inv_freq,
                   int64_t pos0);
// inv_freq[i] = theta^(-2i/hs), with Llama-3.1 frequency scaling when scale_factor > 0
// (Meta llama-models `apply_scaling`: factor, low/high_freq_factor, original context).
void rope_inv_freq(float* inv_freq, int64_t hs, double theta, double scale_factor,
                   double low_freq_factor, double high_freq_factor, int64_t original_ctx);

// Row softmax: out[n,:] = softmax(x[n,:]). out, x (N,V); out may equal x.
void softmax_forward(float* out, const float* x, int64_t N, int64_t V);

// Cross-entropy fused with the final softmax. logits (N,V) is overwritten IN PLACE by
// dloss/dlogits = (softmax(logits) - onehot(target)) * grad_scale, so the N*V
// probabilities exist once. losses (N) get -log softmax(logits)[target]. Targets < 0 are
// ignored (loss 0, gradient 0); targets >= V throw lmkit::Error. losses may be null.
void cross_entropy_forward_backward(float* losses, float* logits, const int32_t* targets, int64_t N,
                                    int64_t V, float grad_scale);

// AdamW (Loshchilov & Hutter 2019, decoupled decay; PyTorch torch.optim.AdamW):
// m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2; p -= lr * (m/(1-b1^t) / (sqrt(v/(1-b2^t)) + eps)
// + wd * p), with g = grad * grad_scale (grad_scale carries clipping). t >= 1. Evaluated in
// the f32 operation order of torch 1.13 `_single_tensor_adamw` (decay first, then moments,
// denom = sqrt(v) / sqrt(1-b2^t) + eps, p += (-lr/(1-b1^t)) m / denom).
void adamw_update(float* param, float* m, float* v, const float* grad, int64_t n, float lr,
                  float beta1, float beta2, float eps, float weight_decay, int64_t t,
                  float grad_scale);

// Sum of squares of x (n), accumulated in double: for the global gradient norm.
double sum_squares(const float* x, int64_t n);

// y += x (n). The residual stream's backward and forward.
void add_inplace(float* y, const float* x, int64_t n);
// out = a + b (n).
void add(float* out, const float* a, const float* b, int64_t n);
// Inverted dropout with keep mask from a counter-based RNG: out = x * keep / (1-p); the
// mask is a pure function of (seed, i), so backward recomputes it instead of storing it.
// p in [0, 1). Backward: dx += dout * keep / (1-p). The mask is the same on every ISA.
void dropout_forward(float* out, const float* x, int64_t n, float p, uint64_t seed);
void dropout_backward(float* dx, const float* dout, int64_t n, float p, uint64_t seed);

}  // namespace lmkit::kernels
