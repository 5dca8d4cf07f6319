#include "lmkit/io/gpt2_vocab.h"

#include <filesystem>
#include <nlohmann/json.hpp>

#include "lmkit/core/error.h"
#include "lmkit/io/sha256.h"
#include "lmkit/tokenizer/unicode.h"

namespace lmkit {

std::vector<std::pair<std::string, std::string>> parse_bpe_merges(std::string_view text,
                                                                  const std::string& source) {
  std::vector<std::pair<std::string, std::string>> merges;
  size_t pos = 0, line_no = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    std::string_view line = text.substr(pos, nl - pos);
    pos = nl + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) continue;
    if (line_no == 1 && line.substr(0, 8) == "#version") continue;
    size_t sp = line.find(' ');
    check(sp != std::string_view::npos && sp > 0 && sp + 1 < line.size() &&
              line.find(' ', sp + 1) == std::string_view::npos,
          "{}: line {}: a merge must be two tokens separated by one space, got '{}'", source,
          line_no, line);
    merges.emplace_back(std::string(line.substr(0, sp)), std::string(line.substr(sp + 1)));
  }
  return merges;
}

namespace {

// SHA-256 of Qwen2's merges.txt (151387 merges; Qwen2, Qwen2.5 and Qwen3 share it).
constexpr const char* kQwen2MergesSha256 =
    "8831e4f1a044471340f7c0a83d7bd71306a5b867e95fd870f74d0c5308a904d5";

}  // namespace

std::unique_ptr<PipelineTokenizer> load_gpt2_vocab(const std::string& vocab_json_path,
                                                   const std::string& merges_path,
                                                   const TokenizerOptions& options) {
  std::string vocab_text = read_file_bytes(vocab_json_path);
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(vocab_text);
  } catch (const nlohmann::json::exception& e) {
    fail("{}: not valid JSON: {}", vocab_json_path, e.what());
  }
  check(j.is_object() && !j.empty(), "{}: expected a JSON object token -> id", vocab_json_path);
  ByteLevelBpeSpec spec;
  spec.source = vocab_json_path;
  for (auto& [tok, idv] : j.items()) {
    check(idv.is_number_integer(), "{}: id of token '{}' is not an integer", vocab_json_path, tok);
    int64_t id = idv.get<int64_t>();
    check(id >= 0 && id < int64_t(2 * j.size() + 1024), "{}: token '{}' has invalid id {} (vocab of {})",
          vocab_json_path, tok, id, j.size());
    if (size_t(id) >= spec.tokens.size()) spec.tokens.resize(size_t(id) + 1);
    check(spec.tokens[size_t(id)].empty(), "{}: id {} is used twice", vocab_json_path, id);
    spec.tokens[size_t(id)] = tok;
  }
  std::string merges_text = read_file_bytes(merges_path);
  spec.merges = parse_bpe_merges(merges_text, merges_path);

  // Which family: tokenizer_config.json beside the files, else the merges' fingerprint.
  bool qwen = sha256_hex(merges_text) == kQwen2MergesSha256;
  auto config_path = std::filesystem::path(vocab_json_path).parent_path() / "tokenizer_config.json";
  nlohmann::json config;
  if (std::filesystem::exists(config_path)) {
    try {
      config = nlohmann::json::parse(read_file_bytes(config_path.string()));
    } catch (const nlohmann::json::exception& e) {
      fail("{}: not valid JSON: {}", config_path.string(), e.what());
    }
    if (config.is_object() && config.contains("tokenizer_class") && config["tokenizer_class"].is_string()) {
      std::string cls = config["tokenizer_class"];
      if (cls.rfind("Qwen2", 0) == 0) qwen = true;
    }
  }
  std::string pattern = options.pattern.empty() ? (qwen ? "qwen2" : "gpt2") : options.pattern;
  spec.patterns = {pattern};
  if (qwen) spec.normalizer = make_unicode_normalizer(unicode::NormalForm::kNFC);

  // Special tokens: GPT-2's <|endoftext|> is in the vocabulary; Qwen2's live in the config.
  auto add = [&](const std::string& text, int32_t id, bool special) {
    for (const auto& t : spec.added_tokens)
      if (t.content == text) return;
    AddedToken t;
    t.id = id;
    t.content = text;
    t.special = special;
    spec.added_tokens.push_back(t);
  };
  for (size_t id = 0; id < spec.tokens.size(); ++id)
    if (spec.tokens[id] == "<|endoftext|>") add(spec.tokens[id], int32_t(id), true);
  if (config.is_object() && config.contains("added_tokens_decoder") && config["added_tokens_decoder"].is_object()) {
    for (auto& [ids, t] : config["added_tokens_decoder"].items()) {
      if (!t.is_object() || !t.contains("content") || !t["content"].is_string()) continue;
      int32_t id = std::stoi(ids);
      AddedToken a;
      a.id = id;
      a.content = t["content"];
      a.special = t.value("special", true);
      a.lstrip = t.value("lstrip", false);
      a.rstrip = t.value("rstrip", false);
      a.single_word = t.value("single_word", false);
      a.normalized = t.value("normalized", false);
      spec.added_tokens.push_back(a);
    }
  } else if (qwen) {
    int32_t base = int32_t(spec.tokens.size());
    add("<|endoftext|>", base, true);
    add("<|im_start|>", base + 1, true);
    add("<|im_end|>", base + 2, true);
  }
  for (const std::string& s : options.special_tokens) {
    size_t eq = s.rfind('=');
    int32_t id = -1;
    std::string text = s;
    if (eq != std::string::npos && eq > 0) {
      try {
        id = std::stoi(s.substr(eq + 1));
        text = s.substr(0, eq);
      } catch (const std::exception&) {
        id = -1;
      }
    }
    if (id < 0) {
      int64_t next = int64_t(spec.tokens.size());
      for (const auto& t : spec.added_tokens) next = std::max<int64_t>(next, int64_t(t.id) + 1);
      id = int32_t(next);
    }
    add(text, id, true);
  }
  for (const auto& t : spec.added_tokens)
    if (t.content == "<|endoftext|>") spec.eos_id = t.id;
  spec.match_special = options.parse_special.value_or(false);
  return make_byte_level_bpe_tokenizer(std::move(spec));
}

}  // namespace lmkit
