#include "lmkit/tokenizer/wordpiece.h"

#include <algorithm>

#include "lmkit/core/error.h"
#include "lmkit/tokenizer/sentencepiece_vocab.h"
#include "lmkit/tokenizer/unicode.h"

namespace lmkit {

namespace {

// HF normalizers/bert.rs is_chinese_char: the CJK Unified Ideographs blocks.
bool is_chinese_char(uint32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
         (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}
// bert.rs is_whitespace: \t \n \r or Rust char::is_whitespace (the White_Space property).
bool bert_is_whitespace(uint32_t c) { return c == '\t' || c == '\n' || c == '\r' || unicode::is_white_space(c); }
// bert.rs is_control: unicode_categories is_other (Cc, Cf, Cn, Co, Cs) except \t \n \r.
bool bert_is_control(uint32_t c) {
  if (c == '\t' || c == '\n' || c == '\r') return false;
  return (unicode::category_mask(c) & unicode::kMaskC) != 0;
}
// pre_tokenizers/bert.rs is_bert_punc: ASCII punctuation or Unicode P*.
bool bert_is_punc(uint32_t c) {
  if (c < 0x80) return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126);
  return unicode::is_punctuation(c);
}
bool is_ascii(std::string_view s) {
  for (char c : s)
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  return true;
}

}  // namespace

void bert_normalize(std::string_view text, const BertNormalizerOptions& o, std::string& out) {
  // HF normalizers/bert.rs BertNormalizer::normalize: clean_text, handle_chinese_chars,
  // strip_accents (NFD, drop Mn), lowercase - in this order.
  std::string cleaned;
  cleaned.reserve(text.size() + 8);
  unicode::for_each_code_point(text, [&](uint32_t cp, size_t begin, size_t len) {
    if (cp == unicode::kInvalid) {
      // Not valid UTF-8 (HF only sees valid strings): treated like U+FFFD, which
      // clean_text removes; otherwise kept as the raw byte.
      if (!o.clean_text) cleaned.append(text.substr(begin, len));
      return;
    }
    if (o.clean_text) {
      if (cp == 0 || cp == 0xFFFD || bert_is_control(cp)) return;
      if (bert_is_whitespace(cp)) {
        cleaned.push_back(' ');
        return;
      }
    }
    if (o.handle_chinese_chars && is_chinese_char(cp)) {
      cleaned.push_back(' ');
      cleaned.append(text.substr(begin, len));
      cleaned.push_back(' ');
      return;
    }
    cleaned.append(text.substr(begin, len));
  });
  const bool strip = o.strip_accents.value_or(o.lowercase);
  if (is_ascii(cleaned)) {
    if (o.lowercase)
      for (char& c : cleaned)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
    out.append(cleaned);
    return;
  }
  if (strip) cleaned = unicode::strip_marks(unicode::normalize(cleaned, unicode::NormalForm::kNFD));
  if (o.lowercase) cleaned = unicode::to_lower(cleaned);
  out.append(cleaned);
}

void bert_pre_tokenize(std::string_view text, std::vector<std::string_view>& words) {
  // HF pre_tokenizers/bert.rs: split on whitespace (removed), then isolate punctuation.
  size_t word_begin = std::string_view::npos;
  auto close = [&](size_t end) {
    if (word_begin != std::string_view::npos && end > word_begin) words.push_back(text.substr(word_begin, end - word_begin));
    word_begin = std::string_view::npos;
  };
  unicode::for_each_code_point(text, [&](uint32_t cp, size_t begin, size_t len) {
    if (cp != unicode::kInvalid && unicode::is_white_space(cp)) {
      close(begin);
      return;
    }
    if (cp != unicode::kInvalid && bert_is_punc(cp)) {
      close(begin);
      words.push_back(text.substr(begin, len));
      return;
    }
    if (word_begin == std::string_view::npos) word_begin = begin;
  });
  close(text.size());
}

// ---- WordPieceModel ----

WordPieceModel::WordPieceModel(std::vector<std::string> vocab, WordPieceOptions options, const std::string& source)
    : vocab_(std::move(vocab)), options_(std::move(options)), map_(std::make_unique<PieceHashMap>(vocab_.size())) {
  check(!vocab_.empty(), "{}: empty WordPiece vocabulary", source);
  check(vocab_.size() < (1u << 30), "{}: too many tokens ({})", source, vocab_.size());
  for (size_t i = 0; i < vocab_.size(); ++i) {
    map_->insert(vocab_[i], static_cast<int32_t>(i));  // a repeated token keeps its first id
    max_token_bytes_ = std::max(max_token_bytes_, vocab_[i].size());
  }
  unk_id_ = map_->find(options_.unk_token);
  check(unk_id_ >= 0, "{}: the unknown token \"{}\" is not in the vocabulary", source, options_.unk_token);
}

WordPieceModel::~WordPieceModel() = default;
WordPieceModel::WordPieceModel(WordPieceModel&&) noexcept = default;

const std::string& WordPieceModel::token(int32_t id) const {
  check(id >= 0 && static_cast<size_t>(id) < vocab_.size(), "wordpiece: id {} is outside the vocabulary ({})", id,
        vocab_.size());
  return vocab_[static_cast<size_t>(id)];
}

int32_t WordPieceModel::find(std::string_view token) const { return map_->find(token); }

void WordPieceModel::encode_word(std::string_view word, std::vector<int32_t>& ids) const {
  // HF models/wordpiece/mod.rs WordPiece::tokenize: greedy longest-match-first; a word with
  // more than max_input_chars_per_word characters, or any unmatched rest, is one [UNK].
  if (word.empty()) return;
  size_t chars = 0;
  for (char c : word) chars += (static_cast<uint8_t>(c) & 0xC0) != 0x80;
  if (chars > options_.max_input_chars_per_word) {
    ids.push_back(unk_id_);
    return;
  }
  const size_t first = ids.size();
  thread_local std::string buf;
  const std::string& prefix = options_.continuing_subword_prefix;
  size_t start = 0;
  while (start < word.size()) {
    // Longest candidate: no vocabulary token is longer than max_token_bytes_.
    const size_t prefix_len = start > 0 ? prefix.size() : 0;
    size_t end = word.size();
    if (max_token_bytes_ >= prefix_len && end - start > max_token_bytes_ - prefix_len) {
      end = start + (max_token_bytes_ - prefix_len);
      while (end > start && (static_cast<uint8_t>(word[end]) & 0xC0) == 0x80) --end;  // char boundary
    }
    int32_t found = -1;
    while (start < end) {
      int32_t id;
      if (start > 0) {
        buf.assign(prefix);
        buf.append(word.substr(start, end - start));
        id = map_->find(buf);
      } else {
        id = map_->find(word.substr(start, end - start));
      }
      if (id >= 0) {
        found = id;
        break;
      }
      // Back off one character.
      --end;
      while (end > start && (static_cast<uint8_t>(word[end]) & 0xC0) == 0x80) --end;
    }
    if (found < 0) {
      ids.resize(first);
      ids.push_back(unk_id_);
      return;
    }
    ids.push_back(found);
    start = end;
  }
}

std::string WordPieceModel::decode(std::span<const int32_t> ids, bool cleanup) const {
  // HF decoders/wordpiece.rs decode_chain: continuation prefix removed, other tokens after
  // the first get a leading space; cleanup() is applied per token.
  static const std::pair<std::string_view, std::string_view> kCleanup[] = {
      {" .", "."}, {" ?", "?"}, {" !", "!"}, {" ,", ","}, {" ' ", "'"}, {" n't", "n't"},
      {" 'm", "'m"}, {" do not", " don't"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}};
  std::string out, tok;
  for (size_t i = 0; i < ids.size(); ++i) {
    const std::string& t = token(ids[i]);
    tok.clear();
    if (i != 0) {
      if (t.compare(0, options_.continuing_subword_prefix.size(), options_.continuing_subword_prefix) == 0 &&
          !options_.continuing_subword_prefix.empty()) {
        tok.append(t, options_.continuing_subword_prefix.size());
      } else {
        tok.push_back(' ');
        tok.append(t);
      }
    } else {
      tok = t;
    }
    if (cleanup) {
      for (const auto& [from, to] : kCleanup) {
        size_t p = 0;
        while ((p = tok.find(from, p)) != std::string::npos) {
          tok.replace(p, from.size(), to);
          p += to.size();
        }
      }
    }
    out.append(tok);
  }
  return out;
}

// ---- WordPieceTokenizer ----

WordPieceTokenizer::WordPieceTokenizer(std::vector<std::string> vocab, BertTokenizerOptions options,
                                       const std::string& source)
    : model_(std::move(vocab), options.wordpiece, source), options_(std::move(options)) {
  cls_id_ = model_.find(options_.cls_token);
  sep_id_ = model_.find(options_.sep_token);
  is_special_.assign(static_cast<size_t>(model_.size()), false);
  for (const std::string& s : options_.special_tokens) {
    const int32_t id = model_.find(s);
    if (id < 0 || s.empty()) continue;
    specials_.emplace_back(s, id);
    is_special_[static_cast<size_t>(id)] = true;
  }
  std::sort(specials_.begin(), specials_.end(),
            [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
}

WordPieceTokenizer::~WordPieceTokenizer() = default;

std::optional<int32_t> WordPieceTokenizer::bos_id() const {
  return cls_id_ >= 0 ? std::optional<int32_t>(cls_id_) : std::nullopt;
}
std::optional<int32_t> WordPieceTokenizer::eos_id() const {
  return sep_id_ >= 0 ? std::optional<int32_t>(sep_id_) : std::nullopt;
}

void WordPieceTokenizer::encode_text(std::string_view text, std::vector<int32_t>& ids) const {
  thread_local std::string normalized;
  thread_local std::vector<std::string_view> words;
  normalized.clear();
  words.clear();
  bert_normalize(text, options_.normalizer, normalized);
  bert_pre_tokenize(normalized, words);
  for (std::string_view w : words) model_.encode_word(w, ids);
}

std::vector<int32_t> WordPieceTokenizer::encode(std::string_view text, bool add_special) const {
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 4 + 2);
  if (add_special && cls_id_ >= 0) ids.push_back(cls_id_);
  // Special tokens are matched in the raw text first (HF added tokens with
  // normalized = false): leftmost match, longest first at a position.
  size_t seg = 0, i = 0;
  while (i < text.size() && !specials_.empty()) {
    int32_t hit = -1;
    size_t hit_len = 0;
    for (const auto& [s, id] : specials_) {
      if (text.compare(i, s.size(), s) == 0) {
        hit = id;
        hit_len = s.size();
        break;
      }
    }
    if (hit < 0) {
      ++i;
      continue;
    }
    encode_text(text.substr(seg, i - seg), ids);
    ids.push_back(hit);
    i += hit_len;
    seg = i;
  }
  encode_text(text.substr(seg), ids);
  if (add_special && sep_id_ >= 0) ids.push_back(sep_id_);
  return ids;
}

std::string WordPieceTokenizer::decode(std::span<const int32_t> ids) const {
  std::vector<int32_t> kept;
  kept.reserve(ids.size());
  for (int32_t id : ids) {
    check(id >= 0 && id < model_.size(), "wordpiece: id {} is outside the vocabulary ({})", id, model_.size());
    if (!is_special_[static_cast<size_t>(id)]) kept.push_back(id);
  }
  return model_.decode(kept, true);
}

}  // namespace lmkit
