// The tokenizer stored in a GGUF file's metadata (ggml docs/gguf.md "Tokenizer";
// llama.cpp src/llama-vocab.cpp llama_vocab::impl::load): tokenizer.ggml.model picks the
// algorithm - "llama" (SentencePiece BPE over tokens + scores + token types), "gpt2"
// (byte-level BPE over tokens + merges, split by the tokenizer.ggml.pre pattern), "bert"
// (WordPiece, tokens with "##" continuations), "t5" (SentencePiece Unigram).
// io/gguf_tokenizer.h fills a GgufVocab from a gguf::File.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "lmkit/tokenizer/tokenizer.h"

namespace lmkit {

struct GgufVocab {
  std::string source;        // the file, for messages
  std::string model;         // tokenizer.ggml.model
  std::string pre;           // tokenizer.ggml.pre ("default" when absent)
  std::vector<std::string> tokens;   // tokenizer.ggml.tokens
  std::vector<float> scores;         // tokenizer.ggml.scores (may be empty)
  std::vector<int32_t> token_types;  // tokenizer.ggml.token_type (SpmPieceType numbers; may be empty)
  std::vector<std::string> merges;   // tokenizer.ggml.merges ("a b")
  std::optional<int32_t> bos_id, eos_id, unk_id, sep_id, pad_id, cls_id, mask_id;
  std::optional<bool> add_bos, add_eos;  // tokenizer.ggml.add_bos_token / add_eos_token
  std::optional<bool> add_space_prefix;  // tokenizer.ggml.add_space_prefix
  std::optional<bool> remove_extra_whitespaces;  // tokenizer.ggml.remove_extra_whitespaces
  std::string precompiled_charsmap;  // tokenizer.ggml.precompiled_charsmap (t5)
};

// Builds the tokenizer; an unknown model or inconsistent arrays throw lmkit::Error naming
// vocab.source.
std::unique_ptr<Tokenizer> tokenizer_from_gguf_vocab(const GgufVocab& vocab);

}  // namespace lmkit
