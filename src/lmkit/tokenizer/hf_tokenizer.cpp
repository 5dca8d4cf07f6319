#include "lmkit/tokenizer/hf_tokenizer.h"

#include <algorithm>
#include <cstring>

#include "lmkit/core/error.h"
#include "lmkit/core/thread_pool.h"
#include "lmkit/tokenizer/byte_level.h"
#include "lmkit/tokenizer/regex_split.h"
#include "lmkit/tokenizer/sentencepiece_vocab.h"
#include "lmkit/tokenizer/unicode.h"
#include "lmkit/tokenizer/unigram.h"
#include "lmkit/tokenizer/wordpiece.h"

namespace lmkit {

// ---------------------------------------------------------------------------- models

namespace {

class BpeSubword final : public SubwordModel {
 public:
  explicit BpeSubword(Bpe bpe) : bpe_(std::move(bpe)) {}
  void tokenize(std::string_view word, std::vector<int32_t>& ids) const override {
    bpe_.encode_word(word, ids);
  }
  int64_t size() const override { return bpe_.size(); }
  std::string id_to_token(int32_t id) const override {
    if (id < 0 || id >= bpe_.size()) return {};
    std::string_view t = bpe_.token(id);
    return byte_level() ? byte_level::encode(t) : std::string(t);
  }
  std::optional<int32_t> token_to_id(std::string_view token) const override {
    int32_t id = -1;
    if (byte_level()) {
      if (auto raw = byte_level::decode(token)) id = bpe_.find(*raw);
    } else {
      id = bpe_.find(token);
    }
    return id >= 0 ? std::optional<int32_t>(id) : std::nullopt;
  }
  bool byte_level() const override { return bpe_.options().byte_level; }
  std::string token_bytes(int32_t id) const override {
    return id >= 0 && id < bpe_.size() ? std::string(bpe_.token(id)) : std::string();
  }

 private:
  Bpe bpe_;
};

class WordPieceSubword final : public SubwordModel {
 public:
  explicit WordPieceSubword(std::shared_ptr<const WordPieceModel> m) : m_(std::move(m)) {}
  void tokenize(std::string_view word, std::vector<int32_t>& ids) const override {
    m_->encode_word(word, ids);
  }
  int64_t size() const override { return m_->size(); }
  std::string id_to_token(int32_t id) const override {
    return id >= 0 && id < m_->size() ? m_->token(id) : std::string();
  }
  std::optional<int32_t> token_to_id(std::string_view token) const override {
    int32_t id = m_->find(token);
    return id >= 0 ? std::optional<int32_t>(id) : std::nullopt;
  }

 private:
  std::shared_ptr<const WordPieceModel> m_;
};

class UnigramSubword final : public SubwordModel {
 public:
  explicit UnigramSubword(std::shared_ptr<const UnigramModel> m) : m_(std::move(m)) {}
  void tokenize(std::string_view word, std::vector<int32_t>& ids) const override {
    m_->encode(word, ids);
  }
  int64_t size() const override { return m_->size(); }
  std::string id_to_token(int32_t id) const override {
    return id >= 0 && id < m_->size() ? m_->piece(id) : std::string();
  }
  std::optional<int32_t> token_to_id(std::string_view token) const override {
    int32_t id = m_->find(token);
    return id >= 0 ? std::optional<int32_t>(id) : std::nullopt;
  }

 private:
  std::shared_ptr<const UnigramModel> m_;
};

}  // namespace

std::unique_ptr<SubwordModel> make_bpe_model(Bpe bpe) { return std::make_unique<BpeSubword>(std::move(bpe)); }
std::unique_ptr<SubwordModel> make_wordpiece_model(std::shared_ptr<const WordPieceModel> model) {
  return std::make_unique<WordPieceSubword>(std::move(model));
}
std::unique_ptr<SubwordModel> make_unigram_model(std::shared_ptr<const UnigramModel> model) {
  return std::make_unique<UnigramSubword>(std::move(model));
}

// -------------------------------------------------------------------------- decoders

namespace {

class ByteLevelDecoder final : public Decoder {
 public:
  bool is_byte_level() const override { return true; }
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string out;
    for (const std::string& t : tokens) {
      auto raw = byte_level::decode(t);
      out += raw ? *raw : t;
    }
    tokens.assign(1, std::move(out));
  }
};

void replace_all(std::string& s, std::string_view from, std::string_view to) {
  if (from.empty()) return;
  std::string out;
  size_t prev = 0, p;
  while ((p = s.find(from, prev)) != std::string::npos) {
    out.append(s, prev, p - prev);
    out += to;
    prev = p + from.size();
  }
  out.append(s, prev);
  s.swap(out);
}

class MetaspaceDecoder final : public Decoder {
 public:
  MetaspaceDecoder(std::string rep, const std::string& scheme)
      : rep_(std::move(rep)), strip_first_(scheme != "never") {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (size_t i = 0; i < tokens.size(); ++i)
      replace_all(tokens[i], rep_, i == 0 && strip_first_ ? "" : " ");
  }

