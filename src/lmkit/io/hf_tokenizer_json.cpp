#include "lmkit/io/hf_tokenizer_json.h"

#include <filesystem>
#include <nlohmann/json.hpp>

#include "lmkit/core/error.h"
#include "lmkit/tokenizer/byte_level.h"
#include "lmkit/tokenizer/sentencepiece_vocab.h"
#include "lmkit/tokenizer/unigram.h"
#include "lmkit/tokenizer/wordpiece.h"

namespace lmkit {

namespace {

using json = nlohmann::json;

struct Ctx {
  const std::string& source;
};

// Rejects JSON nested deeper than kMaxJsonDepth arrays / objects. Sequences of normalizers,
// pre-tokenizers, decoders and post-processors are read recursively, and so are nlohmann
// DOM copies: a crafted file nesting 100,000 Sequences overflowed the stack. Real
// tokenizer.json files nest fewer than 10 levels. A linear scan with strings skipped (exact
// for valid JSON; the parser rejects the rest).
constexpr int kMaxJsonDepth = 64;
void check_json_nesting(std::string_view text, const std::string& source) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char ch = text[i];
    if (in_string) {
      if (ch == '\\') ++i;
      else if (ch == '"') in_string = false;
    } else if (ch == '"') {
      in_string = true;
    } else if (ch == '{' || ch == '[') {
      check(++depth <= kMaxJsonDepth, "{}: JSON nests deeper than {} levels", source, kMaxJsonDepth);
    } else if (ch == '}' || ch == ']') {
      --depth;
    }
  }
}

std::string type_of(const Ctx& c, const json& j, const char* what) {
  check(j.is_object(), "{}: {} must be an object", c.source, what);
  auto it = j.find("type");
  check(it != j.end() && it->is_string(), "{}: {} has no \"type\"", c.source, what);
  return it->get<std::string>();
}

template <typename T>
T get_or(const json& j, const char* key, T dflt) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return dflt;
  return it->get<T>();
}

// {"String": s} or {"Regex": r}: (text, is_regex).
std::pair<std::string, bool> pattern_of(const Ctx& c, const json& j, const char* what) {
  check(j.is_object(), "{}: {} pattern must be an object", c.source, what);
  if (j.contains("String")) return {j["String"].get<std::string>(), false};
  if (j.contains("Regex")) return {j["Regex"].get<std::string>(), true};
  fail("{}: {} pattern must be {{\"String\": ...}} or {{\"Regex\": ...}}", c.source, what);
}

bool has_byte_level(const json& j) {
  if (!j.is_object()) return false;
  if (j.value("type", "") == "ByteLevel") return true;
  for (const char* k : {"normalizers", "pretokenizers", "decoders", "processors"})
    if (j.contains(k) && j[k].is_array())
      for (const auto& s : j[k])
        if (has_byte_level(s)) return true;
  return false;
}

std::unique_ptr<Normalizer> normalizer_of(const Ctx& c, const json& j) {
  std::string t = type_of(c, j, "normalizer");
  if (t == "NFC") return make_unicode_normalizer(unicode::NormalForm::kNFC);
  if (t == "NFD") return make_unicode_normalizer(unicode::NormalForm::kNFD);
  if (t == "NFKC") return make_unicode_normalizer(unicode::NormalForm::kNFKC);
  if (t == "NFKD") return make_unicode_normalizer(unicode::NormalForm::kNFKD);
  if (t == "Lowercase") return make_lowercase_normalizer();
  if (t == "StripAccents") return make_strip_accents_normalizer();
  if (t == "Strip") return make_strip_normalizer(get_or(j, "strip_left", true), get_or(j, "strip_right", true));
  if (t == "Replace") {
    auto [p, is_regex] = pattern_of(c, j.at("pattern"), "Replace normalizer");
    return make_replace_normalizer(p, is_regex, get_or<std::string>(j, "content", ""));
  }
  if (t == "Prepend") return make_prepend_normalizer(get_or<std::string>(j, "prepend", ""));
  if (t == "BertNormalizer") {
    int strip = -1;
    if (j.contains("strip_accents") && j["strip_accents"].is_boolean()) strip = j["strip_accents"].get<bool>();
    return make_bert_normalizer(get_or(j, "clean_text", true), get_or(j, "handle_chinese_chars", true),
                                strip, get_or(j, "lowercase", true));
  }
  if (t == "ByteLevel") return make_identity_normalizer();  // raw bytes already
  if (t == "Sequence") {
    std::vector<std::unique_ptr<Normalizer>> steps;
    for (const auto& s : j.at("normalizers")) steps.push_back(normalizer_of(c, s));
    return make_sequence_normalizer(std::move(steps));
  }
  fail("{}: unsupported normalizer type '{}'", c.source, t);
}

