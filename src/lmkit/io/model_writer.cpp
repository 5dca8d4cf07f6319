// Writing GGUF files and HF folders (model_writer.h has the formats and references).
#include "lmkit/io/model_writer.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>

#include "lmkit/core/error.h"
#include "lmkit/io/atomic_file.h"
#include "lmkit/io/gguf.h"
#include "lmkit/io/safetensors.h"
#include "lmkit/tokenizer/llama2c_tokenizer.h"
#include "lmkit/io/json_file.h"

namespace lmkit {

namespace fs = std::filesystem;
using json = nlohmann::json;

GgmlType parse_weight_type(const std::string& type) {
  std::string t = type;
  std::transform(t.begin(), t.end(), t.begin(), [](unsigned char ch) { return char(std::tolower(ch)); });
  if (t == "f32") return GgmlType::F32;
  if (t == "f16") return GgmlType::F16;
  if (t == "bf16") return GgmlType::BF16;
  if (t == "q8_0") return GgmlType::Q8_0;
  if (t == "q4_0") return GgmlType::Q4_0;
  fail("unknown weight type '{}' (expected f32, f16, bf16, q8_0 or q4_0)", type);
}

namespace {

// llama.cpp llama_ftype (include/llama.h) of a file whose matrices are mostly `t`.
uint32_t llama_ftype(GgmlType t) {
  switch (t) {
    case GgmlType::F32: return 0;   // LLAMA_FTYPE_ALL_F32
    case GgmlType::F16: return 1;   // LLAMA_FTYPE_MOSTLY_F16
    case GgmlType::Q4_0: return 2;  // LLAMA_FTYPE_MOSTLY_Q4_0
    case GgmlType::Q8_0: return 7;  // LLAMA_FTYPE_MOSTLY_Q8_0
    case GgmlType::BF16: return 32; // LLAMA_FTYPE_MOSTLY_BF16
    case GgmlType::Q4_K: return 15; // LLAMA_FTYPE_MOSTLY_Q4_K_M
    case GgmlType::Q6_K: return 18; // LLAMA_FTYPE_MOSTLY_Q6_K
    default: return 0;
  }
}

bool quantized(GgmlType t) {
  return t != GgmlType::F32 && t != GgmlType::F16 && t != GgmlType::BF16;
}

// A tensor the writer can take: raw blocks (copied as stored) or an owned f32 tensor.
struct OutTensor {
  std::string name;
  QTensor q;
};

QTensor owned_f32(Tensor t) {
  auto keep = std::make_shared<Tensor>(t.contiguous());
  QTensor q;
  q.type = GgmlType::F32;
  q.shape = keep->shape();
  q.data = keep->data<uint8_t>();
  q.bytes = keep->nbytes();
  q.owner = keep;
  return q;
}

// Rows r of `rows` (a list of source row indices) of a ggml-typed tensor, as a new tensor.
QTensor gather_rows(const QTensor& src, const std::vector<int64_t>& rows) {
  const size_t rb = src.row_bytes();
  auto buf = std::shared_ptr<uint8_t[]>(new uint8_t[std::max<size_t>(1, rb * rows.size())]);
  for (size_t i = 0; i < rows.size(); ++i) std::memcpy(buf.get() + i * rb, src.row(rows[i]), rb);
  QTensor q = src;
  q.shape[0] = int64_t(rows.size());
  if (q.shape.size() == 1) q.shape[0] = int64_t(rows.size());
  q.data = buf.get();
  q.bytes = rb * rows.size();
  q.owner = buf;
  return q;
}

// Source row for each destination row when permuting q/k rows between RoPE pairings
// (model_loader.h permute_rope_rows).
std::vector<int64_t> rope_row_order(int64_t n_heads, int64_t hs, bool to_interleaved) {
  std::vector<int64_t> order(static_cast<size_t>(n_heads * hs));
  const int64_t half = hs / 2;
  for (int64_t h = 0; h < n_heads; ++h)
    for (int64_t i = 0; i < half; ++i)
      for (int64_t j = 0; j < 2; ++j) {
        const int64_t hf = j * half + i, meta = 2 * i + j;
        const int64_t dst = to_interleaved ? meta : hf, src = to_interleaved ? hf : meta;
        order[size_t(h * hs + dst)] = h * hs + src;
      }
  return order;
}

// Converts one weight to its output form. `target` nullopt keeps the stored type when the
// output can hold it. rope_perm: permute rows between pairings (n_heads given).
QTensor convert_weight(const Weight& w, std::optional<GgmlType> target, bool matrix,
                       int64_t perm_heads, int64_t hs, bool to_interleaved,
                       bool allow_quantized_output) {
  GgmlType want;
  if (!matrix) {
    want = GgmlType::F32;  // norms and biases: f32 (convert_hf_to_gguf keeps 1-d in f32)
  } else if (target) {
    want = *target;
  } else if (w.grouped_q8()) {
    want = allow_quantized_output && w.cols() % QK8_0 == 0 ? GgmlType::Q8_0 : GgmlType::F32;
  } else {
    want = w.q.type;
    if (!allow_quantized_output && quantized(want)) want = GgmlType::F32;
  }
  if ((want == GgmlType::Q8_0 || want == GgmlType::Q4_0) && w.cols() % 32 != 0)
    want = GgmlType::F16;  // convert_hf_to_gguf.py: rows that are not whole blocks -> f16
  std::vector<int64_t> order;
  if (perm_heads > 0) order = rope_row_order(perm_heads, hs, to_interleaved);
  if (!w.grouped_q8() && w.q.type == want) {
    // As stored: a view, or its rows permuted (whole rows move, blocks intact).
    return order.empty() ? w.q : gather_rows(w.q, order);
  }
  Tensor f = w.to_f32();
  if (!order.empty()) {
    const int64_t row = f.ndim() == 2 ? f.size(1) : 1;
    permute_rope_rows(f.data<float>(), perm_heads, hs, row, to_interleaved);
  }
  if (want == GgmlType::F32) return owned_f32(f);
  return quantize(f, want);
}

// ------------------------------------------------------------------------ tokenizer -> GGUF

// llama.cpp llama_token_type / gguf-py TokenType.
enum TokenType : int32_t { kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kUnused = 5, kByte = 6 };

bool is_byte_piece(const std::string& p) {
  return p.size() == 6 && p.compare(0, 3, "<0x") == 0 && p[5] == '>' &&
         std::isxdigit(static_cast<unsigned char>(p[3])) && std::isxdigit(static_cast<unsigned char>(p[4]));
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size()))
    s.replace(at, from.size(), to);
  return s;
}

