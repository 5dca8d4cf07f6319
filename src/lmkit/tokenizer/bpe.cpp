#include "lmkit/tokenizer/bpe.h"

#include <algorithm>
#include <climits>
#include <cstring>

#include "lmkit/core/error.h"
#include "lmkit/tokenizer/unicode.h"

namespace lmkit {

// (left id, right id) -> (rank, merged id), open addressing over 64-bit keys.
struct Bpe::PairMap {
  struct Slot {
    uint64_t key = kEmpty;
    int32_t rank = 0, merged = 0;
  };
  static constexpr uint64_t kEmpty = ~0ull;
  std::vector<Slot> slots;
  size_t mask = 0;

  static uint64_t key_of(int32_t a, int32_t b) { return (uint64_t(uint32_t(a)) << 32) | uint32_t(b); }
  static size_t hash(uint64_t k) {
    k ^= k >> 33;
    k *= 0xFF51AFD7ED558CCDull;
    k ^= k >> 33;
    return size_t(k);
  }
  explicit PairMap(size_t n) {
    size_t cap = 16;
    while (cap < n * 2 + 2) cap <<= 1;
    slots.assign(cap, Slot{});
    mask = cap - 1;
  }
  // Later duplicates overwrite earlier ones, as building HF's HashMap from the list does.
  void put(int32_t a, int32_t b, int32_t rank, int32_t merged) {
    uint64_t k = key_of(a, b);
    size_t i = hash(k) & mask;
    while (slots[i].key != kEmpty && slots[i].key != k) i = (i + 1) & mask;
    slots[i] = {k, rank, merged};
  }
  inline const Slot* get(int32_t a, int32_t b) const {
    uint64_t k = key_of(a, b);
    size_t i = hash(k) & mask;
    while (true) {
      const Slot& s = slots[i];
      if (s.key == k) return &s;
      if (s.key == kEmpty) return nullptr;
      i = (i + 1) & mask;
    }
  }
};

PackedTokens PackedTokens::from(const std::vector<std::string>& tokens) {
  PackedTokens p;
  size_t total = 0;
  for (const auto& t : tokens) total += t.size();
  check(total < (size_t(1) << 32), "vocabulary bytes exceed 4 GiB");
  p.bytes.reserve(total);
  p.offsets.reserve(tokens.size() + 1);
  for (const auto& t : tokens) {
    p.offsets.push_back(uint32_t(p.bytes.size()));
    p.bytes += t;
  }
  p.offsets.push_back(uint32_t(p.bytes.size()));
  return p;
}

namespace {

// 64-bit hash of a short byte string (multiply-xorshift over 8-byte words).
inline uint64_t hash_bytes(const char* p, size_t n) {
  uint64_t h = 0x9E3779B97F4A7C15ull ^ (n * 0xFF51AFD7ED558CCDull);
  while (n >= 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    h = (h ^ w) * 0xBF58476D1CE4E5B9ull;
    h ^= h >> 31;
    p += 8;
    n -= 8;
  }
  if (n) {
    uint64_t w = 0;
    std::memcpy(&w, p, n);
    h = (h ^ w) * 0x94D049BB133111EBull;
  }
  h ^= h >> 29;
  h *= 0xBF58476D1CE4E5B9ull;
  return h ^ (h >> 32);
}

}  // namespace

int32_t Bpe::find(std::string_view key) const {
  uint64_t h = hash_bytes(key.data(), key.size());
  uint32_t tag = uint32_t(h >> 32);
  size_t i = size_t(h) & mask_;
  const char* arena = tokens_.bytes.data();
  const uint32_t* off = tokens_.offsets.data();
  while (true) {
    uint64_t s = slots_[i];
    if (s == 0) return -1;
    if (uint32_t(s >> 32) == tag) {
      uint32_t id = uint32_t(s) - 1;
      if (off[id + 1] - off[id] == key.size() && std::memcmp(arena + off[id], key.data(), key.size()) == 0)
        return int32_t(id);
    }
    i = (i + 1) & mask_;
  }
}

Bpe::Bpe(PackedTokens tokens, const std::vector<std::pair<int32_t, int32_t>>& merges, BpeOptions options,
         const std::string& source)
    : tokens_(std::move(tokens)), merges_(merges), options_(std::move(options)) {
  check(tokens_.size() > 0, "{}: empty BPE vocabulary", source);
  check(tokens_.size() < size_t(INT32_MAX), "{}: vocabulary too large", source);
  size_t cap = 16;
  while (cap < tokens_.size() + tokens_.size() / 3 + 1) cap <<= 1;  // load <= 0.75
  slots_.assign(cap, 0);
  mask_ = cap - 1;
  for (size_t id = 0; id < tokens_.size(); ++id) {
    std::string_view t = tokens_[id];
    if (t.empty()) continue;
    uint64_t h = hash_bytes(t.data(), t.size());
    uint32_t tag = uint32_t(h >> 32);
    size_t i = size_t(h) & mask_;
    bool dup = false;
    while (slots_[i] != 0) {
      uint64_t s = slots_[i];
      if (uint32_t(s >> 32) == tag && tokens_[uint32_t(s) - 1] == t) {
        dup = true;  // the first id keeps the bytes
        break;
      }
      i = (i + 1) & mask_;
    }
    if (!dup) slots_[i] = (uint64_t(tag) << 32) | uint64_t(id + 1);
  }
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    byte_fallback_ids_[b] = find(name);
  }
  if (options_.ranks == BpeOptions::Ranks::kVocabRanks) {
    check(options_.byte_level && options_.continuing_subword_prefix.empty() &&
              options_.end_of_word_suffix.empty(),
          "{}: vocabulary ranks need a plain byte-level vocabulary", source);
    return;
  }
  pairs_ = std::make_unique<PairMap>(merges_.size());
  size_t prefix_len = options_.continuing_subword_prefix.size();
  std::string merged;
  for (size_t rank = 0; rank < merges_.size(); ++rank) {
    auto [a, b] = merges_[rank];
    check(a >= 0 && b >= 0 && size_t(a) < tokens_.size() && size_t(b) < tokens_.size(),
          "{}: merge {} refers to a token id outside the vocabulary", source, rank);
    std::string_view tb = tokens_[size_t(b)];
    check(tb.size() >= prefix_len, "{}: merge {} right side '{}' is shorter than the prefix",
          source, rank, tb);
    merged = tokens_[size_t(a)];
    merged.append(tb.substr(prefix_len));
    int32_t m = find(merged);
    check(m >= 0, "{}: merge {} ('{}' + '{}') gives a token missing from the vocabulary", source,
          rank, tokens_[size_t(a)], tb);
    pairs_->put(a, b, int32_t(rank), m);
  }
}

