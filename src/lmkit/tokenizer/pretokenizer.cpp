#include "lmkit/tokenizer/pretokenizer.h"

#include <algorithm>
#include <utility>

#include "lmkit/core/error.h"
#include "lmkit/tokenizer/byte_level.h"
#include "lmkit/tokenizer/regex_split.h"
#include "lmkit/tokenizer/unicode.h"
#include "lmkit/tokenizer/wordpiece.h"

namespace lmkit {

namespace {

// (span, is_match) covering a piece; HF Pattern::find_matches output.
using Parts = std::vector<std::pair<Span, bool>>;

// HF NormalizedString::split: folds the parts by behavior, drops empty pieces.
void emit(const Piece& p, Parts& parts, SplitBehavior behavior, bool invert,
          std::vector<Piece>& out) {
  if (invert)
    for (auto& part : parts) part.second = !part.second;
  std::vector<std::pair<Span, bool>> splits;  // (span, remove)
  switch (behavior) {
    case SplitBehavior::kIsolated:
      for (auto& [s, m] : parts) splits.push_back({s, false});
      break;
    case SplitBehavior::kRemoved:
      splits = parts;
      break;
    case SplitBehavior::kContiguous: {
      bool prev = false;
      for (auto& [s, m] : parts) {
        if (m == prev && !splits.empty())
          splits.back().first.second = s.second;
        else
          splits.push_back({s, false});
        prev = m;
      }
      break;
    }
    case SplitBehavior::kMergedWithPrevious: {
      bool prev = false;
      for (auto& [s, m] : parts) {
        if (m && !prev && !splits.empty())
          splits.back().first.second = s.second;
        else
          splits.push_back({s, false});
        prev = m;
      }
      break;
    }
    case SplitBehavior::kMergedWithNext: {
      bool prev = false;
      for (size_t k = parts.size(); k-- > 0;) {
        auto& [s, m] = parts[k];
        if (m && !prev && !splits.empty())
          splits.back().first.first = s.first;
        else
          splits.push_back({s, false});
        prev = m;
      }
      std::reverse(splits.begin(), splits.end());
      break;
    }
  }
  for (auto& [s, remove] : splits) {
    if (remove || s.second <= s.first) continue;
    out.push_back({p.text.substr(s.first, s.second - s.first), p.at_start && s.first == 0});
  }
}

// Parts from regex matches plus the gaps between them.
void parts_from_matches(size_t n, const std::vector<Span>& matches, Parts& parts) {
  size_t prev = 0;
  for (auto [b, e] : matches) {
    if (prev != b) parts.push_back({{prev, b}, false});
    parts.push_back({{b, e}, true});
    prev = e;
  }
  if (prev != n) parts.push_back({{prev, n}, false});
}

// Parts where every character satisfying `pred` is a match of its own.
template <typename Pred>
void parts_from_chars(std::string_view t, Pred pred, Parts& parts) {
  size_t last = 0;
  unicode::for_each_code_point(t, [&](uint32_t cp, size_t b, size_t len) {
    if (cp != unicode::kInvalid && pred(cp)) {
      if (last < b) parts.push_back({{last, b}, false});
      parts.push_back({{b, b + len}, true});
      last = b + len;
    }
  });
  if (last < t.size()) parts.push_back({{last, t.size()}, false});
}

constexpr size_t kBatch = 4096;

// Streams the regex's matches and the gaps between them, each its own word (Isolated).
void stream_isolated(const RegexSplitter& re, const Piece& p, const PreTokenizer::Sink& sink) {
  std::vector<Span> matches;
  std::vector<Piece> batch;
  matches.reserve(kBatch + 1);
  batch.reserve(2 * kBatch + 2);
  RegexSplitter::Cursor cursor;
  size_t prev = 0;
  bool more = true;
  while (more) {
    matches.clear();
    batch.clear();
    more = re.next_matches(p.text, cursor, matches, kBatch, true);
    for (auto [b, e] : matches) {
      if (prev != b) batch.push_back({p.text.substr(prev, b - prev), p.at_start && prev == 0});
      batch.push_back({p.text.substr(b, e - b), p.at_start && b == 0});
      prev = e;
    }
    if (!more && prev != p.text.size()) batch.push_back({p.text.substr(prev), p.at_start && prev == 0});
    if (!batch.empty()) sink(batch);
  }
}

class SplitPreTokenizer final : public PreTokenizer {
 public:
  SplitPreTokenizer(const std::string& pattern, bool is_regex, SplitBehavior b, bool invert)
      : literal_(is_regex ? "" : pattern), behavior_(b), invert_(invert) {
    if (is_regex) regex_ = std::make_unique<RegexSplitter>(pattern);
  }
  void split_stream(const Piece& p, PieceStore& store, const Sink& sink) const override {
    if (regex_ && behavior_ == SplitBehavior::kIsolated && !invert_) return stream_isolated(*regex_, p, sink);
    PreTokenizer::split_stream(p, store, sink);
  }
  void split(const Piece& p, std::vector<Piece>& out, PieceStore&) const override {
    thread_local std::vector<Span> matches;
    thread_local Parts parts;
    matches.clear();
    parts.clear();
    if (regex_) {
      // Fast path for the common Isolated / not inverted split: matches cover the text.
      regex_->find_matches(p.text, matches, /*invalid_runs=*/true);
      if (behavior_ == SplitBehavior::kIsolated && !invert_) {
        size_t prev = 0;
        for (auto [b, e] : matches) {
          if (prev != b) out.push_back({p.text.substr(prev, b - prev), p.at_start && prev == 0});
          out.push_back({p.text.substr(b, e - b), p.at_start && b == 0});
          prev = e;
        }
        if (prev != p.text.size()) out.push_back({p.text.substr(prev), p.at_start && prev == 0});
        return;
      }
    } else if (!literal_.empty()) {
      size_t pos = 0;
      while ((pos = p.text.find(literal_, pos)) != std::string_view::npos) {
        matches.emplace_back(pos, pos + literal_.size());
        pos += literal_.size();
      }
    }
    parts_from_matches(p.text.size(), matches, parts);
    emit(p, parts, behavior_, invert_, out);
  }

