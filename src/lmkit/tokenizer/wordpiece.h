// WordPiece (Schuster & Nakajima 2012; BERT, Devlin et al. 2018) as BERT's reference
// tokenizer does it (google-research/bert tokenization.py: BasicTokenizer +
// WordpieceTokenizer) and HF tokenizers mirrors it (normalizers/bert.rs BertNormalizer,
// pre_tokenizers/bert.rs BertPreTokenizer, models/wordpiece/mod.rs, decoders/wordpiece.rs).
//
// Pieces:
//   bert_normalize      clean text (drop NUL/U+FFFD/control chars, whitespace -> ' '),
//                       space around CJK ideographs, strip accents (NFD, drop Mn),
//                       lowercase;
//   bert_pre_tokenize   split on whitespace, every punctuation char its own word;
//   WordPieceModel      greedy longest-match-first per word with "##" continuations,
//                       [UNK] for a word with no segmentation or over 100 characters;
//   WordPieceTokenizer  the three for a BERT vocab.txt, [CLS] ... [SEP] with add_special.
// HF tokenizer.json loaders use WordPieceModel (and the two functions) directly.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "lmkit/tokenizer/tokenizer.h"

namespace lmkit {

class PieceHashMap;

struct BertNormalizerOptions {
  bool clean_text = true;
  bool handle_chinese_chars = true;
  std::optional<bool> strip_accents;  // unset: follows lowercase (HF BertNormalizer)
  bool lowercase = true;
};
// HF BertNormalizer::normalize_str; appends to `out`.
void bert_normalize(std::string_view text, const BertNormalizerOptions& options, std::string& out);
// HF BertPreTokenizer: words of `text` as views into it (split on Unicode whitespace,
// each punctuation character - ASCII non-alnum symbols and Unicode P* - isolated).
void bert_pre_tokenize(std::string_view text, std::vector<std::string_view>& words);

struct WordPieceOptions {
  std::string unk_token = "[UNK]";
  std::string continuing_subword_prefix = "##";
  size_t max_input_chars_per_word = 100;
};

class WordPieceModel {
 public:
  // vocab[id] = token. The unk token must be in the vocabulary (else lmkit::Error).
  WordPieceModel(std::vector<std::string> vocab, WordPieceOptions options,
                 const std::string& source = "wordpiece vocabulary");
  ~WordPieceModel();
  WordPieceModel(WordPieceModel&&) noexcept;

  // Appends the pieces of one pre-tokenized word (HF WordPiece::tokenize).
  void encode_word(std::string_view word, std::vector<int32_t>& ids) const;
  // HF decoders::WordPiece with cleanup: tokens joined by ' ', " ##" continuations glued,
  // then " ." " ?" " !" " ," " ' " " n't" " 'm" " 's" " 've" " 're" cleaned up.
  std::string decode(std::span<const int32_t> ids, bool cleanup = true) const;

  int64_t size() const { return static_cast<int64_t>(vocab_.size()); }
  const std::string& token(int32_t id) const;
  int32_t find(std::string_view token) const;  // -1 if absent
  int32_t unk_id() const { return unk_id_; }
  const WordPieceOptions& options() const { return options_; }
  const std::vector<std::string>& vocab() const { return vocab_; }

 private:
  std::vector<std::string> vocab_;
  WordPieceOptions options_;
  std::unique_ptr<PieceHashMap> map_;
  int32_t unk_id_ = -1;
  size_t max_token_bytes_ = 0;
};

// BERT's full tokenizer over a vocab.txt vocabulary (one token per line, id = line).
struct BertTokenizerOptions {
  BertNormalizerOptions normalizer;
  WordPieceOptions wordpiece;
  std::string cls_token = "[CLS]", sep_token = "[SEP]";
  // Tokens matched in the raw text before normalization, like HF added special tokens
  // ([CLS] [SEP] [PAD] [MASK] [UNK] for BERT). Empty: none.
  std::vector<std::string> special_tokens = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
};

class WordPieceTokenizer final : public Tokenizer {
 public:
  WordPieceTokenizer(std::vector<std::string> vocab, BertTokenizerOptions options,
                     const std::string& source = "wordpiece vocabulary");
  ~WordPieceTokenizer() override;

  // add_special: [CLS] ids [SEP] (HF BertProcessing).
  std::vector<int32_t> encode(std::string_view text, bool add_special = false) const override;
  // HF WordPiece decoder; special tokens are skipped (skip_special_tokens).
  std::string decode(std::span<const int32_t> ids) const override;
  int64_t vocab_size() const override { return model_.size(); }
  std::string token_text(int32_t id) const override { return model_.token(id); }
  std::optional<int32_t> bos_id() const override;  // [CLS]
  std::optional<int32_t> eos_id() const override;  // [SEP]
  bool adds_bos() const override { return cls_id_ >= 0; }
  // The id of a piece written as token_text() writes it (Tokenizer::token_to_id).
  std::optional<int32_t> token_to_id(std::string_view token) const override {
    const int32_t id = model_.find(token);
    return id >= 0 ? std::optional<int32_t>(id) : std::nullopt;
  }

  const WordPieceModel& model() const { return model_; }

 private:
  void encode_text(std::string_view text, std::vector<int32_t>& ids) const;
  WordPieceModel model_;
  BertTokenizerOptions options_;
  int32_t cls_id_ = -1, sep_id_ = -1;
  std::vector<std::pair<std::string, int32_t>> specials_;  // longest first
  std::vector<bool> is_special_;
};

}  // namespace lmkit