void put_spm_vocab(gguf::Metadata& md, std::vector<std::string> tokens, std::vector<float> scores,
                   std::vector<int32_t> types, int64_t V) {
  check(int64_t(tokens.size()) <= V, "the tokenizer has {} tokens but the model only {}",
        tokens.size(), V);
  for (int64_t i = int64_t(tokens.size()); i < V; ++i) {  // convert_hf_to_gguf: [PAD{i}] padding
    tokens.push_back(fmt::format("[PAD{}]", i));
    scores.push_back(-1000.0f);
    types.push_back(kUnused);
  }
  md.set("tokenizer.ggml.model", gguf::Value::string("llama"));
  md.set("tokenizer.ggml.tokens", gguf::Value::array_string(std::move(tokens)));
  md.set("tokenizer.ggml.scores", gguf::Value::array_f32(scores));
  md.set("tokenizer.ggml.token_type", gguf::Value::array_i32(types));
}

// llama2.c's tokenizer.bin (a SentencePiece vocabulary written by llama2.c tokenizer.py:
// "▁" replaced by ' ', BOS/EOS pieces "\n<s>\n" / "\n</s>\n") -> tokenizer.ggml.* "llama".
void put_llama2c_vocab(gguf::Metadata& md, const Llama2cTokenizer& tok, int64_t V) {
  std::vector<std::string> tokens;
  std::vector<float> scores = tok.scores();
  std::vector<int32_t> types;
  for (size_t i = 0; i < tok.vocab().size(); ++i) {
    std::string p = tok.vocab()[i];
    int32_t t = kNormal;
    if (i == 0) p = "<unk>", t = kUnknown;
    else if (i == 1) p = "<s>", t = kControl;
    else if (i == 2) p = "</s>", t = kControl;
    else if (is_byte_piece(p)) t = kByte;
    else p = replace_all(p, " ", "\xe2\x96\x81");  // back to "▁"
    tokens.push_back(p);
    types.push_back(t);
  }
  put_spm_vocab(md, std::move(tokens), std::move(scores), std::move(types), V);
  md.set("tokenizer.ggml.bos_token_id", gguf::Value::u32(1));
  md.set("tokenizer.ggml.eos_token_id", gguf::Value::u32(2));
  md.set("tokenizer.ggml.unknown_token_id", gguf::Value::u32(0));
  md.set("tokenizer.ggml.add_bos_token", gguf::Value::boolean(true));
  md.set("tokenizer.ggml.add_eos_token", gguf::Value::boolean(false));
}

