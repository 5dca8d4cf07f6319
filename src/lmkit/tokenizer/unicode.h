// Unicode helpers shared by every tokenizer: strict UTF-8 decoding, general categories
// (utf8proc's Unicode data, looked up through a two-level table built once), the
// White_Space property, normalization forms (NFC/NFD/NFKC/NFKD via utf8proc) and the
// per-character lower-casing HF tokenizers applies.
//
// References: Unicode Standard ch. 3.9 (UTF-8, Table 3-7 well-formed byte sequences),
// UAX #44 (General_Category, White_Space in PropList.txt), UAX #15 (normalization forms).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace lmkit::unicode {

// Decodes the code point starting at s[i] (i < n). Returns its length in bytes (1..4) and
// sets cp, or returns 0 when s[i..] does not start a well-formed sequence (Unicode 3.9,
// Table 3-7: no overlongs, no surrogates, nothing above U+10FFFF, no truncation).
inline int decode_utf8(const char* s, size_t n, size_t i, uint32_t& cp) {
  const auto* u = reinterpret_cast<const unsigned char*>(s);
  unsigned c0 = u[i];
  cp = 0;
  if (c0 < 0x80) {
    cp = c0;
    return 1;
  }
  if (c0 < 0xC2) return 0;
  if (c0 < 0xE0) {
    if (i + 1 >= n || (u[i + 1] & 0xC0) != 0x80) return 0;
    cp = ((c0 & 0x1F) << 6) | (u[i + 1] & 0x3F);
    return 2;
  }
  if (c0 < 0xF0) {
    if (i + 2 >= n) return 0;
    unsigned c1 = u[i + 1], c2 = u[i + 2];
    if ((c1 & 0xC0) != 0x80 || (c2 & 0xC0) != 0x80) return 0;
    if (c0 == 0xE0 && c1 < 0xA0) return 0;   // overlong
    if (c0 == 0xED && c1 >= 0xA0) return 0;  // surrogate
    cp = ((c0 & 0x0F) << 12) | ((c1 & 0x3F) << 6) | (c2 & 0x3F);
    return 3;
  }
  if (c0 < 0xF5) {
    if (i + 3 >= n) return 0;
    unsigned c1 = u[i + 1], c2 = u[i + 2], c3 = u[i + 3];
    if ((c1 & 0xC0) != 0x80 || (c2 & 0xC0) != 0x80 || (c3 & 0xC0) != 0x80) return 0;
    if (c0 == 0xF0 && c1 < 0x90) return 0;  // overlong
    if (c0 == 0xF4 && c1 >= 0x90) return 0;  // > U+10FFFF
    cp = ((c0 & 0x07) << 18) | ((c1 & 0x3F) << 12) | ((c2 & 0x3F) << 6) | (c3 & 0x3F);
    return 4;
  }
  return 0;
}

// Appends the UTF-8 encoding of cp (must be a scalar value).
void append_utf8(std::string& out, uint32_t cp);
std::string encode_utf8(uint32_t cp);

// Length of the longest prefix of s that is well-formed UTF-8.
size_t valid_prefix_length(std::string_view s);
inline bool is_valid_utf8(std::string_view s) { return valid_prefix_length(s) == s.size(); }

// General categories, numbered as utf8proc numbers them (UTF8PROC_CATEGORY_*).
enum Category : uint8_t {
  kCn = 0, kLu, kLl, kLt, kLm, kLo, kMn, kMc, kMe, kNd, kNl, kNo, kPc, kPd, kPs, kPe, kPi,
  kPf, kPo, kSm, kSc, kSk, kSo, kZs, kZl, kZp, kCc, kCf, kCs, kCo
};
// Masks over 1u << category, for testing membership in \p{L}, \p{N}, ... at once.
inline constexpr uint32_t kMaskL = (1u << kLu) | (1u << kLl) | (1u << kLt) | (1u << kLm) | (1u << kLo);
inline constexpr uint32_t kMaskM = (1u << kMn) | (1u << kMc) | (1u << kMe);
inline constexpr uint32_t kMaskN = (1u << kNd) | (1u << kNl) | (1u << kNo);
inline constexpr uint32_t kMaskP = (1u << kPc) | (1u << kPd) | (1u << kPs) | (1u << kPe) |
                                   (1u << kPi) | (1u << kPf) | (1u << kPo);