 private:
  std::string rep_;
  bool strip_first_;
};

class ReplaceDecoder final : public Decoder {
 public:
  ReplaceDecoder(std::string p, std::string c) : pattern_(std::move(p)), content_(std::move(c)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (auto& t : tokens) replace_all(t, pattern_, content_);
  }

 private:
  std::string pattern_, content_;
};

int parse_byte_token(const std::string& t) {
  // "<0xNN>" with upper-case hex, as HF byte_fallback writes it.
  if (t.size() != 6 || t[0] != '<' || t[1] != '0' || t[2] != 'x' || t[5] != '>') return -1;
  auto hex = [](char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  int h = hex(t[3]), l = hex(t[4]);
  return h < 0 || l < 0 ? -1 : h * 16 + l;
}

class ByteFallbackDecoder final : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::vector<std::string> out;
    std::string bytes;
    bool in_bytes = false;
    for (auto& t : tokens) {
      int b = parse_byte_token(t);
      if (b >= 0) {
        bytes.push_back(char(b));
        in_bytes = true;
        continue;
      }
      if (in_bytes) {
        out.push_back(std::move(bytes));
        bytes.clear();
        in_bytes = false;
      }
      out.push_back(std::move(t));
    }
    if (in_bytes) out.push_back(std::move(bytes));
    tokens.swap(out);
  }
};

class FuseDecoder final : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string all;
    for (auto& t : tokens) all += t;
    tokens.assign(1, std::move(all));
  }
};

class StripDecoder final : public Decoder {
 public:
  StripDecoder(std::string c, size_t start, size_t stop) : c_(std::move(c)), start_(start), stop_(stop) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    if (c_.empty()) return;
    for (auto& t : tokens) {
      size_t b = 0, e = t.size();
      for (size_t k = 0; k < start_ && t.compare(b, c_.size(), c_) == 0 && b + c_.size() <= e; ++k)
        b += c_.size();
      for (size_t k = 0; k < stop_ && e >= b + c_.size() && t.compare(e - c_.size(), c_.size(), c_) == 0; ++k)
        e -= c_.size();
      t = t.substr(b, e - b);
    }
  }

 private:
  std::string c_;
  size_t start_, stop_;
};

class WordPieceDecoder final : public Decoder {
 public:
  WordPieceDecoder(std::string prefix, bool cleanup) : prefix_(std::move(prefix)), cleanup_(cleanup) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    // HF decoders/wordpiece.rs.
    for (size_t i = 0; i < tokens.size(); ++i) {
      std::string& t = tokens[i];
      if (i != 0) {
        if (t.compare(0, prefix_.size(), prefix_) == 0)
          t.erase(0, prefix_.size());
        else
          t.insert(0, " ");
      }
      if (cleanup_) {
        static const std::pair<const char*, const char*> kRules[] = {
            {" .", "."}, {" ?", "?"}, {" !", "!"}, {" ,", ","}, {" ' ", "'"},
            {" n't", "n't"}, {" 'm", "'m"}, {" do not", " don't"}, {" 's", "'s"},
            {" 've", "'ve"}, {" 're", "'re"}};
        for (auto [a, b] : kRules) replace_all(t, a, b);
      }
    }
  }

 private:
  std::string prefix_;
  bool cleanup_;
};

class BpeSuffixDecoder final : public Decoder {
 public:
  explicit BpeSuffixDecoder(std::string s) : suffix_(std::move(s)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (size_t i = 0; i < tokens.size(); ++i)
      replace_all(tokens[i], suffix_, i + 1 == tokens.size() ? "" : " ");
  }

 private:
  std::string suffix_;
};

