// libFuzzer target for the tokenizer.json reader (and the pipeline it builds): any input
// loads or throws lmkit::Error, and what loads encodes and decodes a fixed multilingual
// text without crashing. (-DLMKIT_FUZZ=ON with clang.)
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "lmkit/core/error.h"
#include "lmkit/io/hf_tokenizer_json.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    auto tok = lmkit::parse_hf_tokenizer_json(text, "fuzz");
    auto ids = tok->encode("Hello, world! caf\xc3\xa9 \xe4\xb8\xad\xe6\x96\x87 123 \xf0\x9f\x98\x80\n\t x", true);
    (void)tok->decode(ids);
    for (int32_t id : ids) (void)tok->token_text(id);
  } catch (const lmkit::Error&) {
  }
  return 0;
}
