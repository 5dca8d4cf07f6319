#include "lmkit/tokenizer/byte_level.h"

#include <array>

#include "lmkit/tokenizer/unicode.h"

namespace lmkit::byte_level {

namespace {

struct Alphabet {
  std::array<uint32_t, 256> to_char{};
  std::array<int16_t, 0x200> to_byte{};  // every mapped code point is < U+0144
  std::array<std::string, 256> utf8;
  Alphabet() {
    to_byte.fill(-1);
    auto printable = [](int b) {
      return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    };
    uint32_t next = 256;
    for (int b = 0; b < 256; ++b) to_char[size_t(b)] = printable(b) ? uint32_t(b) : next++;
    for (int b = 0; b < 256; ++b) {
      to_byte[to_char[size_t(b)]] = int16_t(b);
      utf8[size_t(b)] = unicode::encode_utf8(to_char[size_t(b)]);
    }
  }
};

const Alphabet& alphabet() {
  static const Alphabet a;
  return a;
}

}  // namespace

uint32_t byte_to_char(uint8_t b) { return alphabet().to_char[b]; }

int char_to_byte(uint32_t cp) { return cp < 0x200 ? alphabet().to_byte[cp] : -1; }

std::string encode(std::string_view raw) {
  const Alphabet& a = alphabet();
  std::string out;
  out.reserve(raw.size() * 2);
  for (char c : raw) out += a.utf8[uint8_t(c)];
  return out;
}

std::optional<std::string> decode(std::string_view mapped) {
  std::string out;
  out.reserve(mapped.size());
  size_t i = 0, n = mapped.size();
  while (i < n) {
    uint32_t cp;
    int len = unicode::decode_utf8(mapped.data(), n, i, cp);
    if (len == 0) return std::nullopt;
    int b = char_to_byte(cp);
    if (b < 0) return std::nullopt;
    out.push_back(char(b));
    i += size_t(len);
  }
  return out;
}

}  // namespace lmkit::byte_level