 private:
  std::unique_ptr<RegexSplitter> regex_;
  std::string literal_;
  SplitBehavior behavior_;
  bool invert_;
};

class ByteLevelPreTokenizer final : public PreTokenizer {
 public:
  ByteLevelPreTokenizer(bool add_prefix_space, bool use_regex) : prefix_(add_prefix_space) {
    if (use_regex) regex_ = std::make_unique<RegexSplitter>(*split_pattern_by_name("gpt2"));
  }
  bool is_byte_level() const override { return true; }
  bool passthrough() const override { return !prefix_ && !regex_; }
  void split_stream(const Piece& p, PieceStore& store, const Sink& sink) const override {
    if (!regex_) return PreTokenizer::split_stream(p, store, sink);
    Piece q = p;
    if (prefix_ && (p.text.empty() || p.text[0] != ' ')) {
      store.emplace_back(" ");
      store.back().append(p.text);
      q.text = store.back();
    }
    stream_isolated(*regex_, q, sink);
  }
  void split(const Piece& p, std::vector<Piece>& out, PieceStore& store) const override {
    Piece q = p;
    if (prefix_ && (p.text.empty() || p.text[0] != ' ')) {
      store.emplace_back(" ");
      store.back().append(p.text);
      q.text = store.back();
    }
    if (!regex_) {
      if (!q.text.empty()) out.push_back(q);
      return;
    }
    thread_local std::vector<Span> matches;
    matches.clear();
    regex_->find_matches(q.text, matches, true);
    size_t prev = 0;
    for (auto [b, e] : matches) {
      if (prev != b) out.push_back({q.text.substr(prev, b - prev), q.at_start && prev == 0});
      out.push_back({q.text.substr(b, e - b), q.at_start && b == 0});
      prev = e;
    }
    if (prev != q.text.size()) out.push_back({q.text.substr(prev), q.at_start && prev == 0});
  }

 private:
  bool prefix_;
  std::unique_ptr<RegexSplitter> regex_;
};

class MetaspacePreTokenizer final : public PreTokenizer {
 public:
  MetaspacePreTokenizer(std::string replacement, const std::string& scheme, bool split)
      : rep_(std::move(replacement)), split_(split) {
    uint32_t cp = 0;
    check(!rep_.empty() && unicode::decode_utf8(rep_.data(), rep_.size(), 0, cp) == int(rep_.size()),
          "Metaspace replacement must be one character, got '{}'", rep_);
    rep_cp_ = cp;
    if (scheme == "always") scheme_ = 0;
    else if (scheme == "first") scheme_ = 1;
    else if (scheme == "never") scheme_ = 2;
    else fail("Metaspace prepend_scheme must be always, first or never, got '{}'", scheme);
  }
  void split(const Piece& p, std::vector<Piece>& out, PieceStore& store) const override {
    std::string s;
    s.reserve(p.text.size() + 8);
    for (char c : p.text) {
      if (c == ' ') s += rep_;
      else s.push_back(c);
    }
    bool starts = s.compare(0, rep_.size(), rep_) == 0;
    if (!starts && (scheme_ == 0 || (scheme_ == 1 && p.at_start))) s.insert(0, rep_);
    store.push_back(std::move(s));
    Piece q{store.back(), p.at_start};
    if (!split_) {
      if (!q.text.empty()) out.push_back(q);
      return;
    }
    thread_local Parts parts;
    parts.clear();
    parts_from_chars(q.text, [&](uint32_t cp) { return cp == rep_cp_; }, parts);
    emit(q, parts, SplitBehavior::kMergedWithNext, false, out);
  }

