// lmkit sample: generate text from a checkpoint written by `lmkit train`.
#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "cli/command.h"
#include "lmkit/core/error.h"
#include "lmkit/infer/generate.h"
#include "lmkit/io/tokenizer_loader.h"
#include "lmkit/train/checkpoint.h"

namespace lmkit::cli {
namespace {

Run setup(CLI::App& app) {
  struct Args {
    std::string checkpoint, prompt, tokenizer;
    int64_t max_tokens = 200;
    SamplerOptions s;
    bool best = false;
    int64_t count = 1;
  };
  auto a = std::make_shared<Args>();
  auto threads = add_threads_option(app);
  a->s.temperature = 0.8f;
  app.description("Sample text from a model trained with `lmkit train`.");
  app.add_option("--checkpoint", a->checkpoint,
                 "run directory (its newest checkpoint) or one checkpoint directory")->required();
  app.add_option("--prompt", a->prompt, "text to continue (default: a newline)");
  app.add_option("--max-tokens", a->max_tokens, "tokens to generate")->capture_default_str();
  app.add_option("--temperature", a->s.temperature, "softmax temperature (0: greedy)")->capture_default_str();
  app.add_option("--top-k", a->s.top_k, "keep the k most likely tokens (0: all)")->capture_default_str();
  app.add_option("--top-p", a->s.top_p, "nucleus sampling threshold")->capture_default_str();
  app.add_option("--min-p", a->s.min_p, "drop tokens below min_p * p(best)")->capture_default_str();
  app.add_option("--seed", a->s.seed, "sampling seed")->capture_default_str();
  app.add_option("-n,--count", a->count, "number of samples")->capture_default_str();
  app.add_option("--tokenizer", a->tokenizer, "tokenizer SPEC (default: the run's)");
  app.add_flag("--best", a->best, "use the best checkpoint by validation loss");

  return [a, threads]() -> int {
    threads();
    namespace fs = std::filesystem;
    std::string dir = a->checkpoint;
    std::string run_dir = dir;
    if (!fs::exists(dir + "/state.json")) {
      auto ck = list_checkpoints(dir);
      check(!ck.empty(), "'{}' holds no lmkit checkpoint (expected a run directory or a "
            "checkpoints/step-N directory)", dir);
      dir = ck.back().dir;
      if (a->best && fs::exists(run_dir + "/best.json")) {
        std::ifstream f(run_dir + "/best.json");
        auto j = nlohmann::json::parse(f, nullptr, false);
        if (!j.is_discarded() && j.contains("checkpoint") && fs::exists(run_dir + "/" + j["checkpoint"].get<std::string>()))
          dir = run_dir + "/" + j["checkpoint"].get<std::string>();
      }
    } else {
      run_dir = fs::path(dir).parent_path().parent_path().string();
    }
    auto state = read_checkpoint_state(dir);
    Decoder model(ModelConfig::from_json(state["config"]));
    load_checkpoint_weights(dir, model, nullptr);
    std::string tok_spec = a->tokenizer;
    if (tok_spec.empty() && state.contains("options"))
      tok_spec = state["options"].value("tokenizer", "");
    std::unique_ptr<Tokenizer> tok =
        tok_spec.empty() ? std::make_unique<ByteTokenizer>() : load_tokenizer(tok_spec);
    std::string prompt = a->prompt.empty() ? "\n" : a->prompt;
    std::vector<int32_t> ids = tok->encode(prompt);
    check(!ids.empty(), "the prompt encodes to no tokens");
    for (int64_t i = 0; i < a->count; ++i) {
      SamplerOptions so = a->s;
      so.seed = a->s.seed + uint64_t(i);
      Sampler sampler(so);
      if (a->count > 1) fmt::print("--- sample {} ---\n", i + 1);
      fmt::print("{}", a->prompt);
      std::fflush(stdout);
      // Byte-level tokens may split a UTF-8 character: print complete text only.
      std::vector<int32_t> pending;
      generate(model, ids, sampler, {a->max_tokens, -1, 0}, [&](const SampleResult& r) {
        pending.push_back(r.id);
        std::string text = tok->decode(pending);
        fmt::print("{}", text);
        std::fflush(stdout);
        pending.clear();
        return true;
      });
      fmt::print("\n");
    }
    return 0;
  };
}

const Command reg("sample", "generate text from a checkpoint of `lmkit train`", setup);

}  // namespace
}  // namespace lmkit::cli
