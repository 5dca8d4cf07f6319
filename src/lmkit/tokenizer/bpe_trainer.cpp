#include "lmkit/tokenizer/bpe_trainer.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <queue>
#include <unordered_map>

#include "lmkit/core/error.h"
#include "lmkit/core/thread_pool.h"
#include "lmkit/tokenizer/pair_index.h"

namespace lmkit {

// ------------------------------------------------------------------ word counting

namespace {

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using CountMap = std::unordered_map<std::string, uint64_t, StringHash, std::equal_to<>>;

void count_into(CountMap& m, std::string_view w) {
  auto it = m.find(w);
  if (it != m.end())
    ++it->second;
  else
    m.emplace(std::string(w), 1);
}

}  // namespace

struct WordCounter::Table {
  CountMap counts;
};

WordCounter::WordCounter(const Normalizer* normalizer, const PreTokenizer& pre_tokenizer)
    : normalizer_(normalizer), pre_(pre_tokenizer), table_(std::make_unique<Table>()) {}

WordCounter::~WordCounter() = default;

void WordCounter::add_chunk(std::string_view chunk) {
  ThreadPool& pool = thread_pool();
  int nt = pool.size();
  // Thread ranges cut after a newline so no word straddles two threads.
  std::vector<size_t> cuts(size_t(nt) + 1, 0);
  cuts[size_t(nt)] = chunk.size();
  for (int t = 1; t < nt; ++t) {
    size_t c = std::max(cuts[size_t(t) - 1], chunk.size() * size_t(t) / size_t(nt));
    size_t nl = chunk.find('\n', c);
    cuts[size_t(t)] = nl == std::string_view::npos ? chunk.size() : nl + 1;
  }
  std::vector<CountMap> local(static_cast<size_t>(nt));
  pool.run([&](int tid, int) {
    std::string_view part = chunk.substr(cuts[size_t(tid)], cuts[size_t(tid) + 1] - cuts[size_t(tid)]);
    if (part.empty()) return;
    std::string normalized;
    if (normalizer_) {
      normalized = normalizer_->normalize(part);
      part = normalized;
    }
    PieceStore store;
    CountMap& m = local[size_t(tid)];
    pre_.split_stream({part, cuts[size_t(tid)] == 0 && total_bytes_ == 0}, store, [&](std::vector<Piece>& batch) {
      for (const Piece& p : batch) count_into(m, p.text);
    });
  });
  for (auto& m : local)
    for (auto& [w, c] : m) table_->counts[w] += c;
  total_bytes_ += chunk.size();
}

void WordCounter::add_text(std::string_view text) {
  constexpr size_t kChunk = 16u << 20;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = std::min(text.size(), pos + kChunk);
    if (end < text.size()) {
      size_t nl = text.rfind('\n', end);
      if (nl != std::string_view::npos && nl >= pos) end = nl + 1;
    }
    add_chunk(text.substr(pos, end - pos));
    pos = end;
  }
}

void WordCounter::add_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) fail("{}: cannot open: {}", path, std::strerror(errno));
  constexpr size_t kChunk = 16u << 20;
  std::string buf, carry;
  buf.resize(kChunk);
  while (true) {
    f.read(buf.data(), std::streamsize(kChunk));
    size_t got = size_t(f.gcount());
    if (got == 0) break;
    std::string chunk = std::move(carry);
    chunk.append(buf.data(), got);
    carry.clear();
    if (f) {  // more to come: keep the text after the last newline for the next chunk
      size_t nl = chunk.rfind('\n');
      if (nl != std::string::npos) {
        carry = chunk.substr(nl + 1);
        chunk.resize(nl + 1);
      }
    }
    add_chunk(chunk);
  }
  check(!f.bad(), "{}: read failed", path);
  if (!carry.empty()) add_chunk(carry);
}

std::vector<std::pair<std::string, uint64_t>> WordCounter::counts() const {
  std::vector<std::pair<std::string, uint64_t>> v(table_->counts.begin(), table_->counts.end());
  std::sort(v.begin(), v.end());
  return v;
}

// ------------------------------------------------------------------------ training

namespace {

struct HeapEntry {
  uint64_t count;
  int32_t a, b;
  // Max-heap on count; on equal counts the smaller (a, b) comes first.
  bool operator<(const HeapEntry& o) const {
    if (count != o.count) return count < o.count;
    return std::pair(a, b) > std::pair(o.a, o.b);
  }
};

}  // namespace

