// End-to-end: `lmkit tokenize` as outside checks call it.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <sys/wait.h>

#include "lmkit/core/test_support.h"

namespace {

namespace fs = std::filesystem;

std::string tok_dir() { return lmkit::test::asset("tokenizers"); }

struct Result {
  int code;
  std::string out;
};

// Runs `lmkit <args>` with stdin from `input_file` (if any); stdout (and stderr merged
// when `merge_err`) captured.
Result run(const std::string& args, const std::string& input_file = "", bool merge_err = false) {
  std::string cmd = std::string(LMKIT_EXE) + " " + args;
  if (!input_file.empty()) cmd += " < '" + input_file + "'";
  if (merge_err) cmd += " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  Result r{-1, ""};
  if (!p) return r;
  std::array<char, 65536> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  int st = pclose(p);
  r.code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

class TokenizeCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("lmkit_cli_tok_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string write(const std::string& name, const std::string& bytes) {
    std::string p = (dir_ / name).string();
    std::ofstream(p, std::ios::binary) << bytes;
    return p;
  }
  fs::path dir_;
};

TEST_F(TokenizeCli, Gpt2PinFromStdinAndFile) {
  LMKIT_SKIP_IF_ABSENT(tok_dir() + "/gpt2");
  std::string in = write("in.txt", "The quick brown fox");
  auto r = run("tokenize --tokenizer '" + tok_dir() + "/gpt2'", in);
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(r.out, "464 2068 7586 21831\n");
  r = run("tokenize --tokenizer '" + tok_dir() + "/tiktoken/r50k_base.tiktoken' --input '" + in + "' --threads 1");
  EXPECT_EQ(r.out, "464 2068 7586 21831\n");
}

TEST_F(TokenizeCli, JsonAddSpecialAndDecodeRoundTrip) {
  LMKIT_SKIP_IF_ABSENT(tok_dir() + "/llama3-hf");
  std::string spec = "'" + tok_dir() + "/llama3-tiktoken/tokenizer.model'";
  std::string in = write("in.txt", "Hello world");
  auto r = run("tokenize --tokenizer " + spec + " --format json --add-special", in);
  EXPECT_EQ(r.out, "{\"ids\":[128000,9906,1917],\"tokens\":[\"<|begin_of_text|>\",\"Hello\",\"Ġworld\"]}\n");
  // Whole input as one text, including newlines and ill-formed UTF-8; exact round trip.
  std::mt19937 rng(5);
  std::string bytes = "line one\nline two\r\n\n  indented\t\xff\xfe\xc3(\xe2\x82 end\n";
  for (int i = 0; i < 3000; ++i) bytes.push_back(char(rng() % 256));
  std::string text = write("bytes.bin", bytes);
  for (std::string s : {spec, "'" + tok_dir() + "/qwen3-hf'", "'" + tok_dir() + "/gpt2'",
                        "'" + tok_dir() + "/tiktoken/o200k_base.tiktoken'"}) {
    auto enc = run("tokenize --tokenizer " + s + " --input '" + text + "'");
    ASSERT_EQ(enc.code, 0);
    ASSERT_EQ(std::count(enc.out.begin(), enc.out.end(), '\n'), 1) << "ids on one line";
    std::string ids = write("ids.txt", enc.out);
    auto dec = run("tokenize --tokenizer " + s + " --decode", ids);
    ASSERT_EQ(dec.code, 0);
    if (s.find("qwen3") == std::string::npos) {  // Qwen normalizes to NFC first
      EXPECT_EQ(dec.out, bytes) << s;
    }
  }
  auto empty = run("tokenize --tokenizer " + spec, write("empty.txt", ""));
  EXPECT_EQ(empty.code, 0);
  EXPECT_EQ(empty.out, "\n");
}

TEST_F(TokenizeCli, MalformedTokenizerFileIsAClearError) {
  std::string bad = write("tokenizer.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [\"a b\"]}}");
  auto r = run("tokenize --tokenizer '" + bad + "'", write("in.txt", "a"), true);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("error: "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("tokenizer.json"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("merge 1"), std::string::npos) << r.out;
  auto missing = run("tokenize --tokenizer '" + (dir_ / "nope").string() + "'", "", true);
  EXPECT_EQ(missing.code, 1);
  EXPECT_NE(missing.out.find("no such file"), std::string::npos) << missing.out;
}

TEST_F(TokenizeCli, TrainTokenizerEveryAlgorithmRoundTrips) {
  std::string corpus;
  for (int i = 0; i < 400; ++i)
    corpus += "the cat sat on the mat; " + std::to_string(i) + " cats and dogs, naïve café\n";
  std::string in = write("corpus.txt", corpus);
  for (std::string algo : {"bpe", "unigram", "wordpiece", "spm-bpe"}) {
    std::string out = (dir_ / ("tok_" + algo)).string();
    // SentencePiece BPE spends 256 + 3 ids on byte-fallback and control pieces.
    const int vocab = algo == "spm-bpe" ? 600 : 300;
    auto r = run("train-tokenizer --input '" + in + "' --vocab-size " + std::to_string(vocab) +
                     " --algorithm " + algo +
                     " --special '<|endoftext|>' --out '" + out + "'",
                 "", true);
    ASSERT_EQ(r.code, 0) << r.out;
    ASSERT_TRUE(fs::exists(out + (algo == "spm-bpe" ? "/tokenizer.model" : "/tokenizer.json"))) << algo;
    auto enc = run("tokenize --tokenizer '" + out + "' --input '" + in + "'");
    ASSERT_EQ(enc.code, 0);
    std::istringstream ids(enc.out);
    int n = 0, max_id = -1;
    for (int id; ids >> id; ++n) max_id = std::max(max_id, id);
    EXPECT_GT(n, 0);
    EXPECT_LT(max_id, vocab) << algo;
    if (algo == "spm-bpe") {  // byte fallback, identity normalization: exact round trip
      auto dec = run("tokenize --tokenizer '" + out + "' --decode", write("ids.txt", enc.out));
      EXPECT_EQ(dec.out, corpus);
      EXPECT_LT(n, int(corpus.size()) / 3) << "BPE should compress the corpus";
    }
    if (algo == "bpe") {  // byte-level: exact round trip
      auto dec = run("tokenize --tokenizer '" + out + "' --decode", write("ids.txt", enc.out));
      EXPECT_EQ(dec.out, corpus);
      EXPECT_LT(n, int(corpus.size()) / 3) << "BPE should compress the corpus";
      auto sp = run("tokenize --tokenizer '" + out + "' --format json", write("s.txt", "<|endoftext|>"));
      EXPECT_EQ(sp.out, "{\"ids\":[299],\"tokens\":[\"<|endoftext|>\"]}\n");
    }
  }
}

}  // namespace
