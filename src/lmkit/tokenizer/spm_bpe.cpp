#include "lmkit/tokenizer/spm_bpe.h"

#include <algorithm>
#include <string>
#include <unordered_map>

#include "lmkit/tokenizer/sentencepiece_vocab.h"

namespace lmkit {

namespace {

// bpe_model.cc Model::Encode, data structures kept as there.
struct Symbol {
  int32_t prev, next;  // -1 at the ends
  uint32_t begin, length;
  bool freeze;         // user-defined piece: never merged
};
struct SymbolPair {
  int32_t left, right;
  float score;
  uint32_t size;
};
struct PairLess {  // SymbolPairComparator: max score first, then the leftmost
  bool operator()(const SymbolPair& a, const SymbolPair& b) const {
    return a.score < b.score || (a.score == b.score && a.left > b.left);
  }
};

struct Scratch {
  std::vector<Symbol> symbols;
  std::vector<SymbolPair> heap;
};

// bpe_model.cc Model::Encode on `text`, a piece of the normalized input starting at byte
// `base` of it.
void encode_segment(const SpmVocabIndex& index, std::string_view text, uint32_t base, std::vector<SpmSegment>& out) {
  if (text.empty()) return;
  thread_local Scratch scratch;
  std::vector<Symbol>& symbols = scratch.symbols;
  symbols.clear();
  // Reverse merges of UNUSED pieces (rarely any): merged piece -> its two parts.
  std::unordered_map<std::string_view, std::pair<std::string_view, std::string_view>> rev_merge;

  // The agenda: a max-heap (std::push_heap / pop_heap) in reused storage.
  std::vector<SymbolPair>& agenda = scratch.heap;
  agenda.clear();
  auto maybe_add = [&](int32_t left, int32_t right) {
    if (left < 0 || right < 0 || symbols[left].freeze || symbols[right].freeze) return;
    const std::string_view piece = text.substr(symbols[left].begin, symbols[left].length + symbols[right].length);
    const int32_t id = index.find_mergeable(piece);
    if (id < 0) return;
    agenda.push_back(SymbolPair{left, right, index.score(id), static_cast<uint32_t>(piece.size())});
    std::push_heap(agenda.begin(), agenda.end(), PairLess{});
    if (index.type(id) == SpmPieceType::kUnused)
      rev_merge[piece] = {text.substr(symbols[left].begin, symbols[left].length),
                          text.substr(symbols[right].begin, symbols[right].length)};
  };

  // Split into characters; user-defined pieces stay whole and frozen.
  std::string_view rest = text;
  uint32_t pos = 0;
  while (!rest.empty()) {
    bool found = false;
    const size_t len = index.prefix_match(rest, found);
    const int32_t i = static_cast<int32_t>(symbols.size());
    rest.remove_prefix(len);
    symbols.push_back(Symbol{i - 1, rest.empty() ? -1 : i + 1, pos, static_cast<uint32_t>(len), found});
    pos += static_cast<uint32_t>(len);
  }
  for (size_t i = 1; i < symbols.size(); ++i) maybe_add(static_cast<int32_t>(i - 1), static_cast<int32_t>(i));

  while (!agenda.empty()) {
    std::pop_heap(agenda.begin(), agenda.end(), PairLess{});
    const SymbolPair top = agenda.back();
    agenda.pop_back();
    Symbol& l = symbols[top.left];
    Symbol& r = symbols[top.right];
    // Stale: one side already merged away or grown since the pair was pushed.
    if (l.length == 0 || r.length == 0 || l.length + r.length != top.size) continue;
    l.length += r.length;
    l.next = r.next;
    if (r.next >= 0) symbols[r.next].prev = top.left;
    r.length = 0;
    maybe_add(l.prev, top.left);
    maybe_add(top.left, l.next);
  }

  // Resegment UNUSED pieces into their parts (recursively), as Model::Encode does.
  auto emit = [&](auto&& self, std::string_view w) -> void {
    const int32_t id = index.piece_to_id(w);
    if (index.type(id) != SpmPieceType::kUnused) {
      out.push_back(SpmSegment{base + static_cast<uint32_t>(w.data() - text.data()),
                               static_cast<uint32_t>(w.size()), id});
      return;
    }
    const auto it = rev_merge.find(w);
    if (it == rev_merge.end()) {
      out.push_back(SpmSegment{base + static_cast<uint32_t>(w.data() - text.data()),
                               static_cast<uint32_t>(w.size()), id});
      return;
    }
    self(self, it->second.first);
    self(self, it->second.second);
  };
  for (int32_t i = 0; i != -1; i = symbols[i].next) emit(emit, text.substr(symbols[i].begin, symbols[i].length));

}

}  // namespace

void spm_bpe_encode(const SpmVocabIndex& index, std::string_view text, std::vector<SpmSegment>& out) {
  if (!index.independent_words()) {
    encode_segment(index, text, 0, out);
    return;
  }
  // No piece spans "x▁" (x not ▁), so segments cut before such a "▁" are independent:
  // merges inside one never see another, and the result equals one pass over the text.
  // Small segments keep the agenda small and in cache.
  static constexpr std::string_view kSpace = "\xe2\x96\x81";
  // Per-thread cache of short segments ("▁word"s repeat): segment -> its segments
  // relative to the segment start. Keyed by the index generation; bounded.
  struct Cache {
    uint64_t generation = 0;
    std::unordered_map<std::string, std::vector<SpmSegment>> map;
  };
  thread_local Cache cache;
  if (cache.generation != index.generation()) {
    cache.map.clear();
    cache.generation = index.generation();
  }
  thread_local std::vector<SpmSegment> tmp;
  thread_local std::string key;
  auto encode_cached = [&](std::string_view seg, uint32_t base) {
    if (seg.size() > 48) {
      encode_segment(index, seg, base, out);
      return;
    }
    key.assign(seg);
    auto it = cache.map.find(key);
    if (it == cache.map.end()) {
      tmp.clear();
      encode_segment(index, seg, 0, tmp);
      if (cache.map.size() >= 65536) cache.map.clear();
      it = cache.map.emplace(key, tmp).first;
    }
    for (const SpmSegment& s : it->second) out.push_back(SpmSegment{base + s.begin, s.length, s.id});
  };
  size_t start = 0;
  size_t pos = text.find(kSpace, 1);
  while (pos != std::string_view::npos) {
    const bool after_space = pos >= kSpace.size() && text.compare(pos - kSpace.size(), kSpace.size(), kSpace) == 0;
    if (!after_space && pos > start) {
      encode_cached(text.substr(start, pos - start), static_cast<uint32_t>(start));
      start = pos;
    }
    pos = text.find(kSpace, pos + 1);
  }
  encode_cached(text.substr(start), static_cast<uint32_t>(start));
}

}  // namespace lmkit
