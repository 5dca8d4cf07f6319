#include "lmkit/model/config.h"

#include <nlohmann/json.hpp>

#include "lmkit/core/error.h"

namespace lmkit {

using json = nlohmann::json;

ModelConfig ModelConfig::gpt2(int64_t n_layer, int64_t n_head, int64_t dim, int64_t vocab_size,
                              int64_t max_seq_len) {
  ModelConfig c;
  c.arch = "gpt2";
  c.n_layer = n_layer;
  c.n_head = c.n_kv_head = n_head;
  c.dim = dim;
  c.head_dim = n_head > 0 ? dim / n_head : 0;
  c.hidden_dim = 4 * dim;
  c.vocab_size = vocab_size;
  c.max_seq_len = max_seq_len;
  c.norm = NormKind::LayerNorm;
  c.norm_eps = 1e-5;
  c.pos = PosKind::Learned;
  c.mlp = MlpKind::Gelu;
  c.attn_qkv_bias = c.attn_out_bias = c.mlp_bias = c.norm_bias = true;
  c.qk_norm = false;
  c.tie_embeddings = true;
  return c;
}

ModelConfig ModelConfig::llama(int64_t n_layer, int64_t n_head, int64_t n_kv_head, int64_t dim,
                               int64_t hidden_dim, int64_t vocab_size, int64_t max_seq_len) {
  ModelConfig c;
  c.arch = "llama";
  c.n_layer = n_layer;
  c.n_head = n_head;
  c.n_kv_head = n_kv_head;
  c.dim = dim;
  c.head_dim = n_head > 0 ? dim / n_head : 0;
  c.hidden_dim = hidden_dim;
  c.vocab_size = vocab_size;
  c.max_seq_len = max_seq_len;
  c.norm = NormKind::RMSNorm;
  c.norm_eps = 1e-5;
  c.pos = PosKind::Rope;
  c.rope_theta = 10000.0;
  c.mlp = MlpKind::SwiGlu;
  c.attn_qkv_bias = c.attn_out_bias = c.mlp_bias = c.norm_bias = false;
  c.qk_norm = false;
  c.tie_embeddings = false;
  return c;
}

ModelConfig ModelConfig::qwen2(int64_t n_layer, int64_t n_head, int64_t n_kv_head, int64_t dim,
                               int64_t hidden_dim, int64_t vocab_size, int64_t max_seq_len) {
  ModelConfig c = llama(n_layer, n_head, n_kv_head, dim, hidden_dim, vocab_size, max_seq_len);
  c.arch = "qwen2";
  c.attn_qkv_bias = true;
  c.norm_eps = 1e-6;
  c.rope_theta = 1000000.0;
  return c;
}

ModelConfig ModelConfig::qwen3(int64_t n_layer, int64_t n_head, int64_t n_kv_head, int64_t dim,
                               int64_t head_dim, int64_t hidden_dim, int64_t vocab_size,
                               int64_t max_seq_len) {
  ModelConfig c = llama(n_layer, n_head, n_kv_head, dim, hidden_dim, vocab_size, max_seq_len);
  c.arch = "qwen3";
  c.head_dim = head_dim;
  c.qk_norm = true;
  c.norm_eps = 1e-6;
  c.rope_theta = 1000000.0;
  return c;
}

void ModelConfig::validate() const {
  auto in = [](int64_t v, int64_t lo, int64_t hi) { return v >= lo && v <= hi; };
  check(arch == "gpt2" || arch == "llama" || arch == "qwen2" || arch == "qwen3",
        "unknown architecture '{}' (expected gpt2, llama, qwen2 or qwen3)", arch);
  check(in(n_layer, 1, 1024), "n_layer = {} is out of range (1..1024)", n_layer);
  check(in(n_head, 1, 4096), "n_head = {} is out of range (1..4096)", n_head);
  check(in(n_kv_head, 1, n_head) && n_head % n_kv_head == 0,
        "n_kv_head = {} must divide n_head = {}", n_kv_head, n_head);
  check(in(dim, 1, 1 << 20), "dim = {} is out of range", dim);
  check(in(head_dim, 1, 1 << 16), "head_dim = {} is out of range", head_dim);
  check(pos != PosKind::Rope || head_dim % 2 == 0, "RoPE needs an even head_dim (got {})",
        head_dim);
  check(in(hidden_dim, 1, 1 << 22), "hidden_dim = {} is out of range", hidden_dim);
  check(in(vocab_size, 1, 1 << 24), "vocab_size = {} is out of range (1..16M)", vocab_size);
  check(in(max_seq_len, 1, 1 << 24), "max_seq_len = {} is out of range", max_seq_len);
  check(norm_eps > 0 && norm_eps < 1, "norm_eps = {} is out of range (0, 1)", norm_eps);
  check(rope_theta > 1, "rope_theta = {} must be > 1", rope_theta);
  check(dropout >= 0 && dropout < 1, "dropout = {} must be in [0, 1)", dropout);
  if (rope_scaling.enabled)
    check(rope_scaling.factor >= 1 && rope_scaling.high_freq_factor > rope_scaling.low_freq_factor &&
              rope_scaling.original_max_position > 0,
          "inconsistent Llama-3 rope_scaling values");
}

json ModelConfig::to_json() const {
  return json{{"arch", arch},
              {"n_layer", n_layer},
              {"n_head", n_head},
              {"n_kv_head", n_kv_head},
              {"dim", dim},
              {"head_dim", head_dim},
              {"hidden_dim", hidden_dim},
              {"vocab_size", vocab_size},
              {"max_seq_len", max_seq_len},
              {"norm", norm == NormKind::LayerNorm ? "layernorm" : "rmsnorm"},
              {"norm_eps", norm_eps},
              {"pos", pos == PosKind::Learned ? "learned" : "rope"},
              {"rope_theta", rope_theta},
              {"rope_scaling",
               {{"enabled", rope_scaling.enabled},
                {"factor", rope_scaling.factor},
                {"low_freq_factor", rope_scaling.low_freq_factor},
                {"high_freq_factor", rope_scaling.high_freq_factor},
                {"original_max_position", rope_scaling.original_max_position}}},
              {"mlp", mlp == MlpKind::Gelu ? "gelu" : "swiglu"},
              {"attn_qkv_bias", attn_qkv_bias},
              {"attn_out_bias", attn_out_bias},
              {"mlp_bias", mlp_bias},
              {"norm_bias", norm_bias},
              {"qk_norm", qk_norm},
              {"tie_embeddings", tie_embeddings},
              {"dropout", dropout},
              {"bos_token_id", bos_token_id},
              {"eos_token_id", eos_token_id}};
}

namespace {
template <typename T>
void get_opt(const json& j, const char* key, T& out) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return;
  try {
    out = it->get<T>();
  } catch (const json::exception&) {
    fail("config field '{}' has the wrong type ({})", key, it->dump());
  }
}
}  // namespace

