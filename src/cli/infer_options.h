// Options shared by the commands that run a pretrained model (generate, score, perplexity,
// bench, completions, attention): --model, --tokenizer, --ctx, --kv-type, --threads, and
// the sampler flags. Header-only: each command file includes it.
#pragma once
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cstdio>
#include <memory>
#include <string>
#include <unistd.h>

#include "cli/command.h"
#include "lmkit/core/error.h"
#include "lmkit/infer/chat_template.h"
#include "lmkit/infer/engine.h"
#include "lmkit/infer/sampler.h"
#include "lmkit/io/model_loader.h"

namespace lmkit::cli {

struct ModelArgs {
  std::string model, tokenizer;
  int64_t ctx = 0;
  std::string kv_type = "f32";
  bool no_pack = false;
  std::function<void()> threads;
};

inline void add_model_options(CLI::App& app, ModelArgs& a, bool require_model = true) {
  auto* m = app.add_option("--model", a.model,
                           "model: a .gguf file, an HF folder (config.json + safetensors) or a "
                           "llama2.c .bin");
  if (require_model) m->required();
  app.add_option("--tokenizer", a.tokenizer,
                 "tokenizer file or folder (llama2.c models need their tokenizer.bin; for other "
                 "formats this overrides the one found with the model)");
  app.add_option("--ctx", a.ctx, "context length in tokens (default: the model's, at most 4096)");
  app.add_option("--kv-type", a.kv_type, "KV cache storage: f32 or f16")
      ->check(CLI::IsMember({"f32", "f16"}))
      ->capture_default_str();
  app.add_flag("--no-pack", a.no_pack,
               "multiply Q8_0/Q4_0 weights in place in the file's layout instead of a copy packed "
               "for the int8 kernels (no copy at load; slower decode)");
  a.threads = add_threads_option(app);
}

inline LoadedModel load_model_args(const ModelArgs& a) {
  a.threads();
  return load_model(a.model, a.tokenizer);
}

inline EngineOptions engine_options(const ModelArgs& a, const LoadedModel& m, int64_t need = 0) {
  EngineOptions o;
  const ModelConfig& c = m.config();
  o.context = a.ctx > 0 ? a.ctx : std::min<int64_t>(c.max_seq_len, std::max<int64_t>(4096, need));
  if (c.pos == PosKind::Learned)
    check(o.context <= c.max_seq_len, "--ctx {} exceeds the model's {} learned positions",
          o.context, c.max_seq_len);
  o.kv_type = a.kv_type == "f16" ? KvType::F16 : KvType::F32;
  o.pack_weights = !a.no_pack;
  return o;
}

struct SamplerArgs {
  SamplerOptions s;
};

inline void add_sampler_options(CLI::App& app, SamplerOptions& s) {
  app.add_option("--temperature", s.temperature, "softmax temperature (0: greedy)")
      ->capture_default_str();
  app.add_option("--top-k", s.top_k, "keep the k most likely tokens (0: all)")->capture_default_str();
  app.add_option("--top-p", s.top_p, "nucleus sampling: smallest set with this total probability")
      ->capture_default_str();
  app.add_option("--min-p", s.min_p, "drop tokens below min_p * p(most likely)")->capture_default_str();
  app.add_option("--repeat-penalty", s.repeat_penalty, "CTRL repetition penalty (1: off)")
      ->capture_default_str();
  app.add_option("--frequency-penalty", s.frequency_penalty, "OpenAI frequency penalty")
      ->capture_default_str();
  app.add_option("--presence-penalty", s.presence_penalty, "OpenAI presence penalty")
      ->capture_default_str();
  app.add_option("--penalty-last-n", s.penalty_last_n, "tokens the penalties look back on")
      ->capture_default_str();
  app.add_option("--seed", s.seed, "sampling seed")->capture_default_str();
}

inline void write_out(std::string_view s) {
  check(std::fwrite(s.data(), 1, s.size(), stdout) == s.size(), "cannot write standard output");
  std::fflush(stdout);
}

// A token for display: its text with control characters escaped.
inline std::string show_token(const Tokenizer& tok, int32_t id) {
  std::string t = tok.decode(std::span<const int32_t>(&id, 1));
  if (t.empty()) t = tok.token_text(id);
  std::string out;
  for (unsigned char ch : t) {
    if (ch == '\n') out += "\\n";
    else if (ch == '\t') out += "\\t";
    else if (ch == '\r') out += "\\r";
    else if (ch < 0x20) out += fmt::format("\\x{:02x}", ch);
    else out += char(ch);
  }
  return out;
}

// Renders [system,] user through the model's chat template (or `template_source` when
// given) with add_generation_prompt, then tokenizes it with special tokens recognised. A
// BOS is prepended when the model adds one and the template did not write it already.
inline std::vector<int32_t> apply_chat(const LoadedModel& m, const std::string& system,
                                       const std::string& user,
                                       const std::string& template_source = "") {
  const std::string src = template_source.empty() ? m.chat_template : template_source;
  check(!src.empty(), "--chat: the model carries no chat template (GGUF tokenizer.chat_template "
        "or tokenizer_config.json chat_template); give one with --chat-template FILE");
  const Tokenizer& tok = m.tok();
  ChatTemplate t(src);
  std::vector<ChatMessage> msgs;
  if (!system.empty()) msgs.push_back({"system", system});
  msgs.push_back({"user", user});
  const std::string bos = m.bos_id >= 0 ? tok.token_text(m.bos_id) : "";
  const int32_t eos_id = m.stop_ids.empty() ? -1 : m.stop_ids.front();
  const std::string eos = tok.eos_id() ? tok.token_text(*tok.eos_id())
                          : eos_id >= 0 ? tok.token_text(eos_id) : "";
  std::string text = t.apply(msgs, true, bos, eos);
  // A template that starts with the BOS text gets the BOS id itself (tokenizers that do not
  // parse special tokens, like llama2.c's, would spell it out); otherwise BOS is added when
  // the model adds one and the tokenizer did not produce it.
  bool want_bos = m.add_bos;
  if (!bos.empty() && text.starts_with(bos)) {
    text.erase(0, bos.size());
    want_bos = true;
  }
  std::vector<int32_t> ids = tok.encode(text, false);
  if (want_bos && m.bos_id >= 0 && (ids.empty() || ids.front() != m.bos_id))
    ids.insert(ids.begin(), m.bos_id);
  return ids;
}

}  // namespace lmkit::cli
