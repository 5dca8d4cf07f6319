#include "lmkit/infer/score.h"

#include <cmath>
#include <limits>

#include "lmkit/core/error.h"

namespace lmkit {

double log_softmax_at(std::span<const float> logits, int32_t target) {
  check(target >= 0 && size_t(target) < logits.size(), "token {} is outside the vocabulary", target);
  double mx = -INFINITY;
  for (float v : logits) mx = std::max(mx, double(v));
  double sum = 0;
  for (float v : logits) sum += std::exp(double(v) - mx);
  return double(logits[size_t(target)]) - mx - std::log(sum);
}

std::vector<double> token_logprobs(Engine& engine, std::span<const int32_t> context,
                                   std::span<const int32_t> ids) {
  std::vector<double> out;
  if (ids.empty()) return out;
  check(!context.empty(), "scoring needs at least one context token before the first id");
  const int64_t n = int64_t(context.size() + ids.size()) - 1;  // positions whose logits we need
  check(n + 1 <= engine.context(), "{} tokens do not fit the context of {} (use --ctx)", n + 1,
        engine.context());
  const int64_t V = engine.vocab_size();
  const int seq = engine.add_sequence();
  struct Release {
    Engine& e;
    int id;
    ~Release() { e.remove_sequence(id); }
  } release{engine, seq};
  std::vector<BatchToken> batch;
  for (size_t i = 0; i < context.size(); ++i)
    batch.push_back({seq, context[i], i + 1 == context.size()});
  for (size_t i = 0; i + 1 < ids.size(); ++i) batch.push_back({seq, ids[i], true});
  std::vector<float> logits(ids.size() * size_t(V));
  engine.decode(batch, logits.data());
  for (size_t i = 0; i < ids.size(); ++i)
    out.push_back(log_softmax_at(std::span<const float>(logits).subspan(i * size_t(V), size_t(V)), ids[i]));
  return out;
}

ScoredText score_text(const LoadedModel& model, const std::string& text, const EngineOptions& opt) {
  ScoredText s;
  s.ids = model.tok().encode(text, false);
  if (model.bos_id >= 0) {
    s.context_ids = {model.bos_id};
  } else if (!model.stop_ids.empty()) {
    s.context_ids = {model.stop_ids.front()};
  }
  if (s.ids.empty()) return s;
  EngineOptions o = opt;
  o.context = std::max<int64_t>(o.context, int64_t(s.ids.size() + s.context_ids.size()));
  if (model.config().pos == PosKind::Learned)
    check(o.context <= model.config().max_seq_len, "the text has {} tokens, more than the model's "
          "{} positions", s.ids.size() + s.context_ids.size(), model.config().max_seq_len);
  Engine engine(model.weights, o);
  std::span<const int32_t> ids(s.ids);
  std::vector<int32_t> ctx = s.context_ids;
  if (ctx.empty()) {  // nothing to condition the first token on
    s.logprobs.push_back(std::numeric_limits<double>::quiet_NaN());
    ctx = {s.ids[0]};
    ids = ids.subspan(1);
  }
  for (double lp : token_logprobs(engine, ctx, ids)) {
    s.logprobs.push_back(lp);
    s.total_logprob += lp;
    ++s.scored;
  }
  return s;
}

}  // namespace lmkit
