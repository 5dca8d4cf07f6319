#include "lmkit/tokenizer/normalizer.h"

#include "lmkit/tokenizer/regex_split.h"
#include "lmkit/tokenizer/wordpiece.h"

namespace lmkit {

namespace {

class UnicodeNormalizer final : public Normalizer {
 public:
  explicit UnicodeNormalizer(unicode::NormalForm f) : form_(f) {}
  std::string normalize(std::string_view t) const override { return unicode::normalize(t, form_); }

 private:
  unicode::NormalForm form_;
};

class LowercaseNormalizer final : public Normalizer {
 public:
  std::string normalize(std::string_view t) const override { return unicode::to_lower(t); }
};

class StripAccentsNormalizer final : public Normalizer {
 public:
  std::string normalize(std::string_view t) const override { return unicode::strip_marks(t); }
};

class StripNormalizer final : public Normalizer {
 public:
  StripNormalizer(bool l, bool r) : left_(l), right_(r) {}
  std::string normalize(std::string_view t) const override {
    size_t b = 0, e = t.size();
    if (left_) {
      while (b < e) {
        uint32_t cp;
        int len = unicode::decode_utf8(t.data(), t.size(), b, cp);
        if (len == 0 || !unicode::is_white_space(cp)) break;
        b += size_t(len);
      }
    }
    if (right_) {
      while (e > b) {
        size_t s = e - 1;
        while (s > b && (static_cast<unsigned char>(t[s]) & 0xC0) == 0x80) --s;
        uint32_t cp;
        int len = unicode::decode_utf8(t.data(), t.size(), s, cp);
        if (len == 0 || s + size_t(len) != e || !unicode::is_white_space(cp)) break;
        e = s;
      }
    }
    return std::string(t.substr(b, e - b));
  }

 private:
  bool left_, right_;
};

class ReplaceNormalizer final : public Normalizer {
 public:
  ReplaceNormalizer(std::string pattern, bool is_regex, std::string content)
      : pattern_(std::move(pattern)), content_(std::move(content)) {
    if (is_regex) regex_ = std::make_unique<RegexSplitter>(pattern_, RegexSplitter::Engine::kPcre2);
  }
  std::string normalize(std::string_view t) const override {
    std::string out;
    out.reserve(t.size());
    if (regex_) {
      std::vector<Span> m;
      regex_->find_matches(t, m, /*invalid_runs=*/false);
      size_t prev = 0;
      for (auto [b, e] : m) {
        out.append(t.substr(prev, b - prev));
        out += content_;
        prev = e;
      }
      out.append(t.substr(prev));
      return out;
    }
    if (pattern_.empty()) return std::string(t);
    size_t prev = 0;
    while (true) {
      size_t p = t.find(pattern_, prev);
      if (p == std::string_view::npos) break;
      out.append(t.substr(prev, p - prev));
      out += content_;
      prev = p + pattern_.size();
    }
    out.append(t.substr(prev));
    return out;
  }

 private:
  std::string pattern_, content_;
  std::unique_ptr<RegexSplitter> regex_;
};

class PrependNormalizer final : public Normalizer {
 public:
  explicit PrependNormalizer(std::string p) : prefix_(std::move(p)) {}
  std::string normalize(std::string_view t) const override {
    if (t.empty()) return {};
    std::string out = prefix_;
    out.append(t);
    return out;
  }

 private:
  std::string prefix_;
};

class BertNormalizer final : public Normalizer {
 public:
  explicit BertNormalizer(BertNormalizerOptions o) : o_(o) {}
  std::string normalize(std::string_view t) const override {
    std::string out;
    bert_normalize(t, o_, out);
    return out;
  }

 private:
  BertNormalizerOptions o_;
};

class IdentityNormalizer final : public Normalizer {
 public:
  std::string normalize(std::string_view t) const override { return std::string(t); }
};

class SequenceNormalizer final : public Normalizer {
 public:
  explicit SequenceNormalizer(std::vector<std::unique_ptr<Normalizer>> s) : steps_(std::move(s)) {}
  std::string normalize(std::string_view t) const override {
    std::string cur(t);
    for (const auto& s : steps_) cur = s->normalize(cur);
    return cur;
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> steps_;
};

}  // namespace

std::unique_ptr<Normalizer> make_unicode_normalizer(unicode::NormalForm form) {
  return std::make_unique<UnicodeNormalizer>(form);
}
std::unique_ptr<Normalizer> make_lowercase_normalizer() { return std::make_unique<LowercaseNormalizer>(); }
std::unique_ptr<Normalizer> make_strip_accents_normalizer() {
  return std::make_unique<StripAccentsNormalizer>();
}
std::unique_ptr<Normalizer> make_strip_normalizer(bool left, bool right) {
  return std::make_unique<StripNormalizer>(left, right);
}
std::unique_ptr<Normalizer> make_replace_normalizer(std::string pattern, bool is_regex,
                                                    std::string content) {
  return std::make_unique<ReplaceNormalizer>(std::move(pattern), is_regex, std::move(content));
}
std::unique_ptr<Normalizer> make_prepend_normalizer(std::string prefix) {
  return std::make_unique<PrependNormalizer>(std::move(prefix));
}
std::unique_ptr<Normalizer> make_bert_normalizer(bool clean_text, bool handle_chinese_chars,
                                                 int strip_accents, bool lowercase) {
  BertNormalizerOptions o;
  o.clean_text = clean_text;
  o.handle_chinese_chars = handle_chinese_chars;
  if (strip_accents >= 0) o.strip_accents = strip_accents != 0;
  o.lowercase = lowercase;
  return std::make_unique<BertNormalizer>(o);
}
std::unique_ptr<Normalizer> make_identity_normalizer() { return std::make_unique<IdentityNormalizer>(); }
std::unique_ptr<Normalizer> make_sequence_normalizer(std::vector<std::unique_ptr<Normalizer>> steps) {
  return std::make_unique<SequenceNormalizer>(std::move(steps));
}

}  // namespace lmkit