SplitBehavior behavior_of(const Ctx& c, const std::string& b) {
  if (b == "Removed") return SplitBehavior::kRemoved;
  if (b == "Isolated") return SplitBehavior::kIsolated;
  if (b == "MergedWithPrevious") return SplitBehavior::kMergedWithPrevious;
  if (b == "MergedWithNext") return SplitBehavior::kMergedWithNext;
  if (b == "Contiguous") return SplitBehavior::kContiguous;
  fail("{}: unknown split behavior '{}'", c.source, b);
}

// Metaspace's prepend scheme, with the legacy add_prefix_space field.
std::string prepend_scheme_of(const Ctx& c, const json& j) {
  std::string scheme = get_or<std::string>(j, "prepend_scheme", "always");
  if (j.contains("add_prefix_space") && j["add_prefix_space"].is_boolean() && !j["add_prefix_space"].get<bool>())
    scheme = "never";
  return scheme;
}

std::unique_ptr<PreTokenizer> pre_tokenizer_of(const Ctx& c, const json& j) {
  std::string t = type_of(c, j, "pre_tokenizer");
  if (t == "ByteLevel")
    return make_byte_level_pretokenizer(get_or(j, "add_prefix_space", true), get_or(j, "use_regex", true));
  if (t == "Split") {
    auto [p, is_regex] = pattern_of(c, j.at("pattern"), "Split");
    return make_split_pretokenizer(p, is_regex, behavior_of(c, get_or<std::string>(j, "behavior", "Isolated")),
                                   get_or(j, "invert", false));
  }
  if (t == "Metaspace")
    return make_metaspace_pretokenizer(get_or<std::string>(j, "replacement", "\xE2\x96\x81"),
                                       prepend_scheme_of(c, j), get_or(j, "split", true));
  if (t == "Whitespace") return make_whitespace_pretokenizer();
  if (t == "WhitespaceSplit") return make_whitespace_split_pretokenizer();
  if (t == "BertPreTokenizer") return make_bert_pretokenizer();
  if (t == "Digits") return make_digits_pretokenizer(get_or(j, "individual_digits", false));
  if (t == "Punctuation")
    return make_punctuation_pretokenizer(behavior_of(c, get_or<std::string>(j, "behavior", "Isolated")));
  if (t == "Sequence") {
    std::vector<std::unique_ptr<PreTokenizer>> steps;
    for (const auto& s : j.at("pretokenizers")) steps.push_back(pre_tokenizer_of(c, s));
    return make_sequence_pretokenizer(std::move(steps));
  }
  fail("{}: unsupported pre_tokenizer type '{}'", c.source, t);
}

std::unique_ptr<Decoder> decoder_of(const Ctx& c, const json& j) {
  std::string t = type_of(c, j, "decoder");
  if (t == "ByteLevel") return make_byte_level_decoder();
  if (t == "Metaspace")
    return make_metaspace_decoder(get_or<std::string>(j, "replacement", "\xE2\x96\x81"), prepend_scheme_of(c, j));
  if (t == "Replace") {
    auto [p, is_regex] = pattern_of(c, j.at("pattern"), "Replace decoder");
    check(!is_regex, "{}: Replace decoder with a regex pattern is not supported", c.source);
    return make_replace_decoder(p, get_or<std::string>(j, "content", ""));
  }
  if (t == "ByteFallback") return make_byte_fallback_decoder();
  if (t == "Fuse") return make_fuse_decoder();
  if (t == "Strip")
    return make_strip_decoder(get_or<std::string>(j, "content", " "), get_or<size_t>(j, "start", 0),
                              get_or<size_t>(j, "stop", 0));
  if (t == "WordPiece") return make_wordpiece_decoder(get_or<std::string>(j, "prefix", "##"), get_or(j, "cleanup", true));
  if (t == "BPEDecoder") return make_bpe_suffix_decoder(get_or<std::string>(j, "suffix", "</w>"));
  if (t == "Sequence") {
    std::vector<std::unique_ptr<Decoder>> steps;
    for (const auto& s : j.at("decoders")) steps.push_back(decoder_of(c, s));
    return make_sequence_decoder(std::move(steps));
  }
  fail("{}: unsupported decoder type '{}'", c.source, t);
}

