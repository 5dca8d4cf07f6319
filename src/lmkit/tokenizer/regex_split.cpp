#include "lmkit/tokenizer/regex_split.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>
#include <array>
#include <cstdint>

#include "lmkit/core/error.h"
#include "lmkit/tokenizer/unicode.h"

namespace lmkit {

namespace {

// The split patterns, as tiktoken (openai_public.py; npm tiktoken 1.0.22 carries the same
// strings) and the HF tokenizer.json files of Llama-3 and Qwen2/3 spell them.
constexpr std::string_view kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
constexpr std::string_view kCl100kPattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr std::string_view kQwen2Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr std::string_view kO200kPattern =
    R"([^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

enum Scanner { kNone = 0, kGpt2, kCl100k, kQwen2, kO200k };

// Character classes the scanners test, as bits.
enum : uint32_t {
  kCL = 1,    // \p{L}
  kCN = 2,    // \p{N}
  kCWs = 4,   // \s (White_Space)
  kCNl = 8,   // [\r\n]
  kCUp = 16,  // [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]
  kCLo = 32,  // [\p{Ll}\p{Lm}\p{Lo}\p{M}]
};

struct ClassTables {
  std::array<uint8_t, 32> by_category{};
  std::array<uint8_t, 128> ascii{};
  ClassTables() {
    namespace u = unicode;
    for (int c = 0; c < 32; ++c) {
      uint32_t m = 1u << c, b = 0;
      if (m & u::kMaskL) b |= kCL;
      if (m & u::kMaskN) b |= kCN;
      if (m & (u::kMaskM | (1u << u::kLu) | (1u << u::kLt) | (1u << u::kLm) | (1u << u::kLo))) b |= kCUp;
      if (m & (u::kMaskM | (1u << u::kLl) | (1u << u::kLm) | (1u << u::kLo))) b |= kCLo;
      by_category[c] = uint8_t(b);
    }
    for (uint32_t c = 0; c < 128; ++c) {
      uint8_t e = unicode::category_entry(c);
      uint8_t b = by_category[e & 0x1F];
      if (e & 0x80) b |= kCWs;
      if (c == '\r' || c == '\n') b |= kCNl;
      ascii[c] = b;
    }
  }
};

const ClassTables& class_tables() {
  static const ClassTables t;
  return t;
}

// Scans one well-formed UTF-8 text; returns the end of the match starting at i (every
// position starts a match for these patterns, which together match any character).
class Scan {
 public:
  Scan(std::string_view t) : s_(t.data()), n_(t.size()), tab_(class_tables()) {}