  // The words split() makes, in batches, without copying the whole text: every ' ' or
  // replacement character starts a word (MergedWithNext), so each word is the replacement
  // followed by a run holding neither, except a leading run that gets no replacement in
  // front when the prepend scheme says so. A byte search for the replacement finds exactly
  // the code points for_each_code_point finds: its first byte is ASCII or a UTF-8 lead byte,
  // which never sits inside another valid sequence, and an invalid byte is stepped over
  // alone.
  void split_stream(const Piece& p, PieceStore& store, const Sink& sink) const override {
    if (!split_) {
      PreTokenizer::split_stream(p, store, sink);
      return;
    }
    const std::string_view t = p.text, rep = rep_;
    const size_t n = t.size();
    auto delimiter_at = [&](size_t i) -> size_t {  // its length in bytes, 0 when none
      if (t[i] == ' ') return 1;
      return t[i] == rep[0] && t.substr(i, rep.size()) == rep ? rep.size() : 0;
    };
    auto run_end = [&](size_t i) {
      while (i < n && !delimiter_at(i)) ++i;
      return i;
    };
    std::string buf;  // the words of one batch, back to back
    std::vector<std::pair<size_t, bool>> ends;  // (end in buf, at_start)
    std::vector<Piece> batch;
    buf.reserve(kBatch * 16);
    ends.reserve(kBatch);
    auto flush = [&] {
      batch.clear();
      size_t b = 0;
      for (auto [e, at_start] : ends) {
        batch.push_back({std::string_view(buf).substr(b, e - b), at_start});
        b = e;
      }
      if (!batch.empty()) sink(batch);
      buf.clear();
      ends.clear();
    };
    size_t i = 0;
    if (n == 0 || !delimiter_at(0)) {  // the leading run
      const size_t e = run_end(0);
      if (scheme_ == 0 || (scheme_ == 1 && p.at_start)) buf += rep;
      buf.append(t.substr(0, e));
      if (!buf.empty()) ends.push_back({buf.size(), p.at_start});
      i = e;
    }
    while (i < n) {  // here a delimiter starts a word
      const size_t d = delimiter_at(i);
      const size_t e = run_end(i + d);
      buf += rep;
      buf.append(t.substr(i + d, e - i - d));
      ends.push_back({buf.size(), p.at_start && i == 0});  // the first word starts the piece
      if (ends.size() >= kBatch) flush();
      i = e;
    }
    flush();
  }

 private:
  std::string rep_;
  uint32_t rep_cp_ = 0;
  int scheme_ = 0;
  bool split_;
};

class WhitespacePreTokenizer final : public PreTokenizer {
 public:
  // \w+|[^\w\s]+ kept, whitespace removed.
  void split(const Piece& p, std::vector<Piece>& out, PieceStore&) const override {
    std::string_view t = p.text;
    size_t i = 0, n = t.size();
    auto kind = [&](size_t at, size_t& len) {
      uint32_t cp;
      int l = unicode::decode_utf8(t.data(), n, at, cp);
      len = l > 0 ? size_t(l) : 1;
      if (l == 0) return 2;  // ill-formed byte: neither word nor space
      if (unicode::is_word_char(cp)) return 0;
      if (unicode::is_white_space(cp)) return 1;
      return 2;
    };
    while (i < n) {
      size_t len;
      int k = kind(i, len);
      if (k == 1) {
        i += len;
        continue;
      }
      size_t j = i + len;
      while (j < n) {
        size_t l2;
        if (kind(j, l2) != k) break;
        j += l2;
      }
      out.push_back({t.substr(i, j - i), p.at_start && i == 0});
      i = j;
    }
  }
};

template <typename Pred>
class CharSplitPreTokenizer final : public PreTokenizer {
 public:
  CharSplitPreTokenizer(Pred pred, SplitBehavior b) : pred_(pred), behavior_(b) {}
  void split(const Piece& p, std::vector<Piece>& out, PieceStore&) const override {
    thread_local Parts parts;
    parts.clear();
    parts_from_chars(p.text, pred_, parts);
    emit(p, parts, behavior_, false, out);
  }