// A placeholder byte vocabulary for models without a tokenizer (random-weight tests and
// benchmarks): <unk>, <s>, </s>, the 256 byte tokens, then "▁t<i>" pieces up to V.
void put_placeholder_vocab(gguf::Metadata& md, int64_t V) {
  std::vector<std::string> tokens;
  std::vector<float> scores;
  std::vector<int32_t> types;
  for (int64_t i = 0; i < V; ++i) {
    if (i == 0) tokens.push_back("<unk>"), types.push_back(kUnknown);
    else if (i < 3) tokens.push_back(i == 1 ? "<s>" : "</s>"), types.push_back(kControl);
    else if (i < 259) tokens.push_back(fmt::format("<0x{:02X}>", i - 3)), types.push_back(kByte);
    else tokens.push_back(fmt::format("\xe2\x96\x81t{}", i)), types.push_back(kNormal);
    scores.push_back(i < 259 ? 0.0f : -float(i));
  }
  md.set("tokenizer.ggml.model", gguf::Value::string("llama"));
  md.set("tokenizer.ggml.tokens", gguf::Value::array_string(std::move(tokens)));
  md.set("tokenizer.ggml.scores", gguf::Value::array_f32(scores));
  md.set("tokenizer.ggml.token_type", gguf::Value::array_i32(types));
  if (V > 2) {
    md.set("tokenizer.ggml.bos_token_id", gguf::Value::u32(1));
    md.set("tokenizer.ggml.eos_token_id", gguf::Value::u32(2));
    md.set("tokenizer.ggml.unknown_token_id", gguf::Value::u32(0));
  }
  md.set("tokenizer.ggml.add_bos_token", gguf::Value::boolean(false));
}

// HF tokenizer.json with a byte-level BPE model -> tokenizer.ggml.* "gpt2" (as
// convert_hf_to_gguf.py _set_vocab_gpt2: tokens by id, added special tokens CONTROL, other
// added tokens USER_DEFINED, padding to the model's vocabulary, merges "a b").
void put_hf_bpe_vocab(gguf::Metadata& md, const std::string& tokenizer_json, const ModelConfig& c,
                      const LoadedModel& model) {
  json j = read_json_file(tokenizer_json, "tokenizer");
  const json& m = j.at("model");
  check(m.value("type", "") == "BPE", "'{}': only BPE tokenizer.json files can be written to "
        "GGUF (this one is '{}')", tokenizer_json, m.value("type", ""));
  check(!m.value("byte_fallback", false), "'{}': SentencePiece-style BPE (byte_fallback) is not "
        "supported for GGUF output; convert from the tokenizer.model instead", tokenizer_json);
  std::vector<std::string> tokens(static_cast<size_t>(c.vocab_size));
  std::vector<int32_t> types(size_t(c.vocab_size), kUnused);
  for (auto it = m.at("vocab").begin(); it != m.at("vocab").end(); ++it) {
    const int64_t id = it.value().get<int64_t>();
    check(id >= 0 && id < c.vocab_size, "'{}': token id {} is outside the model's vocabulary",
          tokenizer_json, id);
    tokens[size_t(id)] = it.key();
    types[size_t(id)] = kNormal;
  }
  if (j.contains("added_tokens"))
    for (const auto& a : j["added_tokens"]) {
      const int64_t id = a.at("id").get<int64_t>();
      check(id >= 0 && id < c.vocab_size, "'{}': added token id {} is outside the model's "
            "vocabulary", tokenizer_json, id);
      tokens[size_t(id)] = a.at("content").get<std::string>();
      types[size_t(id)] = a.value("special", false) ? kControl : kUserDefined;
    }
  for (size_t i = 0; i < tokens.size(); ++i)
    if (types[i] == kUnused) tokens[i] = fmt::format("[PAD{}]", i);
  std::vector<std::string> merges;
  for (const auto& mg : m.at("merges")) {
    if (mg.is_string()) merges.push_back(mg.get<std::string>());
    else merges.push_back(mg.at(0).get<std::string>() + " " + mg.at(1).get<std::string>());
  }
  md.set("tokenizer.ggml.model", gguf::Value::string("gpt2"));
  // llama.cpp pre-tokenizer names (src/llama-vocab.cpp): the split regex of the family.
  md.set("tokenizer.ggml.pre", gguf::Value::string(c.arch == "gpt2" ? "gpt-2"
                                                    : c.arch == "llama" ? "llama-bpe" : "qwen2"));
  md.set("tokenizer.ggml.tokens", gguf::Value::array_string(std::move(tokens)));
  md.set("tokenizer.ggml.token_type", gguf::Value::array_i32(types));
  md.set("tokenizer.ggml.merges", gguf::Value::array_string(std::move(merges)));
  if (model.bos_id >= 0) md.set("tokenizer.ggml.bos_token_id", gguf::Value::u32(uint32_t(model.bos_id)));
  const int32_t eos = c.eos_token_id >= 0 ? int32_t(c.eos_token_id)
                      : model.tokenizer && model.tokenizer->eos_id() ? *model.tokenizer->eos_id() : -1;
  if (eos >= 0) md.set("tokenizer.ggml.eos_token_id", gguf::Value::u32(uint32_t(eos)));
  md.set("tokenizer.ggml.add_bos_token", gguf::Value::boolean(model.add_bos));
}

