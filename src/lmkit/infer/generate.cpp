#include "lmkit/infer/generate.h"

#include <algorithm>

#include "lmkit/core/error.h"
#include "lmkit/core/graph.h"

namespace lmkit {

std::vector<SampleResult> generate(const Decoder& model, const std::vector<int32_t>& prompt,
                                   Sampler& sampler, const GenerateOptions& options,
                                   const std::function<bool(const SampleResult&)>& on_token) {
  const auto& cfg = model.config();
  check(!prompt.empty(), "generation needs at least one prompt token (e.g. a BOS token)");
  check(options.max_tokens >= 0, "--max-tokens must be >= 0");
  for (int32_t id : prompt)
    check(id >= 0 && id < cfg.vocab_size, "prompt token {} is outside the vocabulary", id);
  // One causal graph over the whole window; positions past the current length hold padding
  // that cannot influence earlier positions.
  int64_t T = std::min<int64_t>(cfg.max_seq_len, int64_t(prompt.size()) + options.max_tokens);
  T = std::max<int64_t>(T, 1);
  Graph g;
  auto io = model.build(g, 1, T, /*with_loss=*/false);
  g.set_training(false);
  g.allocate();
  int32_t* ids = g.tensor(io.ids).data<int32_t>();
  const float* logits = g.tensor(io.logits).data<float>();
  std::vector<int32_t> seq = prompt;
  std::vector<SampleResult> out;
  const int64_t V = cfg.vocab_size;
  for (int64_t i = 0; i < options.max_tokens; ++i) {
    int64_t len = std::min<int64_t>(int64_t(seq.size()), T);
    std::fill(ids, ids + T, 0);
    std::copy(seq.end() - len, seq.end(), ids);
    g.forward();
    SampleResult r = sampler.sample({logits + (len - 1) * V, size_t(V)}, seq, options.top_n);
    seq.push_back(r.id);
    out.push_back(r);
    if (on_token && !on_token(r)) break;
    if (options.stop_token >= 0 && r.id == options.stop_token) break;
  }
  return out;
}

}  // namespace lmkit
