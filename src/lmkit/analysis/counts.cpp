// Parameter / FLOP / byte counts of the decoder described in model/config.h. The layer
// structure counted here is the one of HF GPT2LMHeadModel, LlamaForCausalLM,
// Qwen2ForCausalLM and Qwen3ForCausalLM (and lmkit's model/decoder.h, which mirrors them):
//   GPT-2:  wte, wpe, per layer ln_1 (w, b), c_attn (C, 3C) + bias, c_proj + bias, ln_2,
//           c_fc (C, 4C) + bias, c_proj (4C, C) + bias; ln_f; lm_head tied to wte.
//   Llama:  embed_tokens, per layer input_layernorm (w), q/k/v/o_proj, post_attention_
//           layernorm (w), gate/up/down_proj; norm; lm_head (unless tied).
//   Qwen2:  Llama + q/k/v_proj biases.  Qwen3: Llama + q_norm/k_norm (head_dim weights).
#include "lmkit/analysis/counts.h"

#include <algorithm>

#include "lmkit/core/error.h"

namespace lmkit::analysis {

ParamCounts count_params(const ModelConfig& c) {
  ParamCounts p;
  const int64_t C = c.dim, L = c.n_layer, H = c.hidden_dim;
  const int64_t q_dim = c.n_head * c.head_dim, kv_dim = c.n_kv_head * c.head_dim;
  p.embedding = c.vocab_size * C;
  p.position = c.pos == PosKind::Learned ? c.max_seq_len * C : 0;
  p.attn_q = L * C * q_dim;
  p.attn_k = L * C * kv_dim;
  p.attn_v = L * C * kv_dim;
  p.attn_o = L * q_dim * C;
  p.attn_bias = L * ((c.attn_qkv_bias ? q_dim + 2 * kv_dim : 0) + (c.attn_out_bias ? C : 0));
  p.attn_qk_norm = c.qk_norm ? L * 2 * c.head_dim : 0;
  p.attention = p.attn_q + p.attn_k + p.attn_v + p.attn_o + p.attn_bias + p.attn_qk_norm;
  if (c.mlp == MlpKind::Gelu)  // fc (C -> H), proj (H -> C)
    p.mlp = L * (2 * C * H + (c.mlp_bias ? H + C : 0));
  else  // SwiGLU: gate, up (C -> H), down (H -> C)
    p.mlp = L * (3 * C * H + (c.mlp_bias ? 2 * H + C : 0));
  const int64_t per_norm = C * (c.norm == NormKind::LayerNorm && c.norm_bias ? 2 : 1);
  p.norm = (2 * L + 1) * per_norm;
  p.lm_head = c.tie_embeddings ? 0 : c.vocab_size * C;
  p.total = p.embedding + p.position + p.attention + p.mlp + p.norm + p.lm_head;
  p.non_embedding = p.total - p.embedding - p.position - p.lm_head;
  return p;
}

std::vector<Matmul> matmuls(const ModelConfig& c) {
  const int64_t C = c.dim, L = c.n_layer, H = c.hidden_dim;
  const int64_t q_dim = c.n_head * c.head_dim, kv_dim = c.n_kv_head * c.head_dim;
  std::vector<Matmul> m = {
      {"attn.q", "attn_proj", C, q_dim, L},
      {"attn.k", "attn_proj", C, kv_dim, L},
      {"attn.v", "attn_proj", C, kv_dim, L},
      {"attn.o", "attn_proj", q_dim, C, L},
  };
  if (c.mlp == MlpKind::Gelu) {
    m.push_back({"mlp.fc", "mlp", C, H, L});
    m.push_back({"mlp.proj", "mlp", H, C, L});
  } else {
    m.push_back({"mlp.gate", "mlp", C, H, L});
    m.push_back({"mlp.up", "mlp", C, H, L});
    m.push_back({"mlp.down", "mlp", H, C, L});
  }
  m.push_back({"lm_head", "lm_head", C, c.vocab_size, 1});  // tied or not, it is a product
  return m;
}

double attended_keys_prefill(int64_t T, int64_t window) {
  const double t = double(T);
  if (window <= 0 || T <= window) return t * (t + 1) / 2;  // sum_{t=1}^{T} t
  const double w = double(window);
  return w * (w + 1) / 2 + (t - w) * w;  // the first W tokens ramp up, the rest see W keys
}

double attended_keys_decode(int64_t T, int64_t window) {
  return double(window > 0 ? std::min(T, window) : T);
}

namespace {

// Per-element costs of the "other" operations (adds, multiplies, divides, exps and square
// roots each 1 FLOP):
//   RMSNorm (Zhang & Sennrich 2019): x^2, sum, x * rsqrt, * weight           -> 4
//   LayerNorm (Ba et al. 2016): mean add, x - mean, square, sum, * rstd,
//     * weight (+ bias)                                                      -> 6 (+1)
//   GELU, tanh form (Hendrycks & Gimpel 2016) 0.5 x (1 + tanh(sqrt(2/pi)(x + 0.044715 x^3))):
//     x^3 (2), * 0.044715, + x, * sqrt(2/pi), tanh, + 1, * x, * 0.5          -> 9
//   SwiGLU (Shazeer 2020) silu(g) * u = g / (1 + exp(-g)) * u: exp, add, divide, multiply -> 4
//   softmax over attended scores: scale, subtract max, exp, sum, divide      -> 5 per score
//   RoPE (Su et al. 2021): x cos + rotate(x) sin: 2 multiplies + 1 add       -> 3 per q/k element
//   residual adds: 1 per element, 2 per layer; bias adds: 1 per bias element;
//   learned positions: 1 add per element of the input.
constexpr double kRmsNorm = 4, kLayerNorm = 6, kGelu = 9, kSwiGlu = 4, kSoftmax = 5, kRope = 3;

double norm_cost(const ModelConfig& c) {
  return c.norm == NormKind::RMSNorm ? kRmsNorm : kLayerNorm + (c.norm_bias ? 1 : 0);
}

// Fills the "other" terms for `tokens` tokens that attend `keys` keys in total.
void add_other(Flops& f, const ModelConfig& c, double tokens, double keys) {
  const double C = double(c.dim), L = double(c.n_layer), H = double(c.hidden_dim);
  const double q_dim = double(c.n_head * c.head_dim), kv_dim = double(c.n_kv_head * c.head_dim);
  f.other_norm = tokens * (2 * L + 1) * C * norm_cost(c);
  if (c.qk_norm) f.other_norm += tokens * L * (q_dim + kv_dim) * kRmsNorm;
  f.other_activation = tokens * L * H * (c.mlp == MlpKind::Gelu ? kGelu : kSwiGlu);
  f.other_softmax = keys * L * double(c.n_head) * kSoftmax;
  f.other_rope = c.pos == PosKind::Rope ? tokens * L * (q_dim + kv_dim) * kRope : 0;
  double bias = (c.attn_qkv_bias ? q_dim + 2 * kv_dim : 0) + (c.attn_out_bias ? C : 0) +
                (c.mlp_bias ? (c.mlp == MlpKind::Gelu ? H + C : 2 * H + C) : 0);
  f.other_residual_bias = tokens * (L * (2 * C + bias) + (c.pos == PosKind::Learned ? C : 0));
  f.other =
      f.other_norm + f.other_activation + f.other_softmax + f.other_rope + f.other_residual_bias;
}

Flops forward(const ModelSpec& m, double tokens, double logit_tokens, double keys) {
  const ModelConfig& c = m.config;
  Flops f;
  for (const Matmul& mm : matmuls(c)) {
    double per_token = mm.flops_per_token();
    if (mm.component == "attn_proj")
      f.attn_proj += tokens * per_token;
    else if (mm.component == "mlp")
      f.mlp += tokens * per_token;
    else
      f.lm_head += logit_tokens * per_token;
  }
  f.matmul = f.attn_proj + f.mlp + f.lm_head;
  // QK^T: 2 * head_dim per (query head, attended key); AV: the same again.
  f.attention = double(c.n_layer) * double(c.n_head) * 4.0 * double(c.head_dim) * keys;
  f.total = f.matmul + f.attention;
  add_other(f, c, tokens, keys);
  return f;
}

void check_context(int64_t T) {
  check(T >= 1, "context length must be >= 1 token (got {})", T);
  check(T <= (int64_t(1) << 30), "context length {} is absurd (limit 2^30 tokens)", T);
}

}  // namespace

Flops prefill_flops(const ModelSpec& m, int64_t T, bool last_logits_only) {
  check_context(T);
  return forward(m, double(T), last_logits_only ? 1.0 : double(T),
                 attended_keys_prefill(T, m.sliding_window));
}

Flops decode_flops(const ModelSpec& m, int64_t T) {
  check_context(T);
  return forward(m, 1.0, 1.0, attended_keys_decode(T, m.sliding_window));
}

const std::vector<StorageFormat>& weight_formats() {
  static const std::vector<StorageFormat> f = {{"f32", 32}, {"bf16", 16},  {"f16", 16},
                                               {"int8", 8}, {"q8_0", 8.5}, {"q4_0", 4.5}};
  return f;
}

const std::vector<StorageFormat>& kv_formats() {
  static const std::vector<StorageFormat> f = {
      {"f32", 32}, {"bf16", 16}, {"f16", 16}, {"q8_0", 8.5}, {"q4_0", 4.5}};
  return f;
}

const StorageFormat& find_format(const std::vector<StorageFormat>& formats,
                                 const std::string& name) {
  std::string names;
  for (const StorageFormat& f : formats) {
    if (f.name == name) return f;
    names += (names.empty() ? "" : ", ") + f.name;
  }
  fail("unknown storage format '{}' (expected one of: {})", name, names);
}

double kv_bytes_per_token(const ModelConfig& c, double bits) {
  return 2.0 * double(c.n_layer) * double(c.n_kv_head) * double(c.head_dim) * bits / 8.0;
}

double kv_bytes_context(const ModelSpec& m, int64_t T, double bits) {
  int64_t kept = m.sliding_window > 0 ? std::min(T, m.sliding_window) : T;
  return double(kept) * kv_bytes_per_token(m.config, bits);
}

namespace {
// Weights read by a pass over `tokens` tokens: all but the input-side tables, of which
// only the looked-up rows are read (a tied table is read whole as the lm_head anyway).
double weight_bytes_read(const ModelSpec& m, int64_t tokens, double bits) {
  const ModelConfig& c = m.config;
  ParamCounts p = count_params(c);
  double params = double(p.total - p.position);
  if (!c.tie_embeddings)
    params += -double(p.embedding) + double(std::min(tokens, c.vocab_size)) * double(c.dim);
  if (c.pos == PosKind::Learned) params += double(std::min(tokens, c.max_seq_len)) * double(c.dim);
  return params * bits / 8.0;
}
}  // namespace

double prefill_bytes(const ModelSpec& m, int64_t T, double weight_bits, double kv_bits) {
  check_context(T);
  return weight_bytes_read(m, T, weight_bits) + double(T) * kv_bytes_per_token(m.config, kv_bits);
}

double decode_bytes(const ModelSpec& m, int64_t T, double weight_bits, double kv_bits) {
  check_context(T);
  // Reads the cached K/V of the T-1 earlier attended tokens, writes its own: one token's
  // worth per attended key in all.
  return weight_bytes_read(m, 1, weight_bits) +
         attended_keys_decode(T, m.sliding_window) * kv_bytes_per_token(m.config, kv_bits);
}

}  // namespace lmkit::analysis