// The post-processor for one sequence: ids before / after it with add_special.
void post_processor_of(const Ctx& c, const json& j, std::vector<int32_t>& prefix, std::vector<int32_t>& suffix) {
  std::string t = type_of(c, j, "post_processor");
  if (t == "ByteLevel") return;
  if (t == "TemplateProcessing") {
    const json& special = j.contains("special_tokens") ? j["special_tokens"] : json::object();
    bool seen_a = false;
    for (const auto& item : j.at("single")) {
      if (item.contains("Sequence")) {
        seen_a = true;
        continue;
      }
      check(item.contains("SpecialToken"), "{}: TemplateProcessing item must be Sequence or SpecialToken", c.source);
      std::string name = item["SpecialToken"].at("id").get<std::string>();
      check(special.contains(name), "{}: TemplateProcessing uses special token '{}' it does not define",
            c.source, name);
      for (const auto& id : special[name].at("ids")) (seen_a ? suffix : prefix).push_back(id.get<int32_t>());
    }
    return;
  }
  if (t == "BertProcessing" || t == "RobertaProcessing") {
    prefix.push_back(j.at("cls").at(1).get<int32_t>());
    suffix.push_back(j.at("sep").at(1).get<int32_t>());
    return;
  }
  if (t == "Sequence") {
    for (const auto& s : j.at("processors")) post_processor_of(c, s, prefix, suffix);
    return;
  }
  fail("{}: unsupported post_processor type '{}'", c.source, t);
}

// vocab object token -> id as a vector by id.
std::vector<std::string> vocab_by_id(const Ctx& c, const json& v) {
  check(v.is_object(), "{}: model.vocab must be an object token -> id", c.source);
  std::vector<std::string> tokens;
  for (auto& [tok, idv] : v.items()) {
    check(idv.is_number_integer(), "{}: id of '{}' is not an integer", c.source, tok);
    int64_t id = idv.get<int64_t>();
    check(id >= 0 && id < int64_t(2 * v.size() + 1024), "{}: token '{}' has invalid id {} (vocab of {})",
          c.source, tok, id, v.size());
    if (size_t(id) >= tokens.size()) tokens.resize(size_t(id) + 1);
    check(tokens[size_t(id)].empty(), "{}: id {} is used twice in model.vocab", c.source, id);
    tokens[size_t(id)] = tok;
  }
  return tokens;
}

