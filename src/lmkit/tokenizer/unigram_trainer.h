// Unigram vocabulary training as sentencepiece's trainer does it
// (google/sentencepiece src/unigram_model_trainer.cc; Kudo 2018, Sec. 3.2): seed pieces
// from the most frequent substrings, then EM (expected piece counts over each word's
// lattice, digamma-smoothed re-estimation), pruning the pieces whose removal costs the
// least likelihood by shrinking_factor per round until vocab_size is reached.
//
// Input is word counts (the text already split by the pre-tokenizer into "▁word" units),
// so a corpus larger than RAM is streamed by the caller. The result is a vocabulary that
// UnigramModel encodes with and that `lmkit train-tokenizer` writes as tokenizer.json
// {"model": {"type": "Unigram", "unk_id", "vocab": [[piece, score]...], "byte_fallback"}}.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace lmkit {

struct UnigramTrainerOptions {
  int32_t vocab_size = 8000;      // total, special and byte pieces included
  std::string unk_token = "<unk>";
  std::vector<std::string> special_tokens;  // after <unk>, in this order (e.g. "<s>", "</s>")
  bool byte_fallback = true;      // add the 256 "<0xNN>" pieces
  int32_t max_piece_length = 16;  // in characters
  double shrinking_factor = 0.75;
  int32_t num_sub_iterations = 2;
  size_t seed_size = 1'000'000;
  double character_coverage = 0.9995;  // rarer characters are left to byte fallback / unk
  int32_t num_threads = 1;
};

// A trained Unigram vocabulary: pieces[id] = {piece, log-probability score}. Ids: unk,
// specials, then (with byte_fallback) <0x00>..<0xFF>, then learned pieces by score.
struct UnigramVocab {
  std::vector<std::pair<std::string, double>> pieces;
  int32_t unk_id = 0;
  bool byte_fallback = true;
  std::vector<std::string> special_tokens;  // as given (not in the lattice)
};

// word_counts: (word, count); words are whole pre-tokenized units (e.g. "▁hello").
UnigramVocab train_unigram(const std::vector<std::pair<std::string, uint64_t>>& word_counts,
                           const UnigramTrainerOptions& options);

}  // namespace lmkit
