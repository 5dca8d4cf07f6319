// The model an analysis is about: a ModelConfig plus what the config type does not carry
// (a sliding attention window) and where the values came from.
//
// A SPEC on the command line is one of
//   - a preset name (analysis/presets.h), e.g. "llama-3.1-8b";
//   - a Hugging Face config.json (has "model_type"), or a directory holding one;
//   - an lmkit model config JSON (ModelConfig::to_json form: has "n_layer" and "dim");
//   - a GGUF file (*.gguf): its metadata only, no tensor data is read.
#pragma once
#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string>

#include "lmkit/model/config.h"

namespace lmkit::analysis {

struct ModelSpec {
  std::string name;  // preset name, or the file the config came from
  ModelConfig config;
  int64_t sliding_window = 0;    // each query attends at most this many keys (0: all, causal)
  std::string source;            // where the configuration values come from
  int64_t published_params = 0;  // presets: the published count (0: not known)
  std::string published_source;
  bool counted_from_file = false;  // published_params is the element count of a GGUF's tensors
};

// A spec for `config` alone (full causal attention).
ModelSpec spec_from_config(const ModelConfig& config, std::string name = "config");

// Resolves SPEC as described above; throws lmkit::Error naming the problem (unknown preset,
// missing or malformed file, unsupported architecture, absurd values).
ModelSpec resolve_model(const std::string& spec);

// A ModelSpec from a GGUF file's metadata (llama, qwen2, qwen3, gpt2); published_params is
// set to the number of elements the file's tensors hold, for comparison.
ModelSpec spec_from_gguf(const std::string& path);

// A ModelSpec from a parsed HF config.json (reads "sliding_window" for Mistral).
ModelSpec spec_from_hf_json(const nlohmann::json& j, const std::string& name);

}  // namespace lmkit::analysis