void put_tokenizer(gguf::Metadata& md, const LoadedModel& model) {
  const ModelConfig& c = model.config();
  const ModelWeights& w = *model.weights;
  // A GGUF's own vocabulary (or a --tokenizer that is a GGUF): copy every tokenizer.* key.
  std::shared_ptr<const gguf::File> src;
  if (w.gguf && model.tokenizer_source == w.source) src = w.gguf;
  else if (!model.tokenizer_source.empty() && fs::is_regular_file(model.tokenizer_source)) {
    std::ifstream f(model.tokenizer_source, std::ios::binary);
    char magic[4] = {};
    f.read(magic, 4);
    if (std::memcmp(magic, "GGUF", 4) == 0)
      src = std::make_shared<const gguf::File>(gguf::File::open_metadata(model.tokenizer_source));
  }
  if (src) {
    for (const auto& [k, v] : src->metadata().entries())
      if (k.starts_with("tokenizer.")) md.set(k, v);
    return;
  }
  if (!model.tokenizer) {
    put_placeholder_vocab(md, c.vocab_size);
    return;
  }
  if (auto* l2 = dynamic_cast<const Llama2cTokenizer*>(model.tokenizer.get())) {
    put_llama2c_vocab(md, *l2, c.vocab_size);
    return;
  }
  std::string tj;
  const fs::path ts = model.tokenizer_source;
  if (fs::is_directory(ts) && fs::exists(ts / "tokenizer.json")) tj = (ts / "tokenizer.json").string();
  else if (fs::is_regular_file(ts) && ts.filename() == "tokenizer.json") tj = ts.string();
  check(!tj.empty(), "the tokenizer '{}' cannot be written into a GGUF (supported: GGUF "
        "vocabularies, llama2.c tokenizer.bin, HF tokenizer.json BPE)", model.tokenizer_source);
  put_hf_bpe_vocab(md, tj, c, model);
  if (!model.chat_template.empty())
    md.set("tokenizer.chat_template", gguf::Value::string(model.chat_template));
}

// lmkit name -> llama.cpp tensor name (src/llama-arch.cpp LLM_TENSOR_NAMES).
std::string gguf_name(const std::string& name) {
  static const std::vector<std::pair<std::string, std::string>> top = {
      {"embed.weight", "token_embd.weight"},       {"pos_embed.weight", "position_embd.weight"},
      {"final_norm.weight", "output_norm.weight"}, {"final_norm.bias", "output_norm.bias"},
      {"lm_head.weight", "output.weight"},
  };
  for (const auto& [l, g] : top)
    if (name == l) return g;
  static const std::vector<std::pair<std::string, std::string>> blk = {
      {"attn_norm", "attn_norm"},     {"attn.q_norm", "attn_q_norm"}, {"attn.k_norm", "attn_k_norm"},
      {"attn.q", "attn_q"},           {"attn.k", "attn_k"},           {"attn.v", "attn_v"},
      {"attn.o", "attn_output"},      {"mlp_norm", "ffn_norm"},       {"mlp.gate", "ffn_gate"},
      {"mlp.up", "ffn_up"},           {"mlp.down", "ffn_down"},
  };
  const size_t dot = name.find('.', 7);
  const std::string layer = name.substr(7, dot - 7);
  const std::string rest = name.substr(dot + 1);
  for (const auto& [l, g] : blk)
    for (const char* suf : {".weight", ".bias"})
      if (rest == l + suf) return "blk." + layer + "." + g + suf;
  fail("no GGUF name for tensor '{}'", name);
}

}  // namespace

