#include "lmkit/analysis/model_spec.h"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "lmkit/analysis/presets.h"
#include "lmkit/core/error.h"
#include "lmkit/io/gguf.h"

namespace lmkit::analysis {

namespace fs = std::filesystem;
using json = nlohmann::json;

ModelSpec spec_from_config(const ModelConfig& config, std::string name) {
  config.validate();
  ModelSpec m;
  m.name = std::move(name);
  m.config = config;
  m.source = m.name;
  return m;
}

ModelSpec spec_from_hf_json(const json& j, const std::string& name) {
  ModelSpec m;
  m.name = name;
  m.source = name;
  m.config = ModelConfig::from_hf_json(j);
  std::string type = j.value("model_type", "");
  // Mistral: every layer attends a sliding window of `sliding_window` keys (HF
  // MistralConfig; null or absent = full attention).
  if (type == "mistral") {
    if (auto it = j.find("sliding_window"); it != j.end() && !it->is_null()) {
      check(it->is_number_integer() && it->get<int64_t>() > 0,
            "{}: sliding_window must be a positive integer (got {})", name, it->dump());
      m.sliding_window = it->get<int64_t>();
    }
  }
  // Qwen2/Qwen3 can enable sliding windows on a subset of layers (use_sliding_window with
  // max_window_layers); that mixed layout is not modelled, so refuse it rather than miscount.
  if ((type == "qwen2" || type == "qwen3") && j.value("use_sliding_window", false))
    fail("{}: use_sliding_window = true (per-layer sliding windows) is not supported", name);
  return m;
}

namespace {

json read_json_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  check(bool(f), "cannot open model config '{}'", path);
  std::stringstream ss;
  ss << f.rdbuf();
  try {
    return json::parse(ss.str());
  } catch (const json::parse_error& e) {
    fail("{} is not valid JSON: {}", path, e.what());
  }
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

ModelSpec spec_from_gguf(const std::string& path) {
  // Metadata only (gguf::File::open_metadata reads the header, key/values and tensor infos;
  // no tensor data). Keys: ggml docs/gguf.md, "LLM" section, as llama.cpp writes them.
  gguf::File f = gguf::File::open_metadata(path);
  const gguf::Metadata& md = f.metadata();
  const std::string arch = md.get_string("general.architecture");
  check(arch == "llama" || arch == "qwen2" || arch == "qwen3" || arch == "gpt2",
        "{}: GGUF architecture '{}' is not supported (llama, qwen2, qwen3, gpt2)", path, arch);
  auto key = [&](const char* k) { return arch + "." + k; };
  const gguf::TensorInfo& emb = f.tensor_info("token_embd.weight");
  check(emb.shape.size() == 2, "{}: token_embd.weight must be 2-d", path);
  const int64_t n_layer = md.get_int(key("block_count"));
  const int64_t n_head = md.get_int(key("attention.head_count"));
  const int64_t n_kv = md.get_int(key("attention.head_count_kv"), n_head);
  const int64_t dim = md.get_int(key("embedding_length"));
  const int64_t hidden = md.get_int(key("feed_forward_length"));
  const int64_t ctx = md.get_int(key("context_length"));
  const int64_t vocab = md.get_int(key("vocab_size"), emb.shape[0]);
  check(n_head > 0 && dim > 0, "{}: head_count {} / embedding_length {} must be positive", path,
        n_head, dim);
  ModelConfig c;
  if (arch == "gpt2") {
    c = ModelConfig::gpt2(n_layer, n_head, dim, vocab, ctx);
    c.hidden_dim = hidden;
  } else {
    const int64_t head_dim = md.get_int(key("attention.key_length"), dim / n_head);
    if (arch == "qwen3")
      c = ModelConfig::qwen3(n_layer, n_head, n_kv, dim, head_dim, hidden, vocab, ctx);
    else if (arch == "qwen2")
      c = ModelConfig::qwen2(n_layer, n_head, n_kv, dim, hidden, vocab, ctx);
    else
      c = ModelConfig::llama(n_layer, n_head, n_kv, dim, hidden, vocab, ctx);
    c.head_dim = head_dim;
    c.rope_theta = md.get_float(key("rope.freq_base"), c.rope_theta);
    // Bias tensors present in the file decide the Llama-family bias flags.
    c.attn_qkv_bias = f.find_tensor("blk.0.attn_q.bias") != nullptr;
    c.attn_out_bias = f.find_tensor("blk.0.attn_output.bias") != nullptr;
    c.mlp_bias = f.find_tensor("blk.0.ffn_up.bias") != nullptr;
  }
  c.tie_embeddings = f.find_tensor("output.weight") == nullptr;
  c.validate();
  ModelSpec m;
  m.name = path;
  m.source = path + " (GGUF metadata)";
  m.config = c;
  // The parameters the file stores (every tensor's element count; llama.cpp's rope_freqs
  // holds RoPE factors, not parameters): an independent check of the count.
  int64_t stored = 0;
  for (const gguf::TensorInfo& t : f.tensors())
    if (t.name != "rope_freqs.weight") stored += t.numel();
  m.published_params = stored;
  m.published_source = "element count of the tensors stored in the GGUF file";
  m.counted_from_file = true;
  return m;
}

ModelSpec resolve_model(const std::string& spec) {
  check(!spec.empty(), "empty model spec (give a preset name or a config file)");
  if (const Preset* p = find_preset(spec)) {
    ModelSpec m;
    m.name = p->name;
    m.config = p->config;
    m.sliding_window = p->sliding_window;
    m.source = p->config_source;
    m.published_params = p->published_params;
    m.published_source = p->params_source;
    return m;
  }
  std::error_code ec;
  if (!fs::exists(spec, ec))
    fail("unknown model '{}': not a preset ({}) and no such file", spec, preset_names());
  std::string path = spec;
  if (fs::is_directory(path, ec)) {
    path = (fs::path(spec) / "config.json").string();
    check(fs::exists(path, ec), "directory '{}' holds no config.json", spec);
  }
  if (ends_with(path, ".gguf")) return spec_from_gguf(path);
  json j = read_json_file(path);
  check(j.is_object(), "{}: a model config must be a JSON object", path);
  if (j.contains("model_type")) return spec_from_hf_json(j, path);
  if (j.contains("n_layer") && j.contains("dim")) {
    ModelSpec m = spec_from_config(ModelConfig::from_json(j), path);
    // lmkit configs may carry the window for analysis (the engine has no sliding window).
    if (auto it = j.find("sliding_window"); it != j.end() && !it->is_null()) {
      check(it->is_number_integer() && it->get<int64_t>() >= 0,
            "{}: sliding_window must be a non-negative integer", path);
      m.sliding_window = it->get<int64_t>();
    }
    return m;
  }
  fail(
      "{}: neither a Hugging Face config.json (no \"model_type\") nor an lmkit model config "
      "(no \"n_layer\"/\"dim\")",
      path);
}

}  // namespace lmkit::analysis
