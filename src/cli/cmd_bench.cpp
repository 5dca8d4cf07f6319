// lmkit bench: prompt processing and generation speed as llama-bench measures them
// (llama.cpp tools/llama-bench): pp = the -p tokens (BOS then random tokens, logits of the
// last) from an empty cache, in forward passes of --ubatch tokens; tg = -n single-token
// steps from an empty cache (BOS then random tokens); each repeated --reps times after a
// warm-up run; tokens/s as mean (and standard deviation) over the repetitions; peak
// resident memory. Also the
// bytes of weights one generated token reads (every matrix once: the layers' projections
// and the output head; the token-embedding lookup reads one row), for a memory-bandwidth
// bound, and with --mem-bw (no model) the streaming-read bandwidth of the machine as the
// engine's threads see it.
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <sys/mman.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>

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

// Bytes of weight data one decoded token reads: every tensor but the embedding tables,
// plus the output head (the tied embedding when the model has no lm_head).
double weight_bytes_per_token(const ModelWeights& w) {
  size_t bytes = 0;
  for (const auto& [name, t] : w.tensors)
    if (name != "embed.weight" && name != "pos_embed.weight") bytes += t.bytes();
  if (w.config.tie_embeddings) bytes += w.at("embed.weight").bytes();
  return double(bytes);
}

volatile uint64_t g_sink = 0;

// Streaming-read bandwidth (bytes/s) of a buffer of `mb` MiB (far larger than the caches),
// read by every thread of the pool, each a contiguous share, `reps` times after one
// untimed pass; returns the rate of each pass. The read is glibc's memchr for a byte the
// buffer does not hold (its vectorised loop, AVX2 / EVEX where the CPU has them, streams
// the memory at full speed: a plain C loop measured about 40% less here).
std::vector<double> read_bandwidth(int64_t mb, int64_t reps) {
  const size_t bytes = size_t(mb) << 20;
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  check(p != MAP_FAILED, "cannot allocate {} MiB for the bandwidth test", mb);
  auto* buf = static_cast<uint8_t*>(p);
  thread_pool().parallel_for(bytes, [&](size_t b, size_t e) {
    std::memset(buf + b, 0, e - b);  // commit the pages, from the reading threads
  });
  std::vector<uintptr_t> found(size_t(thread_pool().size()), 0);
  auto pass = [&] {
    thread_pool().run([&](int tid, int nt) {
      const size_t b = bytes * size_t(tid) / size_t(nt), e = bytes * size_t(tid + 1) / size_t(nt);
      found[size_t(tid)] = reinterpret_cast<uintptr_t>(std::memchr(buf + b, 1, e - b));
    });
  };
  pass();
  std::vector<double> rates;
  for (int64_t r = 0; r < reps; ++r) {
    const auto t0 = Clock::now();
    pass();
    rates.push_back(double(bytes) / std::chrono::duration<double>(Clock::now() - t0).count());
  }
  uintptr_t any = 0;
  for (uintptr_t f : found) any |= f;
  munmap(p, bytes);
  g_sink = any;  // the results are observable: the reads cannot be optimised away
  return rates;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t h = v.size() / 2;
  return v.size() % 2 ? v[h] : 0.5 * (v[h - 1] + v[h]);
}

