#include "lmkit/io/token_data.h"

#include <algorithm>
#include <atomic>
#include <bit>
#include <cctype>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>

#include "lmkit/core/error.h"
#include "lmkit/core/mapped_file.h"
#include "lmkit/io/atomic_file.h"
#include "lmkit/tokenizer/tokenizer.h"

namespace lmkit {

static_assert(std::endian::native == std::endian::little, "token files are little-endian");

namespace {

// llm.c dev/data/data_common.py HEADERS_INFO.
constexpr int32_t kMagicGpt2 = 20240520;    // version 1, uint16 tokens
constexpr int32_t kMagicLlama3 = 20240801;  // version 7, uint32 tokens
constexpr size_t kHeaderInts = 256;
constexpr size_t kHeaderBytes = kHeaderInts * 4;

int32_t load_i32(const uint8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// RFC 3629 UTF-8 (no overlong forms, no surrogates, <= U+10FFFF); NUL bytes count as
// "not text" here.
bool is_text_utf8(const uint8_t* s, size_t n) {
  size_t i = 0;
  while (i < n) {
    uint8_t c = s[i];
    if (c == 0) return false;
    if (c < 0x80) {
      ++i;
      continue;
    }
    int len;
    uint32_t cp;
    if ((c & 0xe0) == 0xc0)
      len = 2, cp = c & 0x1f;
    else if ((c & 0xf0) == 0xe0)
      len = 3, cp = c & 0x0f;
    else if ((c & 0xf8) == 0xf0)
      len = 4, cp = c & 0x07;
    else
      return false;
    if (i + size_t(len) > n) return false;
    for (int k = 1; k < len; ++k) {
      if ((s[i + k] & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (s[i + k] & 0x3f);
    }
    static constexpr uint32_t kMin[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += size_t(len);
  }
  return true;
}

std::string lower_extension(const std::string& path) {
  std::string ext = std::filesystem::path(path).extension().string();
  for (char& c : ext) c = char(std::tolower(static_cast<unsigned char>(c)));
  return ext;
}

}  // namespace

struct TokenData::Source {
  std::string name;
  TokenFormat format = TokenFormat::Text;
  std::shared_ptr<const MappedFile> file;  // binary formats
  const uint8_t* tokens = nullptr;         // first token in the mapping
  int width = 0;                           // bytes per mapped token (2 or 4); 0: in memory
  std::vector<int32_t> ids;                // text / in-memory
};

TokenFormat parse_token_format(const std::string& name) {
  if (name == "auto") return TokenFormat::Auto;
  if (name == "llmc") return TokenFormat::LlmC;
  if (name == "u16") return TokenFormat::RawU16;
  if (name == "text") return TokenFormat::Text;
  fail("unknown token data format '{}' (expected auto, llmc, u16 or text)", name);
}

const char* token_format_name(TokenFormat f) {
  switch (f) {
    case TokenFormat::Auto:
      return "auto";
    case TokenFormat::LlmC:
      return "llmc";
    case TokenFormat::RawU16:
      return "u16";
    case TokenFormat::Text:
      return "text";
  }
  return "?";
}

TokenData TokenData::open(const std::string& path, const Tokenizer* tokenizer, TokenFormat format) {
  std::shared_ptr<const MappedFile> file = MappedFile::open(path);
  const uint8_t* data = file->data();
  const size_t size = file->size();

  if (format == TokenFormat::Auto) {
    const int32_t first = size >= 4 ? load_i32(data) : 0;
    const std::string ext = lower_extension(path);
    if (first == kMagicGpt2 || first == kMagicLlama3)
      format = TokenFormat::LlmC;
    else if (ext == ".bin")
      format = TokenFormat::RawU16;
    else if (ext == ".txt" || ext == ".text" || ext == ".md")
      format = TokenFormat::Text;
    else
      format = is_text_utf8(data, size) ? TokenFormat::Text : TokenFormat::RawU16;
  }

  auto src = std::make_shared<Source>();
  src->name = path;
  src->format = format;
  size_t count = 0;
  switch (format) {
    case TokenFormat::LlmC: {
      check(size >= kHeaderBytes,
            "'{}' is not an llm.c token file: {} bytes, shorter than the 1024-byte header", path,
            size);
      const int32_t magic = load_i32(data), version = load_i32(data + 4), n = load_i32(data + 8);
      check(magic == kMagicGpt2 || magic == kMagicLlama3,
            "'{}' is not an llm.c token file: magic {} (expected {} or {})", path, magic,
            kMagicGpt2, kMagicLlama3);
      const int32_t want_version = magic == kMagicGpt2 ? 1 : 7;
      check(version == want_version,
            "'{}': llm.c token file with magic {} must have version {}, not {}", path, magic,
            want_version, version);
      check(n >= 0, "'{}': llm.c header gives a negative token count ({})", path, n);
      src->width = magic == kMagicGpt2 ? 2 : 4;
      const uint64_t expected = uint64_t(n) * uint64_t(src->width);
      check(size - kHeaderBytes == expected,
            "'{}': llm.c header says {} tokens ({} bytes) but the file holds {} bytes after the "
            "header",
            path, n, expected, size - kHeaderBytes);
      src->file = file;
      src->tokens = data + kHeaderBytes;
      count = size_t(n);
      break;
    }
    case TokenFormat::RawU16:
      check(size % 2 == 0,
            "'{}' has an odd size ({} bytes), so it is not a raw uint16 token file (use an llm.c "
            "file, or a text file with a tokenizer)",
            path, size);
      src->file = file;
      src->tokens = data;
      src->width = 2;
      count = size / 2;
      break;
    case TokenFormat::Text: {
      check(tokenizer != nullptr, "'{}' is read as text, which needs a tokenizer", path);
      src->ids = tokenizer->encode(std::string_view(reinterpret_cast<const char*>(data), size),
                                   /*add_special=*/false);
      for (int32_t id : src->ids)
        check(id >= 0, "tokenizer produced a negative id ({}) for '{}'", id, path);
      count = src->ids.size();
      break;
    }
    case TokenFormat::Auto:
      break;  // resolved above
  }
  TokenData t;
  t.src_ = std::move(src);
  t.begin_ = 0;
  t.end_ = count;
  t.max_cache_ = std::make_shared<int64_t>(-2);
  return t;
}

TokenData TokenData::from_ids(std::vector<int32_t> ids, std::string name) {
  for (int32_t id : ids) check(id >= 0, "token id {} in '{}' is negative", id, name);
  auto src = std::make_shared<Source>();
  src->name = std::move(name);
  src->format = TokenFormat::Text;
  src->ids = std::move(ids);
  TokenData t;
  t.end_ = src->ids.size();
  t.src_ = std::move(src);
  t.max_cache_ = std::make_shared<int64_t>(-2);
  return t;
}

int32_t TokenData::operator[](size_t i) const {
  check(i < size(), "token index {} out of range ({} tokens in '{}')", i, size(), name());
  int32_t v;
  copy(i, 1, &v);
  return v;
}

void TokenData::copy(size_t begin, size_t n, int32_t* out) const {
  check(begin <= size() && n <= size() - begin, "tokens [{}, {}) out of range ({} tokens in '{}')",
        begin, begin + n, size(), name());
  if (n == 0) return;
  const Source& s = *src_;
  const size_t first = begin_ + begin;
  if (s.width == 0) {
    std::memcpy(out, s.ids.data() + first, n * 4);
  } else if (s.width == 2) {
    const uint8_t* p = s.tokens + first * 2;
    for (size_t i = 0; i < n; ++i) {
      uint16_t v;
      std::memcpy(&v, p + 2 * i, 2);
      out[i] = v;
    }
  } else {
    const uint8_t* p = s.tokens + first * 4;
    for (size_t i = 0; i < n; ++i) {
      uint32_t v;
      std::memcpy(&v, p + 4 * i, 4);
      check(v <= uint32_t(std::numeric_limits<int32_t>::max()),
            "'{}': token {} has id {}, beyond the int32 range", s.name, first + i, v);
      out[i] = int32_t(v);
    }
  }
}

int64_t TokenData::max_id() const {
  if (!src_) return -1;
  std::atomic_ref<int64_t> cache(*max_cache_);
  int64_t cached = cache.load(std::memory_order_relaxed);
  if (cached != -2) return cached;
  const Source& s = *src_;
  int64_t m = -1;
  if (s.width == 0) {
    for (size_t i = begin_; i < end_; ++i) m = std::max<int64_t>(m, s.ids[i]);
  } else if (s.width == 2) {
    uint16_t mm = 0;
    for (size_t i = begin_; i < end_; ++i) {
      uint16_t v;
      std::memcpy(&v, s.tokens + 2 * i, 2);
      mm = std::max(mm, v);
    }
    m = end_ > begin_ ? int64_t(mm) : -1;
  } else {
    uint32_t mm = 0;
    for (size_t i = begin_; i < end_; ++i) {
      uint32_t v;
      std::memcpy(&v, s.tokens + 4 * i, 4);
      mm = std::max(mm, v);
    }
    m = end_ > begin_ ? int64_t(mm) : -1;
  }
  cache.store(m, std::memory_order_relaxed);
  return m;
}

TokenData TokenData::slice(size_t begin, size_t end) const {
  check(begin <= end && end <= size(), "token range [{}, {}) out of range ({} tokens in '{}')",
        begin, end, size(), name());
  TokenData t;
  t.src_ = src_;
  t.begin_ = begin_ + begin;
  t.end_ = begin_ + end;
  t.max_cache_ = std::make_shared<int64_t>(-2);
  return t;
}

std::pair<TokenData, TokenData> TokenData::split(double val_fraction) const {
  check(std::isfinite(val_fraction) && val_fraction >= 0 && val_fraction < 1,
        "validation fraction {} must be in [0, 1)", val_fraction);
  const size_t n = size();
  const size_t n_val = size_t(std::llround(val_fraction * double(n)));
  if (val_fraction > 0)
    check(n_val >= 1 && n_val < n,
          "'{}' has {} tokens: too few to hold out a fraction {} for validation and keep the "
          "rest for training",
          name(), n, val_fraction);
  return {slice(0, n - n_val), slice(n - n_val, n)};
}

TokenFormat TokenData::format() const {
  return src_ ? src_->format : TokenFormat::Text;
}

const std::string& TokenData::name() const {
  static const std::string empty = "<empty>";
  return src_ ? src_->name : empty;
}

void write_llmc_tokens(const std::string& path, std::span<const int32_t> ids, bool force_u32) {
  check(ids.size() <= size_t(std::numeric_limits<int32_t>::max()),
        "'{}': {} tokens do not fit an llm.c header (max 2^31 - 1)", path, ids.size());
  int32_t max = -1;
  for (size_t i = 0; i < ids.size(); ++i) {
    check(ids[i] >= 0, "'{}': token {} has a negative id ({})", path, i, ids[i]);
    max = std::max(max, ids[i]);
  }
  const bool u16 = !force_u32 && max <= 65535;
  int32_t header[kHeaderInts] = {};
  header[0] = u16 ? kMagicGpt2 : kMagicLlama3;
  header[1] = u16 ? 1 : 7;
  header[2] = int32_t(ids.size());
  write_file_atomic(path, [&](FileSink& sink) {
    sink.write(header, sizeof header);
    constexpr size_t kChunk = 1 << 16;
    std::vector<uint16_t> buf16;
    for (size_t i = 0; i < ids.size(); i += kChunk) {
      const size_t n = std::min(kChunk, ids.size() - i);
      if (u16) {
        buf16.resize(n);
        for (size_t k = 0; k < n; ++k) buf16[k] = uint16_t(ids[i + k]);
        sink.write(buf16.data(), n * 2);
      } else {
        sink.write(ids.data() + i, n * 4);  // non-negative int32 == uint32 bits
      }
    }
  });
}

}  // namespace lmkit
