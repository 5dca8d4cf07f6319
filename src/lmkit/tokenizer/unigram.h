// Unigram language-model segmentation (Kudo 2018, "Subword Regularization",
// https://arxiv.org/abs/1804.10959): the Viterbi best path through the lattice of all
// vocabulary pieces, as sentencepiece src/unigram_model.cc Model::EncodeOptimized does
// (and HF tokenizers models/unigram/model.rs encode_optimized, a port of it).
//
// Used by SentencePieceTokenizer (model_type UNIGRAM) and by HF tokenizer.json
// {"model": {"type": "Unigram", "vocab": [[piece, score], ...], "unk_id", "byte_fallback"}}.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace lmkit {

class PieceTrie;
class PieceHashMap;

struct UnigramOptions {
  int32_t unk_id = -1;         // required when text can contain unknown characters
  bool byte_fallback = false;  // unknown piece -> <0xNN> pieces (when all exist), else unk
  bool fuse_unk = true;        // consecutive unknown characters become one unk token
  // sentencepiece semantics: scores summed in float, min score over NORMAL pieces only,
  // user-defined pieces scored length * max_score - 0.1. HF semantics (false): doubles,
  // min over all pieces, every piece scored as given.
  bool sentencepiece_compat = false;
};

// Per-piece role in the lattice.
enum class UnigramPieceKind : uint8_t {
  kNormal,       // in the lattice with its score
  kUserDefined,  // in the lattice, scored length * max_score - 0.1 (sentencepiece only)
  kNotInLattice, // control / unknown / byte / unused pieces: never matched from text
};

class UnigramModel {
 public:
  // pieces[id] = {piece, score}; kinds empty = all kNormal (HF) or one per piece.
  UnigramModel(std::vector<std::pair<std::string, double>> pieces,
               std::vector<UnigramPieceKind> kinds, UnigramOptions options);
  ~UnigramModel();
  UnigramModel(UnigramModel&&) noexcept;

  // Appends to `ids` the Viterbi segmentation of `text` (already normalized / pre-
  // tokenized). Unknown spans follow fuse_unk and byte_fallback.
  void encode(std::string_view text, std::vector<int32_t>& ids) const;
  // The raw best path: (begin, length, id) triples; id = unk_id for unknown characters
  // (each unknown character its own entry, before fusing).
  struct Span {
    uint32_t begin, length;
    int32_t id;
  };
  void viterbi(std::string_view text, std::vector<Span>& path) const;

  int64_t size() const { return static_cast<int64_t>(pieces_.size()); }
  const std::string& piece(int32_t id) const { return pieces_.at(static_cast<size_t>(id)).first; }
  double score(int32_t id) const { return pieces_.at(static_cast<size_t>(id)).second; }
  int32_t unk_id() const { return options_.unk_id; }
  const UnigramOptions& options() const { return options_; }
  // id of `piece` or -1.
  int32_t find(std::string_view piece) const;
  // id of "<0xNN>" or -1.
  int32_t byte_piece(uint8_t b) const { return byte_ids_[b]; }

 private:
  template <typename Score>
  void viterbi_impl(std::string_view text, std::vector<Span>& path) const;
  std::vector<std::pair<std::string, double>> pieces_;
  std::vector<UnigramPieceKind> kinds_;
  std::vector<float> scores_f_;  // effective lattice scores
  std::vector<double> scores_d_;
  UnigramOptions options_;
  double min_score_ = 0, max_score_ = 0;
  std::unique_ptr<PieceTrie> trie_;
  std::unique_ptr<PieceHashMap> map_;
  int32_t byte_ids_[256];
};

}  // namespace lmkit
