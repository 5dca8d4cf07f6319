// SentencePiece-style BPE training (google/sentencepiece src/bpe_model_trainer.cc): from
// characters (those covering character_coverage of the text), repeatedly make the most
// frequent adjacent symbol pair a piece - ties: the shorter piece, then the smaller
// string - scored -(its rank), so that SentencePiece BPE encoding (merge the best-scoring
// pair first, spm_bpe.h) replays the training merges; required characters follow.
// Pair counts are updated incrementally with a priority queue.
//
// Input is word counts ("▁word" units after the Metaspace-style pre-tokenizer), so a
// corpus larger than RAM is streamed by the caller.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "lmkit/tokenizer/sentencepiece.h"

namespace lmkit {

struct SpmBpeTrainerOptions {
  int32_t vocab_size = 8000;  // total, meta and byte pieces included
  std::string unk_token = "<unk>";
  std::vector<std::string> special_tokens;  // control pieces after <unk> (e.g. "<s>", "</s>")
  bool byte_fallback = true;                // add the 256 "<0xNN>" pieces
  int32_t max_piece_length = 16;            // in characters
  double character_coverage = 0.9995;
};

struct SpmBpeVocab {
  // id = index: <unk>, specials, bytes, merged pieces (score -rank), characters.
  std::vector<SpmPiece> pieces;
  // The merges in rank order, as (left piece, right piece) - what an HF tokenizer.json
  // "BPE" model lists.
  std::vector<std::pair<std::string, std::string>> merges;
  int32_t unk_id = 0;
  bool byte_fallback = true;
};

SpmBpeVocab train_spm_bpe(const std::vector<std::pair<std::string, uint64_t>>& word_counts,
                          const SpmBpeTrainerOptions& options);

// A SentencePiece model of the vocabulary (BPE, identity normalizer, dummy prefix),
// for SentencePieceTokenizer or serialize_sentencepiece_model.
SpmModelSpec spm_bpe_model_spec(const SpmBpeVocab& vocab);

}  // namespace lmkit
