#include "lmkit/tokenizer/sentencepiece_normalizer.h"

#include <cstring>

#include "lmkit/core/error.h"

namespace lmkit {

namespace {
constexpr std::string_view kSpaceSymbol = "\xe2\x96\x81";  // U+2581
constexpr std::string_view kReplacementChar = "\xEF\xBF\xBD";  // U+FFFD
}  // namespace

PrecompiledCharsmap::PrecompiledCharsmap(std::string_view blob, const std::string& source) {
  // normalizer.cc DecodePrecompiledCharsMap: <u32 trie size><double array><strings>.
  check(blob.size() > 4, "{}: precompiled charsmap is broken ({} bytes)", source, blob.size());
  uint32_t trie_size = 0;
  std::memcpy(&trie_size, blob.data(), 4);  // little-endian (x86-64)
  check(trie_size < blob.size(), "{}: precompiled charsmap trie size {} exceeds the blob ({} bytes)",
        source, trie_size, blob.size());
  check(trie_size >= 4 && trie_size + 4 <= blob.size(),
        "{}: precompiled charsmap trie size {} does not fit the blob ({} bytes)", source, trie_size,
        blob.size());
  units_.resize(trie_size / 4);
  std::memcpy(units_.data(), blob.data() + 4, units_.size() * 4);  // set_array(size / unit_size)
  strings_.assign(blob.substr(4 + trie_size));
  // Replacement strings are read up to '\0'; make sure every read ends inside the blob.
  strings_.push_back('\0');
}

std::string_view PrecompiledCharsmap::replacement(uint32_t value) const {
  if (value >= strings_.size()) return {};
  return std::string_view(strings_.data() + value);  // '\0'-terminated (validated)
}

std::pair<std::string_view, size_t> PrecompiledCharsmap::longest_match(std::string_view key) const {
  size_t best_len = 0;
  uint32_t best_value = 0;
  common_prefix_search(key, [&](size_t len, uint32_t value) {
    if (best_len == 0 || len > best_len) {
      best_len = len;
      best_value = value;
    }
  });
  if (best_len == 0) return {{}, 0};
  return {replacement(best_value), best_len};
}

SpmNormalizer::SpmNormalizer(const SpmNormalizerSpec& spec, bool treat_whitespace_as_suffix,
                             const std::string& source)
    : spec_(spec), treat_whitespace_as_suffix_(treat_whitespace_as_suffix) {
  if (!spec_.precompiled_charsmap.empty())
    charsmap_ = PrecompiledCharsmap(spec_.precompiled_charsmap, source);
  spec_.precompiled_charsmap.clear();  // kept in charsmap_
}

std::pair<std::string_view, size_t> SpmNormalizer::normalize_prefix(std::string_view input) const {
  // normalizer.cc Normalizer::NormalizePrefix.
  if (input.empty()) return {{}, 0};
  if (matcher_ != nullptr && !matcher_->empty()) {
    const size_t len = matcher_->longest_prefix(input);
    if (len > 0) return {input.substr(0, len), len};
  }
  if (!charsmap_.empty()) {
    auto [rep, len] = charsmap_.longest_match(input);
    if (len > 0) return {rep, len};
  }
  size_t len = 1;
  if (!spm_valid_utf8_prefix(input, len)) return {kReplacementChar, 1};  // malformed: U+FFFD, 1 byte
  return {input.substr(0, len), len};
}

void SpmNormalizer::normalize(std::string_view input, std::string& out) const {
  // normalizer.cc Normalizer::Normalize (norm_to_orig alignment not kept).
  out.clear();
  if (input.empty()) return;
  if (spec_.remove_extra_whitespaces) {  // ignore heading space
    while (!input.empty()) {
      const auto p = normalize_prefix(input);
      if (p.first != " ") break;
      input.remove_prefix(p.second);
    }
  }
  if (input.empty()) return;
  out.reserve(input.size() * 3);
  auto add_ws = [&]() {
    if (spec_.escape_whitespaces) out.append(kSpaceSymbol);
    else out.push_back(' ');
  };
  if (!treat_whitespace_as_suffix_ && spec_.add_dummy_prefix) add_ws();
  bool is_prev_space = spec_.remove_extra_whitespaces;
  while (!input.empty()) {
    auto [sp, consumed] = normalize_prefix(input);
    while (is_prev_space && !sp.empty() && sp[0] == ' ') sp.remove_prefix(1);
    if (!sp.empty()) {
      if (spec_.escape_whitespaces) {
        for (char c : sp) {
          if (c == ' ') out.append(kSpaceSymbol);
          else out.push_back(c);
        }
      } else {
        out.append(sp);
      }
      is_prev_space = sp.back() == ' ';
    }
    input.remove_prefix(consumed);
    if (!spec_.remove_extra_whitespaces) is_prev_space = false;
  }
  if (spec_.remove_extra_whitespaces) {  // ignore trailing space
    const std::string_view space = spec_.escape_whitespaces ? kSpaceSymbol : std::string_view(" ");
    while (out.size() >= space.size() &&
           std::string_view(out).substr(out.size() - space.size()) == space)
      out.resize(out.size() - space.size());
  }
  if (treat_whitespace_as_suffix_ && spec_.add_dummy_prefix) add_ws();
}

}  // namespace lmkit
