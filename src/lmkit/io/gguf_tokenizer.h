// The tokenizer in a GGUF file's tokenizer.ggml.* metadata (see tokenizer/gguf_vocab.h).
#pragma once
#include <memory>

#include "lmkit/io/gguf.h"
#include "lmkit/tokenizer/gguf_vocab.h"

namespace lmkit {

// Reads tokenizer.ggml.* keys into a GgufVocab (missing/mistyped keys: lmkit::Error
// naming the file and the key).
GgufVocab read_gguf_vocab(const gguf::Metadata& metadata, const std::string& source);
std::unique_ptr<Tokenizer> tokenizer_from_gguf(const gguf::File& file);
// Opens `path` reading only the metadata.
std::unique_ptr<Tokenizer> load_gguf_tokenizer(const std::string& path);

}  // namespace lmkit
