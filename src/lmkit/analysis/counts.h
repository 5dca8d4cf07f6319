// Exact parameter, FLOP and memory counts of lmkit's decoder (model/config.h) from its
// architecture alone.
//
// FLOP convention (Kaplan et al. 2020, Sec. 2.1 and Table 1): a multiply-add is 2 FLOPs.
//   matmul    every weight-matrix product, lm_head included: 2 * in * out per token.
//             The embedding lookup is free (a gather).
//   attention QK^T and AV: for every layer and query head, 2 * head_dim FLOPs per attended
//             key for the scores and the same for the weighted sum of values. Causal masking
//             is counted exactly: the t-th token (1-based) attends t keys, or min(t, W) with a
//             sliding window of W tokens. Masked (skipped) keys cost nothing.
//   other     norms, activations, softmax, RoPE, residual and bias adds, each add, multiply,
//             divide, exp or sqrt counted as 1 (per-element costs in counts.cpp). Reported
//             apart and NOT included in the totals, as Kaplan's Table 1 omits them.
//
// Prefill of T tokens = one forward pass over a T-token sequence with logits at every
// position (the forward pass of training). decode(T) = the T-th token alone, with T-1
// tokens in the KV cache: it attends T keys. So prefill(T) = sum of decode(t), t = 1..T.
//
// The per-matmul list (matmuls()) is the unit that an instrumented engine run can be
// checked against (core/gemm.h counts the FLOPs linear_forward and attention perform).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "lmkit/analysis/model_spec.h"

namespace lmkit::analysis {

// Parameters by component. attention = q + k + v + o + attn_bias + qk_norm.
struct ParamCounts {
  int64_t embedding = 0;  // token embedding (V, C)
  int64_t position = 0;   // learned position embedding (max_seq_len, C); 0 with RoPE
  int64_t attn_q = 0, attn_k = 0, attn_v = 0, attn_o = 0;  // weight matrices, all layers
  int64_t attn_bias = 0;                                   // q/k/v and output-projection biases
  int64_t attn_qk_norm = 0;                                // per-head q/k RMSNorm weights (Qwen3)
  int64_t attention = 0;
  int64_t mlp = 0;      // weights and biases
  int64_t norm = 0;     // per-layer norms and the final norm (weights and biases)
  int64_t lm_head = 0;  // 0 when tied to the embedding
  int64_t total = 0;
  int64_t non_embedding = 0;  // total - embedding - position - lm_head (Kaplan's N)
};
ParamCounts count_params(const ModelConfig& c);

// One weight-matrix product of the forward pass: (tokens, in) x (in, out).
struct Matmul {
  std::string name;       // "attn.q", "attn.k", "attn.v", "attn.o", "mlp.fc", "mlp.proj",
                          // "mlp.gate", "mlp.up", "mlp.down", "lm_head"
  std::string component;  // "attn_proj" | "mlp" | "lm_head"
  int64_t in = 0, out = 0;
  int64_t count = 0;  // occurrences per forward pass (n_layer, or 1 for lm_head)
  double flops_per_token() const { return 2.0 * double(in) * double(out) * double(count); }
};
std::vector<Matmul> matmuls(const ModelConfig& c);

// FLOPs of one forward pass, by component.
struct Flops {
  double attn_proj = 0;  // q, k, v, o projections
  double mlp = 0;
  double lm_head = 0;
  double matmul = 0;     // attn_proj + mlp + lm_head
  double attention = 0;  // QK^T + AV
  double total = 0;      // matmul + attention
  // Not in total:
  double other_norm = 0, other_activation = 0, other_softmax = 0, other_rope = 0,
         other_residual_bias = 0;
  double other = 0;  // sum of the other_* terms
};

// Keys attended in total by tokens 1..T (exact causal count, with the window if any).
double attended_keys_prefill(int64_t T, int64_t window);
// Keys attended by the T-th token.
double attended_keys_decode(int64_t T, int64_t window);

// Forward pass over T tokens (logits at all T positions; last_logits_only: only the last).
Flops prefill_flops(const ModelSpec& m, int64_t T, bool last_logits_only = false);
// The T-th token on its own (attends min(T, window) keys).
Flops decode_flops(const ModelSpec& m, int64_t T);

// Storage formats for weights and the KV cache, in bits per element. Q8_0 and Q4_0 are
// ggml's block formats (ggml-common.h: block_q8_0 = 32 int8 + an f16 scale = 34 bytes per
// 32 weights = 8.5 bits; block_q4_0 = 32 4-bit values + an f16 scale = 18 bytes = 4.5 bits).
struct StorageFormat {
  std::string name;
  double bits;
};
const std::vector<StorageFormat>& weight_formats();  // f32 bf16 f16 int8 q8_0 q4_0
const std::vector<StorageFormat>& kv_formats();      // f32 bf16 f16 q8_0 q4_0
// The format called `name` from `formats`; throws lmkit::Error listing the choices.
const StorageFormat& find_format(const std::vector<StorageFormat>& formats,
                                 const std::string& name);

// Bytes of the KV cache per token: K and V for every layer and KV head
// (2 * n_layer * n_kv_head * head_dim elements).
double kv_bytes_per_token(const ModelConfig& c, double bits);
// Bytes of the KV cache holding a context of T tokens (a sliding window keeps W of them,
// Mistral's rolling buffer).
double kv_bytes_context(const ModelSpec& m, int64_t T, double bits);

// Bytes moved from memory by one forward pass: every weight once (matrices and norms at
// `weight_bits`; of an untied input embedding only the looked-up rows), plus the KV cache
// read (decode: the T cached keys/values) and written (the new tokens' K and V).
double prefill_bytes(const ModelSpec& m, int64_t T, double weight_bits, double kv_bits);
double decode_bytes(const ModelSpec& m, int64_t T, double weight_bits, double kv_bits);

}  // namespace lmkit::analysis