class SequenceDecoder final : public Decoder {
 public:
  explicit SequenceDecoder(std::vector<std::unique_ptr<Decoder>> s) : steps_(std::move(s)) {}
  bool is_byte_level() const override {
    if (steps_.empty()) return false;
    for (auto& s : steps_)
      if (!s->is_byte_level()) return false;
    return true;
  }
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (auto& s : steps_) s->decode_chain(tokens);
  }

 private:
  std::vector<std::unique_ptr<Decoder>> steps_;
};

}  // namespace

std::unique_ptr<Decoder> make_byte_level_decoder() { return std::make_unique<ByteLevelDecoder>(); }
std::unique_ptr<Decoder> make_metaspace_decoder(std::string replacement, const std::string& scheme) {
  return std::make_unique<MetaspaceDecoder>(std::move(replacement), scheme);
}
std::unique_ptr<Decoder> make_replace_decoder(std::string pattern, std::string content) {
  return std::make_unique<ReplaceDecoder>(std::move(pattern), std::move(content));
}
std::unique_ptr<Decoder> make_byte_fallback_decoder() { return std::make_unique<ByteFallbackDecoder>(); }
std::unique_ptr<Decoder> make_fuse_decoder() { return std::make_unique<FuseDecoder>(); }
std::unique_ptr<Decoder> make_strip_decoder(std::string content, size_t start, size_t stop) {
  return std::make_unique<StripDecoder>(std::move(content), start, stop);
}
std::unique_ptr<Decoder> make_wordpiece_decoder(std::string prefix, bool cleanup) {
  return std::make_unique<WordPieceDecoder>(std::move(prefix), cleanup);
}
std::unique_ptr<Decoder> make_bpe_suffix_decoder(std::string suffix) {
  return std::make_unique<BpeSuffixDecoder>(std::move(suffix));
}
std::unique_ptr<Decoder> make_sequence_decoder(std::vector<std::unique_ptr<Decoder>> steps) {
  return std::make_unique<SequenceDecoder>(std::move(steps));
}

// ------------------------------------------------------------------- added tokens

// Leftmost-longest matching of added tokens (HF uses an Aho-Corasick automaton with
// MatchKind::LeftmostLongest): a byte trie walked from each position whose byte can start
// a token.
struct PipelineTokenizer::AddedMatcher {
  struct Node {
    int32_t child[2] = {-1, -1};  // first child, next sibling
    uint8_t byte = 0;
    int32_t token = -1;  // index into added_tokens
  };
  std::vector<Node> nodes = std::vector<Node>(1);
  bool first_byte[256] = {};
  bool empty = true;

  void add(std::string_view s, int32_t token) {
    if (s.empty()) return;
    empty = false;
    first_byte[uint8_t(s[0])] = true;
    int32_t cur = 0;
    for (char ch : s) {
      uint8_t b = uint8_t(ch);
      int32_t c = nodes[size_t(cur)].child[0], found = -1;
      for (; c >= 0; c = nodes[size_t(c)].child[1])
        if (nodes[size_t(c)].byte == b) {
          found = c;
          break;
        }
      if (found < 0) {
        Node n;
        n.byte = b;
        n.child[1] = nodes[size_t(cur)].child[0];
        nodes.push_back(n);
        found = int32_t(nodes.size() - 1);
        nodes[size_t(cur)].child[0] = found;
      }
      cur = found;
    }
    if (nodes[size_t(cur)].token < 0) nodes[size_t(cur)].token = token;
  }
  // Longest token starting at text[i]: (length, token index) or (0, -1).
  std::pair<size_t, int32_t> longest(std::string_view text, size_t i) const {
    size_t best_len = 0;
    int32_t best = -1;
    int32_t cur = 0;
    for (size_t k = i; k < text.size(); ++k) {
      uint8_t b = uint8_t(text[k]);
      int32_t c = nodes[size_t(cur)].child[0];
      while (c >= 0 && nodes[size_t(c)].byte != b) c = nodes[size_t(c)].child[1];
      if (c < 0) break;
      cur = c;
      if (nodes[size_t(cur)].token >= 0) {
        best_len = k + 1 - i;
        best = nodes[size_t(cur)].token;
      }
    }
    return {best_len, best};
  }
};

