// Autoregressive generation on the KV-cache engine (infer/engine.h): prefill the prompt,
// then sample a token with the sampler chain, append it, decode one step, repeat. Streams
// each token to a callback as it is produced.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "lmkit/infer/engine.h"
#include "lmkit/infer/sampler.h"
#include "lmkit/model/decoder.h"
#include "lmkit/tokenizer/tokenizer.h"

namespace lmkit {

struct GenerateOptions {
  int64_t max_tokens = 128;
  int64_t stop_token = -1;  // stop after producing this id (e.g. EOS); -1: none
  int top_n = 0;            // alternatives to report per token
  std::vector<int32_t> stop_ids = {};  // more ids that end generation (produced, then stop)
};

// Returns the generated tokens (not including the prompt). on_token(result) is called per
// token; returning false stops generation. When prompt + output exceed the engine's
// context, the oldest tokens slide out of the window: the newest half of the context is
// re-read (llama.cpp's context shift, done by recomputation).
std::vector<SampleResult> generate(Engine& engine, const std::vector<int32_t>& prompt,
                                   Sampler& sampler, const GenerateOptions& options,
                                   const std::function<bool(const SampleResult&)>& on_token);

// The same for a Decoder's parameters (lmkit sample): an f32 engine viewing them.
std::vector<SampleResult> generate(const Decoder& model, const std::vector<int32_t>& prompt,
                                   Sampler& sampler, const GenerateOptions& options,
                                   const std::function<bool(const SampleResult&)>& on_token);

// Incremental detokenizer for streaming: push() returns the text that became complete with
// this token (a byte-level token may end inside a UTF-8 character: those bytes wait for the
// next token), and watches for stop strings: once one appears, stopped() is true and the
// text up to (not including) the stop string is all that was returned.
class TextStream {
 public:
  TextStream(const Tokenizer& tok, std::vector<std::string> stop_strings = {});
  std::string push(int32_t id);
  std::string flush();  // whatever is still pending (possibly invalid UTF-8)
  bool stopped() const { return stopped_; }
  const std::string& text() const { return emitted_; }  // everything returned so far

 private:
  const Tokenizer& tok_;
  std::vector<std::string> stops_;
  std::vector<int32_t> ids_;
  std::string decoded_;  // decode(ids_) so far
  std::string emitted_;
  bool stopped_ = false;
  size_t max_stop_ = 0;
};

}  // namespace lmkit
