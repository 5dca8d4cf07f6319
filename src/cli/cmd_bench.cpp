// lmkit bench: prompt processing and generation speed as llama-bench measures them
// (llama.cpp tools/llama-bench): pp = one forward pass over -p tokens from an empty cache
// (BOS then random tokens, logits of the last), tg = -n single-token steps from an empty
// cache (BOS then random tokens), each repeated --reps times after a warm-up run; tokens/s
// as mean (and standard deviation) over the repetitions; peak resident memory.
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <sys/resource.h>

#include <chrono>
#include <cmath>

#include "cli/infer_options.h"
#include "lmkit/core/random.h"
#include "lmkit/core/thread_pool.h"

namespace lmkit::cli {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

double peak_rss_mb() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return double(ru.ru_maxrss) / 1024.0;  // Linux: kilobytes
}

struct Stat {
  double mean = 0, sd = 0;
  std::vector<double> samples;
};

Stat stats(std::vector<double> v) {
  Stat s;
  s.samples = v;
  for (double x : v) s.mean += x;
  s.mean /= double(v.size());
  for (double x : v) s.sd += (x - s.mean) * (x - s.mean);
  s.sd = v.size() > 1 ? std::sqrt(s.sd / double(v.size() - 1)) : 0.0;
  return s;
}

Run setup(CLI::App& app) {
  struct Args {
    ModelArgs m;
    int64_t p = 512, n = 128, reps = 5;
    bool json = false;
  };
  auto a = std::make_shared<Args>();
  app.description("Tokens per second of prompt processing (-p) and generation (-n), as llama-bench.");
  add_model_options(app, a->m);
  app.add_option("-p,--n-prompt", a->p, "prompt tokens (0: skip)")->capture_default_str();
  app.add_option("-n,--n-gen", a->n, "generated tokens (0: skip)")->capture_default_str();
  app.add_option("-r,--reps", a->reps, "repetitions")->capture_default_str()->check(CLI::Range(1, 1000));
  app.add_flag("--json", a->json, "print {\"pp_tok_s\", \"tg_tok_s\", \"peak_rss_mb\", ...}");
  return [a]() -> int {
    LoadedModel m = load_model_args(a->m);
    const ModelConfig& c = m.config();
    EngineOptions eo = engine_options(a->m, m, std::max(a->p, a->n));
    eo.context = std::max<int64_t>({a->p, a->n, 1});
    eo.max_batch = std::max<int64_t>(a->p, 1);
    Engine e(m.weights, eo);
    Rng rng(1234);
    const int32_t first = m.bos_id >= 0 ? m.bos_id : 0;
    auto random_token = [&] { return int32_t(rng.next_u64() % uint64_t(c.vocab_size)); };
    std::vector<float> logits(static_cast<size_t>(c.vocab_size));
    auto run_pp = [&]() {
      std::vector<int32_t> toks(static_cast<size_t>(a->p));
      toks[0] = first;
      for (size_t i = 1; i < toks.size(); ++i) toks[i] = random_token();
      const int s = e.add_sequence();
      const auto t0 = Clock::now();
      e.prefill(s, toks, logits.data());
      const double dt = std::chrono::duration<double>(Clock::now() - t0).count();
      e.remove_sequence(s);
      return double(a->p) / dt;
    };
    auto run_tg = [&]() {
      const int s = e.add_sequence();
      int32_t tok = first;
      const auto t0 = Clock::now();
      for (int64_t i = 0; i < a->n; ++i) {
        e.step(std::span<const int>(&s, 1), std::span<const int32_t>(&tok, 1), logits.data());
        tok = random_token();
      }
      const double dt = std::chrono::duration<double>(Clock::now() - t0).count();
      e.remove_sequence(s);
      return double(a->n) / dt;
    };
    std::vector<double> pp, tg;
    if (a->p > 0) {
      run_pp();  // warm-up
      for (int64_t r = 0; r < a->reps; ++r) pp.push_back(run_pp());
    }
    if (a->n > 0) {
      run_tg();
      for (int64_t r = 0; r < a->reps; ++r) tg.push_back(run_tg());
    }
    const Stat sp = pp.empty() ? Stat{} : stats(pp), st = tg.empty() ? Stat{} : stats(tg);
    const double rss = peak_rss_mb();
    if (a->json) {
      json j = {{"model", a->m.model}, {"type", m.weights->type_summary()}, {"threads", num_threads()},
                {"n_prompt", a->p}, {"n_gen", a->n}, {"reps", a->reps}, {"peak_rss_mb", rss},
                {"weights_mb", double(m.weights->bytes()) / 1e6}};
      if (!pp.empty()) j["pp_tok_s"] = sp.mean, j["pp_tok_s_sd"] = sp.sd, j["pp_samples"] = sp.samples;
      if (!tg.empty()) j["tg_tok_s"] = st.mean, j["tg_tok_s_sd"] = st.sd, j["tg_samples"] = st.samples;
      write_out(j.dump() + "\n");
    } else {
      write_out(fmt::format("| model | type | threads | test | t/s |\n|---|---|---|---|---|\n"));
      if (!pp.empty())
        write_out(fmt::format("| {} | {} | {} | pp{} | {:.2f} ± {:.2f} |\n", a->m.model,
                              m.weights->type_summary(), num_threads(), a->p, sp.mean, sp.sd));
      if (!tg.empty())
        write_out(fmt::format("| {} | {} | {} | tg{} | {:.2f} ± {:.2f} |\n", a->m.model,
                              m.weights->type_summary(), num_threads(), a->n, st.mean, st.sd));
      write_out(fmt::format("peak RSS {:.1f} MB\n", rss));
    }
    return 0;
  };
}

const Command reg("bench", "prompt-processing and generation speed (as llama-bench)", setup);

}  // namespace
}  // namespace lmkit::cli