namespace {

bool word_char_before(std::string_view s, size_t end) {
  if (end == 0) return false;
  size_t b = end - 1;
  while (b > 0 && (uint8_t(s[b]) & 0xC0) == 0x80 && end - b < 4) --b;
  uint32_t cp;
  int len = unicode::decode_utf8(s.data(), s.size(), b, cp);
  return len > 0 && b + size_t(len) == end && unicode::is_word_char(cp);
}
bool word_char_after(std::string_view s, size_t begin) {
  if (begin >= s.size()) return false;
  uint32_t cp;
  return unicode::decode_utf8(s.data(), s.size(), begin, cp) > 0 && unicode::is_word_char(cp);
}
// Start of the run of White_Space characters that ends at `end` (HF \s*$).
size_t space_run_start(std::string_view s, size_t begin, size_t end) {
  while (end > begin) {
    size_t b = end - 1;
    while (b > begin && (uint8_t(s[b]) & 0xC0) == 0x80 && end - b < 4) --b;
    uint32_t cp;
    int len = unicode::decode_utf8(s.data(), s.size(), b, cp);
    if (len == 0 || b + size_t(len) != end || !unicode::is_white_space(cp)) break;
    end = b;
  }
  return end;
}
size_t space_run_end(std::string_view s, size_t begin) {
  while (begin < s.size()) {
    uint32_t cp;
    int len = unicode::decode_utf8(s.data(), s.size(), begin, cp);
    if (len == 0 || !unicode::is_white_space(cp)) break;
    begin += size_t(len);
  }
  return begin;
}

}  // namespace

// HF AddedVocabulary::find_matches.
void PipelineTokenizer::split_added(std::string_view text, const AddedMatcher& m,
                                    std::vector<Segment>& out) const {
  if (m.empty) {
    if (!text.empty()) out.push_back({text, -1, 0});
    return;
  }
  size_t start_offset = 0, i = 0, n = text.size();
  while (i < n) {
    if (!m.first_byte[uint8_t(text[i])]) {
      ++i;
      continue;
    }
    auto [len, tok] = m.longest(text, i);
    if (tok < 0) {
      ++i;
      continue;
    }
    const AddedToken& at = parts_.added_tokens[size_t(tok)];
    size_t start = i, stop = i + len;
    i = stop;  // the automaton resumes after the match
    if (at.special && !parts_.match_special) continue;
    if (at.single_word && (word_char_before(text, start) || word_char_after(text, stop))) continue;
    if (at.lstrip) start = std::max(space_run_start(text, 0, start), start_offset);
    if (at.rstrip) stop = space_run_end(text, stop);
    if (start_offset < start) out.push_back({text.substr(start_offset, start - start_offset), -1, start_offset});
    out.push_back({text.substr(start, stop - start), at.id, start});
    start_offset = stop;
    i = std::max(i, stop);
  }
  if (start_offset < n) out.push_back({text.substr(start_offset), -1, start_offset});
}

// ------------------------------------------------------------------------ pipeline

PipelineTokenizer::PipelineTokenizer(PipelineParts parts) : parts_(std::move(parts)) {
  check(parts_.model != nullptr, "{}: tokenizer has no model", parts_.source);
  vocab_size_ = parts_.model->size();
  for (const AddedToken& t : parts_.added_tokens) {
    check(t.id >= 0, "{}: added token '{}' has a negative id", parts_.source, t.content);
    check(int64_t(t.id) < parts_.model->size() + int64_t(parts_.added_tokens.size()) + (1 << 20),
          "{}: added token '{}' has id {}, far beyond the vocabulary ({} tokens)", parts_.source, t.content,
          t.id, parts_.model->size());
    vocab_size_ = std::max<int64_t>(vocab_size_, int64_t(t.id) + 1);
  }
  for (int32_t id : parts_.special_prefix) check(id >= 0 && id < vocab_size_, "{}: post-processor id {} is outside the vocabulary", parts_.source, id);
  for (int32_t id : parts_.special_suffix) check(id >= 0 && id < vocab_size_, "{}: post-processor id {} is outside the vocabulary", parts_.source, id);
  added_index_.assign(size_t(vocab_size_), -1);
  raw_matcher_ = std::make_unique<AddedMatcher>();
  normalized_matcher_ = std::make_unique<AddedMatcher>();
  for (size_t k = 0; k < parts_.added_tokens.size(); ++k) {
    const AddedToken& t = parts_.added_tokens[k];
    added_index_[size_t(t.id)] = int32_t(k);
    if (t.normalized && parts_.normalizer) {
      normalized_matcher_->add(parts_.normalizer->normalize(t.content), int32_t(k));
    } else if (t.normalized) {
      normalized_matcher_->add(t.content, int32_t(k));
    } else {
      raw_matcher_->add(t.content, int32_t(k));
    }
  }
  bool byte_level = parts_.model->byte_level();
  raw_decode_ = byte_level && (!parts_.decoder || parts_.decoder->is_byte_level());
  if (raw_decode_) {
    decode_ranges_.assign(size_t(vocab_size_), ByteRange{0, 0});
    for (int64_t id = 0; id < vocab_size_; ++id) {
      size_t begin = decode_bytes_.size();
      int32_t k = added_index_[size_t(id)];
      if (k >= 0) {
        const std::string& c = parts_.added_tokens[size_t(k)].content;
        auto raw = byte_level::decode(c);
        decode_bytes_ += raw ? *raw : c;
      } else if (id < parts_.model->size()) {
        decode_bytes_ += parts_.model->token_bytes(int32_t(id));
      }
      check(decode_bytes_.size() < (size_t(1) << 32), "{}: vocabulary bytes exceed 4 GiB", parts_.source);
      decode_ranges_[size_t(id)] = {uint32_t(begin), uint32_t(decode_bytes_.size() - begin)};
    }
    decode_bytes_.append(16, '\0');
  }
}

