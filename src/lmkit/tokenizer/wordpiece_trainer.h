// WordPiece vocabulary training as HF tokenizers' WordPieceTrainer does it
// (tokenizers/src/models/wordpiece/trainer.rs wrapping models/bpe/trainer.rs): BPE merges
// learned over words split into characters where every non-initial character carries the
// continuing-subword prefix "##"; a merge of (a, ##b) yields "ab", of (##a, ##b) "##ab".
// Pairs are merged by count (ties: the smaller pair of ids), counts updated incrementally
// with a priority queue. The vocabulary (specials, alphabet, "##" alphabet in order of
// appearance, merged tokens) is what WordPieceModel encodes with.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace lmkit {

struct WordPieceTrainerOptions {
  int32_t vocab_size = 30000;
  uint64_t min_frequency = 0;  // pairs seen fewer times are not merged
  std::vector<std::string> special_tokens = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
  std::string unk_token = "[UNK]";
  std::string continuing_subword_prefix = "##";
  size_t limit_alphabet = 0;  // 0: keep every character
  int32_t num_threads = 1;
};

struct WordPieceVocab {
  std::vector<std::string> tokens;  // id = index
  std::string unk_token;
  std::string continuing_subword_prefix;
};

// word_counts: (word, count) after BERT normalization and pre-tokenization.
WordPieceVocab train_wordpiece(const std::vector<std::pair<std::string, uint64_t>>& word_counts,
                               const WordPieceTrainerOptions& options);

}  // namespace lmkit
