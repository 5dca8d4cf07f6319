// Preset values are copied from each checkpoint's config.json on the Hugging Face Hub (URL
// in config_source). Published counts: the Hub's safetensors metadata ("safetensors.total",
// the same number llama.cpp writes as general.parameter_count) where the checkpoint stores
// each parameter once; for checkpoints that also store a tied lm_head (Qwen3-0.6B/1.7B) the
// Hub figure counts that matrix twice, and the published unique count is transformers'
// model.num_parameters() (given next to it).
#include "lmkit/analysis/presets.h"

#include <algorithm>
#include <cctype>

namespace lmkit::analysis {

namespace {

ModelConfig with_ids(ModelConfig c, int64_t bos, int64_t eos) {
  c.bos_token_id = bos;
  c.eos_token_id = eos;
  return c;
}

ModelConfig llama31(int64_t n_layer, int64_t n_head, int64_t dim, int64_t hidden) {
  // Llama 3.1: 8 KV heads, vocab 128256, 128K context, rope_theta 500000, rope_scaling
  // {rope_type llama3, factor 8, low_freq_factor 1, high_freq_factor 4, original 8192}.
  ModelConfig c = ModelConfig::llama(n_layer, n_head, 8, dim, hidden, 128256, 131072);
  c.rope_theta = 500000.0;
  c.rope_scaling = {true, 8.0, 1.0, 4.0, 8192};
  return with_ids(c, 128000, 128001);
}

ModelConfig llama32(int64_t n_layer, int64_t n_head, int64_t dim) {
  // Llama 3.2 1B/3B: like 3.1 with intermediate_size 8192, rope_scaling factor 32 and a
  // tied lm_head.
  ModelConfig c = ModelConfig::llama(n_layer, n_head, 8, dim, 8192, 128256, 131072);
  c.rope_theta = 500000.0;
  c.rope_scaling = {true, 32.0, 1.0, 4.0, 8192};
  c.tie_embeddings = true;
  return with_ids(c, 128000, 128001);
}

ModelConfig qwen3(int64_t n_layer, int64_t n_head, int64_t dim, int64_t hidden, bool tied) {
  // Qwen3 dense: 8 KV heads, head_dim 128, vocab 151936, max_position_embeddings 40960,
  // rope_theta 1e6, rms_norm_eps 1e-6, no attention bias, q/k RMSNorm.
  ModelConfig c = ModelConfig::qwen3(n_layer, n_head, 8, dim, 128, hidden, 151936, 40960);
  c.tie_embeddings = tied;
  return with_ids(c, 151643, 151645);
}

std::vector<Preset> build() {
  const std::string hf = "https://huggingface.co/";
  std::vector<Preset> p;
  auto add = [&](std::string name, std::string repo, ModelConfig c, int64_t window, int64_t params,
                 std::string params_source) {
    std::string cfg_src = hf + repo + "/blob/main/config.json";
    p.push_back({std::move(name), repo, c, window, cfg_src, params, std::move(params_source)});
  };
  const std::string gpt2_src =
      "transformers GPT2LMHeadModel.num_parameters() of the OpenAI checkpoint (wte + wpe + "
      "blocks + ln_f; lm_head tied to wte)";
  add("gpt2", "openai-community/gpt2",
      with_ids(ModelConfig::gpt2(12, 12, 768, 50257, 1024), 50256, 50256), 0, 124439808, gpt2_src);
  add("gpt2-medium", "openai-community/gpt2-medium",
      with_ids(ModelConfig::gpt2(24, 16, 1024, 50257, 1024), 50256, 50256), 0, 354823168, gpt2_src);
  add("gpt2-large", "openai-community/gpt2-large",
      with_ids(ModelConfig::gpt2(36, 20, 1280, 50257, 1024), 50256, 50256), 0, 774030080, gpt2_src);
  add("gpt2-xl", "openai-community/gpt2-xl",
      with_ids(ModelConfig::gpt2(48, 25, 1600, 50257, 1024), 50256, 50256), 0, 1557611200,
      gpt2_src);

  const std::string hub =
      "Hugging Face Hub safetensors metadata (BF16 total) = GGUF general.parameter_count";
  add("llama-3.1-8b", "meta-llama/Llama-3.1-8B", llama31(32, 32, 4096, 14336), 0, 8030261248, hub);
  add("llama-3.1-70b", "meta-llama/Llama-3.1-70B", llama31(80, 64, 8192, 28672), 0, 70553706496,
      hub);
  add("llama-3.1-405b", "meta-llama/Llama-3.1-405B", llama31(126, 128, 16384, 53248), 0,
      405853388800, hub);
  add("llama-3.2-1b", "meta-llama/Llama-3.2-1B", llama32(16, 32, 2048), 0, 1235814400,
      hub + " (tied lm_head not stored)");
  add("llama-3.2-3b", "meta-llama/Llama-3.2-3B", llama32(28, 24, 3072), 0, 3212749824,
      hub + " (tied lm_head not stored)");

  const std::string tied_qwen =
      "transformers Qwen3ForCausalLM.num_parameters() (model card: 0.6B; the Hub's "
      "safetensors total 751,632,384 also counts the stored copy of the tied lm_head)";
  add("qwen3-0.6b", "Qwen/Qwen3-0.6B", qwen3(28, 16, 1024, 3072, true), 0, 596049920, tied_qwen);
  add("qwen3-1.7b", "Qwen/Qwen3-1.7B", qwen3(28, 16, 2048, 6144, true), 0, 1720574976,
      "transformers Qwen3ForCausalLM.num_parameters() (model card: 1.7B; the Hub's safetensors "
      "total 2,031,739,904 also counts the stored copy of the tied lm_head)");
  add("qwen3-4b", "Qwen/Qwen3-4B", qwen3(36, 32, 2560, 9728, true), 0, 4022468096,
      hub + " (tied lm_head not stored)");
  add("qwen3-8b", "Qwen/Qwen3-8B", qwen3(36, 32, 4096, 12288, false), 0, 8190735360, hub);
  add("qwen3-14b", "Qwen/Qwen3-14B", qwen3(40, 40, 5120, 17408, false), 0, 14768307200, hub);
  add("qwen3-32b", "Qwen/Qwen3-32B", qwen3(64, 64, 5120, 25600, false), 0, 32762123264, hub);

  // Qwen2.5-7B: q/k/v biases, 4 KV heads, vocab 152064; use_sliding_window is false.
  ModelConfig q25 = ModelConfig::qwen2(28, 28, 4, 3584, 18944, 152064, 131072);
  q25.tie_embeddings = false;
  add("qwen2.5-7b", "Qwen/Qwen2.5-7B", with_ids(q25, 151643, 151643), 0, 7615616512, hub);

  // Mistral-7B-v0.1: Llama layout, vocab 32000, sliding-window attention over 4096 tokens
  // (Jiang et al. 2023, "Mistral 7B", Sec. 2).
  ModelConfig mistral = ModelConfig::llama(32, 32, 8, 4096, 14336, 32000, 32768);
  add("mistral-7b", "mistralai/Mistral-7B-v0.1", with_ids(mistral, 1, 2), 4096, 7241732096, hub);
  return p;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = char(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

const std::vector<Preset>& presets() {
  static const std::vector<Preset> all = build();
  return all;
}

const Preset* find_preset(std::string_view name) {
  std::string key = lower(name);
  for (const Preset& p : presets())
    if (p.name == key) return &p;
  return nullptr;
}

std::string preset_names() {
  std::string s;
  for (const Preset& p : presets()) s += (s.empty() ? "" : ", ") + p.name;
  return s;
}

}  // namespace lmkit::analysis