PipelineTokenizer::~PipelineTokenizer() = default;

std::vector<int32_t> PipelineTokenizer::encode(std::string_view text, bool add_special) const {
  std::vector<int32_t> ids;
  if (add_special) ids = parts_.special_prefix;
  ids.reserve(ids.size() + text.size() / 3 + 16);
  ThreadPool& pool = thread_pool();
  const bool parallel = pool.size() > 1 && text.size() >= (1u << 20);

  // Words go straight to the model; with several threads they are gathered in batches
  // tokenized in parallel (contiguous ranges per thread, concatenated in order).
  struct Item {
    std::string_view text;
    int32_t id;  // >= 0: an added token
  };
  std::vector<Item> batch;
  std::vector<std::vector<int32_t>> partial(size_t(pool.size()));
  auto flush = [&] {
    if (batch.empty()) return;
    pool.run([&](int tid, int nt) {
      size_t b = batch.size() * size_t(tid) / size_t(nt), e = batch.size() * size_t(tid + 1) / size_t(nt);
      auto& out = partial[size_t(tid)];
      out.clear();
      for (size_t k = b; k < e; ++k) {
        if (batch[k].id >= 0) out.push_back(batch[k].id);
        else parts_.model->tokenize(batch[k].text, out);
      }
    });
    for (auto& p : partial) ids.insert(ids.end(), p.begin(), p.end());
    batch.clear();
  };
  auto token = [&](int32_t id) {
    if (parallel) batch.push_back({{}, id});
    else ids.push_back(id);
  };
  auto words = [&](std::vector<Piece>& pieces) {
    if (!parallel) {
      for (const Piece& p : pieces) parts_.model->tokenize(p.text, ids);
      return;
    }
    for (const Piece& p : pieces) batch.push_back({p.text, -1});
    if (batch.size() >= 65536) flush();
  };

  PieceStore store;
  std::vector<Segment> raw_segments, norm_segments;
  split_added(text, *raw_matcher_, raw_segments);
  for (const Segment& seg : raw_segments) {
    if (seg.id >= 0) {
      token(seg.id);
      continue;
    }
    std::string_view norm = seg.text;
    if (parts_.normalizer) {
      store.push_back(parts_.normalizer->normalize(seg.text));
      norm = store.back();
    }
    norm_segments.clear();
    split_added(norm, *normalized_matcher_, norm_segments);
    for (const Segment& sub : norm_segments) {
      if (sub.id >= 0) {
        token(sub.id);
        continue;
      }
      Piece p{sub.text, seg.offset == 0 && sub.offset == 0};
      if (!parts_.pre_tokenizer) {
        std::vector<Piece> one{p};
        words(one);
      } else {
        parts_.pre_tokenizer->split_stream(p, store, words);
      }
    }
  }
  if (parallel) flush();
  if (add_special) ids.insert(ids.end(), parts_.special_suffix.begin(), parts_.special_suffix.end());
  return ids;
}

