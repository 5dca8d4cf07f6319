// libFuzzer target for llama2.c tokenizer.bin parsing: any input must parse or throw
// lmkit::Error; accepted vocabularies encode and decode a fixed text and the input.
// Build: clang, -DLMKIT_FUZZ=ON.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "lmkit/core/error.h"
#include "lmkit/io/llama2c_tokenizer_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  try {
    const auto tok = lmkit::parse_llama2c_tokenizer(bytes, "fuzz");
    for (std::string_view text : {std::string_view("Once upon a time \xE2\x96\x81\xFF\x80"), bytes.substr(0, 256)}) {
      const auto ids = tok->encode(text, true);
      (void)tok->decode(ids);
    }
  } catch (const lmkit::Error&) {
  }
  return 0;
}
