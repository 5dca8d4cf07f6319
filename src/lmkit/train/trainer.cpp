#include "lmkit/train/trainer.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <filesystem>
#include <fstream>

#include "lmkit/core/error.h"
#include "lmkit/core/gemm.h"
#include "lmkit/core/graph.h"
#include "lmkit/core/thread_pool.h"
#include "lmkit/io/atomic_file.h"
#include "lmkit/io/plot.h"
#include "lmkit/io/token_data.h"
#include "lmkit/model/decoder.h"
#include "lmkit/tokenizer/tokenizer.h"
#include "lmkit/train/adamw.h"
#include "lmkit/train/checkpoint.h"
#include "lmkit/train/progress.h"
#include "lmkit/train/schedule.h"

namespace lmkit {

namespace fs = std::filesystem;
using json = nlohmann::json;

json TrainOptions::to_json() const {
  return json{{"model", model.to_json()},   {"data", data},
              {"val_data", val_data},       {"tokenizer", tokenizer},
              {"out", out},                 {"batch_size", batch_size},
              {"seq_len", seq_len},         {"steps", steps},
              {"grad_accum", grad_accum},   {"lr", lr},
              {"min_lr", min_lr},           {"warmup_steps", warmup_steps},
              {"weight_decay", weight_decay}, {"beta1", beta1},
              {"beta2", beta2},             {"eps", eps},
              {"grad_clip", grad_clip},     {"seed", seed},
              {"val_fraction", val_fraction}, {"eval_every", eval_every},
              {"eval_batches", eval_batches}, {"checkpoint_every", checkpoint_every},
              {"keep_last", keep_last}};
}

TrainOptions TrainOptions::from_json(const json& j) {
  TrainOptions o;
  try {
    o.model = ModelConfig::from_json(j.at("model"));
    o.data = j.at("data");
    o.val_data = j.value("val_data", "");
    o.tokenizer = j.value("tokenizer", "");
    o.out = j.at("out");
    o.batch_size = j.at("batch_size");
    o.seq_len = j.at("seq_len");
    o.steps = j.at("steps");
    o.grad_accum = j.at("grad_accum");
    o.lr = j.at("lr");
    o.min_lr = j.at("min_lr");
    o.warmup_steps = j.at("warmup_steps");
    o.weight_decay = j.at("weight_decay");
    o.beta1 = j.at("beta1");
    o.beta2 = j.at("beta2");
    o.eps = j.at("eps");
    o.grad_clip = j.at("grad_clip");
    o.seed = j.at("seed");
    o.val_fraction = j.at("val_fraction");
    o.eval_every = j.at("eval_every");
    o.eval_batches = j.at("eval_batches");
    o.checkpoint_every = j.at("checkpoint_every");
    o.keep_last = j.at("keep_last");
  } catch (const json::exception& e) {
    fail("checkpoint training options are incomplete or corrupt: {}", e.what());
  }
  return o;
}

void TrainOptions::validate() const {
  model.validate();
  check(!data.empty(), "no training data given (--data FILE)");
  check(!out.empty(), "no output directory given (--out DIR)");
  check(batch_size >= 1 && batch_size <= 65536, "--batch-size {} is out of range (1..65536)",
        batch_size);
  check(seq_len >= 1 && seq_len <= model.max_seq_len,
        "--seq-len {} is out of range (1..{}, the model's context)", seq_len, model.max_seq_len);
  check(steps >= 1 && steps <= int64_t(1) << 40, "--steps {} must be >= 1", steps);
  check(grad_accum >= 1 && grad_accum <= 65536, "--grad-accum {} is out of range", grad_accum);
  check(std::isfinite(lr) && lr > 0 && lr < 10, "--lr {} is out of range (0, 10)", lr);
  check(std::isfinite(min_lr) && min_lr >= 0 && min_lr <= lr,
        "--min-lr {} must be in [0, lr={}]", min_lr, lr);
  check(warmup_steps >= 0 && warmup_steps <= steps, "--warmup-steps {} must be in [0, steps]",
        warmup_steps);
  check(std::isfinite(weight_decay) && weight_decay >= 0 && weight_decay < 10,
        "--weight-decay {} is out of range [0, 10)", weight_decay);
  check(beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1, "Adam betas must be in [0, 1)");
  check(eps > 0 && eps < 1, "--eps {} is out of range (0, 1)", eps);
  check(std::isfinite(grad_clip) && grad_clip >= 0, "--grad-clip {} must be >= 0 (0: off)",
        grad_clip);
  check(val_fraction >= 0 && val_fraction < 1, "--val-fraction {} must be in [0, 1)",
        val_fraction);
  check(eval_every >= 1 && eval_batches >= 1, "--eval-every and --eval-batches must be >= 1");
  check(keep_last >= 1, "--keep-last {} must be >= 1", keep_last);
}

namespace {

std::atomic<bool> g_interrupted{false};
extern "C" void on_sigint(int) { g_interrupted.store(true); }

double peak_rss_mb() {
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  return double(ru.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
}

// Fills the (B,T) inputs and targets of micro-batch `index` (0-based over the run): sequence
// b starts at token ((index*B + b)*T) mod (n - T - 1), targets shifted by one.
void fill_batch(const TokenData& data, int64_t n, int64_t index, int64_t B, int64_t T,
                int32_t* ids, int32_t* targets, std::vector<int32_t>& scratch) {
  int64_t span = n - T - 1;
  scratch.resize(size_t(T + 1));
  for (int64_t b = 0; b < B; ++b) {
    int64_t start = int64_t((unsigned __int128)(index * B + b) * uint64_t(T) % uint64_t(span));
    data.copy(size_t(start), size_t(T + 1), scratch.data());
    std::copy(scratch.begin(), scratch.begin() + T, ids + b * T);
    std::copy(scratch.begin() + 1, scratch.end(), targets + b * T);
  }
}


// The per-step records of log.jsonl up to (and including) `upto_step`, re-read on resume.
std::vector<json> read_log(const std::string& path, int64_t upto_step) {
  std::vector<json> out;
  std::ifstream f(path);
  std::string line;
  while (std::getline(f, line)) {
    if (line.empty()) continue;
    json j = json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.contains("step")) continue;  // a torn last line after a crash
    if (j["step"].get<int64_t>() > upto_step) break;
    out.push_back(std::move(j));
  }
  return out;
}

void write_log(const std::string& path, const std::vector<json>& records) {
  write_file_atomic(path, [&](FileSink& s) {
    for (const auto& r : records) s.write(r.dump() + "\n");
  });
}

void plot_losses(const std::vector<json>& records, const std::string& path) {
  plot::Figure f;
  f.title = "training loss";
  f.x_label = "step";
  f.y_label = "cross-entropy (nats/token)";
  plot::Series train{"train", {}, {}, plot::Style::Lines};
  plot::Series val{"validation", {}, {}, plot::Style::LinesPoints};
  for (const auto& r : records) {
    train.x.push_back(r["step"].get<double>());
    train.y.push_back(r["loss"].get<double>());
    if (r.contains("val_loss")) {
      val.x.push_back(r["step"].get<double>());
      val.y.push_back(r["val_loss"].get<double>());
    }
  }
  if (train.x.empty()) return;
  f.lines.push_back(std::move(train));
  if (!val.x.empty()) f.lines.push_back(std::move(val));
  plot::render(f, path);
}

}  // namespace

int train(TrainOptions o, bool resume, const Tokenizer* text_tokenizer) {
  if (o.min_lr < 0) o.min_lr = o.lr / 10;
  if (o.warmup_steps < 0) o.warmup_steps = std::min<int64_t>(100, o.steps / 10);
  if (o.eval_every < 0) o.eval_every = std::max<int64_t>(1, o.steps / 10);
  o.validate();
  const int64_t B = o.batch_size, T = o.seq_len, A = o.grad_accum;

  // ---- data ----
  ByteTokenizer bytes;
  const Tokenizer* tok = text_tokenizer ? text_tokenizer : &bytes;
  TokenData all = TokenData::open(o.data, tok);
  TokenData train_data = all, val_data;
  bool has_val = false;
  if (!o.val_data.empty()) {
    val_data = TokenData::open(o.val_data, tok);
    has_val = true;
  } else if (o.val_fraction > 0) {
    auto [tr, va] = all.split(o.val_fraction);
    if (va.size() >= size_t(T + 2)) {
      train_data = tr;
      val_data = va;
      has_val = true;
    }
  }
  const int64_t n = int64_t(train_data.size());
  check(n >= T + 2, "'{}' has {} training tokens: fewer than one sequence of {} + 1", o.data, n,
        T);
  for (const TokenData* d : {&train_data, has_val ? &val_data : nullptr}) {
    if (!d) continue;
    int64_t mx = d->max_id();
    check(mx < o.model.vocab_size,
          "'{}' holds token id {} but the model's vocabulary has {} entries (--vocab-size)",
          o.data, mx, o.model.vocab_size);
  }

  // ---- model, optimizer, resume ----
  fs::create_directories(o.out);
  Decoder model(o.model);
  AdamW opt(model, {o.beta1, o.beta2, o.eps, o.weight_decay, o.grad_clip});
  int64_t start_step = 0;
  double best_val = INFINITY;
  std::string log_path = o.out + "/log.jsonl";
  std::vector<json> records;
  if (resume) {
    auto ckpts = list_checkpoints(o.out);
    check(!ckpts.empty(), "--resume: no checkpoint found in '{}/checkpoints'", o.out);
    const auto& ck = ckpts.back();
    json state = read_checkpoint_state(ck.dir);
    load_checkpoint_weights(ck.dir, model, &opt);
    start_step = state["step"].get<int64_t>();
    best_val = state.value("best_val_loss", INFINITY);
    check(start_step <= o.steps, "--resume: the checkpoint is at step {}, past --steps {}",
          start_step, o.steps);
    records = read_log(log_path, start_step);
  } else {
    check(list_checkpoints(o.out).empty(),
          "'{}' already holds checkpoints: use --resume to continue, or another --out", o.out);
    model.init_weights(o.seed);
  }
  fs::create_directories(o.out + "/checkpoints");
  write_file_atomic(o.out + "/config.json", model.config().to_json().dump(2) + "\n");
  write_file_atomic(o.out + "/train_options.json", o.to_json().dump(2) + "\n");

  // ---- graphs: training (B,T) and validation, recorded and allocated once ----
  Graph g;
  auto io = model.build(g, B, T, /*with_loss=*/true);
  g.set_loss_scale(1.0f / float(A));
  g.allocate();
  if (start_step == 0 || o.progress)
    fmt::print("model: {} ({} parameters), batch {}x{}x{}, activations {:.0f} MB, {} threads\n",
               o.model.arch, model.num_params(), A, B, T, double(g.activation_bytes()) / 1e6,
               num_threads());
  int32_t* ids = g.tensor(io.ids).data<int32_t>();
  int32_t* tgt = g.tensor(io.targets).data<int32_t>();
  std::vector<int32_t> scratch(size_t(T + 1));

  auto evaluate = [&]() -> double {
    g.set_training(false);
    int64_t vn = int64_t(val_data.size());
    double sum = 0;
    for (int64_t i = 0; i < o.eval_batches; ++i) {
      fill_batch(val_data, vn, i, B, T, ids, tgt, scratch);
      g.forward();
      sum += g.tensor(io.loss).data<float>()[0];
    }
    g.set_training(true);
    return sum / double(o.eval_batches);
  };

  // Non-embedding parameters, as nanoGPT's get_num_params (position table excluded).
  const int64_t n_params = model.num_params();
  const Decoder::Param* pe = model.find("pos_embed.weight");
  const double n_flop_params = double(n_params - (pe ? pe->value.numel() : 0));
  // FLOPs per token, nanoGPT estimate_mfu (PaLM appendix B): 6N + 12 L T D.
  const double flops_per_token = 6.0 * n_flop_params + 12.0 * double(o.model.n_layer) *
                                                           double(T) * double(o.model.dim);

  auto save = [&](int64_t step) {
    json state = {{"step", step},
                  {"config", model.config().to_json()},
                  {"options", o.to_json()},
                  {"best_val_loss", std::isfinite(best_val) ? json(best_val) : json(nullptr)},
                  {"log_records", records.size()},
                  {"data_position", step * A * B * T}};
    save_checkpoint(o.out + "/checkpoints/" + checkpoint_name(step), model, opt, state);
    write_log(log_path, records);
    // Keep the last K and the best by validation loss.
    auto ckpts = list_checkpoints(o.out);
    int64_t best_step = -1;
    double best = INFINITY;
    for (const auto& r : records)
      if (r.contains("val_loss") && r["val_loss"].get<double>() < best) {
        best = r["val_loss"].get<double>();
        best_step = r["step"].get<int64_t>();
      }
    for (size_t i = 0; i + size_t(o.keep_last) < ckpts.size(); ++i)
      if (ckpts[i].step != best_step) fs::remove_all(ckpts[i].dir);
    if (best_step >= 0)
      write_file_atomic(o.out + "/best.json",
                        json{{"step", best_step}, {"val_loss", best},
                             {"checkpoint", "checkpoints/" + checkpoint_name(best_step)}}
                                .dump(2) + "\n");
  };

  g_interrupted.store(false);
  auto old_handler = std::signal(SIGINT, on_sigint);
  struct RestoreSignal {
    void (*h)(int);
    ~RestoreSignal() { std::signal(SIGINT, h); }
  } restore{old_handler};

  Progress progress(o.steps, o.progress && isatty(STDOUT_FILENO));
  std::vector<double> step_tok_s;
  for (const auto& r : records)
    if (r.contains("tokens_per_sec")) step_tok_s.push_back(r["tokens_per_sec"].get<double>());
  const int64_t tokens_per_step = A * B * T;
  int exit_code = 0;
  int64_t step = start_step;
  auto run_t0 = std::chrono::steady_clock::now();
  for (; step < o.steps; ++step) {
    auto t0 = std::chrono::steady_clock::now();
    model.zero_grads();
    double loss_sum = 0;
    for (int64_t a = 0; a < A; ++a) {
      fill_batch(train_data, n, step * A + a, B, T, ids, tgt, scratch);
      g.set_seed(o.seed ^ (uint64_t(step * A + a) * 0x9E3779B97F4A7C15ull));
      g.forward();
      loss_sum += g.tensor(io.loss).data<float>()[0];
      g.backward(io.loss);
    }
    double loss = loss_sum / double(A);
    if (!std::isfinite(loss)) {
      progress.finish();
      fmt::print(stderr,
                 "error: the loss became {} at step {}; stopping. The last good checkpoint is "
                 "kept in {}/checkpoints (try a lower --lr or --grad-clip)\n",
                 loss, step + 1, o.out);
      exit_code = 1;
      break;
    }
    double lr = lr_at(step, o.steps, o.lr, o.min_lr, o.warmup_steps);
    double norm = opt.step(lr);
    double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    double tok_s = double(tokens_per_step) / dt;
    step_tok_s.push_back(tok_s);
    json rec = {{"step", step + 1}, {"loss", loss},           {"lr", lr},
                {"grad_norm", norm}, {"tokens_per_sec", tok_s}, {"tokens", (step + 1) * tokens_per_step},
                {"time_ms", dt * 1000}};
    bool last = step + 1 == o.steps;
    bool do_eval = has_val && ((step + 1) % o.eval_every == 0 || last);
    if (do_eval) {
      double vl = evaluate();
      rec["val_loss"] = vl;
      best_val = std::min(best_val, vl);
    }
    records.push_back(rec);
    progress.update(step + 1, loss, lr, tok_s, do_eval ? rec["val_loss"].get<double>() : NAN);
    bool do_ckpt = last || (o.checkpoint_every > 0 ? (step + 1) % o.checkpoint_every == 0 : do_eval);
    if (g_interrupted.load()) {
      progress.finish();
      save(step + 1);
      fmt::print("interrupted: checkpoint saved at step {} in {}/checkpoints; continue with "
                 "lmkit train --resume {}\n",
                 step + 1, o.out, o.out);
      ++step;
      break;
    }
    if (do_ckpt) {
      save(step + 1);
      plot_losses(records, o.out + "/loss.png");
    }
  }
  progress.finish();
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - run_t0).count();

