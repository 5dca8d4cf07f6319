// Perplexity of a text under a model, in two ways:
//
// Chunks (the default, as llama.cpp's tools/perplexity perplexity(): the same numbers for
// the same tokens): the text is tokenized once with a BOS at its start (when the model adds
// one); it is cut into floor(n / ctx) non-overlapping chunks of ctx tokens; each chunk is
// evaluated from an empty cache with its first token replaced by BOS (when the model adds
// one), and only the second half is scored: the logits at positions ctx/2 .. ctx-2 predict
// tokens ctx/2+1 .. ctx-1, so every scored token has at least ctx/2 tokens of context.
// The text must hold at least 2 * ctx tokens, as llama.cpp requires.
//
// Sliding window (with a stride): windows of ctx tokens starting every `stride` tokens;
// each scores only the tokens that the previous window did not (Hugging Face
// "Perplexity of fixed-length models"), so every token after the first is scored once.
//
// Both report ppl = exp(mean NLL) and llama.cpp's estimate of its uncertainty:
// sigma = sqrt((E[nll^2] - E[nll]^2) / (count - 1)), ppl +/- sigma * ppl.
#pragma once
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "lmkit/infer/engine.h"

namespace lmkit {

struct PerplexityOptions {
  int64_t ctx = 512;
  int64_t stride = 0;   // 0: llama.cpp chunks; > 0: sliding window
  bool add_bos = true;  // the model adds BOS (chunks start with it)
  int32_t bos_id = -1;
  int64_t max_chunks = -1;  // -1: all
};

struct PerplexityResult {
  double ppl = 0, nll_mean = 0, ppl_std = 0;
  int64_t tokens = 0;  // scored tokens
  int64_t chunks = 0;  // chunks or windows evaluated
  std::vector<double> nll;  // per scored token, in text order
};

// tokens: the whole text's ids (with the leading BOS when the model adds one). progress
// (optional) is told after each chunk: (chunks done, total, ppl so far).
PerplexityResult perplexity(Engine& engine, std::span<const int32_t> tokens,
                            const PerplexityOptions& options,
                            const std::function<void(int64_t, int64_t, double)>& progress = {});

}  // namespace lmkit
