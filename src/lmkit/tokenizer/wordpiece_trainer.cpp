#include "lmkit/tokenizer/wordpiece_trainer.h"

#include <algorithm>
#include <queue>
#include <unordered_map>
#include <unordered_set>

#include "lmkit/core/error.h"
#include "lmkit/tokenizer/sentencepiece_vocab.h"

namespace lmkit {

namespace {

using PairKey = uint64_t;
PairKey key(int32_t a, int32_t b) { return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b); }
int32_t first_of(PairKey k) { return static_cast<int32_t>(k >> 32); }
int32_t second_of(PairKey k) { return static_cast<int32_t>(k & 0xFFFFFFFFu); }

struct Merge {
  int64_t count;
  PairKey pair;
};
// HF models/bpe/trainer.rs Merge ordering: highest count first; on ties the smaller
// (left id, right id) pair first.
struct MergeLess {
  bool operator()(const Merge& a, const Merge& b) const {
    return a.count < b.count || (a.count == b.count && a.pair > b.pair);
  }
};

// UTF-8 characters of `w` (invalid bytes as single-byte units).
void split_chars(std::string_view w, std::vector<std::string_view>& out) {
  out.clear();
  size_t pos = 0;
  while (pos < w.size()) {
    size_t len = 1;
    spm_valid_utf8_prefix(w.substr(pos), len);
    out.push_back(w.substr(pos, len));
    pos += len;
  }
}

}  // namespace

