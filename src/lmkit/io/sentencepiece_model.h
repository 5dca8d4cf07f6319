// SentencePiece `.model` files: a serialized ModelProto (google/sentencepiece
// src/sentencepiece_model.proto), read with a hand-written protobuf wire-format reader
// (https://protobuf.dev/programming-guides/encoding/) - no libprotobuf, no
// libsentencepiece. Unknown fields are skipped as protobuf requires.
#pragma once
#include <memory>
#include <string>
#include <string_view>

#include "lmkit/tokenizer/sentencepiece.h"

namespace lmkit {

// Parses a serialized ModelProto; malformed bytes throw lmkit::Error naming `source`.
SpmModelSpec parse_sentencepiece_model(std::string_view bytes, const std::string& source);
// Serializes the fields SpmModelSpec holds (for tests and for writing trained models).
std::string serialize_sentencepiece_model(const SpmModelSpec& spec);
// Reads and parses `path`, builds the tokenizer.
std::unique_ptr<SentencePieceTokenizer> load_sentencepiece_model(const std::string& path);

}  // namespace lmkit