  // Class bits of the character at i and its length.
  inline uint32_t cls(size_t i, int& len) const {
    unsigned char c = static_cast<unsigned char>(s_[i]);
    if (c < 0x80) {
      len = 1;
      return tab_.ascii[c];
    }
    uint32_t cp;
    len = unicode::decode_utf8(s_, n_, i, cp);
    uint8_t e = unicode::category_entry(cp);
    uint32_t b = tab_.by_category[e & 0x1F];
    if (e & 0x80) b |= kCWs;
    return b;
  }
  inline uint32_t cls(size_t i) const {
    int len;
    return cls(i, len);
  }
  // End of the run of characters from i whose classes intersect `any`.
  inline size_t run(size_t i, uint32_t any) const {
    while (i < n_) {
      int len;
      if (!(cls(i, len) & any)) break;
      i += size_t(len);
    }
    return i;
  }
  // End of the run of characters from i whose classes miss all of `none`.
  inline size_t run_not(size_t i, uint32_t none) const {
    while (i < n_) {
      int len;
      if (cls(i, len) & none) break;
      i += size_t(len);
    }
    return i;
  }
  // Length of a contraction 's 't 're 've 'm 'll 'd at i (case-insensitive when `fold`,
  // with Unicode simple case folding: U+017F LONG S folds to 's'), else 0.
  inline size_t contraction(size_t i, bool fold) const {
    if (i >= n_ || s_[i] != '\'' || i + 1 >= n_) return 0;
    auto lower = [&](size_t p, int& len) -> uint32_t {
      uint32_t cp;
      len = unicode::decode_utf8(s_, n_, p, cp);
      if (!fold) return cp;
      if (cp >= 'A' && cp <= 'Z') return cp + 32;
      if (cp == 0x17F) return 's';
      return cp;
    };
    int l1;
    uint32_t c1 = lower(i + 1, l1);
    if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd') return 1 + size_t(l1);
    if (c1 == 'r' || c1 == 'v' || c1 == 'l') {
      size_t j = i + 1 + size_t(l1);
      if (j >= n_) return 0;
      int l2;
      uint32_t c2 = lower(j, l2);
      if ((c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') || (c1 == 'l' && c2 == 'l'))
        return 1 + size_t(l1) + size_t(l2);
    }
    return 0;
  }

  // The whitespace alternatives shared by all patterns, at i (a \s character):
  // [\s*[\r\n]+ when with_newline_rule] | \s+(?!\S) | \s+
  inline size_t whitespace(size_t i, bool with_newline_rule) const {
    size_t e = i, last = i;
    while (e < n_) {
      int len;
      if (!(cls(e, len) & kCWs)) break;
      last = e;
      e += size_t(len);
    }
    if (with_newline_rule) {
      // \s*[\r\n]+ : \s* backs off to the last [\r\n] of the run (ASCII bytes are always
      // whole characters in UTF-8, so a byte scan is exact).
      for (size_t p = e; p > i; --p)
        if (s_[p - 1] == '\n' || s_[p - 1] == '\r') return p;
    }
    if (e == n_) return e;         // \s+(?!\S) at the end of the text
    if (last > i) return last;     // \s+(?!\S) backs off one character
    return e;                      // \s+
  }

  // 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
  size_t gpt2(size_t i) const {
    if (size_t c = contraction(i, false)) return i + c;
    int len;
    uint32_t c = cls(i, len);
    size_t j = i + size_t(len);
    if (s_[i] == ' ' && j < n_) {
      uint32_t c2 = cls(j);
      if (c2 & kCL) return run(j, kCL);
      if (c2 & kCN) return run(j, kCN);
      if (!(c2 & (kCWs | kCL | kCN))) return run_not(j, kCWs | kCL | kCN);
    }
    if (c & kCL) return run(i, kCL);
    if (c & kCN) return run(i, kCN);
    if (!(c & kCWs)) return run_not(i, kCWs | kCL | kCN);
    return whitespace(i, false);
  }

  // (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,D}|
  //  ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+         (D = 3, or 1 for Qwen2)
  size_t cl100k(size_t i, int max_digits) const {
    if (size_t c = contraction(i, true)) return i + c;
    int len;
    uint32_t c = cls(i, len);
    size_t j = i + size_t(len);
    if (c & kCL) return run(i, kCL);
    if (!(c & (kCNl | kCN)) && j < n_ && (cls(j) & kCL)) return run(j, kCL);
    if (c & kCN) {
      size_t e = j;
      for (int d = 1; d < max_digits && e < n_; ++d) {
        int l2;
        if (!(cls(e, l2) & kCN)) break;
        e += size_t(l2);
      }
      return e;
    }
    if (s_[i] == ' ' && j < n_ && !(cls(j) & (kCWs | kCL | kCN)))
      return run(run_not(j, kCWs | kCL | kCN), kCNl);
    if (!(c & kCWs)) return run(run_not(i, kCWs | kCL | kCN), kCNl);
    return whitespace(i, true);
  }

  // o200k: [^\r\n\p{L}\p{N}]?{U}*{W}+C?|[^\r\n\p{L}\p{N}]?{U}+{W}*C?|\p{N}{1,3}|
  //         ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+
  // with U = [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}], W = [\p{Ll}\p{Lm}\p{Lo}\p{M}], C the
  // case-insensitive contractions. Returns 0 from the helpers for "no match" (a match
  // never ends at 0 since it starts at or after i >= 0 and is non-empty).
  // {U}*{W}+C? from j: U* runs greedily, then backtracks to the last position where W+
  // can start.
  size_t o200k_upper_lower(size_t j) const {
    size_t k = j, last_w = SIZE_MAX;
    while (k < n_) {
      int len;
      uint32_t c = cls(k, len);
      if (!(c & kCUp)) break;
      if (c & kCLo) last_w = k;
      k += size_t(len);
    }
    size_t q;
    if (k < n_ && (cls(k) & kCLo)) {
      q = run(k, kCLo);
    } else if (last_w != SIZE_MAX) {
      int len;
      cls(last_w, len);
      q = last_w + size_t(len);
    } else {
      return 0;
    }
    return q + contraction(q, true);
  }
  // {U}+{W}*C? from j.
  size_t o200k_upper(size_t j) const {
    size_t k = run(j, kCUp);
    if (k == j) return 0;
    size_t q = run(k, kCLo);
    return q + contraction(q, true);
  }
  size_t o200k(size_t i) const {
    int len;
    uint32_t c = cls(i, len);
    size_t j = i + size_t(len);
    bool prefix = !(c & (kCNl | kCL | kCN));
    if (prefix && j < n_)
      if (size_t e = o200k_upper_lower(j)) return e;
    if (size_t e = o200k_upper_lower(i)) return e;
    if (prefix && j < n_)
      if (size_t e = o200k_upper(j)) return e;
    if (size_t e = o200k_upper(i)) return e;
    if (c & kCN) {
      size_t e = j;
      for (int d = 1; d < 3 && e < n_; ++d) {
        int l2;
        if (!(cls(e, l2) & kCN)) break;
        e += size_t(l2);
      }
      return e;
    }
    auto tail = [&](size_t p) {
      while (p < n_ && (s_[p] == '\r' || s_[p] == '\n' || s_[p] == '/')) ++p;
      return p;
    };
    if (s_[i] == ' ' && j < n_ && !(cls(j) & (kCWs | kCL | kCN)))
      return tail(run_not(j, kCWs | kCL | kCN));
    if (!(c & (kCWs | kCL | kCN))) return tail(run_not(i, kCWs | kCL | kCN));
    return whitespace(i, true);
  }

 private:
  const char* s_;
  size_t n_;
  const ClassTables& tab_;
};

}  // namespace

std::optional<std::string> split_pattern_by_name(std::string_view name) {
  if (name == "gpt2" || name == "r50k" || name == "p50k" || name == "r50k_base" ||
      name == "p50k_base")
    return std::string(kGpt2Pattern);
  if (name == "cl100k" || name == "cl100k_base" || name == "gpt4" || name == "llama3")
    return std::string(kCl100kPattern);
  if (name == "qwen2" || name == "qwen") return std::string(kQwen2Pattern);
  if (name == "o200k" || name == "o200k_base" || name == "gpt4o") return std::string(kO200kPattern);
  return std::nullopt;
}

struct RegexSplitter::Pcre {
  pcre2_code* code = nullptr;
  bool jit = false;
  ~Pcre() {
    if (code) pcre2_code_free(code);
  }
};

RegexSplitter::RegexSplitter(std::string pattern, Engine engine) : pattern_(std::move(pattern)) {
  if (engine == Engine::kAuto) {
    if (pattern_ == kGpt2Pattern) scanner_ = kGpt2;
    else if (pattern_ == kCl100kPattern) scanner_ = kCl100k;
    else if (pattern_ == kQwen2Pattern) scanner_ = kQwen2;
    else if (pattern_ == kO200kPattern) scanner_ = kO200k;
  }
  if (scanner_ != kNone) {
    class_tables();
    return;
  }
  pcre_ = std::make_unique<Pcre>();
  int err = 0;
  PCRE2_SIZE off = 0;
  pcre_->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern_.data()), pattern_.size(),
                              PCRE2_UTF | PCRE2_UCP, &err, &off, nullptr);
  if (!pcre_->code) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(err, msg, sizeof msg);
    fail("invalid split regex '{}' at offset {}: {}", pattern_, size_t(off),
         reinterpret_cast<const char*>(msg));
  }
  pcre_->jit = pcre2_jit_compile(pcre_->code, PCRE2_JIT_COMPLETE) == 0;
}

