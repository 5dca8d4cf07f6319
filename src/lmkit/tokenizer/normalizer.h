// Text normalizers of the HF tokenizers pipeline (tokenizers/src/normalizers/*.rs):
// NFC / NFD / NFKC / NFKD, Lowercase, StripAccents, Strip, Replace, Prepend,
// BertNormalizer, ByteLevel (identity on raw bytes) and Sequence. They act on UTF-8;
// ill-formed bytes pass through unchanged.
#pragma once
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "lmkit/tokenizer/unicode.h"

namespace lmkit {

class RegexSplitter;

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  virtual std::string normalize(std::string_view text) const = 0;
};

std::unique_ptr<Normalizer> make_unicode_normalizer(unicode::NormalForm form);
std::unique_ptr<Normalizer> make_lowercase_normalizer();
// Removes nonspacing marks (HF StripAccents; meant to follow NFD).
std::unique_ptr<Normalizer> make_strip_accents_normalizer();
// Removes leading / trailing White_Space characters.
std::unique_ptr<Normalizer> make_strip_normalizer(bool left, bool right);
// Replaces every occurrence of a literal string, or of a regex match when is_regex.
std::unique_ptr<Normalizer> make_replace_normalizer(std::string pattern, bool is_regex,
                                                    std::string content);
// Prepends `prefix` to non-empty text.
std::unique_ptr<Normalizer> make_prepend_normalizer(std::string prefix);
// HF BertNormalizer (the WordPiece helper's bert_normalize).
std::unique_ptr<Normalizer> make_bert_normalizer(bool clean_text, bool handle_chinese_chars,
                                                 int strip_accents /* -1 unset, 0, 1 */,
                                                 bool lowercase);
std::unique_ptr<Normalizer> make_identity_normalizer();
std::unique_ptr<Normalizer> make_sequence_normalizer(std::vector<std::unique_ptr<Normalizer>> steps);

}  // namespace lmkit
