// The tokenizer pipeline of HF tokenizers (tokenizers/src/tokenizer/mod.rs
// TokenizerImpl::encode_single_sequence / decode): added tokens are cut out first, the rest
// is normalized, pre-tokenized into words, each word goes through the subword model, and a
// post-processor adds the template's special tokens. tiktoken rank files and GPT-2's
// encoder.json + vocab.bpe are configurations of the same pipeline (io/ builds them).
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "lmkit/tokenizer/bpe.h"
#include "lmkit/tokenizer/normalizer.h"
#include "lmkit/tokenizer/pretokenizer.h"
#include "lmkit/tokenizer/tokenizer.h"

namespace lmkit {

class WordPieceModel;
class UnigramModel;

// HF AddedToken (tokenizer.json "added_tokens").
struct AddedToken {
  int32_t id = -1;
  std::string content;
  bool single_word = false, lstrip = false, rstrip = false;
  bool normalized = false;  // matched in the normalized text (else in the raw text)
  bool special = true;
};

// A subword model: one pre-tokenized word -> ids (HF Model::tokenize).
class SubwordModel {
 public:
  virtual ~SubwordModel() = default;
  virtual void tokenize(std::string_view word, std::vector<int32_t>& ids) const = 0;
  virtual int64_t size() const = 0;
  // The token as its vocabulary writes it ("Ġthe", "▁the", "##ing"); empty if none.
  virtual std::string id_to_token(int32_t id) const = 0;
  virtual std::optional<int32_t> token_to_id(std::string_view token) const = 0;
  // Byte-level: words are raw bytes and token_bytes() is what each token decodes to.
  virtual bool byte_level() const { return false; }
  virtual std::string token_bytes(int32_t id) const { return id_to_token(id); }
};

std::unique_ptr<SubwordModel> make_bpe_model(Bpe bpe);
std::unique_ptr<SubwordModel> make_wordpiece_model(std::shared_ptr<const WordPieceModel> model);
std::unique_ptr<SubwordModel> make_unigram_model(std::shared_ptr<const UnigramModel> model);

// Decoders (tokenizers/src/decoders/*.rs): each rewrites the list of token strings.
class Decoder {
 public:
  virtual ~Decoder() = default;
  virtual void decode_chain(std::vector<std::string>& tokens) const = 0;
  virtual bool is_byte_level() const { return false; }
};
// GPT-2 alphabet -> bytes (exact: ill-formed UTF-8 stays as bytes instead of U+FFFD).
std::unique_ptr<Decoder> make_byte_level_decoder();
std::unique_ptr<Decoder> make_metaspace_decoder(std::string replacement, const std::string& prepend_scheme);
std::unique_ptr<Decoder> make_replace_decoder(std::string pattern, std::string content);
// "<0xNN>" tokens -> bytes (kept as bytes even when they do not form UTF-8).
std::unique_ptr<Decoder> make_byte_fallback_decoder();
std::unique_ptr<Decoder> make_fuse_decoder();
std::unique_ptr<Decoder> make_strip_decoder(std::string content, size_t start, size_t stop);
std::unique_ptr<Decoder> make_wordpiece_decoder(std::string prefix, bool cleanup);
std::unique_ptr<Decoder> make_bpe_suffix_decoder(std::string suffix);
std::unique_ptr<Decoder> make_sequence_decoder(std::vector<std::unique_ptr<Decoder>> steps);

struct PipelineParts {
  std::string source;  // file, for messages
  std::vector<AddedToken> added_tokens;
  std::unique_ptr<Normalizer> normalizer;      // may be null
  std::unique_ptr<PreTokenizer> pre_tokenizer; // may be null: the text is one word
  std::unique_ptr<SubwordModel> model;         // required
  // Post-processor for one sequence with add_special (TemplateProcessing "single",
  // BertProcessing, RobertaProcessing): ids before and after the text's ids.
  std::vector<int32_t> special_prefix, special_suffix;
  // Decoder; null means tokens joined by ' ' (HF without a decoder) unless the model is
  // byte-level, where the decoded bytes are concatenated.
  std::unique_ptr<Decoder> decoder;
  // Special added tokens written in the text are matched (HF default; tiktoken's encode
  // with allowed_special="all"); false encodes them as plain text (HF
  // encode_special_tokens, tiktoken encode_ordinary). Non-special added tokens always match.
  bool match_special = true;
  std::optional<int32_t> bos_id, eos_id;
};

class PipelineTokenizer final : public Tokenizer {
 public:
  explicit PipelineTokenizer(PipelineParts parts);
  ~PipelineTokenizer() override;

  std::vector<int32_t> encode(std::string_view text, bool add_special = false) const override;
  std::string decode(std::span<const int32_t> ids) const override;
  int64_t vocab_size() const override { return vocab_size_; }
  std::string token_text(int32_t id) const override;
  std::optional<int32_t> token_to_id(std::string_view token) const override;
  std::optional<int32_t> bos_id() const override { return parts_.bos_id; }
  std::optional<int32_t> eos_id() const override { return parts_.eos_id; }
  bool adds_bos() const override {
    return parts_.bos_id && !parts_.special_prefix.empty() && parts_.special_prefix[0] == *parts_.bos_id;
  }

  const SubwordModel& model() const { return *parts_.model; }
  const std::vector<AddedToken>& added_tokens() const { return parts_.added_tokens; }
  void set_match_special(bool on) { parts_.match_special = on; }

 private:
  struct Segment {
    std::string_view text;
    int32_t id;  // >= 0: an added token
    size_t offset;
  };
  struct AddedMatcher;
  void split_added(std::string_view text, const AddedMatcher& m, std::vector<Segment>& out) const;
  PipelineParts parts_;
  int64_t vocab_size_ = 0;
  std::unique_ptr<AddedMatcher> raw_matcher_, normalized_matcher_;
  // Exact bytes of every id when decoding is plain concatenation (byte-level models).
  bool raw_decode_ = false;
  std::string decode_bytes_;  // padded with 16 zero bytes for wide copies
  struct ByteRange {
    uint32_t offset, length;
  };
  std::vector<ByteRange> decode_ranges_;  // id -> its bytes in decode_bytes_
  std::vector<int32_t> added_index_;      // id -> index in added_tokens or -1
};

// A byte-level BPE tokenizer from GPT-2-alphabet tokens and merges, as GPT-2's
// encoder.json + vocab.bpe, HF vocab.json + merges.txt and GGUF "gpt2" vocabularies give
// it: the text is split by `patterns` applied in turn (each match and gap its own word,
// llama.cpp unicode_regex_split / HF Split "Isolated"), then merged.
struct ByteLevelBpeSpec {
  std::string source;
  std::vector<std::string> tokens;                  // GPT-2 alphabet, id = index
  std::vector<std::pair<std::string, std::string>> merges;  // in rank order
  std::vector<std::string> patterns;                // split regexes (names allowed)
  bool ignore_merges = false;
  std::vector<AddedToken> added_tokens;             // ids may be inside the vocabulary
  std::unique_ptr<Normalizer> normalizer;
  bool match_special = false;
  std::optional<int32_t> bos_id, eos_id;
  bool add_bos = false, add_eos = false;            // with encode(add_special)
};
std::unique_ptr<PipelineTokenizer> make_byte_level_bpe_tokenizer(ByteLevelBpeSpec spec);

// Raw token bytes of GPT-2-alphabet tokens: characters outside the alphabet (added tokens
// written in plain text) keep their UTF-8 bytes.
std::vector<std::string> byte_level_tokens_to_bytes(const std::vector<std::string>& tokens);

}  // namespace lmkit