std::string PipelineTokenizer::decode(std::span<const int32_t> ids) const {
  if (raw_decode_) {
    // One pass to validate and size, one to copy: 16 bytes at a time for short tokens
    // (the table and the output carry 16 bytes of slack).
    size_t total = 0;
    const ByteRange* ranges = decode_ranges_.data();
    for (int32_t id : ids) {
      check(id >= 0 && id < vocab_size_, "{}: token id {} is outside the vocabulary (size {})",
            parts_.source, id, vocab_size_);
      total += ranges[id].length;
    }
    std::string out;
    out.resize(total + 16);
    char* p = out.data();
    const char* src = decode_bytes_.data();
    for (int32_t id : ids) {
      ByteRange r = ranges[id];
      if (r.length <= 16)
        std::memcpy(p, src + r.offset, 16);
      else
        std::memcpy(p, src + r.offset, r.length);
      p += r.length;
    }
    out.resize(total);
    return out;
  }
  for (int32_t id : ids)
    check(id >= 0 && id < vocab_size_, "{}: token id {} is outside the vocabulary (size {})",
          parts_.source, id, vocab_size_);
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (int32_t id : ids) tokens.push_back(token_text(id));
  if (parts_.decoder) {
    parts_.decoder->decode_chain(tokens);
    std::string out;
    for (auto& t : tokens) out += t;
    return out;
  }
  std::string out;
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (i) out.push_back(' ');
    out += tokens[i];
  }
  return out;
}

std::string PipelineTokenizer::token_text(int32_t id) const {
  check(id >= 0 && id < vocab_size_, "{}: token id {} is outside the vocabulary (size {})",
        parts_.source, id, vocab_size_);
  int32_t k = added_index_[size_t(id)];
  if (k >= 0) return parts_.added_tokens[size_t(k)].content;
  return parts_.model->id_to_token(id);
}

std::optional<int32_t> PipelineTokenizer::token_to_id(std::string_view token) const {
  for (const AddedToken& t : parts_.added_tokens)
    if (t.content == token) return t.id;
  return parts_.model->token_to_id(token);
}

// ------------------------------------------------------------- byte-level BPE spec

std::vector<std::string> byte_level_tokens_to_bytes(const std::vector<std::string>& tokens) {
  std::vector<std::string> raw(tokens.size());
  for (size_t i = 0; i < tokens.size(); ++i) {
    auto r = byte_level::decode(tokens[i]);
    raw[i] = r ? std::move(*r) : tokens[i];
  }
  return raw;
}

std::unique_ptr<PipelineTokenizer> make_byte_level_bpe_tokenizer(ByteLevelBpeSpec spec) {
  check(!spec.tokens.empty(), "{}: empty vocabulary", spec.source);
  PieceHashMap index(spec.tokens.size());
  for (size_t i = 0; i < spec.tokens.size(); ++i) index.insert(spec.tokens[i], int32_t(i));
  std::vector<std::pair<int32_t, int32_t>> merges;
  merges.reserve(spec.merges.size());
  for (size_t r = 0; r < spec.merges.size(); ++r) {
    const auto& [a, b] = spec.merges[r];
    int32_t ia = index.find(a), ib = index.find(b);
    check(ia >= 0 && ib >= 0, "{}: merge {} ('{}' '{}') uses a token missing from the vocabulary",
          spec.source, r + 1, a, b);
    merges.emplace_back(ia, ib);
  }
  BpeOptions o;
  o.ranks = BpeOptions::Ranks::kMergeList;
  o.byte_level = true;
  o.ignore_merges = spec.ignore_merges;
  Bpe bpe(byte_level_tokens_to_bytes(spec.tokens), merges, o, spec.source);

  PipelineParts parts;
  parts.source = spec.source;
  parts.added_tokens = std::move(spec.added_tokens);
  parts.normalizer = std::move(spec.normalizer);
  std::vector<std::unique_ptr<PreTokenizer>> steps;
  for (const std::string& p : spec.patterns) {
    auto named = split_pattern_by_name(p);
    steps.push_back(make_split_pretokenizer(named ? *named : p, true, SplitBehavior::kIsolated, false));
  }
  if (steps.size() == 1)
    parts.pre_tokenizer = std::move(steps[0]);
  else if (!steps.empty())
    parts.pre_tokenizer = make_sequence_pretokenizer(std::move(steps));
  parts.model = make_bpe_model(std::move(bpe));
  parts.match_special = spec.match_special;
  parts.bos_id = spec.bos_id;
  parts.eos_id = spec.eos_id;
  if (spec.add_bos && spec.bos_id) parts.special_prefix.push_back(*spec.bos_id);
  if (spec.add_eos && spec.eos_id) parts.special_suffix.push_back(*spec.eos_id);
  return std::make_unique<PipelineTokenizer>(std::move(parts));
}

}  // namespace lmkit