WordPieceVocab train_wordpiece(const std::vector<std::pair<std::string, uint64_t>>& word_counts,
                               const WordPieceTrainerOptions& o) {
  check(o.vocab_size > 0, "wordpiece trainer: vocab_size must be positive");
  const std::string& prefix = o.continuing_subword_prefix;
  std::vector<std::string> id2w;
  std::unordered_map<std::string, int32_t> w2id;
  auto add = [&](const std::string& s) -> int32_t {
    auto it = w2id.find(s);
    if (it != w2id.end()) return it->second;
    const int32_t id = static_cast<int32_t>(id2w.size());
    id2w.push_back(s);
    w2id.emplace(s, id);
    return id;
  };
  // 1. Special tokens (the unknown token among them), in the given order.
  for (const auto& s : o.special_tokens) add(s);
  if (!o.unk_token.empty()) add(o.unk_token);

  // Words in a fixed order (HF iterates a hash map; sorting makes ids deterministic).
  std::vector<std::pair<std::string_view, int64_t>> words;
  words.reserve(word_counts.size());
  std::unordered_map<std::string_view, size_t> word_index;
  for (const auto& [w, c] : word_counts) {
    if (w.empty() || c == 0) continue;
    auto [it, fresh] = word_index.emplace(w, words.size());
    if (fresh) words.emplace_back(w, static_cast<int64_t>(c));
    else words[it->second].second += static_cast<int64_t>(c);
  }
  std::sort(words.begin(), words.end());

  // 2. Alphabet (compute_alphabet): characters by weighted frequency, limit_alphabet most
  //    frequent kept, added sorted by code point (byte order of UTF-8 = code point order).
  std::unordered_map<std::string, int64_t> alphabet;
  std::vector<std::string_view> chars;
  for (const auto& [w, c] : words) {
    split_chars(w, chars);
    for (auto ch : chars) alphabet[std::string(ch)] += c;
  }
  std::vector<std::pair<std::string, int64_t>> kept(alphabet.begin(), alphabet.end());
  if (o.limit_alphabet > 0 && kept.size() > o.limit_alphabet) {
    std::sort(kept.begin(), kept.end(),
              [](const auto& a, const auto& b) { return a.second > b.second || (a.second == b.second && a.first < b.first); });
    kept.resize(o.limit_alphabet);
  }
  std::sort(kept.begin(), kept.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  for (const auto& [ch, f] : kept) add(ch);

  // 3. Words as symbol ids (tokenize_words): non-initial characters carry the prefix,
  //    added to the vocabulary as met; characters outside the alphabet are dropped.
  std::vector<std::vector<int32_t>> symbols(words.size());
  for (size_t i = 0; i < words.size(); ++i) {
    split_chars(words[i].first, chars);
    bool first = true;
    for (auto ch : chars) {
      std::string s(ch);
      if (!w2id.count(s)) {
        first = false;
        continue;
      }
      if (!first) s = prefix + s;
      symbols[i].push_back(add(s));
      first = false;
    }
  }

  // 4. Pair counts and where each pair occurs (count_pairs).
  std::unordered_map<PairKey, int64_t> pair_counts;
  std::unordered_map<PairKey, std::vector<uint32_t>> where;
  for (size_t i = 0; i < symbols.size(); ++i) {
    const auto& s = symbols[i];
    for (size_t k = 0; k + 1 < s.size(); ++k) {
      const PairKey p = key(s[k], s[k + 1]);
      pair_counts[p] += words[i].second;
      auto& v = where[p];
      if (v.empty() || v.back() != i) v.push_back(static_cast<uint32_t>(i));
    }
  }
  std::priority_queue<Merge, std::vector<Merge>, MergeLess> queue;
  for (const auto& [p, c] : pair_counts)
    if (c > 0) queue.push(Merge{c, p});

  // 5. Merge loop: most frequent pair first, counts updated incrementally.
  std::unordered_map<PairKey, std::unordered_set<uint32_t>> touched;
  while (static_cast<int64_t>(id2w.size()) < o.vocab_size && !queue.empty()) {
    Merge top = queue.top();
    queue.pop();
    const int64_t current = pair_counts[top.pair];
    if (top.count != current) {  // stale: re-queue with the current count
      if (current > 0) queue.push(Merge{current, top.pair});
      continue;
    }
    if (top.count < 1 || static_cast<uint64_t>(top.count) < o.min_frequency) break;
    const int32_t a = first_of(top.pair), b = second_of(top.pair);
    std::string part_b = id2w[static_cast<size_t>(b)];
    if (!prefix.empty() && part_b.compare(0, prefix.size(), prefix) == 0) part_b.erase(0, prefix.size());
    const int32_t merged = add(id2w[static_cast<size_t>(a)] + part_b);
    pair_counts[top.pair] = 0;
    touched.clear();
    auto change = [&](int32_t x, int32_t y, int64_t delta, uint32_t wi) {
      const PairKey p = key(x, y);
      pair_counts[p] += delta;
      if (delta > 0) touched[p].insert(wi);
    };
    for (uint32_t wi : where[top.pair]) {
      auto& s = symbols[wi];
      const int64_t c = words[wi].second;
      // HF models/bpe/word.rs Word::merge: left to right, non-overlapping.
      for (size_t k = 0; k + 1 < s.size();) {
        if (s[k] != a || s[k + 1] != b) {
          ++k;
          continue;
        }
        if (k > 0) {
          change(s[k - 1], a, -c, wi);
          change(s[k - 1], merged, c, wi);
        }
        if (k + 2 < s.size()) {
          change(b, s[k + 2], -c, wi);
          change(merged, s[k + 2], c, wi);
        }
        s[k] = merged;
        s.erase(s.begin() + static_cast<std::ptrdiff_t>(k) + 1);
        ++k;
      }
    }
    where.erase(top.pair);
    for (auto& [p, ws] : touched) {
      auto& v = where[p];
      v.insert(v.end(), ws.begin(), ws.end());
      std::sort(v.begin(), v.end());
      v.erase(std::unique(v.begin(), v.end()), v.end());
      const int64_t c = pair_counts[p];
      if (c > 0) queue.push(Merge{c, p});
    }
  }

  WordPieceVocab out;
  out.tokens = std::move(id2w);
  out.unk_token = o.unk_token;
  out.continuing_subword_prefix = prefix;
  return out;
}

}  // namespace lmkit