RegexSplitter::~RegexSplitter() = default;

void RegexSplitter::find_matches(std::string_view text, std::vector<Span>& out,
                                 bool invalid_runs) const {
  Cursor c;
  while (next_matches(text, c, out, SIZE_MAX, invalid_runs)) {
  }
}

bool RegexSplitter::next_matches(std::string_view text, Cursor& c, std::vector<Span>& out,
                                 size_t max_spans, bool invalid_runs) const {
  size_t n = text.size(), added = 0;
  while (c.pos < n && added < max_spans) {
    if (c.pos >= c.seg_end) {
      // Start the next segment: an ill-formed run (one span) or a well-formed stretch.
      uint32_t cp;
      if (unicode::decode_utf8(text.data(), n, c.pos, cp) == 0) {
        size_t e = c.pos;
        while (e < n && unicode::decode_utf8(text.data(), n, e, cp) == 0) ++e;
        if (invalid_runs) {
          out.emplace_back(c.pos, e);
          ++added;
        }
        c.pos = c.seg_begin = c.seg_end = e;
        continue;
      }
      c.seg_begin = c.pos;
      c.seg_end = c.pos + unicode::valid_prefix_length(text.substr(c.pos));
    }
    size_t before = out.size();
    size_t reached = find_in_valid(text.substr(c.seg_begin, c.seg_end - c.seg_begin), c.seg_begin,
                                   c.pos - c.seg_begin, out, max_spans - added);
    added += out.size() - before;
    c.pos = c.seg_begin + reached;
  }
  return c.pos < n;
}

