// The one sampler chain of lmkit, in llama.cpp's order (common/sampling.cpp default chain):
// repetition / frequency / presence penalties -> top-k -> top-p -> min-p -> temperature ->
// draw. Temperature 0 is greedy (argmax after penalties). Seeded and deterministic.
//
// Formulas: repetition penalty as CTRL (Keskar et al. 2019): a previously seen token's
// logit is divided by the penalty when positive, multiplied when negative; frequency and
// presence penalties as OpenAI's API: logit -= count * frequency + (count > 0) * presence.
// top-k keeps the k largest; top-p (nucleus, Holtzman et al. 2020) keeps the smallest set
// of most likely tokens whose probability reaches p; min-p (Nguyen et al. 2024) keeps
// tokens with probability >= min_p * p_max. Filters are applied to the distribution at
// temperature 1, as llama.cpp does, then temperature scales the kept logits.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "lmkit/core/random.h"

namespace lmkit {

struct SamplerOptions {
  float temperature = 1.0f;  // 0: greedy
  int64_t top_k = 0;         // 0: off
  float top_p = 1.0f;        // 1: off
  float min_p = 0.0f;        // 0: off
  float repeat_penalty = 1.0f;     // 1: off
  float frequency_penalty = 0.0f;  // 0: off
  float presence_penalty = 0.0f;   // 0: off
  int64_t penalty_last_n = 64;     // how many previous tokens the penalties look at
  uint64_t seed = 0;
  void validate() const;
};

struct Candidate {
  int32_t id;
  float logprob;  // log-probability under the model's distribution (temperature 1, no filters)
};

struct SampleResult {
  int32_t id = -1;
  float logprob = 0;               // of the chosen token, model distribution
  std::vector<Candidate> top;      // the top_n most likely tokens (if asked), best first
};

class Sampler {
 public:
  explicit Sampler(SamplerOptions options);
  // Picks the next token from logits (V) given the previous tokens (for penalties).
  // top_n > 0 also returns the top_n alternatives with their log-probabilities.
  SampleResult sample(std::span<const float> logits, std::span<const int32_t> history,
                      int top_n = 0);
  // The candidate set after penalties and filters, with the probabilities the draw uses
  // (sum to 1), most likely first. Exposed for tests of the filters.
  std::vector<std::pair<int32_t, double>> distribution(std::span<const float> logits,
                                                       std::span<const int32_t> history);
  const SamplerOptions& options() const { return opt_; }
  Rng& rng() { return rng_; }

 private:
  SamplerOptions opt_;
  Rng rng_;
  std::vector<float> work_;
  std::vector<int32_t> counts_;
};

}  // namespace lmkit