void write_gguf(const LoadedModel& model, const std::string& path, const ConvertOptions& options) {
  const ModelWeights& w = *model.weights;
  w.validate();
  const ModelConfig& c = w.config;
  std::optional<GgmlType> target;
  if (!options.type.empty()) target = parse_weight_type(options.type);
  gguf::Writer out;
  gguf::Metadata& md = out.metadata();
  const std::string arch = c.arch == "mistral" ? "llama" : c.arch;
  auto key = [&](const char* k) { return arch + "." + k; };
  md.set("general.architecture", gguf::Value::string(arch));
  std::string name = options.name;
  if (name.empty()) name = fs::path(w.source.empty() ? "model" : w.source).stem().string();
  md.set("general.name", gguf::Value::string(name));
  md.set(key("context_length"), gguf::Value::u32(uint32_t(c.max_seq_len)));
  md.set(key("embedding_length"), gguf::Value::u32(uint32_t(c.dim)));
  md.set(key("block_count"), gguf::Value::u32(uint32_t(c.n_layer)));
  md.set(key("feed_forward_length"), gguf::Value::u32(uint32_t(c.hidden_dim)));
  md.set(key("attention.head_count"), gguf::Value::u32(uint32_t(c.n_head)));
  md.set(key("attention.head_count_kv"), gguf::Value::u32(uint32_t(c.n_kv_head)));
  if (c.norm == NormKind::LayerNorm) {
    md.set(key("attention.layer_norm_epsilon"), gguf::Value::f32(float(c.norm_eps)));
  } else {
    md.set(key("attention.layer_norm_rms_epsilon"), gguf::Value::f32(float(c.norm_eps)));
  }
  if (c.pos == PosKind::Rope) {
    md.set(key("rope.freq_base"), gguf::Value::f32(float(c.rope_theta)));
    md.set(key("rope.dimension_count"), gguf::Value::u32(uint32_t(c.head_dim)));
  }
  if (c.head_dim * c.n_head != c.dim) {
    md.set(key("attention.key_length"), gguf::Value::u32(uint32_t(c.head_dim)));
    md.set(key("attention.value_length"), gguf::Value::u32(uint32_t(c.head_dim)));
  }
  md.set(key("vocab_size"), gguf::Value::u32(uint32_t(c.vocab_size)));
  if (c.rope_scaling.enabled) {
    md.set("lmkit.rope_scaling.factor", gguf::Value::f64(c.rope_scaling.factor));
    md.set("lmkit.rope_scaling.low_freq_factor", gguf::Value::f64(c.rope_scaling.low_freq_factor));
    md.set("lmkit.rope_scaling.high_freq_factor", gguf::Value::f64(c.rope_scaling.high_freq_factor));
    md.set("lmkit.rope_scaling.original_max_position",
           gguf::Value::i64(c.rope_scaling.original_max_position));
  }

  // Tensors in lmkit parameter order (Decoder order), renamed.
  const RopePairing want = arch == "llama" ? RopePairing::Interleaved : RopePairing::HalfSplit;
  const bool permute = c.pos == PosKind::Rope && w.rope_pairing != want;
  const bool to_interleaved = want == RopePairing::Interleaved;
  std::map<GgmlType, size_t> bytes_by_type;
  std::vector<std::pair<std::string, QTensor>> tensors;
  auto emit = [&](const std::string& gname, QTensor q) {
    if (q.shape.size() >= 2) bytes_by_type[q.type] += q.bytes;
    tensors.emplace_back(gname, std::move(q));
  };
  if (c.pos == PosKind::Rope && c.rope_scaling.enabled) {
    // llama.cpp convert_hf_to_gguf.py LlamaModel.generate_extra_tensors (rope_type llama3):
    // one factor per frequency, ggml divides theta by it.
    const auto& rs = c.rope_scaling;
    const double low_wl = double(rs.original_max_position) / rs.low_freq_factor;
    const double high_wl = double(rs.original_max_position) / rs.high_freq_factor;
    std::vector<float> factors;
    for (int64_t i = 0; i < c.head_dim / 2; ++i) {
      const double freq = 1.0 / std::pow(c.rope_theta, double(2 * i) / double(c.head_dim));
      const double wl = 2 * M_PI / freq;
      if (wl < high_wl) factors.push_back(1.0f);
      else if (wl > low_wl) factors.push_back(float(rs.factor));
      else {
        const double smooth = (double(rs.original_max_position) / wl - rs.low_freq_factor) /
                              (rs.high_freq_factor - rs.low_freq_factor);
        factors.push_back(float(1.0 / ((1 - smooth) / rs.factor + smooth)));
      }
    }
    emit("rope_freqs.weight", owned_f32(Tensor::from(factors, {int64_t(factors.size())})));
  }
  std::vector<std::string> names;
  for (const auto& [n, wt] : w.tensors) names.push_back(n);
  // Decoder order: embed, pos, layers ascending, final, head.
  auto rank = [&](const std::string& n) -> std::pair<int64_t, std::string> {
    if (n.starts_with("embed.") || n.starts_with("pos_embed.")) return {-1, n};
    if (n.starts_with("layers.")) return {std::stoll(n.substr(7, n.find('.', 7) - 7)), n};
    return {c.n_layer, n};
  };
  std::sort(names.begin(), names.end(), [&](const auto& a, const auto& b) { return rank(a) < rank(b); });
  for (const std::string& n : names) {
    const Weight& wt = w.at(n);
    const bool matrix = wt.q.shape.size() == 2;
    const bool is_q = n.ends_with("attn.q.weight") || n.ends_with("attn.q.bias");
    const bool is_k = n.ends_with("attn.k.weight") || n.ends_with("attn.k.bias");
    const int64_t heads = permute && (is_q || is_k) ? (is_q ? c.n_head : c.n_kv_head) : 0;
    if (arch == "gpt2" && (is_q || is_k || n.ends_with("attn.v.weight") || n.ends_with("attn.v.bias"))) {
      if (!is_q) continue;  // written with q as the fused attn_qkv
      const std::string base = n.substr(0, n.size() - std::string(n.ends_with(".bias") ? "q.bias" : "q.weight").size());
      const std::string suf = n.ends_with(".bias") ? "bias" : "weight";
      // llama.cpp gpt2: wqkv (n_embd + 2 n_embd_gqa, n_embd), q then k then v rows.
      Tensor fq = w.at(base + "q." + suf).to_f32(), fk = w.at(base + "k." + suf).to_f32(),
             fv = w.at(base + "v." + suf).to_f32();
      Tensor::Shape s = fq.shape();
      s[0] = fq.size(0) + fk.size(0) + fv.size(0);
      Tensor all = Tensor::zeros(s);
      size_t off = 0;
      for (const Tensor* p : {&fq, &fk, &fv}) {
        std::memcpy(all.data<uint8_t>() + off, p->data<uint8_t>(), p->nbytes());
        off += p->nbytes();
      }
      Weight fused = Weight{owned_f32(all), 0, nullptr};
      const std::string layer = n.substr(7, n.find('.', 7) - 7);
      std::optional<GgmlType> t = target;
      if (!t && !wt.grouped_q8()) t = wt.q.type;
      emit("blk." + layer + ".attn_qkv." + suf,
           convert_weight(fused, t, matrix, 0, c.head_dim, false, true));
      continue;
    }
    emit(gguf_name(n), convert_weight(wt, target, matrix, heads, c.head_dim, to_interleaved, true));
  }
  GgmlType main_type = GgmlType::F32;
  size_t most = 0;
  for (const auto& [t, b] : bytes_by_type)
    if (b > most) most = b, main_type = t;
  md.set("general.file_type", gguf::Value::u32(llama_ftype(main_type)));
  if (quantized(main_type)) md.set("general.quantization_version", gguf::Value::u32(2));
  put_tokenizer(md, model);
  if (!model.chat_template.empty() && !md.has("tokenizer.chat_template"))
    md.set("tokenizer.chat_template", gguf::Value::string(model.chat_template));
  for (auto& [n, q] : tensors) out.add_tensor(n, q);
  out.write(path, 3);
}

