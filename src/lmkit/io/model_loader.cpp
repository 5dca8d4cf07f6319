// The one weight-loading path (see model_loader.h for the formats and their references).
#include "lmkit/io/model_loader.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <utility>

#include "lmkit/core/error.h"
#include "lmkit/core/kernels.h"
#include "lmkit/core/mapped_file.h"
#include "lmkit/io/gguf.h"
#include "lmkit/io/gguf_tokenizer.h"
#include "lmkit/io/json_file.h"
#include "lmkit/io/llama2c.h"
#include "lmkit/io/safetensors.h"
#include "lmkit/io/tokenizer_loader.h"

namespace lmkit {

namespace fs = std::filesystem;
using json = nlohmann::json;

// ------------------------------------------------------------------------ Weight

void Weight::dequantize_row(int64_t r, float* out) const {
  const int64_t K = cols();
  check(r >= 0 && r < rows(), "row {} is outside a tensor of {} rows", r, rows());
  if (grouped_q8()) {
    // runq.c dequantize(): x[i] = q[i] * s[i / GS] over the flattened tensor.
    const int8_t* qs = reinterpret_cast<const int8_t*>(q.data);
    const int64_t e0 = r * K;
    for (int64_t j = 0; j < K; ++j)
      out[j] = float(qs[e0 + j]) * group_scales[(e0 + j) / group_size];
    return;
  }
  lmkit::dequantize_row(q.type, q.row(r), out, K);
}

Tensor Weight::to_f32() const {
  Tensor t = Tensor::zeros(q.shape.empty() ? Tensor::Shape{1} : q.shape);
  float* p = t.data<float>();
  for (int64_t r = 0; r < rows(); ++r) dequantize_row(r, p + r * cols());
  return t;
}

size_t Weight::bytes() const {
  return q.bytes + (grouped_q8() ? size_t(q.numel() / group_size) * sizeof(float) : 0);
}

namespace {

GgmlType ggml_of_dtype(DType d, const std::string& what) {
  switch (d) {
    case DType::F32:
      return GgmlType::F32;
    case DType::F16:
      return GgmlType::F16;
    case DType::BF16:
      return GgmlType::BF16;
    default:
      fail("{}: dtype {} is not a weight type (f32, f16, bf16)", what, dtype_name(d));
  }
}

// A weight viewing a contiguous float tensor (no copy; the Weight shares its storage).
Weight weight_of(const Tensor& t, const std::string& what) {
  check(t.is_contiguous(), "{}: weight is not contiguous", what);
  Weight w;
  w.q.type = ggml_of_dtype(t.dtype(), what);
  w.q.shape = t.shape();
  auto keep = std::make_shared<Tensor>(t);
  w.q.data = std::as_const(*keep).data<uint8_t>();
  w.q.bytes = t.nbytes();
  w.q.owner = keep;
  return w;
}

// The parameters (lmkit names and shapes) the config implies, in Decoder order
// (model/decoder.cpp Decoder::Decoder; notes/param_names.md).
std::vector<std::pair<std::string, Tensor::Shape>> expected_params(const ModelConfig& c) {
  std::vector<std::pair<std::string, Tensor::Shape>> out;
  const int64_t C = c.dim, hs = c.head_dim, H = c.hidden_dim;
  const bool ln = c.norm == NormKind::LayerNorm;
  auto add = [&](std::string n, Tensor::Shape s) { out.emplace_back(std::move(n), std::move(s)); };
  auto norm = [&](const std::string& p) {
    add(p + ".weight", {C});
    if (ln && c.norm_bias) add(p + ".bias", {C});
  };
  add("embed.weight", {c.vocab_size, C});
  if (c.pos == PosKind::Learned) add("pos_embed.weight", {c.max_seq_len, C});
  for (int64_t i = 0; i < c.n_layer; ++i) {
    const std::string L = "layers." + std::to_string(i) + ".";
    norm(L + "attn_norm");
    add(L + "attn.q.weight", {c.n_head * hs, C});
    add(L + "attn.k.weight", {c.n_kv_head * hs, C});
    add(L + "attn.v.weight", {c.n_kv_head * hs, C});
    if (c.attn_qkv_bias) {
      add(L + "attn.q.bias", {c.n_head * hs});
      add(L + "attn.k.bias", {c.n_kv_head * hs});
      add(L + "attn.v.bias", {c.n_kv_head * hs});
    }
    if (c.qk_norm) {
      add(L + "attn.q_norm.weight", {hs});
      add(L + "attn.k_norm.weight", {hs});
    }
    add(L + "attn.o.weight", {C, c.n_head * hs});
    if (c.attn_out_bias) add(L + "attn.o.bias", {C});
    norm(L + "mlp_norm");
    if (c.mlp == MlpKind::SwiGlu) {
      add(L + "mlp.gate.weight", {H, C});
      if (c.mlp_bias) add(L + "mlp.gate.bias", {H});
    }
    add(L + "mlp.up.weight", {H, C});
    if (c.mlp_bias) add(L + "mlp.up.bias", {H});
    add(L + "mlp.down.weight", {C, H});
    if (c.mlp_bias) add(L + "mlp.down.bias", {C});
  }
  norm("final_norm");
  if (!c.tie_embeddings) add("lm_head.weight", {c.vocab_size, C});
  return out;
}

std::string shape_str(const Tensor::Shape& s) {
  std::string r = "(";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
  return r + ")";
}

bool is_qk(const std::string& name) {
  return name.ends_with("attn.q.weight") || name.ends_with("attn.k.weight") ||
         name.ends_with("attn.q.bias") || name.ends_with("attn.k.bias");
}

std::vector<float> config_inv_freq(const ModelConfig& c) {
  if (c.pos != PosKind::Rope) return {};
  std::vector<float> f(size_t(c.head_dim / 2));
  const auto& rs = c.rope_scaling;
  kernels::rope_inv_freq(f.data(), c.head_dim, c.rope_theta, rs.enabled ? rs.factor : 0.0,
                         rs.low_freq_factor, rs.high_freq_factor, rs.original_max_position);
  return f;
}

}  // namespace

// ------------------------------------------------------------------------ ModelWeights

const Weight* ModelWeights::find(const std::string& name) const {
  auto it = tensors.find(name);
  return it == tensors.end() ? nullptr : &it->second;
}

const Weight& ModelWeights::at(const std::string& name) const {
  const Weight* w = find(name);
  check(w != nullptr, "{}: the model has no tensor '{}'", source.empty() ? format : source, name);
  return *w;
}

void ModelWeights::validate() const {
  config.validate();
  const std::string where = source.empty() ? format : source;
  std::set<std::string> want;
  for (const auto& [name, shape] : expected_params(config)) {
    want.insert(name);
    const Weight* w = find(name);
    check(w != nullptr, "{}: tensor '{}' {} is missing", where, name, shape_str(shape));
    check(w->q.shape == shape, "{}: tensor '{}' has shape {}, expected {}", where, name,
          shape_str(w->q.shape), shape_str(shape));
    if (w->grouped_q8()) {
      check(w->q.type == GgmlType::I8 && w->group_size > 0 && w->group_scales != nullptr &&
                w->q.numel() % w->group_size == 0 && w->q.bytes == size_t(w->q.numel()),
            "{}: tensor '{}' has inconsistent int8 groups", where, name);
    } else {
      check(ggml_type_dequantizable(w->q.type),
            "{}: tensor '{}' has type {}, which lmkit cannot "
            "compute with (supported: f32, f16, bf16, q8_0, q4_0, q4_K, q6_K)",
            where, name, ggml_type_name(w->q.type));
      w->q.validate();
      bool vec = shape.size() == 1;
      check(!vec || w->q.type == GgmlType::F32 || w->q.type == GgmlType::F16 ||
                w->q.type == GgmlType::BF16,
            "{}: 1-d tensor '{}' must be f32/f16/bf16, not {}", where, name,
            ggml_type_name(w->q.type));
    }
  }
  for (const auto& [name, w] : tensors)
    check(want.count(name) != 0, "{}: unexpected tensor '{}' for a {} model", where, name,
          config.arch);
  if (config.pos == PosKind::Rope)
    check(rope_inv_freq.size() == size_t(config.head_dim / 2),
          "{}: RoPE frequency table has {} "
          "entries, expected {}",
          where, rope_inv_freq.size(), config.head_dim / 2);
}

size_t ModelWeights::bytes() const {
  size_t n = 0;
  for (const auto& [name, w] : tensors) n += w.bytes();
  return n;
}

std::string ModelWeights::type_summary() const {
  std::map<std::string, size_t> by;
  for (const auto& [name, w] : tensors) {
    if (w.q.shape.size() < 2) continue;
    std::string t = w.grouped_q8() ? fmt::format("llama2c-q8 gs={}", w.group_size)
                                   : std::string(ggml_type_name(w.q.type));
    by[t] += w.bytes();
  }
  std::string best;
  size_t most = 0;
  for (const auto& [t, b] : by)
    if (b > most) most = b, best = t;
  return best.empty() ? "f32" : best;
}

void permute_rope_rows(float* w, int64_t n_heads, int64_t hs, int64_t row_elems,
                       bool to_interleaved) {
  check(hs % 2 == 0, "permute_rope_rows: odd head size {}", hs);
  const int64_t half = hs / 2;
  std::vector<float> tmp(size_t(hs * row_elems));
  for (int64_t h = 0; h < n_heads; ++h) {
    float* head = w + h * hs * row_elems;
    std::memcpy(tmp.data(), head, tmp.size() * sizeof(float));
    for (int64_t i = 0; i < half; ++i)
      for (int64_t j = 0; j < 2; ++j) {
        // HF row j*half + i  <->  Meta/GGUF row 2i + j.
        const int64_t hf = j * half + i, meta = 2 * i + j;
        const int64_t dst = to_interleaved ? meta : hf, src = to_interleaved ? hf : meta;
        std::memcpy(head + dst * row_elems, tmp.data() + src * row_elems,
                    size_t(row_elems) * sizeof(float));
      }
  }
}

Decoder ModelWeights::to_decoder() const {
  validate();
  Decoder d(config);
  for (auto& p : d.params()) {
    const Weight& w = at(p.name);
    Tensor t = w.to_f32();
    if (rope_pairing == RopePairing::Interleaved && is_qk(p.name)) {
      const bool q = p.name.find("attn.q.") != std::string::npos;
      const int64_t nh = q ? config.n_head : config.n_kv_head;
      const int64_t row = t.ndim() == 2 ? t.size(1) : 1;
      permute_rope_rows(t.data<float>(), nh, config.head_dim, row, /*to_interleaved=*/false);
    }
    p.value = std::move(t);
  }
  check(rope_freq_factors.empty(),
        "{}: the file's RoPE frequency factors (rope_freqs) have no "
        "equivalent in lmkit's config; it cannot be turned into a decoder",
        source);
  return d;
}

ModelWeights ModelWeights::from_decoder(const Decoder& decoder) {
  ModelWeights m;
  m.config = decoder.config();
  m.format = "decoder";
  m.rope_inv_freq = decoder.rope_inv_freq();
  for (const auto& p : decoder.params()) m.tensors[p.name] = weight_of(p.value, p.name);
  m.validate();
  return m;
}

// ------------------------------------------------------------------------ llama2.c

ModelConfig gguf_model_config(const gguf::File& file, const std::string& path) {
  const gguf::Metadata& md = file.metadata();
  const std::string arch = md.get_string("general.architecture");
  check(arch == "llama" || arch == "qwen2" || arch == "qwen3" || arch == "gpt2",
        "'{}': GGUF architecture '{}' is not supported (llama, qwen2, qwen3, gpt2)", path, arch);
  auto key = [&](const char* k) { return arch + "." + k; };
  const gguf::TensorInfo& emb = file.tensor_info("token_embd.weight");
  check(emb.shape.size() == 2, "'{}': token_embd.weight must be 2-d", path);
  const int64_t n_layer = md.get_int(key("block_count"));
  const int64_t n_head = md.get_int(key("attention.head_count"));
  const int64_t n_kv = md.get_int(key("attention.head_count_kv"), n_head);
  const int64_t dim = md.get_int(key("embedding_length"));
  const int64_t hidden = md.get_int(key("feed_forward_length"));
  const int64_t ctx = md.get_int(key("context_length"));
  const int64_t vocab = md.get_int(key("vocab_size"), emb.shape[0]);
  check(n_head > 0 && dim > 0, "'{}': head_count {} / embedding_length {} must be positive", path,
        n_head, dim);
  ModelConfig c;
  if (arch == "gpt2") {
    c = ModelConfig::gpt2(n_layer, n_head, dim, vocab, ctx);
    c.hidden_dim = hidden;
    c.norm_eps = md.get_float(key("attention.layer_norm_epsilon"), 1e-5);
  } else {
    const int64_t head_dim = md.get_int(key("attention.key_length"), dim / n_head);
    check(md.get_int(key("attention.value_length"), head_dim) == head_dim,
          "'{}': value_length != key_length is not supported", path);
    if (arch == "qwen3")
      c = ModelConfig::qwen3(n_layer, n_head, n_kv, dim, head_dim, hidden, vocab, ctx);
    else if (arch == "qwen2")
      c = ModelConfig::qwen2(n_layer, n_head, n_kv, dim, hidden, vocab, ctx);
    else
      c = ModelConfig::llama(n_layer, n_head, n_kv, dim, hidden, vocab, ctx);
    c.head_dim = head_dim;
    c.norm_eps = md.get_float(key("attention.layer_norm_rms_epsilon"), 1e-5);
    c.rope_theta = md.get_float(key("rope.freq_base"), 10000.0);
    const int64_t rot = md.get_int(key("rope.dimension_count"), head_dim);
    check(rot == head_dim, "'{}': partial RoPE ({} of {} dims) is not supported", path, rot,
          head_dim);
    const std::string st = md.get_string(key("rope.scaling.type"), "none");
    check(st == "none", "'{}': RoPE scaling type '{}' is not supported", path, st);
    // lmkit's own record of HF Llama-3 scaling (model_writer.cpp); llama.cpp reads the
    // equivalent rope_freqs tensor instead.
    if (md.has("lmkit.rope_scaling.factor")) {
      c.rope_scaling.enabled = true;
      c.rope_scaling.factor = md.get_float("lmkit.rope_scaling.factor");
      c.rope_scaling.low_freq_factor = md.get_float("lmkit.rope_scaling.low_freq_factor");
      c.rope_scaling.high_freq_factor = md.get_float("lmkit.rope_scaling.high_freq_factor");
      c.rope_scaling.original_max_position = md.get_int("lmkit.rope_scaling.original_max_position");
    }
  }
  c.tie_embeddings = file.find_tensor("output.weight") == nullptr;
  if (arch == "llama") {
    // Some Llama-family GGUFs carry biases (attention_bias in HF); follow the file.
    c.attn_qkv_bias = file.find_tensor("blk.0.attn_q.bias") != nullptr;
    c.attn_out_bias = file.find_tensor("blk.0.attn_output.bias") != nullptr;
    c.mlp_bias = file.find_tensor("blk.0.ffn_up.bias") != nullptr;
  }
  c.bos_token_id = md.get_int("tokenizer.ggml.bos_token_id", -1);
  c.eos_token_id = md.get_int("tokenizer.ggml.eos_token_id", -1);
  c.validate();

  return c;
}

namespace {

// llama2.c checkpoints through io/llama2c.h (versions 0, 1 and 2). Its q/k rows are already
// permuted into lmkit's rotate_half layout; fp32 weights are views of the map, version-2
// matrices stay grouped int8 (runq.c's QuantizedTensor) for the engine's runq.c kernel.
ModelWeights load_llama2c(const std::string& path) {
  auto ck = std::make_shared<const llama2c::Checkpoint>(llama2c::Checkpoint::open(path));
  ModelWeights m;
  m.config = ck->config();
  m.format = ck->version() == 2 ? "llama2c-int8" : "llama2c";
  m.source = path;
  m.rope_pairing = RopePairing::HalfSplit;
  for (const std::string& name : ck->names()) {
    if (ck->is_quantized(name)) {
      const llama2c::GroupQ8& g = ck->quantized(name);
      Weight w;
      w.q.type = GgmlType::I8;
      w.q.shape = g.shape;
      w.q.data = reinterpret_cast<const uint8_t*>(g.q);
      w.q.bytes = size_t(g.numel());
      w.q.owner = std::shared_ptr<const void>(ck, g.owner.get());  // keeps ck (and g) alive
      w.group_size = g.group_size;
      w.group_scales = g.scales;
      m.tensors[name] = w;
    } else {
      m.tensors[name] = weight_of(ck->tensor(name), name);
    }
  }
  m.rope_inv_freq = config_inv_freq(m.config);
  m.validate();
  return m;
}

// ------------------------------------------------------------------------ GGUF

// llama.cpp names (src/llama-arch.cpp LLM_TENSOR_NAMES) -> lmkit names.
std::string gguf_to_lmkit(const std::string& name, const std::string& arch) {
  static const std::vector<std::pair<std::string, std::string>> top = {
      {"token_embd.weight", "embed.weight"},       {"position_embd.weight", "pos_embed.weight"},
      {"output_norm.weight", "final_norm.weight"}, {"output_norm.bias", "final_norm.bias"},
      {"output.weight", "lm_head.weight"},
  };
  for (const auto& [g, l] : top)
    if (name == g) return l;
  if (!name.starts_with("blk.")) return "";
  size_t dot = name.find('.', 4);
  if (dot == std::string::npos) return "";
  const std::string layer = name.substr(4, dot - 4), rest = name.substr(dot + 1);
  if (layer.empty() || layer.find_first_not_of("0123456789") != std::string::npos) return "";
  static const std::vector<std::pair<std::string, std::string>> blk = {
      {"attn_norm", "attn_norm"},     {"attn_q", "attn.q"},      {"attn_k", "attn.k"},
      {"attn_v", "attn.v"},           {"attn_output", "attn.o"}, {"attn_q_norm", "attn.q_norm"},
      {"attn_k_norm", "attn.k_norm"}, {"ffn_norm", "mlp_norm"},  {"ffn_gate", "mlp.gate"},
      {"ffn_up", "mlp.up"},           {"ffn_down", "mlp.down"},
  };
  (void)arch;
  for (const auto& [g, l] : blk)
    for (const char* suffix : {".weight", ".bias"})
      if (rest == g + suffix) return "layers." + layer + "." + l + suffix;
  return "";
}

ModelWeights load_gguf(const std::string& path) {
  auto file = std::make_shared<const gguf::File>(gguf::File::open(path));
  const ModelConfig c = gguf_model_config(*file, path);
  const std::string arch = file->metadata().get_string("general.architecture");
  const int64_t dim = c.dim;
  ModelWeights m;
  m.config = c;
  m.format = "gguf";
  m.source = path;
  m.gguf = file;
  // llama.cpp rotates llama-arch q/k with LLAMA_ROPE_TYPE_NORM (pairs 2i, 2i+1) on rows
  // that convert_hf_to_gguf.py permuted; qwen2/qwen3 use LLAMA_ROPE_TYPE_NEOX (src/
  // llama-model.cpp llama_model_rope_type).
  m.rope_pairing = arch == "llama" ? RopePairing::Interleaved : RopePairing::HalfSplit;
  for (const gguf::TensorInfo& ti : file->tensors()) {
    if (ti.name == "rope_freqs.weight") {
      check(ti.type == GgmlType::F32 && ti.numel() == c.head_dim / 2,
            "'{}': rope_freqs.weight must be {} f32 values", path, c.head_dim / 2);
      Tensor t = file->tensor(ti.name);
      const float* f = std::as_const(t).data<float>();
      m.rope_freq_factors.assign(f, f + t.numel());
      continue;
    }
    if (arch == "gpt2" && ti.name.starts_with("blk.") &&
        ti.name.find(".attn_qkv.") != std::string::npos) {
      // Fused QKV (llama.cpp gpt2: wqkv (n_embd + 2 n_embd_gqa, n_embd)): q, k, v are row
      // ranges of it, viewed in place.
      QTensor all = file->qtensor(ti.name);
      const std::string layer = ti.name.substr(4, ti.name.find('.', 4) - 4);
      const bool bias = ti.name.ends_with(".bias");
      check(all.shape[0] == 3 * dim && (bias ? all.shape.size() == 1 : all.shape.size() == 2),
            "'{}': {} has shape {}, expected ({}{})", path, ti.name, shape_str(all.shape), 3 * dim,
            bias ? "" : fmt::format(", {}", dim));
      const char* parts[3] = {"q", "k", "v"};
      for (int i = 0; i < 3; ++i) {
        Weight w;
        w.q = all;
        w.q.shape[0] = dim;
        const size_t part = bias ? ggml_row_size(all.type, dim) : all.row_bytes() * size_t(dim);
        w.q.data = all.data + part * size_t(i);
        w.q.bytes = part;
        m.tensors["layers." + layer + ".attn." + parts[i] + (bias ? ".bias" : ".weight")] = w;
      }
      continue;
    }
    std::string name = gguf_to_lmkit(ti.name, arch);
    check(!name.empty(), "'{}': unexpected tensor '{}' for a {} GGUF", path, ti.name, arch);
    Weight w;
    w.q = file->qtensor(ti.name);
    m.tensors[name] = w;
  }
  m.rope_inv_freq = config_inv_freq(c);
  if (!m.rope_freq_factors.empty() && !c.rope_scaling.enabled) {
    // ggml rope: theta / freq_factor (ggml-cpu ops.cpp rope_yarn with freq_factors).
    for (size_t i = 0; i < m.rope_inv_freq.size(); ++i)
      m.rope_inv_freq[i] /= m.rope_freq_factors[i];
  } else {
    m.rope_freq_factors.clear();
  }
  m.validate();
  return m;
}

// ------------------------------------------------------------------------ HF folder

ModelWeights load_hf(const std::string& dir) {
  const std::string cfg_path = (fs::path(dir) / "config.json").string();
  json cj = read_json_file(cfg_path, "model config");
  ModelConfig c;
  try {
    c = ModelConfig::from_hf_json(cj);
  } catch (const Error& e) {
    fail("'{}': {}", cfg_path, e.what());
  }
  auto ck = std::make_shared<SafetensorsCheckpoint>(SafetensorsCheckpoint::open(dir));
  ModelWeights m;
  m.config = c;
  m.format = "hf";
  m.source = dir;
  m.rope_pairing = RopePairing::HalfSplit;
  auto view = [&](const std::string& hf_name, const std::string& name) {
    Tensor t = ck->get(hf_name);
    m.tensors[name] = weight_of(t, hf_name);
  };
  if (c.arch == "gpt2") {
    // Checkpoints name the modules with or without the "transformer." prefix.
    const std::string pre = ck->contains("transformer.wte.weight") ? "transformer." : "";
    std::set<std::string> used;
    auto get = [&](const std::string& n) {
      used.insert(pre + n);
      return ck->get(pre + n);
    };
    // Conv1D weights are (in, out): transpose into nn.Linear's (out, in), an owned copy.
    auto conv = [&](const std::string& n) { return get(n).transpose(0, 1).contiguous(); };
    m.tensors["embed.weight"] = weight_of(get("wte.weight"), "wte.weight");
    m.tensors["pos_embed.weight"] = weight_of(get("wpe.weight"), "wpe.weight");
    const int64_t C = c.dim;
    for (int64_t i = 0; i < c.n_layer; ++i) {
      const std::string h = "h." + std::to_string(i) + ".", L = "layers." + std::to_string(i) + ".";
      auto put = [&](const std::string& name, const Tensor& t) {
        m.tensors[L + name] = weight_of(t, name);
      };
      put("attn_norm.weight", get(h + "ln_1.weight"));
      put("attn_norm.bias", get(h + "ln_1.bias"));
      Tensor qkv = conv(h + "attn.c_attn.weight");  // (3C, C)
      Tensor qkv_b = get(h + "attn.c_attn.bias");   // (3C)
      check(qkv.ndim() == 2 && qkv.size(0) == 3 * C && qkv_b.ndim() == 1 && qkv_b.size(0) == 3 * C,
            "'{}': {}attn.c_attn has shape {}, expected ({}, {})", dir, h, qkv.shape_str(), C,
            3 * C);
      const char* parts[3] = {"q", "k", "v"};
      for (int p = 0; p < 3; ++p) {
        put(std::string("attn.") + parts[p] + ".weight", qkv.slice(0, p * C, (p + 1) * C));
        put(std::string("attn.") + parts[p] + ".bias",
            qkv_b.slice(0, p * C, (p + 1) * C).contiguous());
      }
      put("attn.o.weight", conv(h + "attn.c_proj.weight"));
      put("attn.o.bias", get(h + "attn.c_proj.bias"));
      put("mlp_norm.weight", get(h + "ln_2.weight"));
      put("mlp_norm.bias", get(h + "ln_2.bias"));
      put("mlp.up.weight", conv(h + "mlp.c_fc.weight"));
      put("mlp.up.bias", get(h + "mlp.c_fc.bias"));
      put("mlp.down.weight", conv(h + "mlp.c_proj.weight"));
      put("mlp.down.bias", get(h + "mlp.c_proj.bias"));
    }
    m.tensors["final_norm.weight"] = weight_of(get("ln_f.weight"), "ln_f.weight");
    m.tensors["final_norm.bias"] = weight_of(get("ln_f.bias"), "ln_f.bias");
    if (!c.tie_embeddings) view("lm_head.weight", "lm_head.weight");
    for (const auto& n : ck->names()) {
      if (used.count(n) || n == "lm_head.weight") continue;
      // Causal-mask buffers of older checkpoints (modeling_gpt2.py registers attn.bias and
      // attn.masked_bias).
      if (n.ends_with("attn.bias") || n.ends_with("attn.masked_bias")) continue;
      fail("'{}': unexpected tensor '{}' in a GPT-2 checkpoint", dir, n);
    }
  } else {
    // transformers modeling_llama.py / modeling_qwen2.py / modeling_qwen3.py module names.
    static const std::vector<std::pair<std::string, std::string>> blk = {
        {"input_layernorm", "attn_norm"},    {"self_attn.q_proj", "attn.q"},
        {"self_attn.k_proj", "attn.k"},      {"self_attn.v_proj", "attn.v"},
        {"self_attn.o_proj", "attn.o"},      {"self_attn.q_norm", "attn.q_norm"},
        {"self_attn.k_norm", "attn.k_norm"}, {"post_attention_layernorm", "mlp_norm"},
        {"mlp.gate_proj", "mlp.gate"},       {"mlp.up_proj", "mlp.up"},
        {"mlp.down_proj", "mlp.down"},
    };
    for (const auto& n : ck->names()) {
      std::string name;
      if (n == "model.embed_tokens.weight")
        name = "embed.weight";
      else if (n == "model.norm.weight")
        name = "final_norm.weight";
      else if (n == "lm_head.weight")
        name = c.tie_embeddings ? "" : "lm_head.weight";
      else if (n.ends_with("rotary_emb.inv_freq"))
        name = "";  // a buffer, recomputed
      else if (n.starts_with("model.layers.")) {
        size_t dot = n.find('.', 13);
        std::string layer = n.substr(13, dot == std::string::npos ? 0 : dot - 13);
        std::string rest = dot == std::string::npos ? "" : n.substr(dot + 1);
        for (const auto& [hf, lm] : blk)
          for (const char* suf : {".weight", ".bias"})
            if (rest == hf + suf) name = "layers." + layer + "." + lm + suf;
        check(!name.empty(), "'{}': unexpected tensor '{}'", dir, n);
      } else {
        fail("'{}': unexpected tensor '{}' in a {} checkpoint", dir, n, c.arch);
      }
      if (!name.empty()) view(n, name);
    }
  }
  m.rope_inv_freq = config_inv_freq(c);
  m.validate();
  return m;
}

enum class Format { Gguf, Hf, Llama2c };

Format detect(const std::string& path, std::string* resolved) {
  std::error_code ec;
  check(fs::exists(path, ec), "'{}' does not exist", path);
  if (fs::is_directory(path, ec)) {
    check(fs::exists(fs::path(path) / "config.json"),
          "'{}' is a folder without config.json (expected an HF model folder)", path);
    *resolved = path;
    return Format::Hf;
  }
  if (fs::path(path).filename() == "config.json") {
    *resolved = fs::path(path).parent_path().string();
    if (resolved->empty()) *resolved = ".";
    return Format::Hf;
  }
  *resolved = path;
  std::ifstream f(path, std::ios::binary);
  check(f.good(), "cannot open '{}'", path);
  char magic[4] = {0, 0, 0, 0};
  f.read(magic, 4);
  if (std::memcmp(magic, "GGUF", 4) == 0) return Format::Gguf;
  return Format::Llama2c;  // io/llama2c.h recognises (and checks) versions 0, 1 and 2
}

}  // namespace

ModelWeights load_weights(const std::string& path) {
  std::string p;
  switch (detect(path, &p)) {
    case Format::Gguf:
      return load_gguf(p);
    case Format::Hf:
      return load_hf(p);
    case Format::Llama2c:
      break;
  }
  return load_llama2c(p);
}

// ------------------------------------------------------------------------ tokenizer

std::vector<int32_t> LoadedModel::encode_prompt(const std::string& text) const {
  std::vector<int32_t> ids = tok().encode(text, false);
  if (add_bos && bos_id >= 0) ids.insert(ids.begin(), bos_id);
  return ids;
}

const Tokenizer& LoadedModel::tok() const {
  check(tokenizer != nullptr, "{}: no tokenizer was found with the model; pass --tokenizer PATH",
        weights->source);
  return *tokenizer;
}

LoadedModel load_model(const std::string& path, const std::string& tokenizer_spec) {
  LoadedModel lm;
  auto w = std::make_shared<ModelWeights>(load_weights(path));
  lm.weights = w;
  const ModelConfig& c = w->config;
  std::optional<bool> add_bos;
  if (!tokenizer_spec.empty()) {
    lm.tokenizer = load_tokenizer(tokenizer_spec);
    lm.tokenizer_source = tokenizer_spec;
  } else if (w->format == "gguf") {
    if (w->gguf->metadata().has("tokenizer.ggml.model")) {
      lm.tokenizer = tokenizer_from_gguf(*w->gguf);
      lm.tokenizer_source = path;
    }
  } else if (w->format == "hf") {
    try {
      lm.tokenizer = load_tokenizer(w->source);
      lm.tokenizer_source = w->source;
    } catch (const Error&) {
      lm.tokenizer = nullptr;  // none beside the model: commands ask for --tokenizer
    }
  } else if (w->format.starts_with("llama2c")) {
    // llama2.c ships tokenizer.bin (Llama-2 vocabulary) and tok<V>.bin for custom ones.
    const fs::path dir = fs::path(path).parent_path();
    for (const std::string& cand :
         {fmt::format("tok{}.bin", c.vocab_size), std::string("tokenizer.bin")}) {
      if (!fs::exists(dir / cand)) continue;
      auto t = load_tokenizer((dir / cand).string());
      if (t->vocab_size() != c.vocab_size) continue;
      lm.tokenizer = std::move(t);
      lm.tokenizer_source = (dir / cand).string();
      break;
    }
  }
  if (lm.tokenizer)
    check(lm.tokenizer->vocab_size() <= c.vocab_size,
          "tokenizer '{}' has {} tokens but the model's vocabulary has only {}",
          lm.tokenizer_source, lm.tokenizer->vocab_size(), c.vocab_size);
  // BOS convention.
  if (w->format.starts_with("llama2c")) {
    add_bos = true;  // run.c encode(..., bos = 1, ...)
  } else if (w->format == "gguf") {
    const auto& md = w->gguf->metadata();
    if (md.has("tokenizer.ggml.add_bos_token"))
      add_bos = md.get_bool("tokenizer.ggml.add_bos_token");
    if (md.has("tokenizer.chat_template"))
      lm.chat_template = md.get_string("tokenizer.chat_template");
  } else if (w->format == "hf") {
    const fs::path tc = fs::path(w->source) / "tokenizer_config.json";
    if (fs::exists(tc)) {
      json j = read_json_file(tc.string(), "tokenizer config");
      if (j.contains("add_bos_token") && j["add_bos_token"].is_boolean())
        add_bos = j["add_bos_token"].get<bool>();
      if (j.contains("chat_template") && j["chat_template"].is_string())
        lm.chat_template = j["chat_template"].get<std::string>();
      if (!add_bos && c.arch == "llama" && j.contains("bos_token") && !j["bos_token"].is_null())
        add_bos = true;  // Llama-3: llama.cpp's llama-bpe vocabulary adds BOS
    }
  }
  if (!add_bos && lm.tokenizer) add_bos = lm.tokenizer->adds_bos();
  lm.add_bos = add_bos.value_or(false);
  lm.bos_id = int32_t(c.bos_token_id);
  if (lm.tokenizer && lm.tokenizer->bos_id()) lm.bos_id = *lm.tokenizer->bos_id();
  if (lm.add_bos && lm.bos_id < 0) lm.add_bos = false;
  std::set<int32_t> stops;
  if (c.eos_token_id >= 0) stops.insert(int32_t(c.eos_token_id));
  if (lm.tokenizer) {
    if (auto e = lm.tokenizer->eos_id()) stops.insert(*e);
    for (const char* t : {"<|im_end|>", "<|eot_id|>", "<|end_of_text|>", "<|endoftext|>",
                          "<end_of_turn>", "<|end|>"})
      if (auto id = lm.tokenizer->token_to_id(t)) stops.insert(*id);
  }
  for (int32_t s : stops)
    if (s >= 0 && s < c.vocab_size) lm.stop_ids.push_back(s);
  return lm;
}

}  // namespace lmkit
