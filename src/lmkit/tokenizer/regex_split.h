// Pre-tokenization by regex: the pattern that cuts text into "words" before BPE (GPT-2,
// tiktoken, HF Split / ByteLevel pre-tokenizers, llama.cpp's pre-tokenizer regexes).
//
// Any pattern runs on PCRE2 (UTF + UCP, JIT-compiled). The patterns in use by the known
// vocabularies (GPT-2 / r50k / p50k, cl100k / Llama-3, Qwen2, o200k) are additionally
// implemented by a hand-written scanner with utf8proc's Unicode categories; it is several
// times faster and regex_split_test.cpp checks it against PCRE2 on random and real text.
// Patterns: tiktoken's openai_public.py (OpenAI), HF tokenizers' pre_tokenizers/byte_level.rs.
#pragma once
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace lmkit {

// The regex of a named split pattern: "gpt2" (= r50k, p50k), "cl100k" (= gpt4, llama3),
// "qwen2" (cl100k with single digits), "o200k" (= gpt4o); nullopt for other names.
std::optional<std::string> split_pattern_by_name(std::string_view name);

// Byte range [first, second) of one piece of the text.
using Span = std::pair<size_t, size_t>;

class RegexSplitter {
 public:
  enum class Engine { kAuto, kPcre2 };
  // Compiles `pattern` (PCRE2 syntax, which covers the Rust-regex and Oniguruma patterns
  // in vocabulary files). kAuto uses the hand-written scanner when the pattern is one of the
  // known ones. Throws lmkit::Error naming the pattern and the error offset when invalid.
  explicit RegexSplitter(std::string pattern, Engine engine = Engine::kAuto);
  ~RegexSplitter();
  RegexSplitter(const RegexSplitter&) = delete;
  RegexSplitter& operator=(const RegexSplitter&) = delete;

  // Appends the spans of the pattern's matches in `text`, leftmost-first and
  // non-overlapping like Rust's find_iter; empty matches are skipped. Ill-formed UTF-8:
  // the well-formed text between maximal ill-formed byte runs is matched as separate
  // texts, and each such run is reported as a span of its own when `invalid_runs` (so
  // byte-level tokenizers keep every byte). Safe to call from several threads.
  void find_matches(std::string_view text, std::vector<Span>& out, bool invalid_runs = true) const;

  // The same matches in batches, for streaming over large texts without holding every
  // span: each call appends about `max_spans` spans (stopping at a match boundary) and
  // returns false once the text is exhausted. The cursor starts default-constructed.
  struct Cursor {
    size_t pos = 0;        // where the next match starts
    size_t seg_begin = 0;  // current well-formed segment [seg_begin, seg_end)
    size_t seg_end = 0;
  };
  bool next_matches(std::string_view text, Cursor& cursor, std::vector<Span>& out,
                    size_t max_spans, bool invalid_runs = true) const;

  const std::string& pattern() const { return pattern_; }
  bool uses_scanner() const { return scanner_ != 0; }

 private:
  // Matches in the well-formed segment `seg` (at `base` in the text) from offset `from`;
  // stops after max_spans spans; returns the offset (in seg) reached.
  size_t find_in_valid(std::string_view seg, size_t base, size_t from, std::vector<Span>& out,
                       size_t max_spans) const;
  std::string pattern_;
  int scanner_ = 0;  // 0: PCRE2, else the hand-written scanner's kind
  struct Pcre;
  std::unique_ptr<Pcre> pcre_;
};

}  // namespace lmkit
