#include "lmkit/model/decoder.h"

#include <cmath>

#include "lmkit/core/error.h"
#include "lmkit/core/kernels.h"
#include "lmkit/core/random.h"

namespace lmkit {

void Decoder::add_param(const std::string& name, Tensor::Shape shape, bool decay) {
  index_[name] = params_.size();
  params_.push_back(Param{name, Tensor::zeros(shape), Tensor(), decay});
}

Decoder::Decoder(const ModelConfig& config) : cfg_(config) {
  cfg_.validate();
  const auto& c = cfg_;
  int64_t C = c.dim, hs = c.head_dim, H = c.hidden_dim;
  bool ln = c.norm == NormKind::LayerNorm;
  add_param("embed.weight", {c.vocab_size, C}, true);
  if (c.pos == PosKind::Learned) add_param("pos_embed.weight", {c.max_seq_len, C}, true);
  auto norm = [&](const std::string& p) {
    add_param(p + ".weight", {C}, false);
    if (ln && c.norm_bias) add_param(p + ".bias", {C}, false);
  };
  for (int64_t i = 0; i < c.n_layer; ++i) {
    std::string L = "layers." + std::to_string(i) + ".";
    norm(L + "attn_norm");
    add_param(L + "attn.q.weight", {c.n_head * hs, C}, true);
    add_param(L + "attn.k.weight", {c.n_kv_head * hs, C}, true);
    add_param(L + "attn.v.weight", {c.n_kv_head * hs, C}, true);
    if (c.attn_qkv_bias) {
      add_param(L + "attn.q.bias", {c.n_head * hs}, false);
      add_param(L + "attn.k.bias", {c.n_kv_head * hs}, false);
      add_param(L + "attn.v.bias", {c.n_kv_head * hs}, false);
    }
    if (c.qk_norm) {
      add_param(L + "attn.q_norm.weight", {hs}, false);
      add_param(L + "attn.k_norm.weight", {hs}, false);
    }
    add_param(L + "attn.o.weight", {C, c.n_head * hs}, true);
    if (c.attn_out_bias) add_param(L + "attn.o.bias", {C}, false);
    norm(L + "mlp_norm");
    if (c.mlp == MlpKind::SwiGlu) {
      add_param(L + "mlp.gate.weight", {H, C}, true);
      if (c.mlp_bias) add_param(L + "mlp.gate.bias", {H}, false);
    }
    add_param(L + "mlp.up.weight", {H, C}, true);
    if (c.mlp_bias) add_param(L + "mlp.up.bias", {H}, false);
    add_param(L + "mlp.down.weight", {C, H}, true);
    if (c.mlp_bias) add_param(L + "mlp.down.bias", {C}, false);
  }
  norm("final_norm");
  if (!c.tie_embeddings) add_param("lm_head.weight", {c.vocab_size, C}, true);
  // Norm weights start at one.
  for (auto& p : params_)
    if (p.name.ends_with("norm.weight"))
      for (float& v : p.value.f32()) v = 1.0f;
  if (c.pos == PosKind::Rope) {
    inv_freq_.resize(size_t(hs / 2));
    const auto& rs = c.rope_scaling;
    kernels::rope_inv_freq(inv_freq_.data(), hs, c.rope_theta, rs.enabled ? rs.factor : 0.0,
                           rs.low_freq_factor, rs.high_freq_factor, rs.original_max_position);
  }
}

Decoder::Param& Decoder::param(const std::string& name) {
  auto it = index_.find(name);
  check(it != index_.end(), "model has no parameter '{}'", name);
  return params_[it->second];
}

const Decoder::Param* Decoder::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &params_[it->second];
}

int64_t Decoder::num_params() const {
  int64_t n = 0;
  for (const auto& p : params_) n += p.value.numel();
  return n;
}

void Decoder::init_weights(uint64_t seed) {
  Rng rng(seed);
  double std_resid = 0.02 / std::sqrt(2.0 * double(cfg_.n_layer));
  for (auto& p : params_) {
    auto v = p.value.f32();
    if (p.name.ends_with("norm.weight")) {
      for (float& x : v) x = 1.0f;
    } else if (p.name.ends_with(".bias")) {
      for (float& x : v) x = 0.0f;
    } else {
      bool resid = p.name.ends_with("attn.o.weight") || p.name.ends_with("mlp.down.weight");
      double sd = resid ? std_resid : 0.02;
      for (float& x : v) x = float(rng.normal() * sd);
    }
  }
}