ModelConfig ModelConfig::from_json(const json& j) {
  check(j.is_object(), "model config must be a JSON object");
  ModelConfig c;
  get_opt(j, "arch", c.arch);
  get_opt(j, "n_layer", c.n_layer);
  get_opt(j, "n_head", c.n_head);
  c.n_kv_head = c.n_head;
  get_opt(j, "n_kv_head", c.n_kv_head);
  get_opt(j, "dim", c.dim);
  c.head_dim = c.n_head > 0 ? c.dim / c.n_head : 0;
  get_opt(j, "head_dim", c.head_dim);
  get_opt(j, "hidden_dim", c.hidden_dim);
  get_opt(j, "vocab_size", c.vocab_size);
  get_opt(j, "max_seq_len", c.max_seq_len);
  std::string s;
  if (get_opt(j, "norm", s = ""), !s.empty()) {
    check(s == "layernorm" || s == "rmsnorm", "config norm '{}' (expected layernorm|rmsnorm)", s);
    c.norm = s == "layernorm" ? NormKind::LayerNorm : NormKind::RMSNorm;
  }
  get_opt(j, "norm_eps", c.norm_eps);
  if (get_opt(j, "pos", s = ""), !s.empty()) {
    check(s == "learned" || s == "rope", "config pos '{}' (expected learned|rope)", s);
    c.pos = s == "learned" ? PosKind::Learned : PosKind::Rope;
  }
  get_opt(j, "rope_theta", c.rope_theta);
  if (auto it = j.find("rope_scaling"); it != j.end() && it->is_object()) {
    get_opt(*it, "enabled", c.rope_scaling.enabled);
    get_opt(*it, "factor", c.rope_scaling.factor);
    get_opt(*it, "low_freq_factor", c.rope_scaling.low_freq_factor);
    get_opt(*it, "high_freq_factor", c.rope_scaling.high_freq_factor);
    get_opt(*it, "original_max_position", c.rope_scaling.original_max_position);
  }
  if (get_opt(j, "mlp", s = ""), !s.empty()) {
    check(s == "gelu" || s == "swiglu", "config mlp '{}' (expected gelu|swiglu)", s);
    c.mlp = s == "gelu" ? MlpKind::Gelu : MlpKind::SwiGlu;
  }
  get_opt(j, "attn_qkv_bias", c.attn_qkv_bias);
  get_opt(j, "attn_out_bias", c.attn_out_bias);
  get_opt(j, "mlp_bias", c.mlp_bias);
  get_opt(j, "norm_bias", c.norm_bias);
  get_opt(j, "qk_norm", c.qk_norm);
  get_opt(j, "tie_embeddings", c.tie_embeddings);
  get_opt(j, "dropout", c.dropout);
  get_opt(j, "bos_token_id", c.bos_token_id);
  get_opt(j, "eos_token_id", c.eos_token_id);
  c.validate();
  return c;
}