Bpe::~Bpe() = default;
Bpe::Bpe(Bpe&&) noexcept = default;

inline std::pair<int32_t, int32_t> Bpe::pair_rank(std::string_view word, const Symbol& a,
                                                  const Symbol& b) const {
  if (!pairs_) {
    int32_t id = find(word.substr(a.start, size_t(a.len) + b.len));
    return id >= 0 ? std::pair{id, id} : std::pair{INT32_MAX, -1};
  }
  const PairMap::Slot* s = pairs_->get(a.id, b.id);
  return s ? std::pair{s->rank, s->merged} : std::pair{INT32_MAX, -1};
}

void Bpe::initial_symbols(std::string_view word, std::vector<Symbol>& syms) const {
  const BpeOptions& o = options_;
  const bool plain = o.continuing_subword_prefix.empty() && o.end_of_word_suffix.empty();
  // HF BPE::merge_word: each character (with prefix / suffix) is looked up; a missing one
  // becomes byte-fallback tokens when all of its bytes have one, else unk (fused or not).
  int32_t unk_start = -1;
  uint32_t unk_len = 0;
  auto flush_unk = [&] {
    if (unk_start >= 0) syms.push_back({o.unk_id, uint32_t(unk_start), unk_len});
    unk_start = -1;
  };
  std::string key;
  size_t i = 0, n = word.size();
  while (i < n) {
    size_t len = 1;
    if (!o.byte_level) {
      uint32_t cp;
      int l = unicode::decode_utf8(word.data(), n, i, cp);
      len = l > 0 ? size_t(l) : 1;
    }
    std::string_view ch = word.substr(i, len);
    int32_t id;
    std::string_view looked = ch;
    if (plain) {
      id = find(ch);
    } else {
      key.clear();
      if (i > 0) key += o.continuing_subword_prefix;
      key += ch;
      if (i + len == n) key += o.end_of_word_suffix;
      looked = key;
      id = find(key);
    }
    if (id >= 0) {
      flush_unk();
      syms.push_back({id, uint32_t(i), uint32_t(len)});
    } else {
      bool done = false;
      if (o.byte_fallback) {
        bool all = true;
        for (char c : looked) all = all && byte_fallback_ids_[uint8_t(c)] >= 0;
        if (all) {
          flush_unk();
          for (size_t k = 0; k < looked.size(); ++k)
            syms.push_back({byte_fallback_ids_[uint8_t(looked[k])], uint32_t(i + std::min(k, len - 1)), 1});
          done = true;
        }
      }
      if (!done && o.unk_id >= 0) {
        if (unk_start >= 0 && o.fuse_unk) {
          unk_len += uint32_t(len);
        } else {
          flush_unk();
          unk_start = int32_t(i);
          unk_len = uint32_t(len);
        }
      }
    }
    i += len;
  }
  flush_unk();
}