// ------------------------------------------------------------------------ HF folder

std::string hf_config_json(const ModelConfig& c) {
  json j;
  if (c.arch == "gpt2") {
    j = {{"architectures", {"GPT2LMHeadModel"}}, {"model_type", "gpt2"},
         {"n_layer", c.n_layer}, {"n_head", c.n_head}, {"n_embd", c.dim},
         {"n_inner", c.hidden_dim}, {"n_positions", c.max_seq_len}, {"n_ctx", c.max_seq_len},
         {"vocab_size", c.vocab_size}, {"layer_norm_epsilon", c.norm_eps},
         {"activation_function", "gelu_new"}, {"tie_word_embeddings", c.tie_embeddings},
         {"resid_pdrop", 0.0}, {"embd_pdrop", 0.0}, {"attn_pdrop", 0.0}};
  } else {
    static const std::map<std::string, std::pair<std::string, std::string>> names = {
        {"llama", {"LlamaForCausalLM", "llama"}},
        {"mistral", {"MistralForCausalLM", "mistral"}},
        {"qwen2", {"Qwen2ForCausalLM", "qwen2"}},
        {"qwen3", {"Qwen3ForCausalLM", "qwen3"}}};
    const auto& [cls, type] = names.at(c.arch);
    j = {{"architectures", {cls}}, {"model_type", type},
         {"num_hidden_layers", c.n_layer}, {"num_attention_heads", c.n_head},
         {"num_key_value_heads", c.n_kv_head}, {"hidden_size", c.dim},
         {"head_dim", c.head_dim}, {"intermediate_size", c.hidden_dim},
         {"vocab_size", c.vocab_size}, {"max_position_embeddings", c.max_seq_len},
         {"rms_norm_eps", c.norm_eps}, {"rope_theta", c.rope_theta},
         {"tie_word_embeddings", c.tie_embeddings}, {"hidden_act", "silu"},
         {"torch_dtype", "float32"}};
    if (c.arch == "llama" || c.arch == "mistral") {
      check(c.attn_qkv_bias == c.attn_out_bias, "HF Llama has one attention_bias flag for q/k/v/o");
      j["attention_bias"] = c.attn_qkv_bias;
      j["mlp_bias"] = c.mlp_bias;
    }
    if (c.rope_scaling.enabled)
      j["rope_scaling"] = {{"rope_type", "llama3"},
                           {"factor", c.rope_scaling.factor},
                           {"low_freq_factor", c.rope_scaling.low_freq_factor},
                           {"high_freq_factor", c.rope_scaling.high_freq_factor},
                           {"original_max_position_embeddings", c.rope_scaling.original_max_position}};
  }
  if (c.bos_token_id >= 0) j["bos_token_id"] = c.bos_token_id;
  if (c.eos_token_id >= 0) j["eos_token_id"] = c.eos_token_id;
  return j.dump(2) + "\n";
}

