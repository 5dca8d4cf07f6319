// Teacher-forced scoring: log P(x_t | x_<t) of given tokens under a model, from one prefill
// over the KV-cache engine. The building block of `lmkit score`, perplexity and the
// completions study.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "lmkit/infer/engine.h"
#include "lmkit/io/model_loader.h"

namespace lmkit {

// log softmax(logits)[target], in double. logits (V).
double log_softmax_at(std::span<const float> logits, int32_t target);

// Feeds context + ids to a fresh sequence of `engine` and returns log P(ids[i] | context,
// ids[<i]) for every i (ids (n)). The first id needs a non-empty context. The sequence is
// removed afterwards. context + ids must fit the engine's context.
std::vector<double> token_logprobs(Engine& engine, std::span<const int32_t> context,
                                   std::span<const int32_t> ids);

struct ScoredText {
  std::vector<int32_t> context_ids;  // what the first token is conditioned on (BOS), may be empty
  std::vector<int32_t> ids;          // the text's tokens
  std::vector<double> logprobs;      // per token; NaN for a first token without context
  double total_logprob = 0;          // sum over the scored tokens
  int64_t scored = 0;
};

// Tokenizes `text` (without BOS) and scores it. The first token is conditioned on the BOS
// when the model adds one; else on the model's BOS / end-of-text id when it has one (GPT-2
// <|endoftext|>, the usual document separator); else it is not scored.
ScoredText score_text(const LoadedModel& model, const std::string& text, const EngineOptions& opt);

}  // namespace lmkit
