#include "lmkit/infer/perplexity.h"

#include <cmath>

#include "lmkit/core/error.h"
#include "lmkit/infer/score.h"

namespace lmkit {

namespace {

void finish(PerplexityResult& r) {
  const double n = double(r.nll.size());
  double s = 0, s2 = 0;
  for (double x : r.nll) s += x, s2 += x * x;
  r.tokens = int64_t(r.nll.size());
  r.nll_mean = s / n;
  r.ppl = std::exp(r.nll_mean);
  // llama.cpp perplexity(): nll2 /= count; nll2 -= nll * nll; sqrt(nll2 / (count - 1)) * ppl.
  const double var = s2 / n - r.nll_mean * r.nll_mean;
  r.ppl_std = var > 0 && n > 1 ? std::sqrt(var / (n - 1)) * r.ppl : 0.0;
}

// Evaluates chunk[0..n) on a fresh sequence; returns log-probs of chunk[p + 1] at every
// p in [from, n - 1).
std::vector<double> score_range(Engine& e, std::span<const int32_t> chunk, int64_t from) {
  const int64_t V = e.vocab_size(), n = int64_t(chunk.size());
  const int seq = e.add_sequence();
  struct Release {
    Engine& e;
    int id;
    ~Release() { e.remove_sequence(id); }
  } release{e, seq};
  std::vector<BatchToken> batch(static_cast<size_t>(n));
  for (int64_t p = 0; p < n; ++p) batch[size_t(p)] = {seq, chunk[size_t(p)], p >= from && p + 1 < n};
  std::vector<float> logits(size_t(std::max<int64_t>(0, n - 1 - from)) * size_t(V));
  e.decode(batch, logits.data());
  std::vector<double> out;
  for (int64_t p = from; p + 1 < n; ++p)
    out.push_back(-log_softmax_at(std::span<const float>(logits).subspan(size_t(p - from) * size_t(V), size_t(V)),
                                  chunk[size_t(p + 1)]));
  return out;
}

}  // namespace

PerplexityResult perplexity(Engine& engine, std::span<const int32_t> tokens,
                            const PerplexityOptions& o,
                            const std::function<void(int64_t, int64_t, double)>& progress) {
  check(o.ctx >= 4, "perplexity: --ctx {} is too small", o.ctx);
  check(o.ctx <= engine.context(), "perplexity: --ctx {} exceeds the engine's context {}", o.ctx,
        engine.context());
  PerplexityResult r;
  const int64_t n = int64_t(tokens.size());
  if (o.stride <= 0) {
    check(n >= 2 * o.ctx, "perplexity: the text has {} tokens; llama.cpp's chunking needs at least "
          "2 * ctx = {} (lower --ctx or give more text)", n, 2 * o.ctx);
    int64_t chunks = n / o.ctx;
    if (o.max_chunks >= 0) chunks = std::min(chunks, o.max_chunks);
    const int64_t first = o.ctx / 2;
    std::vector<int32_t> chunk(static_cast<size_t>(o.ctx));
    for (int64_t i = 0; i < chunks; ++i) {
      std::copy(tokens.begin() + i * o.ctx, tokens.begin() + (i + 1) * o.ctx, chunk.begin());
      if (o.add_bos && o.bos_id >= 0) chunk[0] = o.bos_id;
      for (double x : score_range(engine, chunk, first)) r.nll.push_back(x);
      r.chunks = i + 1;
      if (progress) {
        double s = 0;
        for (double x : r.nll) s += x;
        progress(i + 1, chunks, std::exp(s / double(r.nll.size())));
      }
    }
  } else {
    check(n >= 2, "perplexity: the text has fewer than 2 tokens");
    int64_t prev_end = 0, windows = 0;
    const int64_t total = (std::max<int64_t>(0, n - o.ctx) + o.stride - 1) / o.stride + 1;
    for (int64_t begin = 0; begin < n; begin += o.stride) {
      const int64_t end = std::min(begin + o.ctx, n);
      // Score the targets this window adds: tokens [max(prev_end, begin + 1), end).
      const int64_t from = std::max(prev_end, begin + 1) - begin - 1;
      for (double x : score_range(engine, tokens.subspan(size_t(begin), size_t(end - begin)), from))
        r.nll.push_back(x);
      prev_end = end;
      r.chunks = ++windows;
      if (progress) {
        double s = 0;
        for (double x : r.nll) s += x;
        progress(windows, total, std::exp(s / double(r.nll.size())));
      }
      if (end == n) break;
    }
  }
  check(!r.nll.empty(), "perplexity: nothing was scored");
  finish(r);
  return r;
}

}  // namespace lmkit
