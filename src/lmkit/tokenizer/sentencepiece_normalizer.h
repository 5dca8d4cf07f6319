// SentencePiece's normalizer (google/sentencepiece src/normalizer.cc): a precompiled
// character map (a darts-clone double-array trie whose values index '\0'-terminated
// replacement strings, e.g. nmt_nfkc) applied longest-match-first, then the whitespace
// rules (remove_extra_whitespaces, add_dummy_prefix, escape_whitespaces -> U+2581).
// HF tokenizers' "Precompiled" normalizer uses the same blob (crate spm_precompiled).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "lmkit/tokenizer/sentencepiece.h"
#include "lmkit/tokenizer/sentencepiece_vocab.h"

namespace lmkit {

// The precompiled charsmap blob: u32 LE trie size in bytes | double array (u32 units) |
// replacement strings, each '\0'-terminated (Normalizer::DecodePrecompiledCharsMap).
class PrecompiledCharsmap {
 public:
  PrecompiledCharsmap() = default;
  // Copies and validates the blob; a broken one throws lmkit::Error naming `source`.
  PrecompiledCharsmap(std::string_view blob, const std::string& source);
  bool empty() const { return units_.empty(); }

  // darts-clone DoubleArray::commonPrefixSearch: for every prefix of `key` that is a key
  // of the trie, calls f(prefix_length, value) in increasing length order.
  template <typename F>
  void common_prefix_search(std::string_view key, F&& f) const;
  // The longest rule matching a prefix of `key`: {replacement, matched length}, or
  // {"", 0} when no rule matches (sentencepiece takes the longest).
  std::pair<std::string_view, size_t> longest_match(std::string_view key) const;
  // The replacement string at `value` (an offset into the strings).
  std::string_view replacement(uint32_t value) const;

 private:
  std::vector<uint32_t> units_;
  std::string strings_;  // '\0'-separated, validated to end in '\0'
};

class SpmNormalizer {
 public:
  SpmNormalizer(const SpmNormalizerSpec& spec, bool treat_whitespace_as_suffix,
                const std::string& source);
  // User-defined pieces: matched (longest first) before the charsmap and copied
  // unchanged (normalizer.cc PrefixMatcher). May be null.
  void set_prefix_matcher(const PieceTrie* matcher) { matcher_ = matcher; }
  // Normalizer::Normalize: `out` is replaced by the normalized text.
  void normalize(std::string_view input, std::string& out) const;
  // Normalizer::NormalizePrefix: {normalized text of the first unit, bytes consumed}.
  // Invalid UTF-8 becomes U+FFFD consuming one byte.
  std::pair<std::string_view, size_t> normalize_prefix(std::string_view input) const;

 private:
  SpmNormalizerSpec spec_;
  bool treat_whitespace_as_suffix_ = false;
  PrecompiledCharsmap charsmap_;
  const PieceTrie* matcher_ = nullptr;
};

// ---- implementation of the template ----
template <typename F>
void PrecompiledCharsmap::common_prefix_search(std::string_view key, F&& f) const {
  // darts-clone unit layout: has_leaf = bit 8; value = low 31 bits; label = bits 0-7 plus
  // bit 31; offset = (unit >> 10) << ((unit & (1 << 9)) >> 6).
  auto offset = [](uint32_t u) -> size_t { return (u >> 10) << ((u & (1u << 9)) >> 6); };
  if (units_.empty()) return;
  const size_t n = units_.size();
  size_t pos = offset(units_[0]);
  for (size_t i = 0; i < key.size(); ++i) {
    const uint8_t c = static_cast<uint8_t>(key[i]);
    pos ^= c;
    if (pos >= n) return;
    const uint32_t u = units_[pos];
    if ((u & ((1u << 31) | 0xFFu)) != c) return;
    pos ^= offset(u);
    if (pos >= n) return;
    if ((u >> 8) & 1u) f(i + 1, units_[pos] & ((1u << 31) - 1));
  }
}

}  // namespace lmkit
