// lmkit tokenize: text -> ids (or ids -> text with --decode) with any tokenizer file
// load_tokenizer reads (io/tokenizer_loader.h). The whole input is one text, bytes exactly
// as read; ids go to stdout space-separated on one line.
#include <fmt/format.h>

#include <charconv>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "lmkit/core/error.h"
#include "lmkit/io/tokenizer_loader.h"

namespace lmkit::cli {

namespace {

std::string read_input(const std::string& path) {
  if (path.empty() || path == "-") {
    std::string data;
    char buf[1 << 16];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, stdin)) > 0) data.append(buf, n);
    check(!std::ferror(stdin), "cannot read standard input");
    return data;
  }
  return read_file_bytes(path);
}

void write_all(std::string_view s) {
  check(std::fwrite(s.data(), 1, s.size(), stdout) == s.size(), "cannot write standard output");
  std::fflush(stdout);
}

std::vector<int32_t> parse_ids(std::string_view text) {
  std::vector<int32_t> ids;
  size_t i = 0, n = text.size();
  // Accept plain ids, or JSON ({"ids": [...]} / [...]): separators are anything but digits.
  auto sep = [](char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == ',' || c == '[' ||
                                 c == ']' || c == '{' || c == '}' || c == ':'; };
  std::string_view key = "\"ids\"";
  while (i < n) {
    if (sep(text[i])) {
      ++i;
      continue;
    }
    if (text.substr(i, key.size()) == key) {
      i += key.size();
      continue;
    }
    int64_t v = 0;
    auto [end, ec] = std::from_chars(text.data() + i, text.data() + n, v);
    size_t used = size_t(end - (text.data() + i));
    check(ec == std::errc() && used > 0 && v >= 0 && v <= INT32_MAX && (i + used == n || sep(text[i + used])),
          "--decode: expected token ids, got '{}' at byte {}", text.substr(i, std::min<size_t>(20, n - i)), i);
    ids.push_back(int32_t(v));
    i += used;
  }
  return ids;
}

const Command kTokenize{
    "tokenize", "Encode text to token ids (or decode ids with --decode)", [](CLI::App& app) -> Run {
      struct Opts {
        std::string tokenizer, input, format = "ids", pattern;
        std::vector<std::string> specials;
        bool add_special = false, decode = false;
        std::optional<bool> parse_special;
      };
      auto o = std::make_shared<Opts>();
      app.add_option("--tokenizer", o->tokenizer,
                     "tokenizer file or folder: tokenizer.json, tiktoken ranks, encoder.json/vocab.json "
                     "+ merges, SentencePiece .model, vocab.txt, llama2.c tokenizer.bin, GGUF")
          ->required();
      app.add_option("--input", o->input, "input file (default: standard input); read as bytes, one text");
      app.add_flag("--add-special", o->add_special,
                   "apply the tokenizer's BOS/EOS/template (e.g. <s>, [CLS] ... [SEP])");
      app.add_option("--format", o->format, "output: ids (one line) or json {\"ids\":[...],\"tokens\":[...]}")
          ->check(CLI::IsMember({"ids", "json"}));
      app.add_flag("--decode", o->decode, "read token ids and write the text they stand for, exactly");
      app.add_option("--pattern", o->pattern,
                     "split pattern for files that carry none: gpt2, cl100k, o200k, qwen2 or a regex");
      app.add_option("--special", o->specials,
                     "special token for files that carry none: TEXT (next free id) or TEXT=ID; repeatable");
      app.add_flag_callback("--parse-special", [o] { o->parse_special = true; },
                            "special-token text in the input becomes the special id");
      app.add_flag_callback("--no-parse-special", [o] { o->parse_special = false; },
                            "special-token text is encoded as plain text (default for tiktoken/GPT-2 files; "
                            "HF tokenizer.json matches added tokens like HF does)");
      auto threads = add_threads_option(app);
      return [o, threads]() -> int {
        threads();
        TokenizerOptions topt;
        topt.pattern = o->pattern;
        topt.special_tokens = o->specials;
        topt.parse_special = o->parse_special;
        auto tok = load_tokenizer(o->tokenizer, topt);
        std::string input = read_input(o->input);
        if (o->decode) {
          write_all(tok->decode(parse_ids(input)));
          return 0;
        }
        std::vector<int32_t> ids = tok->encode(input, o->add_special);
        std::string out;
        if (o->format == "json") {
          nlohmann::json j;
          j["ids"] = ids;
          auto& tokens = j["tokens"] = nlohmann::json::array();
          for (int32_t id : ids) tokens.push_back(tok->token_text(id));
          out = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
          out += '\n';
        } else {
          out.reserve(ids.size() * 7 + 1);
          char buf[16];
          for (size_t i = 0; i < ids.size(); ++i) {
            if (i) out.push_back(' ');
            auto [end, ec] = std::to_chars(buf, buf + sizeof buf, ids[i]);
            out.append(buf, end);
          }
          out.push_back('\n');
        }
        write_all(out);
        return 0;
      };
    }};

}  // namespace

}  // namespace lmkit::cli
