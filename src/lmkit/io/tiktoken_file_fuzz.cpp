// libFuzzer target for the tiktoken rank-file parser: any input parses or throws
// lmkit::Error; what parses must encode and decode a fixed text without crashing, and
// byte-level decode(encode(x)) must give x back. (-DLMKIT_FUZZ=ON with clang.)
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "lmkit/core/error.h"
#include "lmkit/io/tiktoken_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  lmkit::TokenizerOptions o;
  o.pattern = "cl100k";
  o.special_tokens = {"<|eot|>"};
  o.parse_special = true;
  try {
    auto tok = lmkit::parse_tiktoken(text, "fuzz", o);
    // Only vocabularies holding every byte can encode arbitrary text.
    bool all_bytes = true;
    for (int b = 0; b < 256 && all_bytes; ++b) all_bytes = tok->model().token_to_id(std::string(1, char(b))).has_value();
    if (all_bytes) {
      std::string_view sample = "Hello world's 123 \xff\xfe <|eot|> \xe4\xb8\xad\n\n  x";
      if (tok->decode(tok->encode(sample)) != sample) std::abort();
    } else {
      (void)tok->encode("ab");
    }
  } catch (const lmkit::Error&) {
  }
  return 0;
}
