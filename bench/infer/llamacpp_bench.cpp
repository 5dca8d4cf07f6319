// llama.cpp's side of bench/infer/run.sh: prompt processing and generation speed of a GGUF
// through the prebuilt llama.cpp libraries of npm node-llama-cpp, measured the way
// llama.cpp's own llama-bench (tools/llama-bench/llama-bench.cpp) measures them, written
// against llama.cpp's public C API (include/llama.h, ggml/include/ggml-backend.h,
// ggml-cpu.h):
//
//   - the CPU backend variants are loaded from the package's folder
//     (ggml_backend_load_all_from_path picks the best one for this CPU);
//   - one model load (llama_model_default_params: mmap on), then per test (pp, then tg) a
//     context with llama-bench's defaults (n_ctx = tokens of the test, n_batch 2048,
//     n_ubatch 512, f16 K/V cache, flash attention auto) and a persistent ggml threadpool
//     of -t threads (ggml_threadpool_new from the CPU backend's proc address, default
//     params: polling level 50, as llama-bench) attached with llama_attach_threadpool;
//   - pp: one llama_decode of a llama_batch_get_one batch of -p tokens (BOS, then random
//     ids) on an empty cache; tg: -n single-token llama_decode calls, llama_synchronize
//     after each; one warm-up run (llama-bench: the whole pp, one tg token), then -r
//     repetitions, the cache cleared before each;
//   - tokens/s per repetition; mean and sd; peak resident memory of the process.
//
// Prints one JSON line with the keys of `lmkit bench --json`:
//   {"pp_tok_s", "pp_tok_s_sd", "pp_samples", "tg_tok_s", ..., "peak_rss_mb", ...}
//
//   llamacpp_bench MODEL.gguf --libdir DIR [-p 512] [-n 128] [-r 5] [-t 2] [--poll 50]
//                  [--ctk f16|f32] [--fa auto|on|off]
//
// Built by bench/infer/run.sh with the headers of the llama.cpp release that node-llama-cpp
// ships (its llama/gitRelease.bundle) and linked against the package's libllama/libggml.
#include <sys/resource.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "ggml-backend.h"
#include "ggml-cpu.h"
#include "ggml.h"
#include "llama.h"

namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void die(const std::string& msg) {
  std::fprintf(stderr, "llamacpp_bench: %s\n", msg.c_str());
  std::exit(1);
}

double peak_rss_mb() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return double(ru.ru_maxrss) / 1024.0;  // Linux: kilobytes
}

struct Options {
  std::string model, libdir;
  int p = 512, n = 128, reps = 5, threads = 2;
  unsigned poll = 50;
  ggml_type type_kv = GGML_TYPE_F16;
  llama_flash_attn_type fa = LLAMA_FLASH_ATTN_TYPE_AUTO;
};

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) die("option " + a + " needs a value");
      return argv[++i];
    };
    auto number = [&]() {
      const std::string v = value();
      char* end = nullptr;
      const long x = std::strtol(v.c_str(), &end, 10);
      if (v.empty() || *end != '\0' || x < 0 || x > 1000000) die("bad value '" + v + "' for " + a);
      return int(x);
    };
    if (a == "-p") o.p = number();
    else if (a == "-n") o.n = number();
    else if (a == "-r") o.reps = number();
    else if (a == "-t") o.threads = number();
    else if (a == "--poll") o.poll = unsigned(number());
    else if (a == "--libdir") o.libdir = value();
    else if (a == "--ctk") {
      const std::string v = value();
      if (v == "f16") o.type_kv = GGML_TYPE_F16;
      else if (v == "f32") o.type_kv = GGML_TYPE_F32;
      else die("--ctk takes f16 or f32");
    } else if (a == "--fa") {
      const std::string v = value();
      if (v == "auto") o.fa = LLAMA_FLASH_ATTN_TYPE_AUTO;
      else if (v == "on") o.fa = LLAMA_FLASH_ATTN_TYPE_ENABLED;
      else if (v == "off") o.fa = LLAMA_FLASH_ATTN_TYPE_DISABLED;
      else die("--fa takes auto, on or off");
    } else if (a == "-h" || a == "--help") {
      std::printf(
          "usage: llamacpp_bench MODEL.gguf --libdir DIR [-p 512] [-n 128] [-r 5] [-t 2] "
          "[--poll 50] [--ctk f16|f32] [--fa auto|on|off]\n");
      std::exit(0);
    } else if (!a.empty() && a[0] == '-') {
      die("unknown option " + a);
    } else if (o.model.empty()) {
      o.model = a;
    } else {
      die("more than one model given");
    }
  }
  if (o.model.empty()) die("no model given");
  if (o.libdir.empty()) die("--libdir (the folder of libggml-cpu-*.so) is required");
  if (o.threads < 1 || o.reps < 1) die("-t and -r must be >= 1");
  return o;
}