std::unique_ptr<SubwordModel> bpe_model_of(const Ctx& c, const json& m, bool byte_level) {
  std::vector<std::string> tokens = vocab_by_id(c, m.at("vocab"));
  PieceHashMap index(tokens.size());
  for (size_t i = 0; i < tokens.size(); ++i)
    if (!tokens[i].empty()) index.insert(tokens[i], int32_t(i));
  std::vector<std::pair<int32_t, int32_t>> merges;
  const json& ml = m.contains("merges") ? m["merges"] : json::array();
  merges.reserve(ml.size());
  size_t rank = 0;
  for (const auto& e : ml) {
    ++rank;
    std::string a, b;
    if (e.is_string()) {
      const std::string& s = e.get_ref<const std::string&>();
      size_t sp = s.find(' ');
      check(sp != std::string::npos && s.find(' ', sp + 1) == std::string::npos,
            "{}: merge {} '{}' is not two tokens separated by a space", c.source, rank, s);
      a = s.substr(0, sp);
      b = s.substr(sp + 1);
    } else {
      check(e.is_array() && e.size() == 2, "{}: merge {} must be \"a b\" or [a, b]", c.source, rank);
      a = e[0].get<std::string>();
      b = e[1].get<std::string>();
    }
    int32_t ia = index.find(a), ib = index.find(b);
    check(ia >= 0 && ib >= 0, "{}: merge {} ('{}' '{}') uses a token missing from model.vocab", c.source, rank, a, b);
    merges.emplace_back(ia, ib);
  }
  BpeOptions o;
  o.ranks = BpeOptions::Ranks::kMergeList;
  o.byte_level = byte_level;
  o.ignore_merges = get_or(m, "ignore_merges", false);
  o.byte_fallback = get_or(m, "byte_fallback", false);
  o.fuse_unk = get_or(m, "fuse_unk", false);
  o.continuing_subword_prefix = get_or<std::string>(m, "continuing_subword_prefix", "");
  o.end_of_word_suffix = get_or<std::string>(m, "end_of_word_suffix", "");
  std::string unk = get_or<std::string>(m, "unk_token", "");
  if (!unk.empty()) {
    o.unk_id = index.find(unk);
    check(o.unk_id >= 0, "{}: unk_token '{}' is not in model.vocab", c.source, unk);
  }
  if (byte_level) {
    tokens = byte_level_tokens_to_bytes(tokens);
    if (!o.continuing_subword_prefix.empty() || !o.end_of_word_suffix.empty()) {
      auto raw_p = byte_level::decode(o.continuing_subword_prefix);
      auto raw_s = byte_level::decode(o.end_of_word_suffix);
      if (raw_p) o.continuing_subword_prefix = *raw_p;
      if (raw_s) o.end_of_word_suffix = *raw_s;
    }
  }
  return make_bpe_model(Bpe(std::move(tokens), merges, o, c.source));
}

std::unique_ptr<SubwordModel> model_of(const Ctx& c, const json& m, bool byte_level) {
  check(m.is_object(), "{}: \"model\" must be an object", c.source);
  std::string t = m.value("type", "");
  if (t.empty()) {  // older files omit the type
    if (m.contains("merges")) t = "BPE";
    else if (m.contains("vocab") && m["vocab"].is_array()) t = "Unigram";
    else if (m.contains("vocab")) t = "WordPiece";
  }
  if (t == "BPE") return bpe_model_of(c, m, byte_level);
  if (t == "WordPiece") {
    WordPieceOptions o;
    o.unk_token = get_or<std::string>(m, "unk_token", "[UNK]");
    o.continuing_subword_prefix = get_or<std::string>(m, "continuing_subword_prefix", "##");
    o.max_input_chars_per_word = get_or<size_t>(m, "max_input_chars_per_word", 100);
    auto wp = std::make_shared<WordPieceModel>(vocab_by_id(c, m.at("vocab")), o, c.source);
    return make_wordpiece_model(std::move(wp));
  }
  if (t == "Unigram") {
    std::vector<std::pair<std::string, double>> pieces;
    for (const auto& e : m.at("vocab")) {
      check(e.is_array() && e.size() == 2, "{}: Unigram vocab entries must be [piece, score]", c.source);
      pieces.emplace_back(e[0].get<std::string>(), e[1].get<double>());
    }
    UnigramOptions o;
    o.unk_id = m.contains("unk_id") && m["unk_id"].is_number_integer() ? m["unk_id"].get<int32_t>() : -1;
    o.byte_fallback = get_or(m, "byte_fallback", false);
    o.fuse_unk = true;
    o.sentencepiece_compat = false;
    auto um = std::make_shared<UnigramModel>(std::move(pieces), std::vector<UnigramPieceKind>{}, o);
    return make_unigram_model(std::move(um));
  }
  fail("{}: unsupported model type '{}'", c.source, t);
}

std::string token_content(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string()) return v["content"].get<std::string>();
  return "";
}

}  // namespace

