// libFuzzer target for the SentencePiece .model reader (hand-written protobuf parser) and
// everything a parsed model drives: any input must parse or throw lmkit::Error, never
// crash, hang or read out of bounds. Accepted models encode and decode a fixed text and
// the input itself. Build: clang, -DLMKIT_FUZZ=ON.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "lmkit/core/error.h"
#include "lmkit/io/sentencepiece_model.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  try {
    lmkit::SpmModelSpec spec = lmkit::parse_sentencepiece_model(bytes, "fuzz");
    if (spec.pieces.size() > 4096) return 0;  // keep iterations fast
    lmkit::SentencePieceTokenizer tok(std::move(spec), "fuzz");
    for (std::string_view text : {std::string_view("Hello  wörld \xF0\x9F\xA6\x99\xFF <s>"), bytes.substr(0, 256)}) {
      const auto ids = tok.encode(text, true);
      (void)tok.decode(ids);
    }
    std::vector<int32_t> ids;
    for (size_t i = 0; i + 1 < size && ids.size() < 64; i += 2)
      ids.push_back(static_cast<int32_t>((data[i] | (data[i + 1] << 8)) % tok.vocab_size()));
    (void)tok.decode(ids);
  } catch (const lmkit::Error&) {
  }
  return 0;
}