void quiet_log(ggml_log_level, const char*, void*) {}

struct Stat {
  double mean = 0, sd = 0;
};
Stat stats(const std::vector<double>& v) {
  Stat s;
  for (double x : v) s.mean += x;
  s.mean /= double(v.size());
  for (double x : v) s.sd += (x - s.mean) * (x - s.mean);
  s.sd = v.size() > 1 ? std::sqrt(s.sd / double(v.size() - 1)) : 0.0;
  return s;
}

std::string json_list(const std::vector<double>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + std::to_string(v[i]);
  return s + "]";
}

using ThreadpoolNew = ggml_threadpool* (*)(ggml_threadpool_params*);
using ThreadpoolFree = void (*)(ggml_threadpool*);

// One llama-bench test instance: a fresh context of n_ctx positions with its threadpool;
// run() is called for the warm-up and then per repetition on a cleared cache; it returns
// the tokens it processed.
template <class Body>
std::vector<double> run_test(llama_model* model, const Options& o, int n_ctx, ThreadpoolNew tp_new,
                             ThreadpoolFree tp_free, Body body) {
  llama_context_params cp = llama_context_default_params();
  cp.n_ctx = uint32_t(n_ctx);
  cp.n_batch = 2048;
  cp.n_ubatch = 512;
  cp.type_k = o.type_kv;
  cp.type_v = o.type_kv;
  cp.flash_attn_type = o.fa;
  cp.n_threads = o.threads;
  cp.n_threads_batch = o.threads;
  llama_context* ctx = llama_init_from_model(model, cp);
  if (!ctx) die("cannot create a context");
  ggml_threadpool_params tpp = ggml_threadpool_params_default(o.threads);
  tpp.poll = o.poll;
  ggml_threadpool* tp = tp_new(&tpp);
  if (!tp) die("cannot create the threadpool");
  llama_attach_threadpool(ctx, tp, nullptr);
  llama_set_n_threads(ctx, o.threads, o.threads);
  llama_memory_clear(llama_get_memory(ctx), false);
  body(ctx, true);  // warm-up
  std::vector<double> tok_s;
  for (int r = 0; r < o.reps; ++r) {
    llama_memory_clear(llama_get_memory(ctx), false);
    const auto t0 = Clock::now();
    const int n = body(ctx, false);
    const double dt = std::chrono::duration<double>(Clock::now() - t0).count();
    tok_s.push_back(double(n) / dt);
  }
  llama_free(ctx);
  tp_free(tp);
  return tok_s;
}