std::unique_ptr<PipelineTokenizer> parse_hf_tokenizer_json(std::string_view text, const std::string& source,
                                                           const TokenizerOptions& options,
                                                           std::string_view config_text) {
  check_json_nesting(text, source);
  check_json_nesting(config_text, source + " (tokenizer_config.json)");
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    fail("{}: not valid JSON: {}", source, e.what());
  }
  check(j.is_object() && j.contains("model"), "{}: not a tokenizer.json (no \"model\")", source);
  Ctx c{source};
  PipelineParts parts;
  parts.source = source;
  try {
    bool byte_level = has_byte_level(j.value("pre_tokenizer", json())) ||
                      has_byte_level(j.value("normalizer", json())) ||
                      has_byte_level(j.value("decoder", json()));
    if (j.contains("normalizer") && !j["normalizer"].is_null()) parts.normalizer = normalizer_of(c, j["normalizer"]);
    if (j.contains("pre_tokenizer") && !j["pre_tokenizer"].is_null())
      parts.pre_tokenizer = pre_tokenizer_of(c, j["pre_tokenizer"]);
    parts.model = model_of(c, j["model"], byte_level);
    if (j.contains("post_processor") && !j["post_processor"].is_null())
      post_processor_of(c, j["post_processor"], parts.special_prefix, parts.special_suffix);
    if (j.contains("decoder") && !j["decoder"].is_null()) parts.decoder = decoder_of(c, j["decoder"]);
    if (j.contains("added_tokens")) {
      for (const auto& t : j["added_tokens"]) {
        AddedToken a;
        a.id = t.at("id").get<int32_t>();
        a.content = t.at("content").get<std::string>();
        a.single_word = get_or(t, "single_word", false);
        a.lstrip = get_or(t, "lstrip", false);
        a.rstrip = get_or(t, "rstrip", false);
        a.normalized = get_or(t, "normalized", false);
        a.special = get_or(t, "special", false);
        parts.added_tokens.push_back(std::move(a));
      }
    }
  } catch (const json::exception& e) {
    fail("{}: malformed tokenizer.json: {}", source, e.what());
  }
  parts.match_special = options.parse_special.value_or(true);
  auto id_of = [&](const std::string& tok) -> std::optional<int32_t> {
    if (tok.empty()) return std::nullopt;
    for (const auto& a : parts.added_tokens)
      if (a.content == tok) return a.id;
    return parts.model->token_to_id(tok);
  };
  if (!config_text.empty()) {
    try {
      json cfg = json::parse(config_text);
      if (cfg.is_object()) {
        if (cfg.contains("bos_token")) parts.bos_id = id_of(token_content(cfg["bos_token"]));
        if (cfg.contains("eos_token")) parts.eos_id = id_of(token_content(cfg["eos_token"]));
      }
    } catch (const json::exception& e) {
      fail("{}: tokenizer_config.json beside it is not valid JSON: {}", source, e.what());
    }
  }
  if (!parts.bos_id && !parts.special_prefix.empty()) parts.bos_id = parts.special_prefix.front();
  if (!parts.eos_id && !parts.special_suffix.empty()) parts.eos_id = parts.special_suffix.back();
  return std::make_unique<PipelineTokenizer>(std::move(parts));
}

std::unique_ptr<PipelineTokenizer> load_hf_tokenizer_json(const std::string& path, const TokenizerOptions& options) {
  std::string text = read_file_bytes(path);
  auto cfg = std::filesystem::path(path).parent_path() / "tokenizer_config.json";
  std::string config;
  if (std::filesystem::is_regular_file(cfg)) config = read_file_bytes(cfg.string());
  return parse_hf_tokenizer_json(text, path, options, config);
}

// ------------------------------------------------------------------------ writers

namespace {

using ojson = nlohmann::ordered_json;

ojson added_token_json(int64_t id, const std::string& content) {
  return ojson{{"id", id}, {"content", content}, {"single_word", false}, {"lstrip", false},
               {"rstrip", false}, {"normalized", false}, {"special", true}};
}

ojson skeleton() {
  ojson j;
  j["version"] = "1.0";
  j["truncation"] = nullptr;
  j["padding"] = nullptr;
  j["added_tokens"] = ojson::array();
  j["normalizer"] = nullptr;
  j["pre_tokenizer"] = nullptr;
  j["post_processor"] = nullptr;
  j["decoder"] = nullptr;
  j["model"] = nullptr;
  return j;
}

}  // namespace

