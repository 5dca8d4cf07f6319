// ModelConfig: the one configuration type of lmkit's one decoder-only transformer.
// Every supported family is a setting of these fields, not a subclass:
//   GPT-2  (Radford et al. 2019; HF GPT2LMHeadModel): learned positions, LayerNorm with
//          bias, GELU(tanh) MLP with bias, biased attention, tied head.
//   Llama  (Touvron et al. 2023; HF LlamaForCausalLM): RoPE, RMSNorm, SwiGLU, grouped-query
//          attention, optional untied head, Llama-3 RoPE frequency scaling.
//   Qwen2  (HF Qwen2ForCausalLM): Llama + bias on q/k/v.
//   Qwen3  (HF Qwen3ForCausalLM): Llama + per-head RMSNorm on q and k, explicit head_dim.
#pragma once
#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <string>

namespace lmkit {

enum class NormKind { LayerNorm, RMSNorm };
enum class MlpKind { Gelu, SwiGlu };
enum class PosKind { Learned, Rope };

// Llama-3.1 RoPE frequency scaling (HF `rope_scaling` with rope_type "llama3";
// Meta's llama-models `apply_scaling`).
struct RopeScaling {
  bool enabled = false;
  double factor = 8.0;
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  int64_t original_max_position = 8192;
};

struct ModelConfig {
  std::string arch = "gpt2";  // family name: gpt2 | llama | qwen2 | qwen3 (informational + IO)
  int64_t n_layer = 12;
  int64_t n_head = 12;
  int64_t n_kv_head = 12;  // < n_head: grouped-query attention
  int64_t dim = 768;       // model width (C)
  int64_t head_dim = 64;   // usually dim / n_head; Qwen3 sets it explicitly
  int64_t hidden_dim = 3072;  // MLP inner width
  int64_t vocab_size = 50257;
  int64_t max_seq_len = 1024;

  NormKind norm = NormKind::LayerNorm;
  double norm_eps = 1e-5;
  PosKind pos = PosKind::Learned;
  double rope_theta = 10000.0;
  RopeScaling rope_scaling;
  MlpKind mlp = MlpKind::Gelu;

  bool attn_qkv_bias = true;  // bias on q, k, v projections (GPT-2, Qwen2)
  bool attn_out_bias = true;  // bias on the attention output projection (GPT-2)
  bool mlp_bias = true;       // biases in the MLP (GPT-2)
  bool norm_bias = true;      // LayerNorm has a bias (GPT-2)
  bool qk_norm = false;       // per-head RMSNorm on q and k (Qwen3)
  bool tie_embeddings = true; // lm_head shares the token embedding matrix
  float dropout = 0.0f;       // on attention output / MLP output / embeddings (training)

  int64_t bos_token_id = -1;
  int64_t eos_token_id = -1;

  // Presets with every field set for the family (dims are filled from the arguments).
  static ModelConfig gpt2(int64_t n_layer, int64_t n_head, int64_t dim, int64_t vocab_size,
                          int64_t max_seq_len);
  static ModelConfig llama(int64_t n_layer, int64_t n_head, int64_t n_kv_head, int64_t dim,
                           int64_t hidden_dim, int64_t vocab_size, int64_t max_seq_len);
  static ModelConfig qwen2(int64_t n_layer, int64_t n_head, int64_t n_kv_head, int64_t dim,
                           int64_t hidden_dim, int64_t vocab_size, int64_t max_seq_len);
  static ModelConfig qwen3(int64_t n_layer, int64_t n_head, int64_t n_kv_head, int64_t dim,
                           int64_t head_dim, int64_t hidden_dim, int64_t vocab_size,
                           int64_t max_seq_len);

  // Throws lmkit::Error naming the first inconsistent or absurd field.
  void validate() const;

  // lmkit's own JSON form (every field, names as above).
  nlohmann::json to_json() const;
  static ModelConfig from_json(const nlohmann::json& j);
  // An HF transformers config.json (GPT2LMHeadModel, LlamaForCausalLM, Qwen2ForCausalLM,
  // Qwen3ForCausalLM, MistralForCausalLM).
  static ModelConfig from_hf_json(const nlohmann::json& j);
};

}  // namespace lmkit