void Decoder::set_param(const std::string& name, Tensor value) {
  Param& p = param(name);
  check(value.shape() == p.value.shape(), "parameter '{}': shape {} does not match the model's {}",
        name, value.shape_str(), p.value.shape_str());
  check(value.dtype() == DType::F32 && value.is_contiguous(),
        "parameter '{}' must be contiguous f32", name);
  p.value = std::move(value);
}

void Decoder::enable_grads() {
  for (auto& p : params_)
    if (!p.grad.defined()) p.grad = Tensor::zeros(p.value.shape());
}

void Decoder::zero_grads() {
  for (auto& p : params_)
    if (p.grad.defined()) std::fill(p.grad.f32().begin(), p.grad.f32().end(), 0.0f);
}

Decoder::Outputs Decoder::build(Graph& g, int64_t B, int64_t T, bool with_loss) const {
  const auto& c = cfg_;
  check(B >= 1 && T >= 1, "batch {}x{} is empty", B, T);
  check(T <= c.max_seq_len, "sequence length {} exceeds the model's context of {}", T,
        c.max_seq_len);
  std::unordered_map<std::string, Var> vars;
  auto P = [&](const std::string& name) -> Var {
    if (auto it = vars.find(name); it != vars.end()) return it->second;
    const Param* p = find(name);
    if (!p) return Var{};
    Var v = g.parameter(p->value, p->grad);
    vars[name] = v;
    return v;
  };
  float eps = float(c.norm_eps);
  auto norm = [&](Var x, const std::string& prefix) {
    if (c.norm == NormKind::LayerNorm) return g.layernorm(x, P(prefix + ".weight"), P(prefix + ".bias"), eps);
    return g.rmsnorm(x, P(prefix + ".weight"), eps);
  };
  Outputs out;
  out.ids = g.input({B, T}, DType::I32);
  Var x = g.embedding(out.ids, P("embed.weight"), P("pos_embed.weight"));
  x = g.dropout(x, c.dropout);
  for (int64_t i = 0; i < c.n_layer; ++i) {
    std::string L = "layers." + std::to_string(i) + ".";
    Var h = norm(x, L + "attn_norm");
    Var q = g.linear(h, P(L + "attn.q.weight"), P(L + "attn.q.bias"));
    Var k = g.linear(h, P(L + "attn.k.weight"), P(L + "attn.k.bias"));
    Var v = g.linear(h, P(L + "attn.v.weight"), P(L + "attn.v.bias"));
    if (c.qk_norm) {
      q = g.rmsnorm_grouped(q, P(L + "attn.q_norm.weight"), c.head_dim, eps);
      k = g.rmsnorm_grouped(k, P(L + "attn.k_norm.weight"), c.head_dim, eps);
    }
    if (c.pos == PosKind::Rope) {
      q = g.rope(q, c.n_head, inv_freq_.data());
      k = g.rope(k, c.n_kv_head, inv_freq_.data());
    }
    Var a = g.attention(q, k, v, c.n_head, c.n_kv_head);
    Var o = g.dropout(g.linear(a, P(L + "attn.o.weight"), P(L + "attn.o.bias")), c.dropout);
    x = g.add(x, o);
    h = norm(x, L + "mlp_norm");
    Var up = g.linear(h, P(L + "mlp.up.weight"), P(L + "mlp.up.bias"));
    Var act = c.mlp == MlpKind::SwiGlu
                  ? g.swiglu(g.linear(h, P(L + "mlp.gate.weight"), P(L + "mlp.gate.bias")), up)
                  : g.gelu(up);
    Var m = g.dropout(g.linear(act, P(L + "mlp.down.weight"), P(L + "mlp.down.bias")), c.dropout);
    x = g.add(x, m);
  }
  x = norm(x, "final_norm");
  out.logits = g.linear(x, c.tie_embeddings ? P("embed.weight") : P("lm_head.weight"));
  if (with_loss) {
    out.targets = g.input({B, T}, DType::I32);
    out.loss = g.cross_entropy(out.logits, out.targets);
  }
  return out;
}

}  // namespace lmkit