std::string byte_level_bpe_tokenizer_json(const BpeTrainResult& r, const std::string& pattern_regex) {
  ojson j = skeleton();
  for (size_t k = 0; k < r.special_tokens.size(); ++k)
    j["added_tokens"].push_back(added_token_json(int64_t(r.tokens.size() + k), r.special_tokens[k]));
  j["pre_tokenizer"] = {
      {"type", "Sequence"},
      {"pretokenizers",
       ojson::array({ojson{{"type", "Split"}, {"pattern", {{"Regex", pattern_regex}}}, {"behavior", "Isolated"},
                           {"invert", false}},
                     ojson{{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true},
                           {"use_regex", false}}})}};
  j["post_processor"] = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", false}, {"use_regex", false}};
  j["decoder"] = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", false}};
  ojson vocab = ojson::object();
  std::vector<std::string> mapped(r.tokens.size());
  for (size_t id = 0; id < r.tokens.size(); ++id) {
    mapped[id] = byte_level::encode(r.tokens[id]);
    vocab[mapped[id]] = int64_t(id);
  }
  ojson merges = ojson::array();
  for (auto [a, b] : r.merges) merges.push_back(ojson::array({mapped[size_t(a)], mapped[size_t(b)]}));
  j["model"] = {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", nullptr},
                {"continuing_subword_prefix", nullptr}, {"end_of_word_suffix", nullptr}, {"fuse_unk", false},
                {"byte_fallback", false}, {"ignore_merges", false}, {"vocab", vocab}, {"merges", merges}};
  return j.dump(1) + "\n";
}

std::string unigram_tokenizer_json(const UnigramVocab& v) {
  ojson j = skeleton();
  auto& at = j["added_tokens"];
  at.push_back(added_token_json(v.unk_id, v.pieces.at(size_t(v.unk_id)).first));
  for (const std::string& s : v.special_tokens)
    for (size_t id = 0; id < v.pieces.size(); ++id)
      if (v.pieces[id].first == s) at.push_back(added_token_json(int64_t(id), s));
  const std::string meta = "\xE2\x96\x81";
  j["pre_tokenizer"] = {{"type", "Metaspace"}, {"replacement", meta}, {"prepend_scheme", "always"}, {"split", true}};
  j["decoder"] = {{"type", "Sequence"},
                  {"decoders", ojson::array({ojson{{"type", "Replace"}, {"pattern", {{"String", meta}}}, {"content", " "}},
                                             ojson{{"type", "ByteFallback"}}, ojson{{"type", "Fuse"}},
                                             ojson{{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}})}};
  ojson vocab = ojson::array();
  for (const auto& [piece, score] : v.pieces) vocab.push_back(ojson::array({piece, score}));
  j["model"] = {{"type", "Unigram"}, {"unk_id", v.unk_id}, {"vocab", vocab}, {"byte_fallback", v.byte_fallback}};
  return j.dump(1) + "\n";
}

std::string wordpiece_tokenizer_json(const WordPieceVocab& v) {
  ojson j = skeleton();
  int64_t cls = -1, sep = -1;
  for (size_t id = 0; id < v.tokens.size(); ++id) {
    const std::string& t = v.tokens[id];
    bool special = t.size() > 2 && t.front() == '[' && t.back() == ']';
    if (special) j["added_tokens"].push_back(added_token_json(int64_t(id), t));
    if (t == "[CLS]") cls = int64_t(id);
    if (t == "[SEP]") sep = int64_t(id);
  }
  j["normalizer"] = {{"type", "BertNormalizer"}, {"clean_text", true}, {"handle_chinese_chars", true},
                     {"strip_accents", nullptr}, {"lowercase", true}};
  j["pre_tokenizer"] = {{"type", "BertPreTokenizer"}};
  if (cls >= 0 && sep >= 0)
    j["post_processor"] = {{"type", "BertProcessing"}, {"sep", ojson::array({"[SEP]", sep})}, {"cls", ojson::array({"[CLS]", cls})}};
  j["decoder"] = {{"type", "WordPiece"}, {"prefix", v.continuing_subword_prefix}, {"cleanup", true}};
  ojson vocab = ojson::object();
  for (size_t id = 0; id < v.tokens.size(); ++id) vocab[v.tokens[id]] = int64_t(id);
  j["model"] = {{"type", "WordPiece"}, {"unk_token", v.unk_token},
                {"continuing_subword_prefix", v.continuing_subword_prefix}, {"max_input_chars_per_word", 100},
                {"vocab", vocab}};
  return j.dump(1) + "\n";
}

}  // namespace lmkit
