#include "lmkit/io/tokenizer_loader.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string_view>

#include "lmkit/core/error.h"
#include "lmkit/io/gguf_tokenizer.h"
#include "lmkit/io/gpt2_vocab.h"
#include "lmkit/io/hf_tokenizer_json.h"
#include "lmkit/io/llama2c_tokenizer_file.h"
#include "lmkit/io/sentencepiece_model.h"
#include "lmkit/io/tiktoken_file.h"
#include "lmkit/tokenizer/unicode.h"
#include "lmkit/tokenizer/wordpiece.h"

namespace lmkit {

namespace fs = std::filesystem;

std::string read_file_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) fail("{}: cannot open: {}", path, std::strerror(errno));
  std::string data;
  f.seekg(0, std::ios::end);
  auto size = f.tellg();
  check(size >= 0, "{}: cannot read", path);
  data.resize(size_t(size));
  f.seekg(0);
  f.read(data.data(), std::streamsize(data.size()));
  check(bool(f) || data.empty(), "{}: read failed", path);
  return data;
}

namespace {

std::string head_of(const std::string& path, size_t n) {
  std::ifstream f(path, std::ios::binary);
  if (!f) fail("{}: cannot open: {}", path, std::strerror(errno));
  std::string h(n, '\0');
  f.read(h.data(), std::streamsize(n));
  h.resize(size_t(f.gcount()));
  return h;
}

std::string sibling(const std::string& path, const char* name) {
  fs::path p = fs::path(path).parent_path() / name;
  return fs::is_regular_file(p) ? p.string() : std::string();
}

// A JSON vocabulary (token -> id): find the merges file beside it.
std::unique_ptr<Tokenizer> load_vocab_json(const std::string& path, const TokenizerOptions& o) {
  std::string merges = sibling(path, "vocab.bpe");
  if (merges.empty()) merges = sibling(path, "merges.txt");
  check(!merges.empty(), "{}: a JSON vocabulary needs vocab.bpe or merges.txt in the same folder", path);
  return load_gpt2_vocab(path, merges, o);
}

std::unique_ptr<Tokenizer> load_merges(const std::string& path, const TokenizerOptions& o) {
  std::string vocab = sibling(path, "encoder.json");
  if (vocab.empty()) vocab = sibling(path, "vocab.json");
  check(!vocab.empty(), "{}: a merges file needs encoder.json or vocab.json in the same folder", path);
  return load_gpt2_vocab(vocab, path, o);
}

// llama2.c tokenizer.bin: int32 max_token_length, then (f32 score, int32 len, bytes)*.
bool looks_like_llama2c(const std::string& h) {
  if (h.size() < 12) return false;
  int32_t max_len, len;
  std::memcpy(&max_len, h.data(), 4);
  std::memcpy(&len, h.data() + 8, 4);
  return max_len > 0 && max_len <= 65536 && len >= 0 && len <= max_len;
}

bool looks_like_wordpiece_vocab(const std::string& h) {
  if (!unicode::is_valid_utf8(h.substr(0, unicode::valid_prefix_length(h))) || h.empty()) return false;
  return h.find("[UNK]\n") != std::string::npos || h.find("[PAD]\n") != std::string::npos ||
         h.find("[UNK]\r\n") != std::string::npos;
}

std::unique_ptr<Tokenizer> load_wordpiece_vocab(const std::string& path) {
  std::string text = read_file_bytes(path);
  std::vector<std::string> vocab;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    std::string line = text.substr(pos, nl - pos);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    vocab.push_back(std::move(line));
    pos = nl + 1;
  }
  static const BertTokenizerOptions kBert;  // BERT's defaults: lower-casing, [CLS]/[SEP]
  return std::make_unique<WordPieceTokenizer>(std::move(vocab), kBert, path);
}

