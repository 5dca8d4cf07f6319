// Tokenizer: the one interface every tokenizer in lmkit implements (byte-level, BPE,
// SentencePiece, WordPiece, Unigram). Training data, the model CLI and the server only see
// this. File formats that construct tokenizers live in io/ (io/tokenizer_loader.h).
#pragma once
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace lmkit {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  // Ids of `text` (bytes as given). With add_special, the tokenizer's own BOS/EOS/template
  // is applied (e.g. BERT's [CLS] ... [SEP], Llama's <s>).
  virtual std::vector<int32_t> encode(std::string_view text, bool add_special = false) const = 0;
  // The text of `ids`; byte-level tokenizers reproduce the exact bytes, even invalid UTF-8.
  virtual std::string decode(std::span<const int32_t> ids) const = 0;
  virtual int64_t vocab_size() const = 0;
  // Display form of one token (its piece / bytes as text), for --show-probs and JSON.
  virtual std::string token_text(int32_t id) const = 0;
  virtual std::optional<int32_t> bos_id() const { return std::nullopt; }
  virtual std::optional<int32_t> eos_id() const { return std::nullopt; }
  // Whether encode(text, add_special=true) prepends a BOS (llama2.c/SentencePiece: yes).
  virtual bool adds_bos() const { return false; }
  // The id of a token written as token_text() writes it, special tokens included
  // ("<|im_start|>", "[CLS]"); nullopt when there is none. (Added by the tokenizer-bpe
  // helper for chat templates and the CLI; tokenizers that do not override it answer none.)
  virtual std::optional<int32_t> token_to_id(std::string_view token) const { return std::nullopt; }
};

// The byte-level tokenizer: token id = byte value (vocab 256). The default for training on
// raw text; round-trips any byte string exactly.
class ByteTokenizer final : public Tokenizer {
 public:
  std::vector<int32_t> encode(std::string_view text, bool add_special = false) const override;
  std::string decode(std::span<const int32_t> ids) const override;
  int64_t vocab_size() const override { return 256; }
  std::string token_text(int32_t id) const override;
};

}  // namespace lmkit
