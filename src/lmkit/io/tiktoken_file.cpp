#include "lmkit/io/tiktoken_file.h"

#include <algorithm>
#include <charconv>
#include <cstring>

#include "lmkit/core/error.h"
#include "lmkit/io/atomic_file.h"
#include "lmkit/io/sha256.h"
#include "lmkit/tokenizer/regex_split.h"

namespace lmkit {

namespace {

struct KnownEncoding {
  const char* name;
  const char* sha256;   // OpenAI's / Meta's published SHA-256 of the file
  size_t size;          // its size in bytes
  uint64_t fingerprint; // content_fingerprint() of the same file
  const char* pattern;  // split_pattern_by_name
  std::vector<std::pair<std::string, int32_t>> specials;
  int32_t bos = -1, eos = -1;
};

// Llama 3's 256 special tokens (meta-llama/llama3 llama/tokenizer.py): ids 128000..128255.
std::vector<std::pair<std::string, int32_t>> llama3_specials() {
  std::vector<std::string> names = {
      "<|begin_of_text|>",           "<|end_of_text|>",
      "<|reserved_special_token_0|>", "<|reserved_special_token_1|>",
      "<|reserved_special_token_2|>", "<|reserved_special_token_3|>",
      "<|start_header_id|>",         "<|end_header_id|>",
      "<|reserved_special_token_4|>", "<|eot_id|>"};
  for (int i = 5; i < 256 - 5; ++i) names.push_back("<|reserved_special_token_" + std::to_string(i) + "|>");
  std::vector<std::pair<std::string, int32_t>> out;
  for (size_t i = 0; i < names.size(); ++i) out.emplace_back(names[i], int32_t(128000 + i));
  return out;
}

// tiktoken_ext/openai_public.py: expected hashes, patterns and special tokens.
const std::vector<KnownEncoding>& known_encodings() {
  static const std::vector<KnownEncoding> k = {
      {"r50k_base", "306cd27f03c1a714eca7108e03d66b7dc042abe8c258b44c199a7ed9838dd930", 835554, 0xfdffe63e1ac2e99full, "gpt2",
       {{"<|endoftext|>", 50256}}, -1, 50256},
      {"p50k_base", "94b5ca7dff4d00767bc256fdd1b27e5b17361d7b8a5f968547f9f23eb70d2069", 836186, 0xf36f9b3f039ef162ull, "gpt2",
       {{"<|endoftext|>", 50256}}, -1, 50256},
      {"cl100k_base", "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7", 1681126, 0x2cd2a78c3f2d4be6ull, "cl100k",
       {{"<|endoftext|>", 100257}, {"<|fim_prefix|>", 100258}, {"<|fim_middle|>", 100259},
        {"<|fim_suffix|>", 100260}, {"<|endofprompt|>", 100276}}, -1, 100257},
      {"o200k_base", "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d", 3613922, 0x49eb434d6cf7bb53ull, "o200k",
       {{"<|endoftext|>", 199999}, {"<|endofprompt|>", 200018}}, -1, 199999},
      // Meta's Llama-3 tokenizer.model (same file for 3, 3.1, 3.2); BOS <|begin_of_text|>.
      {"llama3", "82e9d31979e92ab929cd544440f129d9ecd797b69e327f80f17e1c50d5551b55", 2183982, 0x4123e61d58159968ull, "llama3",
       llama3_specials(), 128000, 128001},
  };
  return k;
}

// A fast 64-bit content fingerprint (four multiply-xorshift lanes over 32-byte blocks, at
// memory speed). Known files are recognized by size + fingerprint; the table's values were
// computed from the files whose SHA-256 is listed beside them (tiktoken_file_test checks
// both agree), so loading does not pay for SHA-256.
uint64_t content_fingerprint(std::string_view d) {
  auto mix = [](uint64_t h, uint64_t w) {
    h = (h ^ w) * 0x9FB21C651E98DF25ull;
    return h ^ (h >> 29);
  };
  uint64_t h[4] = {0x243F6A8885A308D3ull, 0x13198A2E03707344ull, 0xA4093822299F31D0ull, 0x082EFA98EC4E6C89ull};
  size_t i = 0, n = d.size();
  for (; i + 32 <= n; i += 32)
    for (int k = 0; k < 4; ++k) {
      uint64_t w;
      std::memcpy(&w, d.data() + i + 8 * size_t(k), 8);
      h[k] = mix(h[k], w);
    }
  uint64_t tail = 0x9E3779B97F4A7C15ull ^ n;
  for (; i < n; ++i) tail = mix(tail, uint8_t(d[i]));
  uint64_t r = tail;
  for (int k = 0; k < 4; ++k) r = mix(r, h[k]);
  return mix(r, n);
}

int8_t b64_value(unsigned char c) {
  if (c >= 'A' && c <= 'Z') return int8_t(c - 'A');
  if (c >= 'a' && c <= 'z') return int8_t(c - 'a' + 26);
  if (c >= '0' && c <= '9') return int8_t(c - '0' + 52);
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

// RFC 4648 base64 with '=' padding; false on anything else.
bool b64_decode(std::string_view s, std::string& out) {
  out.clear();
  if (s.size() % 4 != 0) return false;
  for (size_t i = 0; i < s.size(); i += 4) {
    int8_t v[4];
    int pad = 0;
    for (int k = 0; k < 4; ++k) {
      unsigned char c = static_cast<unsigned char>(s[i + size_t(k)]);
      if (c == '=' && i + 4 == s.size() && k >= 2) {
        v[k] = 0;
        ++pad;
      } else {
        if (pad) return false;
        v[k] = b64_value(c);
        if (v[k] < 0) return false;
      }
    }
    uint32_t w = (uint32_t(v[0]) << 18) | (uint32_t(v[1]) << 12) | (uint32_t(v[2]) << 6) | uint32_t(v[3]);
    out.push_back(char(w >> 16));
    if (pad < 2) out.push_back(char((w >> 8) & 0xFF));
    if (pad < 1) out.push_back(char(w & 0xFF));
  }
  return true;
}

std::string b64_encode(std::string_view s) {
  static const char* a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 3 <= s.size(); i += 3) {
    uint32_t w = (uint32_t(uint8_t(s[i])) << 16) | (uint32_t(uint8_t(s[i + 1])) << 8) | uint8_t(s[i + 2]);
    out += a[w >> 18];
    out += a[(w >> 12) & 63];
    out += a[(w >> 6) & 63];
    out += a[w & 63];
  }
  if (size_t r = s.size() - i) {
    uint32_t w = uint32_t(uint8_t(s[i])) << 16;
    if (r == 2) w |= uint32_t(uint8_t(s[i + 1])) << 8;
    out += a[w >> 18];
    out += a[(w >> 12) & 63];
    out += r == 2 ? a[(w >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

}  // namespace

bool looks_like_tiktoken(std::string_view head) {
  // The first line is "<base64> <digits>" (a malformed later line is reported by the
  // parser, naming it).
  size_t lines = 0, pos = 0;
  while (pos < head.size()) {
    size_t nl = head.find('\n', pos);
    if (nl == std::string_view::npos) break;
    std::string_view line = head.substr(pos, nl - pos);
    pos = nl + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) continue;
    size_t sp = line.find(' ');
    if (sp == std::string_view::npos || sp == 0 || sp + 1 >= line.size()) return false;
    for (size_t k = 0; k < sp; ++k)
      if (b64_value(uint8_t(line[k])) < 0 && line[k] != '=') return false;
    for (size_t k = sp + 1; k < line.size(); ++k)
      if (line[k] < '0' || line[k] > '9') return false;
    ++lines;
    break;
  }
  return lines > 0;
}

PackedTokens parse_tiktoken_packed(std::string_view data, const std::string& source) {
  struct Entry {
    uint32_t rank, offset, length;
  };
  std::vector<Entry> entries;
  entries.reserve(size_t(std::count(data.begin(), data.end(), '\n')) + 1);
  std::string arena, bytes;
  arena.reserve(data.size() * 3 / 4);
  size_t pos = 0, line_no = 0;
  bool sequential = true;
  while (pos < data.size()) {
    size_t nl = data.find('\n', pos);
    if (nl == std::string_view::npos) nl = data.size();
    std::string_view line = data.substr(pos, nl - pos);
    pos = nl + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) continue;
    size_t sp = line.find(' ');
    check(sp != std::string_view::npos, "{}: line {}: expected '<base64 token> <rank>'", source, line_no);
    check(b64_decode(line.substr(0, sp), bytes) && !bytes.empty(),
          "{}: line {}: invalid base64 token '{}'", source, line_no, line.substr(0, sp));
    std::string_view r = line.substr(sp + 1);
    uint64_t rank = 0;
    auto [end, ec] = std::from_chars(r.data(), r.data() + r.size(), rank);
    check(ec == std::errc() && end == r.data() + r.size() && rank < (1u << 30),
          "{}: line {}: invalid rank '{}'", source, line_no, r);
    sequential = sequential && rank == entries.size();
    entries.push_back({uint32_t(rank), uint32_t(arena.size()), uint32_t(bytes.size())});
    arena += bytes;
  }
  check(!entries.empty(), "{}: no tokens in tiktoken file", source);
  PackedTokens p;
  if (sequential) {
    p.offsets.reserve(entries.size() + 1);
    for (const Entry& e : entries) p.offsets.push_back(e.offset);
    p.offsets.push_back(uint32_t(arena.size()));
    p.bytes = std::move(arena);
    return p;
  }
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) { return a.rank < b.rank; });
  // Ranks are dense in real files; a rank far beyond the token count is a broken file
  // (and would make the id table huge).
  check(entries.back().rank < 2 * entries.size() + 1024, "{}: rank {} is far beyond the {} tokens in the file",
        source, entries.back().rank, entries.size());
  for (size_t k = 1; k < entries.size(); ++k)
    check(entries[k].rank != entries[k - 1].rank, "{}: rank {} appears twice", source, entries[k].rank);
  p.offsets.assign(size_t(entries.back().rank) + 2, 0);
  p.bytes.reserve(arena.size());
  size_t next = 0;
  for (const Entry& e : entries) {
    for (; next <= e.rank; ++next) p.offsets[next] = uint32_t(p.bytes.size());
    p.bytes.append(arena, e.offset, e.length);
  }
  p.offsets[next] = uint32_t(p.bytes.size());
  return p;
}

std::vector<std::string> parse_tiktoken_ranks(std::string_view data, const std::string& source) {
  PackedTokens p = parse_tiktoken_packed(data, source);
  std::vector<std::string> tokens(p.size());
  for (size_t id = 0; id < p.size(); ++id) tokens[id] = std::string(p[id]);
  return tokens;
}

std::string known_tiktoken_encoding(const std::string& sha256) {
  for (const auto& k : known_encodings())
    if (sha256 == k.sha256) return k.name;
  return "";
}

std::string known_tiktoken_file(std::string_view data) {
  for (const auto& k : known_encodings())
    if (k.size == data.size() && k.fingerprint == content_fingerprint(data)) return k.name;
  return "";
}

uint64_t tiktoken_content_fingerprint(std::string_view data) { return content_fingerprint(data); }

std::unique_ptr<PipelineTokenizer> parse_tiktoken(std::string_view data, const std::string& source,
                                                  const TokenizerOptions& options) {
  PackedTokens tokens = parse_tiktoken_packed(data, source);
  const KnownEncoding* known = nullptr;
  for (const auto& k : known_encodings())
    if (k.size == data.size() && k.fingerprint == content_fingerprint(data)) known = &k;

  std::string pattern = options.pattern;
  if (pattern.empty() && known) pattern = known->pattern;
  if (pattern.empty())
    fail("{}: not a known tiktoken encoding (sha256 {}); give its split pattern (--pattern "
         "gpt2|cl100k|o200k|qwen2|REGEX)",
         source, sha256_hex(data));
  bool known_pattern = false;
  if (auto named = split_pattern_by_name(pattern)) {
    pattern = *named;
    known_pattern = true;
  }

  PipelineParts parts;
  parts.source = source;
  int64_t next_id = int64_t(tokens.size());
  if (known)
    for (const auto& [text, id] : known->specials) {
      parts.added_tokens.push_back({id, text, false, false, false, false, true});
      next_id = std::max<int64_t>(next_id, int64_t(id) + 1);
    }
  for (const std::string& spec : options.special_tokens) {
    AddedToken t;
    size_t eq = spec.rfind('=');
    int32_t id = -1;
    if (eq != std::string::npos && eq > 0) {
      auto r = std::string_view(spec).substr(eq + 1);
      auto [end, ec] = std::from_chars(r.data(), r.data() + r.size(), id);
      if (ec != std::errc() || end != r.data() + r.size()) id = -1;
    }
    t.content = id >= 0 ? spec.substr(0, eq) : spec;
    t.id = id >= 0 ? id : int32_t(next_id);
    check(!t.content.empty(), "special token must not be empty");
    check(size_t(t.id) >= tokens.size() || tokens[size_t(t.id)].empty(),
          "{}: special token '{}' id {} is already a rank of the file", source, t.content, t.id);
    next_id = std::max<int64_t>(next_id, int64_t(t.id) + 1);
    parts.added_tokens.push_back(t);
  }

  BpeOptions o;
  o.ranks = BpeOptions::Ranks::kVocabRanks;
  o.byte_level = true;
  o.ignore_merges = true;
  parts.model = make_bpe_model(Bpe(std::move(tokens), {}, o, source));
  // tiktoken keeps only the regex matches; the known patterns match every character, so
  // "Isolated" (matches and gaps) is the same and takes the fast path.
  parts.pre_tokenizer = known_pattern
                            ? make_split_pretokenizer(pattern, true, SplitBehavior::kIsolated, false)
                            : make_split_pretokenizer(pattern, true, SplitBehavior::kRemoved, true);
  parts.match_special = options.parse_special.value_or(false);
  if (known && known->bos >= 0) {
    parts.bos_id = known->bos;
    parts.special_prefix.push_back(known->bos);
  }
  if (known && known->eos >= 0) parts.eos_id = known->eos;
  return std::make_unique<PipelineTokenizer>(std::move(parts));
}

std::unique_ptr<PipelineTokenizer> load_tiktoken(const std::string& path, const TokenizerOptions& options) {
  return parse_tiktoken(read_file_bytes(path), path, options);
}

void save_tiktoken(const std::vector<std::string>& tokens, const std::string& path) {
  write_file_atomic(path, [&](FileSink& sink) {
    for (size_t id = 0; id < tokens.size(); ++id) {
      if (tokens[id].empty()) continue;
      sink.write(b64_encode(tokens[id]));
      sink.write(" ");
      sink.write(std::to_string(id));
      sink.write("\n");
    }
  });
}

}  // namespace lmkit
