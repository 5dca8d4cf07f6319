#include "lmkit/analysis/model_spec.h"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "lmkit/analysis/presets.h"
#include "lmkit/core/error.h"
#include "lmkit/io/gguf.h"
#include "lmkit/io/model_loader.h"
#include "lmkit/io/json_file.h"

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


ModelSpec spec_from_gguf(const std::string& path) {
  // Metadata only (gguf::File::open_metadata reads the header, key/values and tensor infos;
  // no tensor data). Keys: ggml docs/gguf.md, "LLM" section, as llama.cpp writes them.
  gguf::File f = gguf::File::open_metadata(path);
  const ModelConfig c = gguf_model_config(f, path);
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
  if (path.ends_with(".gguf")) return spec_from_gguf(path);
  json j = read_json_file(path, "model config");
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
