// Lookup structures shared by the SentencePiece-family tokenizers (SentencePiece BPE /
// Unigram / Word / Char, llama2.c, WordPiece): a string -> id hash map and a byte trie
// with common-prefix search, both built once at load; plus the piece index of a
// SentencePiece model (sentencepiece model_interface.cc InitializePieces).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "lmkit/tokenizer/sentencepiece.h"

namespace lmkit {

// sentencepiece util.h OneCharLen: UTF-8 sequence length from the lead byte (1 for
// continuation / invalid bytes).
inline size_t spm_one_char_len(char c) {
  return static_cast<size_t>("\1\1\1\1\1\1\1\1\1\1\1\1\2\2\3\4"[(static_cast<uint8_t>(c)) >> 4]);
}
// sentencepiece util.cc DecodeUTF8 + IsValidDecodeUTF8: whether `s` starts with a valid
// UTF-8 character (no overlongs, no surrogates, <= U+10FFFF); `len` = its length, or 1.
bool spm_valid_utf8_prefix(std::string_view s, size_t& len);

// Open-addressing hash map from byte strings (copied into the map) to int32 values.
class PieceHashMap {
 public:
  PieceHashMap() = default;
  explicit PieceHashMap(size_t expected) { reserve(expected); }
  void reserve(size_t n);
  // Inserts if absent; returns false (and keeps the old value) if `key` is present.
  bool insert(std::string_view key, int32_t value);
  // The value of `key`, or -1.
  int32_t find(std::string_view key) const;
  size_t size() const { return count_; }

 private:
  struct Slot {
    uint32_t offset = 0, length = 0;
    int32_t value = -1;  // -1: empty
    uint32_t hash = 0;
  };
  static uint64_t hash_bytes(std::string_view s);
  std::vector<Slot> slots_;
  std::string keys_;
  size_t count_ = 0;
  size_t mask_ = 0;
};

// A byte trie over keys with int32 values: common-prefix search in one pass over the text.
class PieceTrie {
 public:
  PieceTrie() = default;
  // Keys may repeat (the first value is kept); empty keys are ignored.
  explicit PieceTrie(std::vector<std::pair<std::string_view, int32_t>> keys);
  bool empty() const { return nodes_.size() <= 1; }

  // Calls f(length, value) for every key that is a prefix of `s`, shortest first.
  template <typename F>
  void common_prefix_search(std::string_view s, F&& f) const {
    if (nodes_.empty()) return;
    uint32_t node = 0;
    for (size_t i = 0; i < s.size(); ++i) {
      node = child(node, static_cast<uint8_t>(s[i]));
      if (node == kNone) return;
      if (nodes_[node].value >= 0) f(i + 1, nodes_[node].value);
    }
  }
  // Length of the longest key prefixing `s` (0: none); `value` receives its value.
  size_t longest_prefix(std::string_view s, int32_t* value = nullptr) const;

 private:
  static constexpr uint32_t kNone = 0xFFFFFFFFu;
  struct Node {
    uint32_t first_edge = 0;
    uint32_t num_edges = 0;
    int32_t value = -1;
  };
  uint32_t child(uint32_t node, uint8_t byte) const;
  std::vector<Node> nodes_;
  std::vector<uint8_t> labels_;     // edges, sorted by label within a node
  std::vector<uint32_t> children_;
  uint32_t root_[256];              // direct table for the first byte
};

// The piece tables of a SentencePiece model (model_interface.cc): `pieces_` holds NORMAL,
// USER_DEFINED and UNUSED pieces, `reserved_` the others; PieceToId looks in reserved
// first. Validation errors throw lmkit::Error prefixed with `source`.
class SpmVocabIndex {
 public:
  SpmVocabIndex(const SpmModelSpec& spec, const std::string& source);

  // PieceToId: reserved, then normal pieces, else the unknown id.
  int32_t piece_to_id(std::string_view piece) const;
  // Id among NORMAL / USER_DEFINED / UNUSED pieces, or -1 (BPE merge candidates).
  int32_t find_mergeable(std::string_view piece) const { return pieces_.find(piece); }
  SpmPieceType type(int32_t id) const { return types_[static_cast<size_t>(id)]; }
  float score(int32_t id) const { return scores_[static_cast<size_t>(id)]; }
  const std::string& piece(int32_t id) const { return (*pieces_text_)[static_cast<size_t>(id)].piece; }
  int32_t unk_id() const { return unk_id_; }
  int32_t byte_id(uint8_t b) const { return byte_ids_[b]; }  // -1 if absent
  int64_t size() const { return static_cast<int64_t>(types_.size()); }
  // User-defined pieces, matched whole (normalizer.cc PrefixMatcher).
  const PieceTrie& user_defined() const { return user_defined_; }
  // PrefixMatcher::PrefixMatch: the longest user-defined piece at the start of `s`
  // (found = true) or one UTF-8 character (found = false).
  size_t prefix_match(std::string_view s, bool& found) const;
  // True when no mergeable piece contains U+2581 right after another character: then no
  // BPE merge can cross the start of a "▁" run, and the text may be segmented there
  // (computed at load).
  bool independent_words() const { return independent_words_; }
  // Distinct for every index ever built (keys per-thread encode caches).
  uint64_t generation() const { return generation_; }

 private:
  const std::vector<SpmPiece>* pieces_text_;
  PieceHashMap pieces_, reserved_;
  std::vector<SpmPieceType> types_;
  std::vector<float> scores_;
  int32_t unk_id_ = -1;
  int32_t byte_ids_[256];
  PieceTrie user_defined_;
  bool independent_words_ = true;
  uint64_t generation_ = 0;
};

// "<0xNN>" for a byte (sentencepiece ByteToPiece) and its inverse (-1 if not that form).
std::string spm_byte_piece(uint8_t b);
int spm_piece_to_byte(std::string_view piece);

}  // namespace lmkit