void Bpe::merge_scan(std::string_view word, std::vector<Symbol>& syms) const {
  // tiktoken byte_pair_merge: rescan for the lowest rank each round (words are short).
  thread_local std::vector<std::pair<int32_t, int32_t>> ranks;
  size_t n = syms.size();
  if (n < 2) return;
  ranks.resize(n - 1);
  for (size_t i = 0; i + 1 < n; ++i) ranks[i] = pair_rank(word, syms[i], syms[i + 1]);
  while (n > 1) {
    int32_t best = INT32_MAX;
    size_t bi = 0;
    for (size_t i = 0; i + 1 < n; ++i)
      if (ranks[i].first < best) {
        best = ranks[i].first;
        bi = i;
      }
    if (best == INT32_MAX) break;
    syms[bi].id = ranks[bi].second;
    syms[bi].len += syms[bi + 1].len;
    syms.erase(syms.begin() + std::ptrdiff_t(bi) + 1);
    ranks.erase(ranks.begin() + std::ptrdiff_t(bi));
    --n;
    if (bi > 0) ranks[bi - 1] = pair_rank(word, syms[bi - 1], syms[bi]);
    if (bi + 1 < n) ranks[bi] = pair_rank(word, syms[bi], syms[bi + 1]);
  }
}

void Bpe::merge_heap(std::string_view word, std::vector<Symbol>& syms) const {
  // HF Word::merge_all: a min-heap of candidate merges ordered by (rank, position) over a
  // doubly linked list of symbols; entries made stale by earlier merges are skipped.
  struct Entry {
    int32_t rank;
    uint32_t pos;
    int32_t merged, left, right;
    bool operator>(const Entry& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  thread_local std::vector<int32_t> prev, next;
  thread_local std::vector<Entry> heap;
  size_t n = syms.size();
  if (n < 2) return;
  prev.resize(n);
  next.resize(n);
  heap.clear();
  for (size_t i = 0; i < n; ++i) {
    prev[i] = int32_t(i) - 1;
    next[i] = i + 1 < n ? int32_t(i + 1) : -1;
  }
  auto push = [&](size_t a, size_t b) {
    auto [rank, merged] = pair_rank(word, syms[a], syms[b]);
    if (rank == INT32_MAX) return;
    heap.push_back({rank, uint32_t(a), merged, syms[a].id, syms[b].id});
    std::push_heap(heap.begin(), heap.end(), std::greater<Entry>());
  };
  for (size_t i = 0; i + 1 < n; ++i) push(i, i + 1);
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), std::greater<Entry>());
    Entry e = heap.back();
    heap.pop_back();
    size_t a = e.pos;
    if (syms[a].len == 0 || next[a] < 0) continue;
    size_t b = size_t(next[a]);
    if (syms[a].id != e.left || syms[b].id != e.right) continue;
    syms[a].id = e.merged;
    syms[a].len += syms[b].len;
    syms[b].len = 0;
    next[a] = next[b];
    if (next[b] >= 0) prev[size_t(next[b])] = int32_t(a);
    if (prev[a] >= 0) push(size_t(prev[a]), a);
    if (next[a] >= 0) push(a, size_t(next[a]));
  }
  size_t w = 0;
  for (int32_t i = 0; i >= 0; i = next[size_t(i)]) syms[w++] = syms[size_t(i)];
  syms.resize(w);
}

void Bpe::encode_word(std::string_view word, std::vector<int32_t>& ids) const {
  if (word.empty()) return;
  if (options_.ignore_merges || !pairs_) {
    int32_t id = find(word);
    if (id >= 0) {
      ids.push_back(id);
      return;
    }
  }
  thread_local std::vector<Symbol> syms;
  syms.clear();
  initial_symbols(word, syms);
  if (syms.size() <= 96)
    merge_scan(word, syms);
  else
    merge_heap(word, syms);
  for (const Symbol& s : syms) ids.push_back(s.id);
}

void Bpe::encode_word_heap(std::string_view word, std::vector<int32_t>& ids) const {
  if (word.empty()) return;
  if (options_.ignore_merges || !pairs_) {
    int32_t id = find(word);
    if (id >= 0) {
      ids.push_back(id);
      return;
    }
  }
  std::vector<Symbol> syms;
  initial_symbols(word, syms);
  merge_heap(word, syms);
  for (const Symbol& s : syms) ids.push_back(s.id);
}

}  // namespace lmkit