namespace {

struct JitStack {
  pcre2_jit_stack* stack = nullptr;
  pcre2_match_context* ctx = nullptr;
  JitStack() {
    stack = pcre2_jit_stack_create(64 * 1024, 8 * 1024 * 1024, nullptr);
    ctx = pcre2_match_context_create(nullptr);
    if (stack && ctx) pcre2_jit_stack_assign(ctx, nullptr, stack);
  }
  ~JitStack() {
    if (ctx) pcre2_match_context_free(ctx);
    if (stack) pcre2_jit_stack_free(stack);
  }
};

}  // namespace

size_t RegexSplitter::find_in_valid(std::string_view text, size_t base, size_t from,
                                   std::vector<Span>& out, size_t max_spans) const {
  size_t n = text.size(), added = 0;
  if (scanner_ != kNone) {
    Scan scan(text);
    size_t i = from;
    while (i < n && added < max_spans) {
      size_t e;
      switch (scanner_) {
        case kGpt2: e = scan.gpt2(i); break;
        case kCl100k: e = scan.cl100k(i, 3); break;
        case kQwen2: e = scan.cl100k(i, 1); break;
        default: e = scan.o200k(i); break;
      }
      out.emplace_back(base + i, base + e);
      ++added;
      i = e;
    }
    return i;
  }
  thread_local JitStack jit_stack;
  pcre2_match_data* md = pcre2_match_data_create_from_pattern(pcre_->code, nullptr);
  check(md != nullptr, "out of memory for regex match data");
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t pos = from;
  while (pos <= n && added < max_spans) {
    int rc = pcre_->jit ? pcre2_jit_match(pcre_->code, subject, n, pos, 0, md, jit_stack.ctx)
                        : pcre2_match(pcre_->code, subject, n, pos, PCRE2_NO_UTF_CHECK, md, nullptr);
    if (rc == PCRE2_ERROR_NOMATCH) {
      pos = n;
      break;
    }
    if (rc < 0) {
      pcre2_match_data_free(md);
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(rc, msg, sizeof msg);
      fail("split regex '{}' failed: {}", pattern_, reinterpret_cast<const char*>(msg));
    }
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
    size_t s = ov[0], e = ov[1];
    if (e > s) {
      out.emplace_back(base + s, base + e);
      ++added;
      pos = e;
    } else {
      // Empty match: move on by one character.
      if (s >= n) {
        pos = n;
        break;
      }
      uint32_t cp;
      int len = unicode::decode_utf8(text.data(), n, s, cp);
      pos = s + size_t(len > 0 ? len : 1);
    }
  }
  pcre2_match_data_free(md);
  return std::min(pos, n);
}

}  // namespace lmkit
