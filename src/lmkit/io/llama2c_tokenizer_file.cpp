#include "lmkit/io/llama2c_tokenizer_file.h"

#include <cstring>
#include <fstream>
#include <sstream>

#include "lmkit/core/error.h"
#include "lmkit/io/atomic_file.h"

namespace lmkit {

std::unique_ptr<Llama2cTokenizer> parse_llama2c_tokenizer(std::string_view bytes, const std::string& source) {
  // run.c build_tokenizer: i32 max_token_length; per token f32 score, i32 len, bytes.
  size_t pos = 0;
  auto read_i32 = [&](const char* what, size_t index) -> int32_t {
    check(bytes.size() - pos >= 4, "{}: truncated llama2.c tokenizer: {} of token {} missing at byte {}", source, what,
          index, pos);
    int32_t v;
    std::memcpy(&v, bytes.data() + pos, 4);
    pos += 4;
    return v;
  };
  check(bytes.size() >= 4, "{}: not a llama2.c tokenizer ({} bytes)", source, bytes.size());
  int32_t max_len;
  std::memcpy(&max_len, bytes.data(), 4);
  pos = 4;
  check(max_len > 0 && max_len < (1 << 20), "{}: not a llama2.c tokenizer: max_token_length {}", source, max_len);
  std::vector<std::string> vocab;
  std::vector<float> scores;
  while (pos < bytes.size()) {
    const size_t index = vocab.size();
    const int32_t score_bits = read_i32("score", index);
    float score;
    std::memcpy(&score, &score_bits, 4);
    const int32_t len = read_i32("length", index);
    check(len >= 0 && len <= max_len, "{}: token {} has length {} (max_token_length {})", source, index, len, max_len);
    check(bytes.size() - pos >= static_cast<size_t>(len), "{}: token {} of {} bytes overruns the file", source, index,
          len);
    vocab.emplace_back(bytes.substr(pos, static_cast<size_t>(len)));
    scores.push_back(score);
    pos += static_cast<size_t>(len);
  }
  return std::make_unique<Llama2cTokenizer>(std::move(vocab), std::move(scores), max_len, source);
}

std::unique_ptr<Llama2cTokenizer> load_llama2c_tokenizer(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  check(in.good(), "{}: cannot open llama2.c tokenizer", path);
  std::ostringstream ss;
  ss << in.rdbuf();
  check(!in.bad(), "{}: read error", path);
  return parse_llama2c_tokenizer(ss.str(), path);
}

void save_llama2c_tokenizer(const Llama2cTokenizer& tok, const std::string& path) {
  write_file_atomic(path, [&](FileSink& sink) {
    const int32_t max_len = tok.max_token_length();
    sink.write(&max_len, 4);
    for (size_t i = 0; i < tok.vocab().size(); ++i) {
      const float score = tok.scores()[i];
      const int32_t len = static_cast<int32_t>(tok.vocab()[i].size());
      sink.write(&score, 4);
      sink.write(&len, 4);
      sink.write(tok.vocab()[i]);
    }
  });
}

}  // namespace lmkit