 private:
  Pred pred_;
  SplitBehavior behavior_;
};
template <typename Pred>
std::unique_ptr<PreTokenizer> char_split(Pred pred, SplitBehavior b) {
  return std::make_unique<CharSplitPreTokenizer<Pred>>(pred, b);
}

class BertPreTokenizer final : public PreTokenizer {
 public:
  void split(const Piece& p, std::vector<Piece>& out, PieceStore&) const override {
    thread_local std::vector<std::string_view> words;
    words.clear();
    bert_pre_tokenize(p.text, words);
    for (auto w : words) out.push_back({w, p.at_start && w.data() == p.text.data()});
  }
};

class SequencePreTokenizer final : public PreTokenizer {
 public:
  explicit SequencePreTokenizer(std::vector<std::unique_ptr<PreTokenizer>> s) : steps_(std::move(s)) {}
  bool is_byte_level() const override {
    for (auto& s : steps_)
      if (s->is_byte_level()) return true;
    return false;
  }
  void split(const Piece& p, std::vector<Piece>& out, PieceStore& store) const override {
    std::vector<Piece> cur{p};
    apply(0, false, cur, store);
    // (steps that pass words through are skipped by apply)
    out.insert(out.end(), cur.begin(), cur.end());
  }
  void split_stream(const Piece& p, PieceStore& store, const Sink& sink) const override {
    if (steps_.empty()) return PreTokenizer::split_stream(p, store, sink);
    bool mapped = steps_[0]->is_byte_level();
    steps_[0]->split_stream(p, store, [&](std::vector<Piece>& batch) {
      apply(1, mapped, batch, store);
      sink(batch);
    });
  }

 private:
  // Runs steps [first, end) over the words in `cur` (in place).
  void apply(size_t first, bool mapped, std::vector<Piece>& cur, PieceStore& store) const {
    std::vector<Piece> next;
    for (size_t k = first; k < steps_.size(); ++k) {
      const auto& step = steps_[k];
      if (step->passthrough()) {
        mapped = mapped || step->is_byte_level();
        continue;
      }
      next.clear();
      for (const Piece& q : cur) {
        if (!mapped || step->is_byte_level()) {
          step->split(q, next, store);
          continue;
        }
        store.push_back(byte_level::encode(q.text));
        std::vector<Piece> tmp;
        step->split({store.back(), q.at_start}, tmp, store);
        for (const Piece& r : tmp) {
          auto raw = byte_level::decode(r.text);
          store.push_back(raw ? std::move(*raw) : std::string(r.text));
          next.push_back({store.back(), r.at_start});
        }
      }
      if (step->is_byte_level()) mapped = true;
      cur.swap(next);
    }
  }

  std::vector<std::unique_ptr<PreTokenizer>> steps_;
};

}  // namespace

std::unique_ptr<PreTokenizer> make_split_pretokenizer(const std::string& pattern, bool is_regex,
                                                      SplitBehavior behavior, bool invert) {
  return std::make_unique<SplitPreTokenizer>(pattern, is_regex, behavior, invert);
}
std::unique_ptr<PreTokenizer> make_byte_level_pretokenizer(bool add_prefix_space, bool use_regex) {
  return std::make_unique<ByteLevelPreTokenizer>(add_prefix_space, use_regex);
}
std::unique_ptr<PreTokenizer> make_metaspace_pretokenizer(std::string replacement,
                                                          const std::string& prepend_scheme,
                                                          bool split) {
  return std::make_unique<MetaspacePreTokenizer>(std::move(replacement), prepend_scheme, split);
}
std::unique_ptr<PreTokenizer> make_whitespace_pretokenizer() {
  return std::make_unique<WhitespacePreTokenizer>();
}
std::unique_ptr<PreTokenizer> make_whitespace_split_pretokenizer() {
  return char_split([](uint32_t cp) { return unicode::is_white_space(cp); }, SplitBehavior::kRemoved);
}
std::unique_ptr<PreTokenizer> make_bert_pretokenizer() { return std::make_unique<BertPreTokenizer>(); }
std::unique_ptr<PreTokenizer> make_digits_pretokenizer(bool individual) {
  return char_split([](uint32_t cp) { return unicode::is_number(cp); },
                    individual ? SplitBehavior::kIsolated : SplitBehavior::kContiguous);
}
std::unique_ptr<PreTokenizer> make_punctuation_pretokenizer(SplitBehavior behavior) {
  // HF is_punc: char::is_ascii_punctuation || Unicode P*.
  return char_split(
      [](uint32_t cp) {
        bool ascii = cp < 0x80 && ((cp >= 0x21 && cp <= 0x2F) || (cp >= 0x3A && cp <= 0x40) ||
                                   (cp >= 0x5B && cp <= 0x60) || (cp >= 0x7B && cp <= 0x7E));
        return ascii || unicode::is_punctuation(cp);
      },
      behavior);
}
std::unique_ptr<PreTokenizer> make_sequence_pretokenizer(
    std::vector<std::unique_ptr<PreTokenizer>> steps) {
  return std::make_unique<SequencePreTokenizer>(std::move(steps));
}

}  // namespace lmkit
