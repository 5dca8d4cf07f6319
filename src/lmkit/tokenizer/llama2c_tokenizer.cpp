#include "lmkit/tokenizer/llama2c_tokenizer.h"

#include <algorithm>

#include "lmkit/core/error.h"
#include "lmkit/tokenizer/sentencepiece_vocab.h"

namespace lmkit {

namespace {

// run.c decode: sscanf(piece, "<0x%02hhX>", &byte) == 1, i.e. "<0x" then one or two hex
// digits (either case); what follows is not checked.
int run_c_byte_piece(std::string_view p) {
  if (p.size() < 4 || p.substr(0, 3) != "<0x") return -1;
  auto hexval = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  int v = hexval(p[3]);
  if (v < 0) return -1;
  if (p.size() > 4 && hexval(p[4]) >= 0) v = v * 16 + hexval(p[4]);
  return v;
}

struct Sym {
  int32_t id;
  int32_t prev, next;  // linked list over positions; -1 at the ends
};
struct Cand {
  float score;
  int32_t left, right;  // symbol positions
  int32_t left_id, right_id, merged_id;
};
struct CandLess {  // best score first, then the leftmost (run.c's strict '>' scan)
  bool operator()(const Cand& a, const Cand& b) const {
    return a.score < b.score || (a.score == b.score && a.left > b.left);
  }
};

}  // namespace

Llama2cTokenizer::Llama2cTokenizer(std::vector<std::string> vocab, std::vector<float> scores,
                                   int32_t max_token_length, const std::string& source)
    : vocab_(std::move(vocab)), scores_(std::move(scores)), max_token_length_(max_token_length) {
  check(!vocab_.empty(), "{}: empty vocabulary", source);
  check(vocab_.size() == scores_.size(), "{}: {} tokens but {} scores", source, vocab_.size(), scores_.size());
  check(vocab_.size() < (1u << 30), "{}: too many tokens ({})", source, vocab_.size());
  check(vocab_.size() >= 3 + 256, "{}: {} tokens; run.c needs <unk>, <s>, </s> and 256 byte tokens (ids 3..258)",
        source, vocab_.size());
  map_ = std::make_unique<PieceHashMap>(vocab_.size());
  byte_value_.assign(vocab_.size(), -1);
  for (size_t i = 0; i < vocab_.size(); ++i) {
    // run.c keeps C strings: a token is cut at its first NUL byte.
    const size_t nul = vocab_[i].find('\0');
    if (nul != std::string::npos) vocab_[i].resize(nul);
    // run.c's str_lookup bsearches a sorted copy; for a repeated string we keep the
    // first id (the file's own vocabularies have none).
    map_->insert(vocab_[i], static_cast<int32_t>(i));
    byte_value_[i] = static_cast<int16_t>(run_c_byte_piece(vocab_[i]));
    for (size_t k = 1; k < vocab_[i].size() && independent_words_; ++k)
      if (vocab_[i][k] == ' ' && vocab_[i][k - 1] != ' ') independent_words_ = false;
  }
}

Llama2cTokenizer::~Llama2cTokenizer() = default;

std::optional<int32_t> Llama2cTokenizer::token_to_id(std::string_view token) const {
  const int32_t id = map_->find(token);
  return id >= 0 ? std::optional<int32_t>(id) : std::nullopt;
}

std::string Llama2cTokenizer::token_text(int32_t id) const {
  check(id >= 0 && static_cast<size_t>(id) < vocab_.size(), "llama2.c tokenizer: id {} is outside the vocabulary ({})",
        id, vocab_.size());
  return vocab_[static_cast<size_t>(id)];
}

std::vector<int32_t> Llama2cTokenizer::encode(std::string_view text, bool add_special) const {
  // run.c encode(). Code points are looked up whole, else byte fallback (byte + 3); then
  // the merge loop, here with a heap instead of run.c's O(n^2) rescans: each step takes
  // the adjacent pair with the highest-scoring concatenation, the leftmost on ties, which
  // is exactly what run.c's scan with a strict '>' picks; stale heap entries are skipped.
  std::vector<int32_t> out;
  if (add_special) out.push_back(1);
  if (text.empty()) return out;
  thread_local std::vector<Sym> syms;
  thread_local std::vector<Cand> heap;
  thread_local std::string buf;
  syms.clear();
  heap.clear();
  auto push = [&](int32_t id) {
    const int32_t i = static_cast<int32_t>(syms.size());
    syms.push_back(Sym{id, i - 1, i + 1});
  };
  const int32_t dummy = map_->find(" ");
  if (dummy >= 0) push(dummy);  // run.c adds str_lookup(" ") (-1 there if absent; we skip it)
  size_t i = 0;
  while (i < text.size()) {
    // A lead byte (or stray byte) plus following continuation bytes, at most 4 bytes.
    size_t len = 1;
    while (i + len < text.size() && (static_cast<uint8_t>(text[i + len]) & 0xC0) == 0x80 && len < 4) ++len;
    const int32_t id = map_->find(text.substr(i, len));
    if (id >= 0) {
      push(id);
    } else {
      for (size_t k = 0; k < len; ++k) push(static_cast<uint8_t>(text[i + k]) + 3);
    }
    i += len;
  }
  if (syms.empty()) return out;
  syms.back().next = -1;
  auto consider = [&](int32_t l, int32_t r) {
    if (l < 0 || r < 0) return;
    const std::string& a = vocab_[static_cast<size_t>(syms[l].id)];
    const std::string& b = vocab_[static_cast<size_t>(syms[r].id)];
    buf.assign(a);
    buf.append(b);
    const int32_t id = map_->find(buf);
    if (id < 0) return;
    const float score = scores_[static_cast<size_t>(id)];
    if (!(score > -1e10f)) return;  // run.c starts from best_score = -1e10
    heap.push_back(Cand{score, l, r, syms[l].id, syms[r].id, id});
    std::push_heap(heap.begin(), heap.end(), CandLess{});
  };
  // Merges one run of symbols [lo, hi) linked among themselves.
  auto merge_range = [&](int32_t lo, int32_t hi) {
    syms[lo].prev = -1;
    syms[hi - 1].next = -1;
    heap.clear();
    for (int32_t k = lo; k + 1 < hi; ++k) consider(k, k + 1);
    while (!heap.empty()) {
      std::pop_heap(heap.begin(), heap.end(), CandLess{});
      const Cand c = heap.back();
      heap.pop_back();
      Sym& l = syms[c.left];
      // Valid only if both symbols are unchanged and still adjacent (a symbol's token
      // only grows by merging, so an equal id means unchanged).
      if (l.id != c.left_id || l.next != c.right || syms[c.right].id != c.right_id) continue;
      l.id = c.merged_id;
      l.next = syms[c.right].next;
      if (l.next >= 0) syms[l.next].prev = c.left;
      syms[c.right].id = -1;
      consider(l.prev, c.left);
      consider(c.left, l.next);
    }
    for (int32_t k = lo; k != -1; k = syms[k].next) out.push_back(syms[k].id);
  };
  const int32_t n = static_cast<int32_t>(syms.size());
  if (!independent_words_) {
    merge_range(0, n);
    return out;
  }
  // A merged pair's string would contain "x " (x not a space) across a cut made before a
  // symbol starting with ' ' that follows one not ending in ' ': no token has that, so
  // segments merge independently, exactly as one pass over the whole text.
  int32_t lo = 0;
  for (int32_t k = 1; k < n; ++k) {
    const std::string& cur = vocab_[static_cast<size_t>(syms[k].id)];
    const std::string& prev = vocab_[static_cast<size_t>(syms[k - 1].id)];
    if (!cur.empty() && cur[0] == ' ' && !prev.empty() && prev.back() != ' ') {
      merge_range(lo, k);
      lo = k;
    }
  }
  merge_range(lo, n);
  return out;
}

std::string Llama2cTokenizer::decode(std::span<const int32_t> ids) const {
  std::string out;
  int32_t prev = -1;
  for (int32_t id : ids) {
    check(id >= 0 && static_cast<size_t>(id) < vocab_.size(), "llama2.c tokenizer: id {} is outside the vocabulary ({})",
          id, vocab_.size());
    if (id == 1) {  // run.c never prints BOS ("\n<s>\n" in the file): it starts or ends a sequence
      prev = id;
      continue;
    }
    std::string_view piece = vocab_[static_cast<size_t>(id)];
    // run.c: after BOS (1) the leading space of the piece is stripped.
    if (prev == 1 && !piece.empty() && piece[0] == ' ') piece.remove_prefix(1);
    const int b = run_c_byte_piece(piece);
    if (b >= 0) {
      // run.c returns a C string of that byte: a 0x00 byte prints nothing.
      if (b != 0) out.push_back(static_cast<char>(b));
    } else {
      out.append(piece);
    }
    prev = id;
  }
  return out;
}

}  // namespace lmkit
