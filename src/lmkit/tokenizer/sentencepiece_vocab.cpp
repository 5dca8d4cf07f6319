#include "lmkit/tokenizer/sentencepiece_vocab.h"

#include <algorithm>
#include <atomic>
#include <cstring>

#include "lmkit/core/error.h"

namespace lmkit {

bool spm_valid_utf8_prefix(std::string_view s, size_t& len) {
  // sentencepiece util.cc DecodeUTF8; IsValidDecodeUTF8 also accepts U+FFFD itself.
  len = 1;
  if (s.empty()) return false;
  const auto b = [&](size_t i) { return static_cast<uint8_t>(s[i]); };
  const auto trail = [&](size_t i) { return (b(i) & 0xC0) == 0x80; };
  const auto valid_cp = [](uint32_t c) { return c < 0xD800 || (c >= 0xE000 && c <= 0x10FFFF); };
  const size_t n = s.size();
  if (b(0) < 0x80) return true;
  if (n >= 2 && (b(0) & 0xE0) == 0xC0) {
    const uint32_t cp = ((b(0) & 0x1Fu) << 6) | (b(1) & 0x3Fu);
    if (trail(1) && cp >= 0x80 && valid_cp(cp)) { len = 2; return true; }
  } else if (n >= 3 && (b(0) & 0xF0) == 0xE0) {
    const uint32_t cp = ((b(0) & 0x0Fu) << 12) | ((b(1) & 0x3Fu) << 6) | (b(2) & 0x3Fu);
    if (trail(1) && trail(2) && cp >= 0x800 && valid_cp(cp)) { len = 3; return true; }
  } else if (n >= 4 && (b(0) & 0xF8) == 0xF0) {
    const uint32_t cp = ((b(0) & 0x07u) << 18) | ((b(1) & 0x3Fu) << 12) |
                        ((b(2) & 0x3Fu) << 6) | (b(3) & 0x3Fu);
    if (trail(1) && trail(2) && trail(3) && cp >= 0x10000 && valid_cp(cp)) { len = 4; return true; }
  }
  len = 1;
  return false;
}

// ---- PieceHashMap ----

uint64_t PieceHashMap::hash_bytes(std::string_view s) {
  // 64-bit multiply-xorshift over 8-byte words (a small wyhash-style mix).
  uint64_t h = 0x9E3779B97F4A7C15ull ^ (s.size() * 0xFF51AFD7ED558CCDull);
  const char* p = s.data();
  size_t n = s.size();
  while (n >= 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    h = (h ^ w) * 0xBF58476D1CE4E5B9ull;
    h ^= h >> 31;
    p += 8;
    n -= 8;
  }
  uint64_t w = 0;
  for (size_t i = 0; i < n; ++i) w |= static_cast<uint64_t>(static_cast<uint8_t>(p[i])) << (8 * i);
  h = (h ^ w) * 0x94D049BB133111EBull;
  h ^= h >> 29;
  h *= 0xBF58476D1CE4E5B9ull;
  h ^= h >> 32;
  return h;
}

void PieceHashMap::reserve(size_t n) {
  size_t cap = 16;
  while (cap < n * 2 + 2) cap <<= 1;
  if (cap <= slots_.size()) return;
  std::vector<Slot> old = std::move(slots_);
  slots_.assign(cap, Slot{});
  mask_ = cap - 1;
  for (const Slot& s : old) {
    if (s.value < 0) continue;
    size_t i = s.hash & mask_;
    while (slots_[i].value >= 0) i = (i + 1) & mask_;
    slots_[i] = s;
  }
}

bool PieceHashMap::insert(std::string_view key, int32_t value) {
  check(value >= 0, "PieceHashMap: negative value");
  if ((count_ + 1) * 2 > slots_.size()) reserve(std::max<size_t>(count_ + 1, slots_.size()));
  const uint64_t h = hash_bytes(key);
  const uint32_t h32 = static_cast<uint32_t>(h);
  size_t i = h32 & mask_;
  while (slots_[i].value >= 0) {
    const Slot& s = slots_[i];
    if (s.hash == h32 && s.length == key.size() &&
        std::memcmp(keys_.data() + s.offset, key.data(), key.size()) == 0)
      return false;
    i = (i + 1) & mask_;
  }
  check(keys_.size() + key.size() < 0xFFFFFFFFull, "PieceHashMap: keys exceed 4 GiB");
  Slot& s = slots_[i];
  s.offset = static_cast<uint32_t>(keys_.size());
  s.length = static_cast<uint32_t>(key.size());
  s.value = value;
  s.hash = h32;
  keys_.append(key);
  ++count_;
  return true;
}

int32_t PieceHashMap::find(std::string_view key) const {
  if (count_ == 0) return -1;
  const uint64_t h = hash_bytes(key);
  const uint32_t h32 = static_cast<uint32_t>(h);
  size_t i = h32 & mask_;
  while (true) {
    const Slot& s = slots_[i];
    if (s.value < 0) return -1;
    if (s.hash == h32 && s.length == key.size() &&
        std::memcmp(keys_.data() + s.offset, key.data(), key.size()) == 0)
      return s.value;
    i = (i + 1) & mask_;
  }
}

// ---- PieceTrie ----

PieceTrie::PieceTrie(std::vector<std::pair<std::string_view, int32_t>> keys) {
  std::stable_sort(keys.begin(), keys.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  keys.erase(std::remove_if(keys.begin(), keys.end(), [](const auto& k) { return k.first.empty(); }),
             keys.end());
  // Build breadth-first: each work item is a node with the key range [lo, hi) sharing
  // its prefix of length depth; children are the distinct bytes at `depth`.
  struct Work {
    uint32_t node;
    size_t lo, hi, depth;
  };
  nodes_.push_back(Node{});
  std::vector<Work> queue{{0, 0, keys.size(), 0}};
  for (size_t qi = 0; qi < queue.size(); ++qi) {
    const Work w = queue[qi];
    size_t lo = w.lo;
    // Keys ending exactly here give the node its value (first one kept).
    while (lo < w.hi && keys[lo].first.size() == w.depth) {
      if (nodes_[w.node].value < 0) nodes_[w.node].value = keys[lo].second;
      ++lo;
    }
    nodes_[w.node].first_edge = static_cast<uint32_t>(labels_.size());
    size_t i = lo;
    while (i < w.hi) {
      const uint8_t c = static_cast<uint8_t>(keys[i].first[w.depth]);
      size_t j = i + 1;
      while (j < w.hi && static_cast<uint8_t>(keys[j].first[w.depth]) == c) ++j;
      const uint32_t child = static_cast<uint32_t>(nodes_.size());
      nodes_.push_back(Node{});
      labels_.push_back(c);
      children_.push_back(child);
      queue.push_back({child, i, j, w.depth + 1});
      i = j;
    }
    nodes_[w.node].num_edges = static_cast<uint32_t>(labels_.size()) - nodes_[w.node].first_edge;
  }
  std::fill(std::begin(root_), std::end(root_), kNone);
  const Node& r = nodes_[0];
  for (uint32_t e = r.first_edge; e < r.first_edge + r.num_edges; ++e) root_[labels_[e]] = children_[e];
}

uint32_t PieceTrie::child(uint32_t node, uint8_t byte) const {
  if (node == 0) return root_[byte];
  const Node& n = nodes_[node];
  const uint8_t* lab = labels_.data() + n.first_edge;
  uint32_t lo = 0, hi = n.num_edges;
  if (hi <= 8) {
    for (uint32_t k = 0; k < hi; ++k)
      if (lab[k] == byte) return children_[n.first_edge + k];
    return kNone;
  }
  while (lo < hi) {
    const uint32_t mid = (lo + hi) / 2;
    if (lab[mid] < byte) lo = mid + 1;
    else hi = mid;
  }
  if (lo < n.num_edges && lab[lo] == byte) return children_[n.first_edge + lo];
  return kNone;
}

size_t PieceTrie::longest_prefix(std::string_view s, int32_t* value) const {
  size_t best = 0;
  common_prefix_search(s, [&](size_t len, int32_t v) {
    best = len;
    if (value) *value = v;
  });
  return best;
}

// ---- SpmVocabIndex ----

std::string spm_byte_piece(uint8_t b) {
  static const char* hex = "0123456789ABCDEF";
  std::string s = "<0x00>";
  s[3] = hex[b >> 4];
  s[4] = hex[b & 15];
  return s;
}

int spm_piece_to_byte(std::string_view p) {
  // sentencepiece PieceToByte: exactly "<0x" two upper-case hex digits ">".
  if (p.size() != 6 || p.substr(0, 3) != "<0x" || p[5] != '>') return -1;
  auto hexval = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  const int hi = hexval(p[3]), lo = hexval(p[4]);
  if (hi < 0 || lo < 0) return -1;
  return hi * 16 + lo;
}

SpmVocabIndex::SpmVocabIndex(const SpmModelSpec& spec, const std::string& source)
    : pieces_text_(&spec.pieces) {
  const size_t n = spec.pieces.size();
  check(n > 0, "{}: the model has no pieces", source);
  check(n < (1u << 30), "{}: too many pieces ({})", source, n);
  pieces_.reserve(n);
  types_.resize(n);
  scores_.resize(n);
  std::fill(std::begin(byte_ids_), std::end(byte_ids_), -1);
  std::vector<std::pair<std::string_view, int32_t>> user;
  for (size_t i = 0; i < n; ++i) {
    const SpmPiece& p = spec.pieces[i];
    const int32_t id = static_cast<int32_t>(i);
    check(!p.piece.empty(), "{}: piece {} is empty", source, i);
    const int t = static_cast<int>(p.type);
    check(t >= 1 && t <= 6, "{}: piece {} ({}) has unknown type {}", source, i, p.piece, t);
    types_[i] = p.type;
    scores_[i] = p.score;
    const bool normal = p.type == SpmPieceType::kNormal || p.type == SpmPieceType::kUserDefined ||
                        p.type == SpmPieceType::kUnused;
    check((normal ? pieces_ : reserved_).insert(p.piece, id), "{}: piece \"{}\" is defined twice",
          source, p.piece);
    if (p.type == SpmPieceType::kUserDefined) user.emplace_back(p.piece, id);
    if (p.type == SpmPieceType::kUnknown) {
      check(unk_id_ < 0, "{}: more than one unknown piece ({} and {})", source, unk_id_, i);
      unk_id_ = id;
    }
    if (p.type == SpmPieceType::kByte) {
      check(spec.byte_fallback, "{}: byte piece {} found although byte_fallback is false", source,
            p.piece);
      const int b = spm_piece_to_byte(p.piece);
      check(b >= 0, "{}: byte piece \"{}\" is not of the form <0xNN>", source, p.piece);
      byte_ids_[b] = id;
    }
  }
  check(unk_id_ >= 0, "{}: the model has no unknown piece", source);
  static std::atomic<uint64_t> generations{0};
  generation_ = ++generations;
  static constexpr std::string_view kSpace = "\xe2\x96\x81";
  for (size_t i = 0; i < n && independent_words_; ++i) {
    const SpmPiece& p = spec.pieces[i];
    if (p.type != SpmPieceType::kNormal && p.type != SpmPieceType::kUserDefined && p.type != SpmPieceType::kUnused)
      continue;
    for (size_t pos = p.piece.find(kSpace, 1); pos != std::string::npos; pos = p.piece.find(kSpace, pos + 1)) {
      if (pos < kSpace.size() || p.piece.compare(pos - kSpace.size(), kSpace.size(), kSpace) != 0) {
        independent_words_ = false;
        break;
      }
    }
  }
  user_defined_ = PieceTrie(std::move(user));
}

int32_t SpmVocabIndex::piece_to_id(std::string_view piece) const {
  int32_t id = reserved_.find(piece);
  if (id >= 0) return id;
  id = pieces_.find(piece);
  return id >= 0 ? id : unk_id_;
}

size_t SpmVocabIndex::prefix_match(std::string_view s, bool& found) const {
  const size_t len = user_defined_.empty() ? 0 : user_defined_.longest_prefix(s);
  found = len > 0;
  if (found) return len;
  return std::min(s.size(), spm_one_char_len(s[0]));
}

}  // namespace lmkit