inline constexpr uint32_t kMaskS = (1u << kSm) | (1u << kSc) | (1u << kSk) | (1u << kSo);
inline constexpr uint32_t kMaskZ = (1u << kZs) | (1u << kZl) | (1u << kZp);
inline constexpr uint32_t kMaskC = (1u << kCn) | (1u << kCc) | (1u << kCf) | (1u << kCs) | (1u << kCo);

namespace detail {
// Two-level table: stage1[cp >> 8] selects a 256-entry block of stage2. Each entry holds
// the category in its low 5 bits and White_Space in bit 7.
struct CategoryTable {
  const uint16_t* stage1;
  const uint8_t* stage2;
};
const CategoryTable& category_table();
}  // namespace detail

// Category of cp, and whether it has the White_Space property (PropList.txt). Code points
// above U+10FFFF read as Cn.
inline uint8_t category_entry(uint32_t cp) {
  if (cp > 0x10FFFF) return kCn;
  const auto& t = detail::category_table();
  return t.stage2[(size_t(t.stage1[cp >> 8]) << 8) | (cp & 0xFF)];
}
inline Category category(uint32_t cp) { return Category(category_entry(cp) & 0x1F); }
inline uint32_t category_mask(uint32_t cp) { return 1u << (category_entry(cp) & 0x1F); }
inline bool is_white_space(uint32_t cp) { return (category_entry(cp) & 0x80) != 0; }
inline bool is_letter(uint32_t cp) { return (category_mask(cp) & kMaskL) != 0; }
inline bool is_number(uint32_t cp) { return (category_mask(cp) & kMaskN) != 0; }
inline bool is_mark(uint32_t cp) { return (category_mask(cp) & kMaskM) != 0; }
inline bool is_punctuation(uint32_t cp) { return (category_mask(cp) & kMaskP) != 0; }
// The regex class \w of Rust's regex crate (UTS #18 Annex C: Alphabetic, M, Nd, Pc,
// Join_Control), approximated by categories L, Nl, M, Nd, Pc plus ZWJ/ZWNJ; HF uses it to
// decide whether an added token with single_word stands alone.
inline bool is_word_char(uint32_t cp) {
  constexpr uint32_t mask = kMaskL | kMaskM | (1u << kNd) | (1u << kNl) | (1u << kPc);
  return cp == 0x200C || cp == 0x200D || (category_mask(cp) & mask) != 0;
}

// Normalization forms (UAX #15) of well-formed UTF-8; ill-formed byte runs are kept as
// they are and cut the text into independently normalized segments.
enum class NormalForm { kNFC, kNFD, kNFKC, kNFKD };
std::string normalize(std::string_view s, NormalForm form);

// Per-character full lower-casing as Rust's char::to_lowercase does it (simple mappings
// from UnicodeData.txt plus SpecialCasing's unconditional U+0130 -> "i\u0307"); no
// context-dependent rules (final sigma), exactly like HF's Lowercase normalizer.
std::string to_lower(std::string_view s);
uint32_t simple_lower(uint32_t cp);
uint32_t simple_upper(uint32_t cp);

// Removes nonspacing marks (Mn), as HF's StripAccents does after NFD.
std::string strip_marks(std::string_view s);

// Invokes fn(cp, begin, len) for every code point of s; an ill-formed byte is reported as
// cp = kInvalid with len 1.
inline constexpr uint32_t kInvalid = 0xFFFFFFFFu;
template <typename F>
void for_each_code_point(std::string_view s, F&& fn) {
  size_t i = 0, n = s.size();
  while (i < n) {
    uint32_t cp;
    int len = decode_utf8(s.data(), n, i, cp);
    if (len == 0) {
      fn(kInvalid, i, size_t{1});
      ++i;
    } else {
      fn(cp, i, size_t(len));
      i += len;
    }
  }
}

}  // namespace lmkit::unicode