  // ---- summary ----
  std::vector<double> steady(step_tok_s.begin() + std::min<size_t>(3, step_tok_s.size()),
                             step_tok_s.end());
  if (steady.empty()) steady = step_tok_s;
  double median = 0;
  if (!steady.empty()) {
    std::sort(steady.begin(), steady.end());
    median = steady.size() % 2 ? steady[steady.size() / 2]
                               : 0.5 * (steady[steady.size() / 2 - 1] + steady[steady.size() / 2]);
  }
  double peak_gflops = measure_sgemm_gflops(0.3);
  double mfu = median * flops_per_token / (peak_gflops * 1e9);
  json summary = {{"params", n_params},
                  {"params_non_embedding", int64_t(n_flop_params)},
                  {"steps", step},
                  {"tokens", step * tokens_per_step},
                  {"tokens_per_sec_median", median},
                  {"peak_rss_mb", peak_rss_mb()},
                  {"mfu", mfu},
                  {"flops_per_token", flops_per_token},
                  {"sgemm_peak_gflops", peak_gflops},
                  {"threads", num_threads()},
                  {"loss_first", records.empty() ? json(nullptr) : records.front()["loss"]},
                  {"loss_last", records.empty() ? json(nullptr) : records.back()["loss"]},
                  {"final_val_loss", std::isfinite(best_val) && !records.empty() &&
                                             records.back().contains("val_loss")
                                         ? records.back()["val_loss"]
                                         : json(nullptr)},
                  {"best_val_loss", std::isfinite(best_val) ? json(best_val) : json(nullptr)},
                  {"elapsed_sec", elapsed},
                  {"stopped", exit_code != 0 ? "non-finite loss"
                              : step < o.steps ? "interrupted"
                                               : "completed"}};
  write_file_atomic(o.out + "/summary.json", summary.dump(2) + "\n");
  if (exit_code == 0) write_log(log_path, records);
  if (!records.empty() && exit_code == 0) plot_losses(records, o.out + "/loss.png");
  fmt::print("{} steps, loss {:.4f} -> {:.4f}{}, {:.0f} tok/s (median), MFU {:.1f}% of {:.0f} "
             "GFLOP/s sgemm, peak RSS {:.0f} MB -> {}\n",
             step, records.empty() ? NAN : records.front()["loss"].get<double>(),
             records.empty() ? NAN : records.back()["loss"].get<double>(),
             std::isfinite(best_val) ? fmt::format(" (best val {:.4f})", best_val) : "", median,
             100 * mfu, peak_gflops, peak_rss_mb(), o.out);
  return exit_code;
}

}  // namespace lmkit
