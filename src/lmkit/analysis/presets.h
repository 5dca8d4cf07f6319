// Built-in model presets for `lmkit flops` / `lmkit memory`: the official configuration
// values of well-known checkpoints, each with the source it was copied from and the
// published parameter count it must reproduce (tested to the parameter in presets_test).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "lmkit/model/config.h"

namespace lmkit::analysis {

struct Preset {
  std::string name;           // e.g. "llama-3.1-8b"
  std::string hf_repo;        // e.g. "meta-llama/Llama-3.1-8B"
  ModelConfig config;         // the official config.json values
  int64_t sliding_window;     // attention window in tokens (0: full causal attention)
  std::string config_source;  // where the configuration values come from
  // Published parameter count: unique parameters (a tied lm_head counted once), as
  // transformers' model.num_parameters() and the model card / safetensors metadata give it.
  int64_t published_params;
  std::string params_source;  // where that number is published
};

// Every preset, in a stable order (families together, small to large).
const std::vector<Preset>& presets();
// The preset called `name` (case-insensitive), or nullptr.
const Preset* find_preset(std::string_view name);
// "gpt2, gpt2-medium, ..." for error messages and --help.
std::string preset_names();

}  // namespace lmkit::analysis
