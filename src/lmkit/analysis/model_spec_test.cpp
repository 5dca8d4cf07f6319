// Model specs from HF config.json objects: Mistral's sliding window is kept, mixed
// per-layer windows are refused, and the counts follow the file.
#include "lmkit/analysis/model_spec.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "lmkit/analysis/counts.h"
#include "lmkit/analysis/presets.h"
#include "lmkit/core/error.h"
#include "lmkit/core/test_support.h"

using namespace lmkit;
using namespace lmkit::analysis;
using json = nlohmann::json;

namespace {
// Mistral-7B-v0.1's config.json (https://huggingface.co/mistralai/Mistral-7B-v0.1).
json mistral_config() {
  return json::parse(R"({"architectures": ["MistralForCausalLM"], "bos_token_id": 1,
    "eos_token_id": 2, "hidden_act": "silu", "hidden_size": 4096, "initializer_range": 0.02,
    "intermediate_size": 14336, "max_position_embeddings": 32768, "model_type": "mistral",
    "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 8,
    "rms_norm_eps": 1e-05, "rope_theta": 10000.0, "sliding_window": 4096,
    "tie_word_embeddings": false, "torch_dtype": "bfloat16", "vocab_size": 32000})");
}
}  // namespace

TEST(ModelSpec, MistralConfigJsonMatchesPreset) {
  ModelSpec m = spec_from_hf_json(mistral_config(), "config.json");
  EXPECT_EQ(m.sliding_window, 4096);
  EXPECT_EQ(count_params(m.config).total, find_preset("mistral-7b")->published_params);
  json no_window = mistral_config();
  no_window["sliding_window"] = nullptr;  // Mistral v0.2+: full attention
  EXPECT_EQ(spec_from_hf_json(no_window, "c").sliding_window, 0);
  json bad = mistral_config();
  bad["sliding_window"] = -4;
  EXPECT_THROW(spec_from_hf_json(bad, "c"), Error);
}

TEST(ModelSpec, QwenPerLayerWindowsRefused) {
  json q = json::parse(R"({"model_type": "qwen2", "hidden_size": 64, "intermediate_size": 128,
    "num_attention_heads": 4, "num_key_value_heads": 2, "num_hidden_layers": 2,
    "vocab_size": 100, "use_sliding_window": true, "sliding_window": 32})");
  EXPECT_THROW(spec_from_hf_json(q, "c"), Error);
  q["use_sliding_window"] = false;
  EXPECT_EQ(spec_from_hf_json(q, "c").sliding_window, 0);
}

TEST(ModelSpec, PresetSpecCarriesSources) {
  ModelSpec m = resolve_model("Qwen3-8B");
  EXPECT_EQ(m.name, "qwen3-8b");
  EXPECT_NE(m.source.find("huggingface.co/Qwen/Qwen3-8B"), std::string::npos);
  EXPECT_EQ(m.published_params, 8190735360);
  EXPECT_THROW(resolve_model(""), Error);
  EXPECT_THROW(resolve_model("/nonexistent/config.json"), Error);
}

TEST(ModelSpec, GgufMetadata) {
  const std::string path = test::asset("models/llama-2-tiny-random.gguf");
  LMKIT_SKIP_IF_ABSENT(path);
  ModelSpec m = resolve_model(path);
  EXPECT_EQ(m.config.arch, "llama");
  EXPECT_EQ(m.config.n_layer, 1);
  EXPECT_EQ(m.config.dim, 8);
  // The count from the metadata equals the elements the file's tensors hold.
  EXPECT_GT(m.published_params, 0);
  EXPECT_EQ(count_params(m.config).total, m.published_params);
}
