#include "lmkit/tokenizer/unigram.h"

#include <algorithm>
#include <cfloat>
#include <limits>

#include "lmkit/core/error.h"
#include "lmkit/tokenizer/sentencepiece_vocab.h"

namespace lmkit {

namespace {
constexpr float kUnkPenalty = 10.0f;  // unigram_model.cc kUnkPenalty (HF: K_UNK_PENALTY)
}

UnigramModel::UnigramModel(std::vector<std::pair<std::string, double>> pieces,
                           std::vector<UnigramPieceKind> kinds, UnigramOptions options)
    : pieces_(std::move(pieces)), kinds_(std::move(kinds)), options_(options) {
  const size_t n = pieces_.size();
  check(n > 0, "unigram model: empty vocabulary");
  check(n < (1u << 30), "unigram model: too many pieces ({})", n);
  if (kinds_.empty()) kinds_.assign(n, UnigramPieceKind::kNormal);
  check(kinds_.size() == n, "unigram model: {} piece kinds for {} pieces", kinds_.size(), n);
  check(options_.unk_id < static_cast<int64_t>(n), "unigram model: unk_id {} is outside the vocabulary ({})",
        options_.unk_id, n);
  if (options_.sentencepiece_compat) {
    // unigram_model.cc Model::Model: min/max over NORMAL pieces; max starts at FLT_MIN.
    float mn = FLT_MAX, mx = FLT_MIN;
    for (size_t i = 0; i < n; ++i)
      if (kinds_[i] == UnigramPieceKind::kNormal) {
        mn = std::min(mn, static_cast<float>(pieces_[i].second));
        mx = std::max(mx, static_cast<float>(pieces_[i].second));
      }
    min_score_ = mn;
    max_score_ = mx;
  } else {
    // HF Unigram::from: min over all pieces.
    double mn = std::numeric_limits<double>::infinity();
    for (const auto& p : pieces_) mn = std::min(mn, p.second);
    min_score_ = mn;
    max_score_ = 0;
  }
  scores_f_.resize(n);
  scores_d_.resize(n);
  std::vector<std::pair<std::string_view, int32_t>> keys;
  keys.reserve(n);
  std::fill(std::begin(byte_ids_), std::end(byte_ids_), -1);
  for (size_t i = 0; i < n; ++i) {
    check(!pieces_[i].first.empty(), "unigram model: piece {} is empty", i);
    scores_f_[i] = static_cast<float>(pieces_[i].second);
    scores_d_[i] = pieces_[i].second;
    if (kinds_[i] != UnigramPieceKind::kNotInLattice) keys.emplace_back(pieces_[i].first, static_cast<int32_t>(i));
    const int b = spm_piece_to_byte(pieces_[i].first);
    if (b >= 0 && byte_ids_[b] < 0) byte_ids_[b] = static_cast<int32_t>(i);
  }
  trie_ = std::make_unique<PieceTrie>(std::move(keys));
  map_ = std::make_unique<PieceHashMap>(n);
  for (size_t i = 0; i < n; ++i) map_->insert(pieces_[i].first, static_cast<int32_t>(i));
}

UnigramModel::~UnigramModel() = default;
UnigramModel::UnigramModel(UnigramModel&&) noexcept = default;

int32_t UnigramModel::find(std::string_view piece) const {
  return map_->find(piece);
}

template <typename Score>
void UnigramModel::viterbi_impl(std::string_view text, std::vector<Span>& path) const {
  // unigram_model.cc Model::EncodeOptimized: best path ending at each byte position.
  struct BestPathNode {
    int32_t id = -1;
    Score best_path_score = 0;
    int32_t starts_at = -1;
  };
  const size_t size = text.size();
  thread_local std::vector<BestPathNode> best_storage;
  best_storage.assign(size + 1, BestPathNode{});
  BestPathNode* best = best_storage.data();
  const Score unk_score = static_cast<Score>(min_score_) - static_cast<Score>(kUnkPenalty);
  const bool spm = options_.sentencepiece_compat;
  const float max_score = static_cast<float>(max_score_);
  size_t starts_at = 0;
  while (starts_at < size) {
    const Score till_here = best[starts_at].best_path_score;
    bool has_single_node = false;
    const size_t mblen = std::min(spm_one_char_len(text[starts_at]), size - starts_at);
    trie_->common_prefix_search(text.substr(starts_at), [&](size_t length, int32_t id) {
      BestPathNode& target = best[starts_at + length];
      // sentencepiece: `const auto score = user_defined ? (length * max_score_ - 0.1) :
      // GetScore(id)` is a double (float * size_t stays float, minus 0.1 makes it
      // double), so the candidate is summed and compared in double, then stored as float.
      double candidate;
      if (spm && kinds_[id] == UnigramPieceKind::kUserDefined) {
        // User-defined symbols get a bonus so that they are always chosen.
        candidate = static_cast<double>(static_cast<float>(length) * max_score) - 0.1 + static_cast<double>(till_here);
      } else if constexpr (sizeof(Score) == sizeof(float)) {
        candidate = static_cast<double>(scores_f_[id]) + static_cast<double>(till_here);
      } else {
        candidate = scores_d_[id] + till_here;
      }
      if (target.starts_at == -1 || candidate > static_cast<double>(target.best_path_score)) {
        target.best_path_score = static_cast<Score>(candidate);
        target.starts_at = static_cast<int32_t>(starts_at);
        target.id = id;
      }
      if (!has_single_node && length == mblen) has_single_node = true;
    });
    if (!has_single_node) {
      BestPathNode& target = best[starts_at + mblen];
      const Score candidate = unk_score + till_here;
      if (target.starts_at == -1 || candidate > target.best_path_score) {
        target.best_path_score = candidate;
        target.starts_at = static_cast<int32_t>(starts_at);
        target.id = options_.unk_id;
      }
    }
    starts_at += mblen;
  }
  const size_t first = path.size();
  size_t ends_at = size;
  while (ends_at > 0) {
    const BestPathNode& node = best[ends_at];
    path.push_back(Span{static_cast<uint32_t>(node.starts_at), static_cast<uint32_t>(ends_at - node.starts_at), node.id});
    ends_at = static_cast<size_t>(node.starts_at);
  }
  std::reverse(path.begin() + static_cast<std::ptrdiff_t>(first), path.end());
}

void UnigramModel::viterbi(std::string_view text, std::vector<Span>& path) const {
  check(text.size() < 0x7FFFFFFFu, "unigram model: text of {} bytes is too long", text.size());
  if (options_.sentencepiece_compat) viterbi_impl<float>(text, path);
  else viterbi_impl<double>(text, path);
}

void UnigramModel::encode(std::string_view text, std::vector<int32_t>& ids) const {
  // HF models/unigram/model.rs: encode_optimized (with fuse_unk) then tokenize (byte
  // fallback of unknown strings when every <0xNN> piece exists, else unk_id).
  thread_local std::vector<Span> path;
  path.clear();
  viterbi(text, path);
  size_t i = 0;
  while (i < path.size()) {
    Span s = path[i++];
    if (options_.fuse_unk && options_.unk_id >= 0 && s.id == options_.unk_id) {
      // A run of unknown nodes (including a literal match of the unk piece) is one string.
      while (i < path.size() && path[i].id == options_.unk_id) s.length += path[i++].length;
    }
    const std::string_view w = text.substr(s.begin, s.length);
    // HF looks every piece string up in the vocabulary; unknown strings fall back to
    // bytes (when every <0xNN> piece exists), else to unk_id.
    const int32_t id = s.id >= 0 && s.id != options_.unk_id ? s.id : map_->find(w);
    if (id >= 0) {
      ids.push_back(id);
      continue;
    }
    if (options_.byte_fallback) {
      bool all = true;
      for (char c : w) all = all && byte_ids_[static_cast<uint8_t>(c)] >= 0;
      if (all) {
        for (char c : w) ids.push_back(byte_ids_[static_cast<uint8_t>(c)]);
        continue;
      }
    }
    check(options_.unk_id >= 0, "unigram model: unknown text \"{}\" and no unk_id", w);
    ids.push_back(options_.unk_id);
  }
}

}  // namespace lmkit