Run setup(CLI::App& app) {
  struct Args {
    ModelArgs m;
    int64_t p = 512, n = 128, reps = 5, ubatch = 0;
    bool json = false, mem_bw = false;
    int64_t mem_bw_mb = 1024;
  };
  auto a = std::make_shared<Args>();
  app.description(
      "Tokens per second of prompt processing (-p) and generation (-n), as llama-bench; or, with "
      "--mem-bw, the machine's streaming-read memory bandwidth.");
  add_model_options(app, a->m, /*require_model=*/false);
  app.add_option("-p,--n-prompt", a->p, "prompt tokens (0: skip)")->capture_default_str();
  app.add_option("-n,--n-gen", a->n, "generated tokens (0: skip)")->capture_default_str();
  app.add_option("-r,--reps", a->reps, "repetitions")->capture_default_str()->check(CLI::Range(1, 1000));
  app.add_option("-b,--ubatch", a->ubatch,
                 "tokens per forward pass of the prompt (0: the engine's default, " +
                     std::to_string(EngineOptions{}.max_batch) + ")")
      ->capture_default_str()
      ->check(CLI::Range(int64_t(0), int64_t(1) << 20));
  app.add_flag("--json", a->json, "print {\"pp_tok_s\", \"tg_tok_s\", \"peak_rss_mb\", ...}");
  app.add_flag("--mem-bw", a->mem_bw,
               "instead of a model: read a large buffer with --threads threads (--reps passes) and "
               "report GB/s (median, and every pass)");
  app.add_option("--mem-bw-mb", a->mem_bw_mb, "buffer size of --mem-bw in MiB")
      ->capture_default_str()
      ->check(CLI::Range(int64_t(64), int64_t(1) << 20));
  return [a]() -> int {
    if (a->mem_bw) {
      check(a->m.model.empty(), "--mem-bw takes no --model");
      a->m.threads();
      const std::vector<double> rates = read_bandwidth(a->mem_bw_mb, a->reps);
      std::vector<double> gbs;
      for (double r : rates) gbs.push_back(r / 1e9);
      if (a->json)
        write_out(json({{"mem_bw_gb_s", median(gbs)}, {"mem_bw_samples", gbs}, {"threads", num_threads()},
                        {"buffer_mb", a->mem_bw_mb}})
                      .dump() +
                  "\n");
      else
        write_out(fmt::format("read bandwidth, {} threads, {} MiB: {:.1f} GB/s (median of {})\n",
                              num_threads(), a->mem_bw_mb, median(gbs), gbs.size()));
      return 0;
    }
    check(!a->m.model.empty(), "--model is required (or --mem-bw)");
    LoadedModel m = load_model_args(a->m);
    const ModelConfig& c = m.config();
    EngineOptions eo = engine_options(a->m, m, std::max(a->p, a->n));
    eo.context = std::max<int64_t>({a->p, a->n, 1});
    if (a->ubatch > 0) eo.max_batch = a->ubatch;
    Engine e(m.weights, eo);
    Rng rng(1234);
    const int32_t first = m.bos_id >= 0 ? m.bos_id : 0;
    auto random_token = [&] { return int32_t(rng.next_u64() % uint64_t(c.vocab_size)); };
    std::vector<float> logits(static_cast<size_t>(c.vocab_size));
    // One sequence, emptied before every run (as llama-bench clears its KV cache): the
    // cache's memory stays committed between runs.
    const int s = e.add_sequence();
    auto run_pp = [&]() {
      std::vector<int32_t> toks(static_cast<size_t>(a->p));
      toks[0] = first;
      for (size_t i = 1; i < toks.size(); ++i) toks[i] = random_token();
      e.truncate(s, 0);
      const auto t0 = Clock::now();
      e.prefill(s, toks, logits.data());
      const double dt = std::chrono::duration<double>(Clock::now() - t0).count();
      return double(a->p) / dt;
    };
    auto run_tg = [&]() {
      e.truncate(s, 0);
      int32_t tok = first;
      const auto t0 = Clock::now();
      for (int64_t i = 0; i < a->n; ++i) {
        e.step(std::span<const int>(&s, 1), std::span<const int32_t>(&tok, 1), logits.data());
        tok = random_token();
      }
      const double dt = std::chrono::duration<double>(Clock::now() - t0).count();
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
                {"weights_mb", double(m.weights->bytes()) / 1e6},
                {"weights_read_per_token_mb", weight_bytes_per_token(*m.weights) / 1e6},
                {"kv_type", a->m.kv_type}, {"ubatch", eo.max_batch}};
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