// Whether `text` holds `quoted_key`, then JSON whitespace, ':', whitespace and `open` - a
// member whose value is an object / array. A linear scan: std::regex's recursive matcher
// overflowed the stack on a long whitespace run after the key (a crafted 2 MB input).
bool has_member(std::string_view text, std::string_view quoted_key, char open) {
  auto skip_space = [&](size_t i) {
    while (i < text.size() && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' || text[i] == '\r')) ++i;
    return i;
  };
  for (size_t pos = text.find(quoted_key); pos != std::string_view::npos; pos = text.find(quoted_key, pos + 1)) {
    size_t i = skip_space(pos + quoted_key.size());
    if (i >= text.size() || text[i] != ':') continue;
    i = skip_space(i + 1);
    if (i < text.size() && text[i] == open) return true;
  }
  return false;
}

std::unique_ptr<Tokenizer> load_file(const std::string& path, const TokenizerOptions& o) {
  std::string h = head_of(path, 1 << 16);
  check(!h.empty(), "{}: empty file is not a tokenizer", path);
  if (h.compare(0, 4, "GGUF") == 0) return load_gguf_tokenizer(path);
  size_t first = h.find_first_not_of(" \t\r\n");
  if (first != std::string::npos && h[first] == '{') {
    // tokenizer.json has an object "model"; a vocabulary JSON maps tokens to integers.
    if (has_member(h, "\"model\"", '{') || has_member(h, "\"added_tokens\"", '['))
      return load_hf_tokenizer_json(path, o);
    std::string text = read_file_bytes(path);
    if (has_member(text, "\"model\"", '{')) return load_hf_tokenizer_json(path, o);
    return load_vocab_json(path, o);
  }
  if (looks_like_tiktoken(h)) return load_tiktoken(path, o);
  if (h.compare(0, 8, "#version") == 0) return load_merges(path, o);
  if (static_cast<unsigned char>(h[0]) == 0x0A) return load_sentencepiece_model(path);
  if (looks_like_wordpiece_vocab(h)) return load_wordpiece_vocab(path);
  if (looks_like_llama2c(h)) return load_llama2c_tokenizer(path);
  fail("{}: unrecognized tokenizer format (expected tokenizer.json, a tiktoken rank file, "
       "encoder.json/vocab.json + merges, a SentencePiece .model, vocab.txt, llama2.c "
       "tokenizer.bin or GGUF)",
       path);
}

}  // namespace

std::unique_ptr<Tokenizer> load_tokenizer(const std::string& spec, const TokenizerOptions& options) {
  std::error_code ec;
  fs::file_status st = fs::status(spec, ec);
  check(!ec && fs::exists(st), "{}: no such file or folder", spec);
  if (!fs::is_directory(st)) return load_file(spec, options);
  // A folder: the first of these that it holds.
  for (const char* name : {"tokenizer.json", "tokenizer.model"}) {
    std::string p = (fs::path(spec) / name).string();
    if (fs::is_regular_file(p)) return load_file(p, options);
  }
  std::vector<std::string> tiktoken, gguf;
  for (const auto& e : fs::directory_iterator(spec)) {
    if (!e.is_regular_file()) continue;
    std::string ext = e.path().extension().string();
    if (ext == ".tiktoken") tiktoken.push_back(e.path().string());
    if (ext == ".gguf") gguf.push_back(e.path().string());
  }
  check(tiktoken.size() <= 1, "{}: several .tiktoken files; name one", spec);
  if (tiktoken.size() == 1) return load_file(tiktoken[0], options);
  for (const char* name : {"encoder.json", "vocab.json"}) {
    std::string p = (fs::path(spec) / name).string();
    if (fs::is_regular_file(p)) return load_vocab_json(p, options);
  }
  for (const char* name : {"vocab.txt", "tokenizer.bin"}) {
    std::string p = (fs::path(spec) / name).string();
    if (fs::is_regular_file(p)) return load_file(p, options);
  }
  check(gguf.size() <= 1, "{}: several .gguf files; name one", spec);
  if (gguf.size() == 1) return load_file(gguf[0], options);
  fail("{}: the folder holds no tokenizer file (tokenizer.json, tokenizer.model, *.tiktoken, "
       "encoder.json + vocab.bpe, vocab.json + merges.txt, vocab.txt, tokenizer.bin, *.gguf)",
       spec);
}

}  // namespace lmkit
