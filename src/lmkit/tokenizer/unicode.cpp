#include "lmkit/tokenizer/unicode.h"

#include <utf8proc.h>

#include <cstdlib>
#include <cstring>
#include <unordered_map>
#include <vector>

#include "lmkit/core/error.h"

namespace lmkit::unicode {

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(char(cp));
  } else if (cp < 0x800) {
    out.push_back(char(0xC0 | (cp >> 6)));
    out.push_back(char(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(char(0xE0 | (cp >> 12)));
    out.push_back(char(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(char(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(char(0xF0 | (cp >> 18)));
    out.push_back(char(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(char(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(char(0x80 | (cp & 0x3F)));
  }
}

std::string encode_utf8(uint32_t cp) {
  std::string s;
  append_utf8(s, cp);
  return s;
}

size_t valid_prefix_length(std::string_view s) {
  size_t i = 0, n = s.size();
  while (i < n) {
    // 8 ASCII bytes at a time.
    while (i + 8 <= n) {
      uint64_t w;
      std::memcpy(&w, s.data() + i, 8);
      if (w & 0x8080808080808080ull) break;
      i += 8;
    }
    if (i >= n) break;
    uint32_t cp;
    int len = decode_utf8(s.data(), n, i, cp);
    if (len == 0) return i;
    i += len;
  }
  return n;
}

namespace {

// White_Space from PropList.txt (Unicode 15): stable since Unicode 6.3.
bool white_space_property(uint32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
         cp == 0x205F || cp == 0x3000;
}

struct Tables {
  std::vector<uint16_t> stage1;
  std::vector<uint8_t> stage2;
  detail::CategoryTable view;
  Tables() {
    constexpr uint32_t kBlocks = 0x110000 >> 8;
    stage1.resize(kBlocks);
    std::unordered_map<std::string, uint16_t> seen;
    std::string block(256, '\0');
    for (uint32_t b = 0; b < kBlocks; ++b) {
      for (uint32_t j = 0; j < 256; ++j) {
        uint32_t cp = (b << 8) | j;
        uint8_t e = uint8_t(utf8proc_category(utf8proc_int32_t(cp)));
        if (white_space_property(cp)) e |= 0x80;
        block[j] = char(e);
      }
      auto [it, fresh] = seen.emplace(block, uint16_t(seen.size()));
      if (fresh) stage2.insert(stage2.end(), block.begin(), block.end());
      stage1[b] = it->second;
    }
    view = {stage1.data(), stage2.data()};
  }
};

utf8proc_option_t options_for(NormalForm form) {
  switch (form) {
    case NormalForm::kNFC:
      return utf8proc_option_t(UTF8PROC_STABLE | UTF8PROC_COMPOSE);
    case NormalForm::kNFD:
      return utf8proc_option_t(UTF8PROC_STABLE | UTF8PROC_DECOMPOSE);
    case NormalForm::kNFKC:
      return utf8proc_option_t(UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT);
    case NormalForm::kNFKD:
      return utf8proc_option_t(UTF8PROC_STABLE | UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT);
  }
  return utf8proc_option_t(0);
}

// Normalizes one well-formed segment with utf8proc.
void normalize_valid(std::string_view s, utf8proc_option_t opt, std::string& out) {
  if (s.empty()) return;
  utf8proc_uint8_t* dst = nullptr;
  utf8proc_ssize_t len = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(s.data()),
                                      utf8proc_ssize_t(s.size()), &dst, opt);
  if (len < 0) fail("unicode normalization failed: {}", utf8proc_errmsg(len));
  out.append(reinterpret_cast<const char*>(dst), size_t(len));
  std::free(dst);
}

}  // namespace

const detail::CategoryTable& detail::category_table() {
  static const Tables tables;
  return tables.view;
}

std::string normalize(std::string_view s, NormalForm form) {
  // A boundary just before an ASCII character is a safe normalization boundary for every
  // form: ASCII characters are starters (ccc 0) that never decompose and never occur as
  // the second element of a canonical composition (UAX #15, sec. 9). So ASCII passes
  // through and only [ASCII starter before] + non-ASCII runs go through utf8proc.
  utf8proc_option_t opt = options_for(form);
  std::string out;
  out.reserve(s.size() + s.size() / 8);
  size_t i = 0, n = s.size();
  while (i < n) {
    size_t j = i;
    while (j < n && static_cast<unsigned char>(s[j]) < 0x80) ++j;
    if (j == n) {
      out.append(s.substr(i));
      break;
    }
    size_t run_begin = j > i ? j - 1 : j;  // the ASCII starter that may compose
    out.append(s.substr(i, run_begin - i));
    size_t k = j;
    while (k < n && static_cast<unsigned char>(s[k]) >= 0x80) ++k;
    // [run_begin, k): split at ill-formed bytes, which pass through unchanged.
    size_t p = run_begin;
    while (p < k) {
      size_t q = p;
      uint32_t cp;
      int len;
      while (q < k && (len = decode_utf8(s.data(), n, q, cp)) > 0) q += size_t(len);
      if (q > k) q = k;  // cannot happen: a sequence never ends with an ASCII byte
      normalize_valid(s.substr(p, q - p), opt, out);
      if (q < k) {
        out.push_back(s[q]);
        ++q;
      }
      p = q;
    }
    i = k;
  }
  return out;
}

uint32_t simple_lower(uint32_t cp) { return uint32_t(utf8proc_tolower(utf8proc_int32_t(cp))); }
uint32_t simple_upper(uint32_t cp) { return uint32_t(utf8proc_toupper(utf8proc_int32_t(cp))); }

std::string to_lower(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for_each_code_point(s, [&](uint32_t cp, size_t b, size_t len) {
    if (cp == kInvalid) {
      out.push_back(s[b]);
    } else if (cp < 0x80) {
      out.push_back(char(cp >= 'A' && cp <= 'Z' ? cp + 32 : cp));
    } else if (cp == 0x130) {  // SpecialCasing.txt: U+0130 -> U+0069 U+0307
      out.push_back('i');
      append_utf8(out, 0x307);
    } else {
      append_utf8(out, simple_lower(cp));
    }
  });
  return out;
}

std::string strip_marks(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for_each_code_point(s, [&](uint32_t cp, size_t b, size_t len) {
    if (cp == kInvalid || category(cp) != kMn) out.append(s.substr(b, len));
  });
  return out;
}

}  // namespace lmkit::unicode
