// GPT-2's reversible byte <-> character alphabet (openai/gpt-2 src/encoder.py
// bytes_to_unicode; HF tokenizers pre_tokenizers/byte_level.rs bytes_char): printable
// Latin-1 bytes ('!'..'~', U+00A1..U+00AC, U+00AE..U+00FF) stand for themselves, the other
// 68 bytes map in order to U+0100.. (so ' ' is 'Ġ' U+0120, '\n' is 'Ċ' U+010A).
// Byte-level vocabularies (encoder.json, vocab.json, tokenizer.json) store tokens in this
// alphabet; lmkit keeps them as raw bytes and converts at load / display time.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace lmkit::byte_level {

// The code point standing for byte b.
uint32_t byte_to_char(uint8_t b);
// The byte a code point stands for, or -1 when cp is not in the alphabet.
int char_to_byte(uint32_t cp);

// Raw bytes -> their alphabet string (always valid UTF-8).
std::string encode(std::string_view raw);
// Alphabet string -> raw bytes; nullopt when a character is outside the alphabet.
std::optional<std::string> decode(std::string_view mapped);

}  // namespace lmkit::byte_level
