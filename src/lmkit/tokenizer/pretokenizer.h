// Pre-tokenizers of the HF tokenizers pipeline (tokenizers/src/pre_tokenizers/*.rs): they
// cut normalized text into the words a subword model sees. Split (regex or literal, with
// the five SplitDelimiterBehaviors and invert), ByteLevel, Metaspace, Whitespace,
// WhitespaceSplit, BertPreTokenizer, Digits, Punctuation and Sequence.
//
// Byte-level pipelines keep words as raw bytes: ByteLevel does not map bytes to GPT-2's
// alphabet (the vocabulary is stored as raw bytes instead, tokenizer/byte_level.h). A step
// that follows a ByteLevel step inside a Sequence sees the mapped text, as in HF.
#pragma once
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace lmkit {

class RegexSplitter;

// One word: a view into the input or into a string held by a PieceStore.
struct Piece {
  std::string_view text;
  bool at_start;  // begins at offset 0 of the original text (Metaspace prepend "first")
};
// Strings created while pre-tokenizing; stable addresses.
using PieceStore = std::deque<std::string>;

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  // Splits `piece` and appends the words to `out`.
  virtual void split(const Piece& piece, std::vector<Piece>& out, PieceStore& store) const = 0;
  virtual bool is_byte_level() const { return false; }
  // Leaves every word as it is (ByteLevel without prefix or regex on raw bytes).
  virtual bool passthrough() const { return false; }
  // The same words in batches (bounded memory for large texts): sink gets successive
  // batches, valid until it returns. The default runs split() once.
  using Sink = std::function<void(std::vector<Piece>& batch)>;
  virtual void split_stream(const Piece& piece, PieceStore& store, const Sink& sink) const {
    std::vector<Piece> out;
    split(piece, out, store);
    sink(out);
  }
};

// HF SplitDelimiterBehavior.
enum class SplitBehavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };

// Split by regex (PCRE2 syntax; known patterns use the fast scanner) or by a literal.
std::unique_ptr<PreTokenizer> make_split_pretokenizer(const std::string& pattern, bool is_regex,
                                                      SplitBehavior behavior, bool invert);
// ByteLevel: optional leading space, then the GPT-2 regex when use_regex.
std::unique_ptr<PreTokenizer> make_byte_level_pretokenizer(bool add_prefix_space, bool use_regex);
// Metaspace: ' ' -> replacement; prepend_scheme "always" | "first" | "never"; split before
// each replacement character when `split`.
std::unique_ptr<PreTokenizer> make_metaspace_pretokenizer(std::string replacement,
                                                          const std::string& prepend_scheme,
                                                          bool split);
// Whitespace: \w+|[^\w\s]+ ; WhitespaceSplit: split on White_Space, dropping it.
std::unique_ptr<PreTokenizer> make_whitespace_pretokenizer();
std::unique_ptr<PreTokenizer> make_whitespace_split_pretokenizer();
std::unique_ptr<PreTokenizer> make_bert_pretokenizer();
// Digits: every digit alone (individual) or runs of digits (char::is_numeric: N*).
std::unique_ptr<PreTokenizer> make_digits_pretokenizer(bool individual);
std::unique_ptr<PreTokenizer> make_punctuation_pretokenizer(SplitBehavior behavior);
std::unique_ptr<PreTokenizer> make_sequence_pretokenizer(
    std::vector<std::unique_ptr<PreTokenizer>> steps);

}  // namespace lmkit
