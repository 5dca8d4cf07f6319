// The training loop of `lmkit train`: batches read sequentially from a token stream,
// forward/backward on the autograd graph, gradient accumulation, clipping, AdamW with
// warmup + cosine schedule, periodic validation, logging (progress bar, log.jsonl,
// summary.json, loss.png), checkpoints (keep last K + best), resume, Ctrl-C and NaN
// handling. Deterministic: same seed and thread count -> bit-identical loss curve, also
// across a stop and --resume.
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

#include "lmkit/model/config.h"

namespace lmkit {

struct TrainOptions {
  ModelConfig model;
  std::string data;         // token file (llm.c / nanoGPT .bin) or text file
  std::string val_data;     // optional separate validation token file
  std::string tokenizer;    // for text data: tokenizer SPEC (empty: byte-level)
  std::string out;          // run directory
  int64_t batch_size = 8;   // B (sequences per micro-batch)
  int64_t seq_len = 256;    // T
  int64_t steps = 1000;     // optimizer steps N
  int64_t grad_accum = 1;   // micro-batches per step
  double lr = 1e-3, min_lr = -1;  // min_lr < 0: lr / 10
  int64_t warmup_steps = -1;      // < 0: min(100, steps / 10)
  double weight_decay = 0.1, beta1 = 0.9, beta2 = 0.95, eps = 1e-8, grad_clip = 1.0;
  uint64_t seed = 1337;
  double val_fraction = 0.1;      // held-out tail when there is no separate validation file
  int64_t eval_every = -1;        // < 0: steps / 10 (at least 1)
  int64_t eval_batches = 4;
  int64_t checkpoint_every = -1;  // < 0: at evaluations and at the end
  int64_t keep_last = 3;
  bool progress = true;           // progress bar when stdout is a terminal

  nlohmann::json to_json() const;
  static TrainOptions from_json(const nlohmann::json& j);
  void validate() const;
};

class Tokenizer;

// Runs (or, with resume, continues) training. `text_tokenizer` encodes text data files
// (null: byte-level); options.tokenizer records its SPEC for the run. Returns the process
// exit code: 0 when the run completed or was interrupted by Ctrl-C after saving a
// checkpoint, 1 when it stopped on a non-finite loss. Bad input throws lmkit::Error.
int train(TrainOptions options, bool resume, const Tokenizer* text_tokenizer = nullptr);

}  // namespace lmkit
