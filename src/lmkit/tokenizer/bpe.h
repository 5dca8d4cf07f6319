// Byte-pair encoding of one pre-tokenized word (Sennrich et al. 2016, "Neural Machine
// Translation of Rare Words with Subword Units"; byte-level variant: Radford et al. 2019,
// GPT-2). Two rank sources, one merge loop:
//  - kVocabRanks (tiktoken): the rank of merging adjacent parts a, b is the id of the
//    bytes a+b in the vocabulary (tiktoken src/lib.rs byte_pair_merge); ids are ranks.
//  - kMergeList (GPT-2 vocab.bpe, HF merges): an explicit list of (left, right) pairs in
//    rank order; the merged token is the vocabulary entry of left+right
//    (HF tokenizers models/bpe/word.rs merge_all).
// In both the lowest-ranked adjacent pair is merged first, the leftmost on ties. Short
// words use an array scan, long ones a binary heap over a linked list (O(n log n), so a
// 10 MB word is fine).
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>


namespace lmkit {

struct BpeOptions {
  enum class Ranks { kVocabRanks, kMergeList };
  Ranks ranks = Ranks::kMergeList;
  // Initial symbols are single bytes (byte-level vocabularies, stored as raw bytes); else
  // UTF-8 characters (SentencePiece-style vocabularies in tokenizer.json).
  bool byte_level = true;
  // A word that is a vocabulary entry as a whole is that one token (tiktoken always;
  // HF "ignore_merges", Llama-3).
  bool ignore_merges = false;
  // Characters missing from the vocabulary become "<0xNN>" byte tokens (HF byte_fallback).
  bool byte_fallback = false;
  int32_t unk_id = -1;  // -1: unknown characters are dropped (as HF does without unk)
  bool fuse_unk = false;
  std::string continuing_subword_prefix;  // HF: added to non-initial characters
  std::string end_of_word_suffix;         // HF: added to the last character
};

// Token bytes packed back to back: token id is bytes[offsets[id], offsets[id + 1]).
struct PackedTokens {
  std::string bytes;
  std::vector<uint32_t> offsets;  // size = number of tokens + 1
  size_t size() const { return offsets.empty() ? 0 : offsets.size() - 1; }
  std::string_view operator[](size_t id) const {
    return std::string_view(bytes).substr(offsets[id], offsets[id + 1] - offsets[id]);
  }
  static PackedTokens from(const std::vector<std::string>& tokens);
};

class Bpe {
 public:
  // tokens[id] = the token's bytes (an empty string marks an unused id); merges = (left
  // id, right id) in rank order (kMergeList only). A merge whose result is not in the
  // vocabulary is an lmkit::Error naming `source`.
  Bpe(PackedTokens tokens, const std::vector<std::pair<int32_t, int32_t>>& merges, BpeOptions options,
      const std::string& source);
  Bpe(const std::vector<std::string>& tokens, const std::vector<std::pair<int32_t, int32_t>>& merges,
      BpeOptions options, const std::string& source)
      : Bpe(PackedTokens::from(tokens), merges, std::move(options), source) {}
  ~Bpe();
  Bpe(Bpe&&) noexcept;

  // Appends the ids of `word`.
  void encode_word(std::string_view word, std::vector<int32_t>& ids) const;
  // Forces the heap-based merge loop (tests compare it with the array scan).
  void encode_word_heap(std::string_view word, std::vector<int32_t>& ids) const;

  int64_t size() const { return int64_t(tokens_.size()); }
  std::string_view token(int32_t id) const { return tokens_[size_t(id)]; }
  // The id whose bytes are `bytes`, or -1.
  int32_t find(std::string_view bytes) const;
  const BpeOptions& options() const { return options_; }
  // (left, right) pairs in rank order (kMergeList).
  const std::vector<std::pair<int32_t, int32_t>>& merges() const { return merges_; }

 private:
  struct Symbol {
    int32_t id;
    uint32_t start, len;
  };
  void initial_symbols(std::string_view word, std::vector<Symbol>& syms) const;
  // Rank and merged id of the adjacent pair (a, b), rank INT32_MAX when they do not merge.
  inline std::pair<int32_t, int32_t> pair_rank(std::string_view word, const Symbol& a,
                                               const Symbol& b) const;
  void merge_scan(std::string_view word, std::vector<Symbol>& syms) const;
  void merge_heap(std::string_view word, std::vector<Symbol>& syms) const;

  PackedTokens tokens_;
  std::vector<std::pair<int32_t, int32_t>> merges_;
  BpeOptions options_;
  // Open addressing over ids: slot = (hash tag << 32) | (id + 1), 0 = empty.
  std::vector<uint64_t> slots_;
  size_t mask_ = 0;
  struct PairMap;
  std::unique_ptr<PairMap> pairs_;
  int32_t byte_fallback_ids_[256];
};

}  // namespace lmkit