// The CPU backend variant ggml_backend_load_all_from_path picked (libggml-cpu-<variant>.so
// among this process's mappings), for the record.
std::string cpu_variant() {
  FILE* f = std::fopen("/proc/self/maps", "r");
  if (!f) return "?";
  char line[4096];
  std::string found = "?";
  while (std::fgets(line, sizeof(line), f)) {
    const char* p = std::strstr(line, "libggml-cpu-");
    if (!p) continue;
    p += std::strlen("libggml-cpu-");
    const char* e = std::strstr(p, ".so");
    if (e) found.assign(p, e);
    break;
  }
  std::fclose(f);
  return found;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  llama_log_set(quiet_log, nullptr);
  ggml_backend_load_all_from_path(o.libdir.c_str());
  ggml_backend_dev_t cpu = ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_CPU);
  if (!cpu) die("no CPU backend found in " + o.libdir);
  ggml_backend_reg_t reg = ggml_backend_dev_backend_reg(cpu);
  auto tp_new = reinterpret_cast<ThreadpoolNew>(ggml_backend_reg_get_proc_address(reg, "ggml_threadpool_new"));
  auto tp_free = reinterpret_cast<ThreadpoolFree>(ggml_backend_reg_get_proc_address(reg, "ggml_threadpool_free"));
  if (!tp_new || !tp_free) die("the CPU backend exports no ggml_threadpool_new / ggml_threadpool_free");
  llama_backend_init();

  llama_model_params mp = llama_model_default_params();
  mp.n_gpu_layers = 0;
  llama_model* model = llama_model_load_from_file(o.model.c_str(), mp);
  if (!model) die("cannot load " + o.model);
  const llama_vocab* vocab = llama_model_get_vocab(model);
  const int32_t V = llama_vocab_n_tokens(vocab);
  const bool add_bos = llama_vocab_get_add_bos(vocab);
  auto first = [&] { return add_bos ? llama_vocab_bos(vocab) : llama_token(std::rand() % V); };

  std::vector<double> pp, tg;
  if (o.p > 0) {
    std::vector<llama_token> toks(size_t(o.p));
    pp = run_test(model, o, o.p, tp_new, tp_free, [&](llama_context* ctx, bool) {
      toks[0] = first();
      for (size_t i = 1; i < toks.size(); ++i) toks[i] = llama_token(std::rand() % V);
      if (llama_decode(ctx, llama_batch_get_one(toks.data(), int32_t(toks.size()))) != 0)
        die("llama_decode failed (prompt)");
      llama_synchronize(ctx);
      return o.p;
    });
  }
  if (o.n > 0) {
    tg = run_test(model, o, o.n, tp_new, tp_free, [&](llama_context* ctx, bool warmup) {
      llama_token tok = first();
      const int n = warmup ? 1 : o.n;  // llama-bench warms up with one token
      for (int i = 0; i < n; ++i) {
        if (llama_decode(ctx, llama_batch_get_one(&tok, 1)) != 0) die("llama_decode failed (generation)");
        llama_synchronize(ctx);
        tok = llama_token(std::rand() % V);
      }
      return n;
    });
  }
  const double rss = peak_rss_mb();
  char desc[256];
  llama_model_desc(model, desc, sizeof(desc));
  std::string out = "{\"engine\":\"llama.cpp\",\"model\":\"" + o.model + "\",\"desc\":\"" + desc +
                    "\",\"cpu_variant\":\"" + cpu_variant() + "\",\"threads\":" + std::to_string(o.threads) + ",\"poll\":" + std::to_string(o.poll) +
                    ",\"n_prompt\":" + std::to_string(o.p) + ",\"n_gen\":" + std::to_string(o.n) +
                    ",\"reps\":" + std::to_string(o.reps) + ",\"peak_rss_mb\":" + std::to_string(rss) +
                    ",\"weights_mb\":" + std::to_string(double(llama_model_size(model)) / 1e6);
  if (!pp.empty()) {
    const Stat s = stats(pp);
    out += ",\"pp_tok_s\":" + std::to_string(s.mean) + ",\"pp_tok_s_sd\":" + std::to_string(s.sd) +
           ",\"pp_samples\":" + json_list(pp);
  }
  if (!tg.empty()) {
    const Stat s = stats(tg);
    out += ",\"tg_tok_s\":" + std::to_string(s.mean) + ",\"tg_tok_s_sd\":" + std::to_string(s.sd) +
           ",\"tg_samples\":" + json_list(tg);
  }
  std::printf("%s}\n", out.c_str());
  llama_model_free(model);
  return 0;
}