ModelConfig ModelConfig::from_hf_json(const json& j) {
  check(j.is_object(), "config.json must be a JSON object");
  std::string type;
  get_opt(j, "model_type", type);
  ModelConfig c;
  if (type == "gpt2") {
    int64_t n_layer = 0, n_head = 0, dim = 0, vocab = 0, ctx = 1024;
    get_opt(j, "n_layer", n_layer);
    get_opt(j, "n_head", n_head);
    get_opt(j, "n_embd", dim);
    get_opt(j, "vocab_size", vocab);
    get_opt(j, "n_positions", ctx);
    c = gpt2(n_layer, n_head, dim, vocab, ctx);
    get_opt(j, "n_inner", c.hidden_dim);
    get_opt(j, "layer_norm_epsilon", c.norm_eps);
    get_opt(j, "tie_word_embeddings", c.tie_embeddings);
  } else if (type == "llama" || type == "mistral" || type == "qwen2" || type == "qwen3") {
    int64_t n_layer = 0, n_head = 0, dim = 0, hidden = 0, vocab = 0, ctx = 2048;
    get_opt(j, "num_hidden_layers", n_layer);
    get_opt(j, "num_attention_heads", n_head);
    int64_t n_kv = n_head;
    get_opt(j, "num_key_value_heads", n_kv);
    get_opt(j, "hidden_size", dim);
    get_opt(j, "intermediate_size", hidden);
    get_opt(j, "vocab_size", vocab);
    get_opt(j, "max_position_embeddings", ctx);
    if (type == "qwen2") {
      c = qwen2(n_layer, n_head, n_kv, dim, hidden, vocab, ctx);
    } else if (type == "qwen3") {
      c = qwen3(n_layer, n_head, n_kv, dim, n_head > 0 ? dim / n_head : 0, hidden, vocab, ctx);
    } else {
      c = llama(n_layer, n_head, n_kv, dim, hidden, vocab, ctx);
    }
    get_opt(j, "head_dim", c.head_dim);
    get_opt(j, "rms_norm_eps", c.norm_eps);
    get_opt(j, "rope_theta", c.rope_theta);
    get_opt(j, "tie_word_embeddings", c.tie_embeddings);
    if (type == "llama" || type == "mistral") {
      bool bias = false;
      get_opt(j, "attention_bias", bias);
      c.attn_qkv_bias = c.attn_out_bias = bias;
      get_opt(j, "mlp_bias", c.mlp_bias);
    }
    if (auto it = j.find("rope_scaling"); it != j.end() && it->is_object()) {
      std::string rt;
      get_opt(*it, "rope_type", rt);
      if (rt.empty()) get_opt(*it, "type", rt);
      if (rt == "llama3") {
        c.rope_scaling.enabled = true;
        get_opt(*it, "factor", c.rope_scaling.factor);
        get_opt(*it, "low_freq_factor", c.rope_scaling.low_freq_factor);
        get_opt(*it, "high_freq_factor", c.rope_scaling.high_freq_factor);
        get_opt(*it, "original_max_position_embeddings", c.rope_scaling.original_max_position);
      } else if (!rt.empty() && rt != "default") {
        fail("config.json: rope_scaling type '{}' is not supported (only llama3)", rt);
      }
    }
  } else {
    fail("config.json: model_type '{}' is not supported (gpt2, llama, mistral, qwen2, qwen3)",
         type);
  }
  if (auto it = j.find("bos_token_id"); it != j.end() && it->is_number_integer())
    c.bos_token_id = it->get<int64_t>();
  if (auto it = j.find("eos_token_id"); it != j.end() && it->is_number_integer())
    c.eos_token_id = it->get<int64_t>();
  c.validate();
  return c;
}

}  // namespace lmkit
