// Autoregressive generation with the decoder: feed the prompt, sample a token with the
// sampler chain, append, repeat. Streams each token to a callback as it is produced.
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "lmkit/infer/sampler.h"
#include "lmkit/model/decoder.h"

namespace lmkit {

struct GenerateOptions {
  int64_t max_tokens = 128;
  int64_t stop_token = -1;  // stop after producing this id (e.g. EOS); -1: none
  int top_n = 0;            // alternatives to report per token
};

// Returns the generated ids (not including the prompt). on_token(result) is called per
// token; returning false stops generation. When prompt + output exceed the model's
// context, the oldest tokens slide out of the window.
std::vector<SampleResult> generate(const Decoder& model, const std::vector<int32_t>& prompt,
                                   Sampler& sampler, const GenerateOptions& options,
                                   const std::function<bool(const SampleResult&)>& on_token);

}  // namespace lmkit
