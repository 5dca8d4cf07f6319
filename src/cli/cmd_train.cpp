// lmkit train: train a decoder from scratch (or --resume a run). See train/trainer.h.
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

#include "cli/command.h"
#include "lmkit/core/error.h"
#include "lmkit/io/json_file.h"
#include "lmkit/io/tokenizer_loader.h"
#include "lmkit/train/trainer.h"

namespace lmkit::cli {
namespace {

Run setup(CLI::App& app) {
  struct Args {
    TrainOptions o;
    std::string arch = "gpt2", config_file, resume;
    int64_t layers = 6, heads = 6, kv_heads = 0, dim = 288, hidden_dim = 0, head_dim = 0,
            vocab = 256, context = 0;
    double rope_theta = 0;
    float dropout = 0;
    bool no_progress = false;
  };
  auto a = std::make_shared<Args>();
  auto threads = add_threads_option(app);
  app.description(
      "Train a GPT-2 / Llama / Qwen-style decoder on a token file (llm.c or nanoGPT .bin) or a "
      "text file (byte-level, or --tokenizer). Writes checkpoints, log.jsonl, summary.json and "
      "loss.png into --out.");
  app.add_option("--arch", a->arch, "architecture: gpt2 | llama | qwen2 | qwen3")
      ->check(CLI::IsMember({"gpt2", "llama", "qwen2", "qwen3"}))->capture_default_str();
  app.add_option("--config", a->config_file, "model config JSON (lmkit form); overrides --arch and sizes");
  app.add_option("--layers", a->layers, "transformer blocks")->capture_default_str();
  app.add_option("--heads", a->heads, "attention heads")->capture_default_str();
  app.add_option("--kv-heads", a->kv_heads, "key/value heads (grouped-query; default = heads)");
  app.add_option("--dim", a->dim, "model width")->capture_default_str();
  app.add_option("--hidden-dim", a->hidden_dim, "MLP width (default 4*dim for gpt2, 8/3*dim rounded for llama)");
  app.add_option("--head-dim", a->head_dim, "per-head size (default dim/heads)");
  app.add_option("--vocab-size", a->vocab, "vocabulary size (>= the largest token id + 1)")->capture_default_str();
  app.add_option("--seq-len", a->o.seq_len, "training sequence length T")->capture_default_str();
  app.add_option("--context", a->context, "model context (max positions; default = --seq-len)");
  app.add_option("--rope-theta", a->rope_theta, "RoPE base (llama/qwen)");
  app.add_option("--dropout", a->dropout, "dropout probability")->capture_default_str();
  app.add_option("--batch-size", a->o.batch_size, "sequences per micro-batch B")->capture_default_str();
  app.add_option("--grad-accum", a->o.grad_accum, "micro-batches per optimizer step")->capture_default_str();
  app.add_option("--steps", a->o.steps, "optimizer steps N (with --resume: continue to step N)")->capture_default_str();
  app.add_option("--data", a->o.data, "training data: llm.c/nanoGPT token .bin or a text file");
  app.add_option("--val-data", a->o.val_data, "separate validation data (default: hold out the tail of --data)");
  app.add_option("--val-fraction", a->o.val_fraction,
                 "fraction of --data held out for validation when there is no --val-data "
                 "(training batches index only the rest)")->capture_default_str();
  app.add_option("--tokenizer", a->o.tokenizer, "tokenizer SPEC for text data (default: bytes)");
  app.add_option("--out", a->o.out, "run directory");
  app.add_option("--lr", a->o.lr, "peak learning rate")->capture_default_str();
  app.add_option("--min-lr", a->o.min_lr, "final learning rate of the cosine (default lr/10; = lr: constant)");
  app.add_option("--warmup-steps", a->o.warmup_steps, "linear warmup steps (default min(100, steps/10))");
  app.add_option("--weight-decay", a->o.weight_decay, "AdamW decoupled weight decay (>=2-D weights)")->capture_default_str();
  app.add_option("--beta1", a->o.beta1, "AdamW beta1")->capture_default_str();
  app.add_option("--beta2", a->o.beta2, "AdamW beta2")->capture_default_str();
  app.add_option("--eps", a->o.eps, "AdamW epsilon")->capture_default_str();
  app.add_option("--grad-clip", a->o.grad_clip, "clip the global gradient norm (0: off)")->capture_default_str();
  app.add_option("--seed", a->o.seed, "random seed (init, dropout)")->capture_default_str();
  app.add_option("--eval-every", a->o.eval_every, "validation every N steps (default steps/10)");
  app.add_option("--eval-batches", a->o.eval_batches, "validation batches")->capture_default_str();
  app.add_option("--checkpoint-every", a->o.checkpoint_every, "checkpoint every N steps (default: at validations and the end)");
  app.add_option("--keep-last", a->o.keep_last, "checkpoints to keep (plus the best)")->capture_default_str();
  app.add_option("--resume", a->resume, "continue the run in DIR with its saved settings (give --steps to extend)");
  app.add_flag("--no-progress", a->no_progress, "plain log lines even on a terminal");

  return [a, threads, &app]() -> int {
    threads();
    TrainOptions o = a->o;
    o.progress = !a->no_progress;
    if (!a->resume.empty()) {
      // Everything but --steps/--threads comes from the run itself.
      for (const char* f : {"--arch", "--config", "--layers", "--heads", "--kv-heads", "--dim",
                            "--hidden-dim", "--vocab-size", "--seq-len", "--batch-size",
                            "--data", "--lr", "--min-lr", "--warmup-steps", "--weight-decay",
                            "--grad-clip", "--seed", "--grad-accum", "--dropout"})
        check(app.count(f) == 0, "{} cannot be changed with --resume (the run keeps its settings)", f);
      std::string path = a->resume + "/train_options.json";
      check(std::filesystem::exists(path),
            "--resume: '{}' is not an lmkit run directory (no train_options.json)", a->resume);
      TrainOptions saved = TrainOptions::from_json(read_json_file(path, "--resume run options"));
      saved.out = a->resume;
      if (app.count("--steps")) saved.steps = a->o.steps;
      saved.progress = o.progress;
      if (app.count("--eval-every")) saved.eval_every = a->o.eval_every;
      auto tok = saved.tokenizer.empty() ? nullptr : load_tokenizer(saved.tokenizer);
      return train(saved, /*resume=*/true, tok.get());
    }
    ModelConfig m;
    if (!a->config_file.empty()) {
      m = ModelConfig::from_json(read_json_file(a->config_file, "--config"));
    } else {
      check(a->layers >= 1 && a->heads >= 1 && a->dim >= 1, "--layers, --heads, --dim must be >= 1");
      check(a->dim % a->heads == 0 || a->head_dim > 0, "--dim {} is not divisible by --heads {}",
            a->dim, a->heads);
      int64_t ctx = a->context > 0 ? a->context : o.seq_len;
      int64_t kv = a->kv_heads > 0 ? a->kv_heads : a->heads;
      // Llama's FFN width: 2/3 of 4*dim rounded up to a multiple of 32 (Meta's model.py).
      int64_t llama_hidden = (8 * a->dim / 3 + 31) / 32 * 32;
      int64_t hd = a->hidden_dim > 0 ? a->hidden_dim : llama_hidden;
      if (a->arch == "gpt2") {
        m = ModelConfig::gpt2(a->layers, a->heads, a->dim, a->vocab, ctx);
        if (a->hidden_dim > 0) m.hidden_dim = a->hidden_dim;
      } else if (a->arch == "llama") {
        m = ModelConfig::llama(a->layers, a->heads, kv, a->dim, hd, a->vocab, ctx);
      } else if (a->arch == "qwen2") {
        m = ModelConfig::qwen2(a->layers, a->heads, kv, a->dim, hd, a->vocab, ctx);
      } else {
        m = ModelConfig::qwen3(a->layers, a->heads, kv, a->dim,
                               a->head_dim > 0 ? a->head_dim : a->dim / a->heads, hd, a->vocab,
                               ctx);
      }
      if (a->head_dim > 0) m.head_dim = a->head_dim;
      if (a->rope_theta > 0) m.rope_theta = a->rope_theta;
      m.dropout = a->dropout;
    }
    o.model = m;
    auto tok = o.tokenizer.empty() ? nullptr : load_tokenizer(o.tokenizer);
    return train(o, /*resume=*/false, tok.get());
  };
}

const Command reg("train", "train a language model (GPT-2 / Llama / Qwen) from scratch", setup);

}  // namespace
}  // namespace lmkit::cli