void write_hf(const LoadedModel& model, const std::string& dir, const ConvertOptions& options) {
  const ModelWeights& w = *model.weights;
  w.validate();
  const ModelConfig& c = w.config;
  std::optional<DType> dtype;
  if (!options.type.empty()) {
    GgmlType t = parse_weight_type(options.type);
    check(!quantized(t), "an HF folder holds f32, f16 or bf16 weights, not {}", options.type);
    dtype = t == GgmlType::F32 ? DType::F32 : t == GgmlType::F16 ? DType::F16 : DType::BF16;
  }
  fs::create_directories(dir);
  // The weight in the output dtype (stored float type kept when no --type; quantized -> f32).
  auto as_dtype = [&](const Weight& wt) -> Tensor {
    if (!dtype && !wt.grouped_q8() && (wt.q.type == GgmlType::F16 || wt.q.type == GgmlType::BF16)) {
      Tensor t = Tensor::zeros(wt.q.shape, wt.q.type == GgmlType::F16 ? DType::F16 : DType::BF16);
      std::memcpy(t.raw(), wt.q.data, t.nbytes());
      return t;
    }
    Tensor f = wt.to_f32();
    return dtype && *dtype != DType::F32 ? f.to(*dtype) : f;
  };
  std::vector<std::pair<std::string, Tensor>> out;
  const bool unpermute = w.rope_pairing == RopePairing::Interleaved;
  auto weight = [&](const std::string& n) {
    const Weight& wt = w.at(n);
    if (unpermute && c.pos == PosKind::Rope &&
        (n.find("attn.q.") != std::string::npos || n.find("attn.k.") != std::string::npos)) {
      Tensor f = wt.to_f32();
      const bool q = n.find("attn.q.") != std::string::npos;
      permute_rope_rows(f.data<float>(), q ? c.n_head : c.n_kv_head, c.head_dim,
                        f.ndim() == 2 ? f.size(1) : 1, false);
      return dtype && *dtype != DType::F32 ? f.to(*dtype) : f;
    }
    return as_dtype(wt);
  };
  if (c.arch == "gpt2") {
    // transformers GPT2LMHeadModel: Conv1D (in, out) matrices, fused c_attn.
    auto conv = [&](const Tensor& t) { return t.transpose(0, 1).contiguous(); };
    out.emplace_back("transformer.wte.weight", weight("embed.weight"));
    out.emplace_back("transformer.wpe.weight", weight("pos_embed.weight"));
    for (int64_t i = 0; i < c.n_layer; ++i) {
      const std::string L = "layers." + std::to_string(i) + ".", h = "transformer.h." + std::to_string(i) + ".";
      out.emplace_back(h + "ln_1.weight", weight(L + "attn_norm.weight"));
      out.emplace_back(h + "ln_1.bias", weight(L + "attn_norm.bias"));
      Tensor q = weight(L + "attn.q.weight"), k = weight(L + "attn.k.weight"), v = weight(L + "attn.v.weight");
      Tensor qkv = Tensor::zeros({3 * c.dim, c.dim}, q.dtype());
      for (int p = 0; p < 3; ++p) qkv.slice(0, p * c.dim, (p + 1) * c.dim).copy_from(p == 0 ? q : p == 1 ? k : v);
      out.emplace_back(h + "attn.c_attn.weight", conv(qkv));
      Tensor qb = weight(L + "attn.q.bias"), kb = weight(L + "attn.k.bias"), vb = weight(L + "attn.v.bias");
      Tensor qkvb = Tensor::zeros({3 * c.dim}, qb.dtype());
      for (int p = 0; p < 3; ++p) qkvb.slice(0, p * c.dim, (p + 1) * c.dim).copy_from(p == 0 ? qb : p == 1 ? kb : vb);
      out.emplace_back(h + "attn.c_attn.bias", qkvb);
      out.emplace_back(h + "attn.c_proj.weight", conv(weight(L + "attn.o.weight")));
      out.emplace_back(h + "attn.c_proj.bias", weight(L + "attn.o.bias"));
      out.emplace_back(h + "ln_2.weight", weight(L + "mlp_norm.weight"));
      out.emplace_back(h + "ln_2.bias", weight(L + "mlp_norm.bias"));
      out.emplace_back(h + "mlp.c_fc.weight", conv(weight(L + "mlp.up.weight")));
      out.emplace_back(h + "mlp.c_fc.bias", weight(L + "mlp.up.bias"));
      out.emplace_back(h + "mlp.c_proj.weight", conv(weight(L + "mlp.down.weight")));
      out.emplace_back(h + "mlp.c_proj.bias", weight(L + "mlp.down.bias"));
    }
    out.emplace_back("transformer.ln_f.weight", weight("final_norm.weight"));
    out.emplace_back("transformer.ln_f.bias", weight("final_norm.bias"));
    if (!c.tie_embeddings) out.emplace_back("lm_head.weight", weight("lm_head.weight"));
  } else {
    static const std::vector<std::pair<std::string, std::string>> blk = {
        {"attn_norm", "input_layernorm"},      {"attn.q", "self_attn.q_proj"},
        {"attn.k", "self_attn.k_proj"},        {"attn.v", "self_attn.v_proj"},
        {"attn.o", "self_attn.o_proj"},        {"attn.q_norm", "self_attn.q_norm"},
        {"attn.k_norm", "self_attn.k_norm"},   {"mlp_norm", "post_attention_layernorm"},
        {"mlp.gate", "mlp.gate_proj"},         {"mlp.up", "mlp.up_proj"},
        {"mlp.down", "mlp.down_proj"},
    };
    out.emplace_back("model.embed_tokens.weight", weight("embed.weight"));
    for (int64_t i = 0; i < c.n_layer; ++i) {
      const std::string L = "layers." + std::to_string(i) + ".";
      for (const auto& [lm, hf] : blk)
        for (const char* suf : {".weight", ".bias"})
          if (w.find(L + lm + suf))
            out.emplace_back("model.layers." + std::to_string(i) + "." + hf + suf, weight(L + lm + suf));
    }
    out.emplace_back("model.norm.weight", weight("final_norm.weight"));
    if (!c.tie_embeddings) out.emplace_back("lm_head.weight", weight("lm_head.weight"));
  }
  write_safetensors((fs::path(dir) / "model.safetensors").string(), out, {{"format", "pt"}});
  write_file_atomic((fs::path(dir) / "config.json").string(), hf_config_json(c));
  // Tokenizer: copy HF files / llama2.c tokenizer.bin, else a vocabulary-only GGUF.
  const fs::path ts = model.tokenizer_source;
  bool wrote = false;
  if (!ts.empty() && fs::is_directory(ts)) {
    for (const char* f : {"tokenizer.json", "tokenizer_config.json", "tokenizer.model", "vocab.json",
                          "merges.txt", "special_tokens_map.json", "generation_config.json"})
      if (fs::exists(ts / f) && fs::weakly_canonical(ts) != fs::weakly_canonical(dir)) {
        fs::copy_file(ts / f, fs::path(dir) / f, fs::copy_options::overwrite_existing);
        wrote = true;
      }
  } else if (!ts.empty() && fs::is_regular_file(ts) && !(w.gguf && ts == w.source)) {
    std::ifstream f(ts, std::ios::binary);
    char magic[4] = {};
    f.read(magic, 4);
    const bool is_gguf = std::memcmp(magic, "GGUF", 4) == 0;
    const std::string dst = ts.filename() == "tokenizer.json" ? "tokenizer.json"
                            : is_gguf ? "tokenizer.gguf" : "tokenizer.bin";
    fs::copy_file(ts, fs::path(dir) / dst, fs::copy_options::overwrite_existing);
    wrote = true;
  }
  if (!wrote && model.tokenizer) {
    gguf::Writer vocab;
    vocab.metadata().set("general.architecture", gguf::Value::string(c.arch));
    put_tokenizer(vocab.metadata(), model);
    vocab.write((fs::path(dir) / "tokenizer.gguf").string(), 3);
  }
}

}  // namespace lmkit
