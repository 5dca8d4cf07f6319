// lmkit generate: text from a pretrained model (GGUF, HF folder, llama2.c), streamed as it
// is produced, through the KV-cache engine (infer/engine.h) and the one sampler chain.
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>

#include "cli/infer_options.h"
#include "lmkit/infer/generate.h"
#include "lmkit/io/tokenizer_loader.h"

namespace lmkit::cli {
namespace {

using json = nlohmann::json;

Run setup(CLI::App& app) {
  struct Args {
    ModelArgs m;
    std::string prompt;
    int64_t max_tokens = 128;
    SamplerOptions s;
    bool json = false, show_probs = false, chat = false, ignore_eos = false;
    int top_n = 5;
    std::string system, chat_template;
    std::vector<std::string> stop;
  };
  auto a = std::make_shared<Args>();
  a->s.temperature = 0.8f;
  app.description("Generate text with a pretrained model. Greedy when --temperature is 0.");
  add_model_options(app, a->m);
  app.add_option("--prompt", a->prompt, "text to continue (default: empty, just the BOS token)");
  app.add_option("--max-tokens,-n", a->max_tokens, "tokens to generate")->capture_default_str();
  add_sampler_options(app, a->s);
  app.add_option("--stop", a->stop, "stop when the output contains this text (repeatable)");
  app.add_flag("--ignore-eos", a->ignore_eos, "keep generating past end-of-sequence tokens");
  app.add_flag("--json", a->json,
               "print {\"prompt_ids\":[...],\"ids\":[...],\"text\":\"...\"} (the generated ids and "
               "their text) instead of streaming");
  app.add_flag("--show-probs", a->show_probs,
               "print each generated token with its probability and the top alternatives");
  app.add_option("--top-n", a->top_n, "alternatives shown by --show-probs")->capture_default_str();
  app.add_flag("--chat", a->chat,
               "treat --prompt as a user message and apply the model's chat template");
  app.add_option("--system", a->system, "system message for --chat");
  app.add_option("--chat-template", a->chat_template,
                 "Jinja chat template file for --chat (default: the model's own)");

  return [a]() -> int {
    LoadedModel m = load_model_args(a->m);
    const Tokenizer& tok = m.tok();
    std::vector<int32_t> prompt_ids;
    if (a->chat) {
      prompt_ids = apply_chat(m, a->system, a->prompt,
                              a->chat_template.empty() ? "" : read_file_bytes(a->chat_template));
    } else {
      prompt_ids = m.encode_prompt(a->prompt);
    }
    check(!prompt_ids.empty(), "the prompt encodes to no tokens and the model has no BOS token; "
          "give a --prompt");
    Engine engine(m.weights, engine_options(a->m, m, int64_t(prompt_ids.size()) + a->max_tokens));
    Sampler sampler(a->s);
    GenerateOptions go;
    go.max_tokens = a->max_tokens;
    go.top_n = a->show_probs ? std::max(1, a->top_n) : 0;
    if (!a->ignore_eos) go.stop_ids = m.stop_ids;
    TextStream stream(tok, a->stop);
    std::vector<int32_t> ids;
    json tokens = json::array();
    const bool stream_text = !a->json && !a->show_probs;
    if (stream_text && !a->chat) write_out(a->prompt);
    std::string stop_reason = "length";
    generate(engine, prompt_ids, sampler, go, [&](const SampleResult& r) {
      if (std::find(go.stop_ids.begin(), go.stop_ids.end(), r.id) != go.stop_ids.end()) {
        stop_reason = "eos";
        return false;
      }
      ids.push_back(r.id);
      std::string piece = stream.push(r.id);
      if (stream_text) write_out(piece);
      if (a->show_probs) {
        json t = {{"id", r.id}, {"text", show_token(tok, r.id)}, {"logprob", r.logprob}};
        json alts = json::array();
        for (const Candidate& c : r.top)
          alts.push_back({{"id", c.id}, {"text", show_token(tok, c.id)}, {"logprob", c.logprob}});
        t["top"] = alts;
        if (!a->json) {
          std::string line = fmt::format("{:>6} {:<16} p={:.4f} |", r.id,
                                         "'" + show_token(tok, r.id) + "'", std::exp(r.logprob));
          for (const Candidate& c : r.top)
            line += fmt::format(" '{}' {:.4f}", show_token(tok, c.id), std::exp(c.logprob));
          write_out(line + "\n");
        }
        tokens.push_back(std::move(t));
      }
      if (stream.stopped()) {
        stop_reason = "stop";
        return false;
      }
      return true;
    });
    if (stream_text) write_out(stream.flush() + "\n");
    if (a->json) {
      json j = {{"prompt_ids", prompt_ids}, {"ids", ids}, {"text", stream.text() + stream.flush()},
                {"stop", stop_reason}};
      if (a->show_probs) j["tokens"] = tokens;
      write_out(j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n");
    } else if (a->show_probs) {
      write_out(a->prompt + stream.text() + stream.flush() + "\n");
    }
    return 0;
  };
}

const Command reg("generate", "generate text with a pretrained model (GGUF, HF folder, llama2.c)",
                  setup);

}  // namespace
}  // namespace lmkit::cli
