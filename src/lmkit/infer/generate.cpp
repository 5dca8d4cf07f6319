#include "lmkit/infer/generate.h"

#include <algorithm>

#include "lmkit/core/error.h"

namespace lmkit {

std::vector<SampleResult> generate(Engine& engine, const std::vector<int32_t>& prompt,
                                   Sampler& sampler, const GenerateOptions& options,
                                   const std::function<bool(const SampleResult&)>& on_token) {
  check(!prompt.empty(), "generation needs at least one prompt token (e.g. a BOS token)");
  check(options.max_tokens >= 0, "--max-tokens must be >= 0");
  const int64_t V = engine.vocab_size(), ctx = engine.context();
  for (int32_t id : prompt)
    check(id >= 0 && id < V, "prompt token {} is outside the vocabulary", id);
  std::vector<SampleResult> out;
  if (options.max_tokens == 0) return out;
  std::vector<int32_t> seq = prompt;
  std::vector<float> logits(static_cast<size_t>(V));
  const int sid = engine.add_sequence();
  struct Release {
    Engine& e;
    int id;
    ~Release() { e.remove_sequence(id); }
  } release{engine, sid};
  // Feeds the window of `seq` that fits, from scratch (first call and context shifts).
  auto refill = [&](int64_t keep) {
    engine.truncate(sid, 0);
    const int64_t n = std::min<int64_t>(int64_t(seq.size()), keep);
    engine.prefill(sid, std::span<const int32_t>(seq).last(size_t(n)), logits.data());
  };
  refill(ctx);
  for (int64_t i = 0; i < options.max_tokens; ++i) {
    SampleResult r = sampler.sample(logits, seq, options.top_n);
    seq.push_back(r.id);
    out.push_back(r);
    if (on_token && !on_token(r)) break;
    if (options.stop_token >= 0 && r.id == options.stop_token) break;
    if (std::find(options.stop_ids.begin(), options.stop_ids.end(), r.id) != options.stop_ids.end())
      break;
    if (i + 1 == options.max_tokens) break;
    if (engine.length(sid) >= ctx) {
      refill(std::max<int64_t>(1, ctx / 2));  // context shift: keep the newest half
    } else {
      const int32_t tok = r.id;
      engine.step(std::span<const int>(&sid, 1), std::span<const int32_t>(&tok, 1), logits.data());
    }
  }
  return out;
}

std::vector<SampleResult> generate(const Decoder& model, const std::vector<int32_t>& prompt,
                                   Sampler& sampler, const GenerateOptions& options,
                                   const std::function<bool(const SampleResult&)>& on_token) {
  auto weights = std::make_shared<const ModelWeights>(ModelWeights::from_decoder(model));
  Engine engine(weights);
  return generate(engine, prompt, sampler, options, on_token);
}

// ------------------------------------------------------------------------ TextStream

TextStream::TextStream(const Tokenizer& tok, std::vector<std::string> stop_strings)
    : tok_(tok), stops_(std::move(stop_strings)) {
  stops_.erase(std::remove(stops_.begin(), stops_.end(), std::string()), stops_.end());
  for (const auto& s : stops_) max_stop_ = std::max(max_stop_, s.size());
}

namespace {
// Length of `s` without a trailing incomplete UTF-8 sequence.
size_t complete_utf8(const std::string& s) {
  size_t n = s.size();
  for (size_t back = 1; back <= 4 && back <= n; ++back) {
    const unsigned char c = static_cast<unsigned char>(s[n - back]);
    if ((c & 0xC0) == 0x80) continue;  // continuation byte
    size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 1;
    return len > back ? n - back : n;
  }
  return n;
}
}  // namespace

std::string TextStream::push(int32_t id) {
  if (stopped_) return "";
  ids_.push_back(id);
  decoded_ = tok_.decode(ids_);
  const size_t done = emitted_.size();
  if (decoded_.size() < done || decoded_.compare(0, done, emitted_) != 0) return "";
  // A stop string anywhere in the not-yet-final text ends the stream before it.
  const size_t from = done > max_stop_ ? done - max_stop_ : 0;
  size_t cut = std::string::npos;
  for (const auto& s : stops_) cut = std::min(cut, decoded_.find(s, from));
  if (cut != std::string::npos) {
    stopped_ = true;
    std::string add = cut > done ? decoded_.substr(done, cut - done) : "";
    emitted_ += add;
    return add;
  }
  size_t end = complete_utf8(decoded_);
  // Hold back a suffix that could be the start of a stop string.
  size_t hold = 0;
  for (const auto& s : stops_)
    for (size_t k = std::min(s.size() - 1, end); k > hold; --k)
      if (decoded_.compare(end - k, k, s, 0, k) == 0) {
        hold = k;
        break;
      }
  end -= hold;
  if (end <= done) return "";
  std::string add = decoded_.substr(done, end - done);
  emitted_ += add;
  return add;
}

std::string TextStream::flush() {
  if (stopped_ || decoded_.size() <= emitted_.size()) return "";
  std::string add = decoded_.substr(emitted_.size());
  emitted_ += add;
  return add;
}

}  // namespace lmkit
