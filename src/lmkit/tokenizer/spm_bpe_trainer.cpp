#include "lmkit/tokenizer/spm_bpe_trainer.h"

#include <algorithm>
#include <numeric>
#include <queue>
#include <unordered_map>
#include <unordered_set>

#include "lmkit/core/error.h"
#include "lmkit/tokenizer/pair_index.h"
#include "lmkit/tokenizer/sentencepiece_vocab.h"

namespace lmkit {

namespace {

struct Cand {
  int64_t count;
  uint32_t chars;  // length of the merged piece in characters
  uint32_t pair;   // PairIndex index
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
  // Sequences are stored flat (seq_start / seq_len into seq_sym) and merged in place.
  std::vector<int32_t> seq_sym;
  std::vector<size_t> seq_start, seq_len;
  std::vector<int64_t> seq_count;
  for (const auto& word : words) {
    const std::string& w = word.first;
    const int64_t c = word.second;
    size_t begin = seq_sym.size();
    auto close = [&] {
      if (seq_sym.size() - begin > 1) {
        seq_start.push_back(begin);
        seq_len.push_back(seq_sym.size() - begin);
        seq_count.push_back(c);
      } else {
        seq_sym.resize(begin);
      }
      begin = seq_sym.size();
    };
    size_t pos = 0;
    while (pos < w.size()) {
      size_t len = 1;
      spm_valid_utf8_prefix(std::string_view(w).substr(pos), len);
      std::string ch = w.substr(pos, len);
      pos += len;
      if (!required.count(ch)) {
        close();
        continue;
      }
      seq_sym.push_back(intern(ch, 1));
    }
    close();
  }
  const size_t n_seqs = seq_start.size();

  // Per-pair arrays indexed through PairIndex: weighted count, the sequences holding the
  // pair (appended as pairs appear: may repeat or be stale, each is rescanned), the pair.
  PairIndex index;
  std::vector<int64_t> pair_count;
  std::vector<std::vector<uint32_t>> where;
  std::vector<std::pair<int32_t, int32_t>> pair_of;
  auto pidx = [&](int32_t a, int32_t b) {
    const uint32_t i = index.get(pair_key(a, b));
    if (i == pair_count.size()) {
      pair_count.push_back(0);
      where.emplace_back();
      pair_of.emplace_back(a, b);
    }
    return i;
  };
  for (size_t i = 0; i < n_seqs; ++i) {
    const int32_t* q = seq_sym.data() + seq_start[i];
    for (size_t k = 0; k + 1 < seq_len[i]; ++k) {
      const uint32_t p = pidx(q[k], q[k + 1]);
      pair_count[p] += seq_count[i];
      if (where[p].empty() || where[p].back() != i) where[p].push_back(static_cast<uint32_t>(i));
    }
  }
  // Best first: count, then fewer characters, then the smaller merged string (compared
  // without building it), then the smaller (left, right) symbol ids - two pairs can spell
  // the same string ("a"+"bc", "ab"+"c"); the second one is skipped when it comes up.
  auto string_less = [&](const Cand& x, const Cand& y) {
    const std::string& xa = sym[size_t(pair_of[x.pair].first)];
    const std::string& xb = sym[size_t(pair_of[x.pair].second)];
    const std::string& ya = sym[size_t(pair_of[y.pair].first)];
    const std::string& yb = sym[size_t(pair_of[y.pair].second)];
    const size_t nx = xa.size() + xb.size(), ny = ya.size() + yb.size();
    for (size_t k = 0; k < std::min(nx, ny); ++k) {
      const unsigned char cx = static_cast<unsigned char>(k < xa.size() ? xa[k] : xb[k - xa.size()]);
      const unsigned char cy = static_cast<unsigned char>(k < ya.size() ? ya[k] : yb[k - ya.size()]);
      if (cx != cy) return cx < cy;
    }
    if (nx != ny) return nx < ny;
    return pair_of[x.pair] < pair_of[y.pair];
  };
  auto worse = [&](const Cand& x, const Cand& y) {
    if (x.count != y.count) return x.count < y.count;
    if (x.chars != y.chars) return x.chars > y.chars;
    return string_less(y, x);
  };
  std::priority_queue<Cand, std::vector<Cand>, decltype(worse)> queue(worse);
  auto push = [&](uint32_t p) {
    const int64_t c = pair_count[p];
    const uint32_t len = sym_chars[size_t(pair_of[p].first)] + sym_chars[size_t(pair_of[p].second)];
    if (c > 0 && len <= static_cast<uint32_t>(o.max_piece_length)) queue.push(Cand{c, len, p});
  };
  for (uint32_t p = 0; p < pair_count.size(); ++p) push(p);

  const size_t target = static_cast<size_t>(o.vocab_size) - meta - required.size();
  SpmBpeVocab out;
  std::vector<std::string> learned;
  std::unordered_set<std::string> dup;
  std::vector<uint32_t> stamp(n_seqs, 0), changed;
  std::vector<uint8_t> changed_mark;
  uint32_t round = 0;
  while (learned.size() < target && !queue.empty()) {
    const Cand top = queue.top();
    queue.pop();
    const uint32_t p = top.pair;
    if (pair_count[p] != top.count) {  // stale entry
      if (pair_count[p] > 0) push(p);
      continue;
    }
    const auto [a, b] = pair_of[p];
    std::string s = sym[static_cast<size_t>(a)] + sym[static_cast<size_t>(b)];
    pair_count[p] = 0;
    if (!dup.insert(s).second) continue;  // the same string by another path: not selected again
    out.merges.emplace_back(sym[static_cast<size_t>(a)], sym[static_cast<size_t>(b)]);
    const int32_t m = intern(s, top.chars);
    learned.push_back(std::move(s));
    ++round;
    changed.clear();
    auto change = [&](int32_t x, int32_t y, int64_t delta, uint32_t wi) {
      const uint32_t q = pidx(x, y);
      pair_count[q] += delta;
      if (delta > 0) {
        if (where[q].empty() || where[q].back() != wi) where[q].push_back(wi);
        if (q >= changed_mark.size()) changed_mark.resize(pair_count.size() * 2 + 16, 0);
        if (!changed_mark[q]) {
          changed_mark[q] = 1;
          changed.push_back(q);
        }
      }
    };
    const std::vector<uint32_t> ws = std::move(where[p]);
    where[p].clear();
    for (uint32_t wi : ws) {
      if (stamp[wi] == round) continue;  // listed twice
      stamp[wi] = round;
      int32_t* q = seq_sym.data() + seq_start[wi];
      const size_t len = seq_len[wi];
      const int64_t c = seq_count[wi];
      size_t outp = 0;  // q[0, outp) is the merged prefix; q[k, len) not yet read
      for (size_t k = 0; k < len;) {
        if (k + 1 < len && q[k] == a && q[k + 1] == b) {
          if (outp > 0) {
            change(q[outp - 1], a, -c, wi);
            change(q[outp - 1], m, c, wi);
          }
          if (k + 2 < len) {
            change(b, q[k + 2], -c, wi);
            change(m, q[k + 2], c, wi);
          }
          q[outp++] = m;
          k += 2;
        } else {
          q[outp++] = q[k++];
        }
      }
      seq_len[wi] = outp;
    }
    for (uint32_t q : changed) {
      changed_mark[q] = 0;
      push(q);
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
