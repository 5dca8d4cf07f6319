// Byte-level BPE training (Sennrich et al. 2016; byte-level as GPT-2, Radford et al. 2019),
// organized like HF tokenizers' BpeTrainer (models/bpe/trainer.rs): the corpus is reduced
// to (word, count) by the split pattern, words start as bytes, pair counts are kept
// incrementally (each merge touches only the words that hold the pair, found through a
// per-pair word list) and the next merge comes from a lazy max-heap.
//
// Deterministic tie rule: the pair with the highest count is merged; among equal counts
// the smallest (left id, right id). Ids: 0..255 are the bytes in byte order, merged tokens
// follow in merge order, special tokens come last.
//
// Corpora larger than RAM: WordCounter streams files in chunks and keeps only the counts.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "lmkit/tokenizer/normalizer.h"
#include "lmkit/tokenizer/pretokenizer.h"

namespace lmkit {

// Counts pre-tokenized words of a corpus (optionally normalized first); text is processed
// in chunks cut after a newline, the chunk's lines spread over lmkit::thread_pool().
class WordCounter {
 public:
  WordCounter(const Normalizer* normalizer, const PreTokenizer& pre_tokenizer);
  ~WordCounter();
  void add_text(std::string_view text);
  // Streams the file in 16 MiB chunks (lmkit::Error naming it when unreadable).
  void add_file(const std::string& path);
  // The counts, sorted by word (deterministic order).
  std::vector<std::pair<std::string, uint64_t>> counts() const;
  uint64_t total_bytes() const { return total_bytes_; }

 private:
  struct Table;
  void add_chunk(std::string_view chunk);
  const Normalizer* normalizer_;
  const PreTokenizer& pre_;
  std::unique_ptr<Table> table_;
  uint64_t total_bytes_ = 0;
};

struct BpeTrainerOptions {
  int32_t vocab_size = 32000;  // bytes + merges + special tokens
  std::vector<std::string> special_tokens;
  uint64_t min_frequency = 1;  // pairs seen fewer times are not merged
};

struct BpeTrainResult {
  std::vector<std::string> tokens;                  // bytes of each id (bytes, then merges)
  std::vector<std::pair<int32_t, int32_t>> merges;  // in rank order
  std::vector<std::string> special_tokens;          // ids tokens.size(), tokens.size()+1, ...
};

BpeTrainResult train_byte_level_bpe(const std::vector<std::pair<std::string, uint64_t>>& words,
                                    const BpeTrainerOptions& options);

}  // namespace lmkit
