// karpathy/llama2.c's tokenizer (run.c: build_tokenizer, encode, decode): a
// SentencePiece-BPE vocabulary (pieces with "▁" written as ' ', scores) encoded by
// run.c's own algorithm: a dummy-prefix " " token, one token per UTF-8 code point (byte
// fallback to id byte + 3), then repeatedly merge the adjacent pair whose concatenation
// has the highest score (ties: leftmost) until none is in the vocabulary. Decoding strips
// the leading space of the token after BOS (id 1) and maps "<0xNN>" pieces to raw bytes.
// The file format is read by io/llama2c_tokenizer_file.h.
#pragma once
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "lmkit/tokenizer/tokenizer.h"

namespace lmkit {

class PieceHashMap;

class Llama2cTokenizer final : public Tokenizer {
 public:
  // vocab[id] and scores[id] (same length); run.c's conventions: BOS = 1, EOS = 2, byte
  // b = id b + 3. max_token_length is kept for writing the file back.
  Llama2cTokenizer(std::vector<std::string> vocab, std::vector<float> scores,
                   int32_t max_token_length, const std::string& source = "llama2.c tokenizer");
  ~Llama2cTokenizer() override;

  // run.c encode(text, bos = add_special, eos = 0). The text is taken as bytes; run.c
  // reads a C string, so an embedded NUL byte (which run.c would stop at) is encoded as
  // its byte-fallback token here.
  std::vector<int32_t> encode(std::string_view text, bool add_special = false) const override;
  // Concatenation of run.c decode(prev, id) for each id (prev of the first id = none),
  // except BOS (id 1), which run.c never prints (a prompt starts with it, generation stops
  // at it).
  std::string decode(std::span<const int32_t> ids) const override;
  int64_t vocab_size() const override { return static_cast<int64_t>(vocab_.size()); }
  std::string token_text(int32_t id) const override;
  std::optional<int32_t> bos_id() const override { return 1; }
  std::optional<int32_t> eos_id() const override { return 2; }
  bool adds_bos() const override { return true; }
  // The id of a piece written as token_text() writes it (Tokenizer::token_to_id).
  std::optional<int32_t> token_to_id(std::string_view token) const override;

  const std::vector<std::string>& vocab() const { return vocab_; }
  const std::vector<float>& scores() const { return scores_; }
  int32_t max_token_length() const { return max_token_length_; }

 private:
  std::vector<std::string> vocab_;
  std::vector<float> scores_;
  int32_t max_token_length_ = 0;
  std::unique_ptr<PieceHashMap> map_;
  std::vector<int16_t> byte_value_;  // id -> byte of a "<0xNN>" piece, or -1
  // No token holds a space right after another byte: merges never cross the start of a
  // space run, so the text is merged in independent segments (computed at load).
  bool independent_words_ = true;
};

}  // namespace lmkit