BpeTrainResult train_byte_level_bpe(const std::vector<std::pair<std::string, uint64_t>>& words,
                                    const BpeTrainerOptions& options) {
  const int64_t n_special = int64_t(options.special_tokens.size());
  check(options.vocab_size >= 256 + n_special,
        "vocab size {} is smaller than the 256 bytes plus {} special tokens", options.vocab_size, n_special);
  BpeTrainResult r;
  for (int b = 0; b < 256; ++b) r.tokens.push_back(std::string(1, char(b)));
  r.special_tokens = options.special_tokens;
  const int64_t n_merges = options.vocab_size - 256 - n_special;

  // Words as symbol arrays (flat), with their counts.
  std::vector<int32_t> sym;
  std::vector<uint64_t> wstart, wlen, wcount;
  for (const auto& [w, c] : words) {
    if (w.size() < 2) continue;  // single bytes hold no pair
    wstart.push_back(sym.size());
    wlen.push_back(w.size());
    wcount.push_back(c);
    for (char ch : w) sym.push_back(int32_t(uint8_t(ch)));
  }
  const size_t nw = wstart.size();

  PairIndex index;
  std::vector<int64_t> count;             // pair index -> weighted count
  std::vector<std::vector<uint32_t>> where;  // pair index -> words (may repeat / be stale)
  std::vector<std::pair<int32_t, int32_t>> pair_of;
  auto pidx = [&](int32_t a, int32_t b) {
    uint32_t i = index.get(pair_key(a, b));
    if (i == count.size()) {
      count.push_back(0);
      where.emplace_back();
      pair_of.emplace_back(a, b);
    }
    return i;
  };
  for (size_t w = 0; w < nw; ++w) {
    const int32_t* s = sym.data() + wstart[w];
    for (size_t k = 0; k + 1 < wlen[w]; ++k) {
      uint32_t p = pidx(s[k], s[k + 1]);
      count[p] += int64_t(wcount[w]);
      if (where[p].empty() || where[p].back() != w) where[p].push_back(uint32_t(w));
    }
  }
  std::priority_queue<HeapEntry> heap;
  for (size_t p = 0; p < count.size(); ++p)
    if (count[p] > 0) heap.push({uint64_t(count[p]), pair_of[p].first, pair_of[p].second});

  std::vector<uint32_t> stamp(nw, 0), touched;
  std::vector<uint32_t> changed;
  std::vector<uint8_t> changed_mark;
  uint32_t round = 0;
  while (int64_t(r.merges.size()) < n_merges && !heap.empty()) {
    HeapEntry top = heap.top();
    heap.pop();
    uint32_t p = index.get(pair_key(top.a, top.b));
    if (uint64_t(count[p]) != top.count) {  // stale: counts only fall after creation
      if (count[p] > 0) heap.push({uint64_t(count[p]), top.a, top.b});
      continue;
    }
    if (top.count < std::max<uint64_t>(options.min_frequency, 1)) break;
    const int32_t a = top.a, b = top.b, id = int32_t(r.tokens.size());
    r.tokens.push_back(r.tokens[size_t(a)] + r.tokens[size_t(b)]);
    r.merges.emplace_back(a, b);
    ++round;
    changed.clear();
    auto add = [&](int32_t x, int32_t y, int64_t delta, uint32_t w) {
      uint32_t q = pidx(x, y);
      if (q == p) return;
      if (q >= changed_mark.size()) changed_mark.resize(count.size() * 2 + 16, 0);
      count[q] += delta;
      if (delta > 0) {
        if (where[q].empty() || where[q].back() != w) where[q].push_back(w);
        if (!changed_mark[q]) {
          changed_mark[q] = 1;
          changed.push_back(q);
        }
      }
    };
    std::vector<uint32_t> ws = std::move(where[p]);
    where[p].clear();
    for (uint32_t w : ws) {
      if (stamp[w] == round) continue;
      stamp[w] = round;
      int32_t* s = sym.data() + wstart[w];
      size_t len = wlen[w], out = 0;
      int64_t c = int64_t(wcount[w]);
      for (size_t k = 0; k < len;) {
        if (k + 1 < len && s[k] == a && s[k + 1] == b) {
          if (out > 0) {
            add(s[out - 1], a, -c, w);
            add(s[out - 1], id, c, w);
          }
          if (k + 2 < len) {
            add(b, s[k + 2], -c, w);
            add(id, s[k + 2], c, w);
          }
          s[out++] = id;
          k += 2;
        } else {
          s[out++] = s[k++];
        }
      }
      wlen[w] = out;
    }
    count[p] = 0;
    for (uint32_t q : changed) {
      changed_mark[q] = 0;
      if (count[q] > 0) heap.push({uint64_t(count[q]), pair_of[q].first, pair_of[q].second});
    }
  }
  return r;
}

}  // namespace lmkit
