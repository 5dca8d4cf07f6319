#include "lmkit/tokenizer/spm_bpe_trainer.h"

#include <algorithm>
#include <numeric>
#include <queue>
#include <unordered_map>
#include <unordered_set>

#include "lmkit/core/error.h"
#include "lmkit/tokenizer/sentencepiece_vocab.h"

namespace lmkit {

namespace {

using PairKey = uint64_t;
PairKey key(int32_t a, int32_t b) { return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b); }

struct Cand {
  int64_t count;
  uint32_t chars;  // length of the merged piece in characters
  PairKey pair;
};

}  // namespace

SpmBpeVocab train_spm_bpe(const std::vector<std::pair<std::string, uint64_t>>& word_counts,
                          const SpmBpeTrainerOptions& o) {
  const size_t meta = 1 + o.special_tokens.size() + (o.byte_fallback ? 256 : 0);
  check(o.vocab_size > static_cast<int32_t>(meta), "bpe trainer: vocab_size {} leaves no room after {} special/byte pieces",
        o.vocab_size, meta);
  // Symbols: strings with their character counts; words as symbol-id sequences.
  std::vector<std::string> sym;
  std::vector<uint32_t> sym_chars;
  std::unordered_map<std::string, int32_t> sym_id;
  auto intern = [&](const std::string& s, uint32_t chars) -> int32_t {
    auto it = sym_id.find(s);
    if (it != sym_id.end()) return it->second;
    const int32_t id = static_cast<int32_t>(sym.size());
    sym.push_back(s);
    sym_chars.push_back(chars);
    sym_id.emplace(s, id);
    return id;
  };

  // Required characters (trainer_interface.cc): most frequent first until the coverage.
  std::unordered_map<std::string, uint64_t> char_freq;
  std::vector<std::pair<std::string, int64_t>> words;
  for (const auto& [w, c] : word_counts) {
    if (w.empty() || c == 0) continue;
    words.emplace_back(w, static_cast<int64_t>(c));
    size_t pos = 0;
    while (pos < w.size()) {
      size_t len = 1;
      spm_valid_utf8_prefix(std::string_view(w).substr(pos), len);
      char_freq[w.substr(pos, len)] += c;
      pos += len;
    }
  }
  check(!words.empty(), "bpe trainer: no training text");
  std::sort(words.begin(), words.end());
  std::vector<std::pair<std::string, uint64_t>> chars(char_freq.begin(), char_freq.end());
  std::sort(chars.begin(), chars.end(),
            [](const auto& a, const auto& b) { return a.second > b.second || (a.second == b.second && a.first < b.first); });
  const double total = std::accumulate(chars.begin(), chars.end(), 0.0, [](double s, const auto& c) { return s + static_cast<double>(c.second); });
  std::unordered_set<std::string> required;
  double covered = 0;
  for (const auto& [c, f] : chars) {
    if (!required.empty() && covered / total >= o.character_coverage) break;
    required.insert(c);
    covered += static_cast<double>(f);
  }

  // Words as symbols; an unknown character splits the word (nothing merges across it).
  std::vector<std::vector<int32_t>> seqs;
  std::vector<int64_t> seq_count;
  for (const auto& [w, c] : words) {
    std::vector<int32_t> cur;
    size_t pos = 0;
    while (pos < w.size()) {
      size_t len = 1;
      spm_valid_utf8_prefix(std::string_view(w).substr(pos), len);
      std::string ch = w.substr(pos, len);
      pos += len;
      if (!required.count(ch)) {
        if (cur.size() > 1) {
          seqs.push_back(std::move(cur));
          seq_count.push_back(c);
        }
        cur.clear();
        continue;
      }
      cur.push_back(intern(ch, 1));
    }
    if (cur.size() > 1) {
      seqs.push_back(std::move(cur));
      seq_count.push_back(c);
    }
  }

  std::unordered_map<PairKey, int64_t> pair_counts;
  std::unordered_map<PairKey, std::vector<uint32_t>> where;
  for (size_t i = 0; i < seqs.size(); ++i)
    for (size_t k = 0; k + 1 < seqs[i].size(); ++k) {
      const PairKey p = key(seqs[i][k], seqs[i][k + 1]);
      pair_counts[p] += seq_count[i];
      auto& v = where[p];
      if (v.empty() || v.back() != i) v.push_back(static_cast<uint32_t>(i));
    }
  auto merged_string = [&](PairKey p) { return sym[p >> 32] + sym[p & 0xFFFFFFFFu]; };
  auto merged_chars = [&](PairKey p) { return sym_chars[p >> 32] + sym_chars[p & 0xFFFFFFFFu]; };
  // Best first: count, then fewer characters, then the smaller string.
  auto worse = [&](const Cand& a, const Cand& b) {
    if (a.count != b.count) return a.count < b.count;
    if (a.chars != b.chars) return a.chars > b.chars;
    return merged_string(a.pair) > merged_string(b.pair);
  };
  std::priority_queue<Cand, std::vector<Cand>, decltype(worse)> queue(worse);
  auto push = [&](PairKey p) {
    const int64_t c = pair_counts[p];
    const uint32_t len = merged_chars(p);
    if (c > 0 && len <= static_cast<uint32_t>(o.max_piece_length)) queue.push(Cand{c, len, p});
  };
  for (const auto& [p, c] : pair_counts) push(p);

  const size_t target = static_cast<size_t>(o.vocab_size) - meta - required.size();
  SpmBpeVocab out;
  std::vector<std::string> learned;
  std::unordered_set<std::string> dup;
  std::unordered_map<PairKey, std::unordered_set<uint32_t>> touched;
  while (learned.size() < target && !queue.empty()) {
    const Cand top = queue.top();
    queue.pop();
    const int64_t current = pair_counts[top.pair];
    if (current != top.count) {
      if (current > 0) push(top.pair);
      continue;
    }
    const int32_t a = static_cast<int32_t>(top.pair >> 32), b = static_cast<int32_t>(top.pair & 0xFFFFFFFFu);
    const std::string s = sym[static_cast<size_t>(a)] + sym[static_cast<size_t>(b)];
    pair_counts[top.pair] = 0;
    if (!dup.insert(s).second) continue;  // the same string by another path: not selected again
    learned.push_back(s);
    out.merges.emplace_back(sym[static_cast<size_t>(a)], sym[static_cast<size_t>(b)]);
    const int32_t m = intern(s, top.chars);
    touched.clear();
    auto change = [&](int32_t x, int32_t y, int64_t delta, uint32_t wi) {
      const PairKey p = key(x, y);
      pair_counts[p] += delta;
      if (delta > 0) touched[p].insert(wi);
    };
    for (uint32_t wi : where[top.pair]) {
      auto& q = seqs[wi];
      const int64_t c = seq_count[wi];
      for (size_t k = 0; k + 1 < q.size();) {
        if (q[k] != a || q[k + 1] != b) {
          ++k;
          continue;
        }
        if (k > 0) {
          change(q[k - 1], a, -c, wi);
          change(q[k - 1], m, c, wi);
        }
        if (k + 2 < q.size()) {
          change(b, q[k + 2], -c, wi);
          change(m, q[k + 2], c, wi);
        }
        q[k] = m;
        q.erase(q.begin() + static_cast<std::ptrdiff_t>(k) + 1);
        ++k;
      }
    }
    where.erase(top.pair);
    for (auto& [p, ws] : touched) {
      auto& v = where[p];
      v.insert(v.end(), ws.begin(), ws.end());
      std::sort(v.begin(), v.end());
      v.erase(std::unique(v.begin(), v.end()), v.end());
      push(p);
    }
  }

  out.byte_fallback = o.byte_fallback;
  out.unk_id = 0;
  out.pieces.push_back({o.unk_token, 0.0f, SpmPieceType::kUnknown});
  for (const auto& s : o.special_tokens) out.pieces.push_back({s, 0.0f, SpmPieceType::kControl});
  if (o.byte_fallback)
    for (int b = 0; b < 256; ++b) out.pieces.push_back({spm_byte_piece(static_cast<uint8_t>(b)), 0.0f, SpmPieceType::kByte});
  std::unordered_set<std::string> seen;
  for (const auto& p : out.pieces) seen.insert(p.piece);
  float rank = 0;
  for (const auto& s : learned)
    if (seen.insert(s).second) out.pieces.push_back({s, -(rank++), SpmPieceType::kNormal});
  for (const auto& [c, f] : chars)  // required characters, most frequent first
    if (required.count(c) && seen.insert(c).second) out.pieces.push_back({c, -(rank++), SpmPieceType::kNormal});
  return out;
}

SpmModelSpec spm_bpe_model_spec(const SpmBpeVocab& v) {
  SpmModelSpec s;
  s.pieces = v.pieces;
  s.model_type = SpmModelType::kBpe;
  s.byte_fallback = v.byte_fallback;
  s.unk_id = v.unk_id;
  s.bos_id = s.eos_id = s.pad_id = -1;
  for (size_t i = 0; i < v.pieces.size(); ++i) {
    if (v.pieces[i].piece == "<s>" && v.pieces[i].type == SpmPieceType::kControl) s.bos_id = static_cast<int32_t>(i);
    if (v.pieces[i].piece == "</s>" && v.pieces[i].type == SpmPieceType::kControl) s.eos_id = static_cast<int32_t>(i);
  }
  s.normalizer.name = "identity";
  s.normalizer.add_dummy_prefix = true;
  s.normalizer.remove_extra_whitespaces = true;
  s.normalizer.escape_whitespaces = true;
  return s;
}

}  // namespace lmkit
