// llama2.c tokenizer.bin: llama2.c's own test cases (test.c, via the shared golden file),
// decode as run.c does, stories260K's tok512.bin, and malformed files.
#include "lmkit/io/llama2c_tokenizer_file.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "lmkit/core/error.h"
#include "lmkit/io/sentencepiece_model.h"
#include "lmkit/core/test_support.h"

namespace lmkit {
namespace {

using lmkit::test::read_file;

TEST(Llama2cTokenizer, EncodesLlama2cTestCases) {
  const std::string path = test::existing_asset("models/tokenizer.bin");
  const std::string golden = test::existing_asset("golden/llama2_tokenizer_encodings.json");
  if (path.empty() || golden.empty()) GTEST_SKIP() << "shared assets not found (set LMKIT_ASSETS)";
  const auto tok = load_llama2c_tokenizer(path);
  EXPECT_EQ(tok->vocab_size(), 32000);
  const auto doc = nlohmann::json::parse(read_file(golden));
  int n = 0;
  for (const auto& c : doc["cases"]) {
    const std::string text = c["text"];
    const std::vector<int32_t> want = c["ids"].get<std::vector<int32_t>>();
    EXPECT_EQ(tok->encode(text, true), want) << text;
    // run.c decode drops the space after BOS: the text comes back exactly.
    EXPECT_EQ(tok->decode(want), text);
    ++n;
  }
  EXPECT_EQ(n, 5);
}

TEST(Llama2cTokenizer, AgreesWithSentencePieceOnShakespeare) {
  // run.c's algorithm and sentencepiece's BPE pick the same merges on text whose
  // characters are all in the vocabulary (the dummy prefix is the " " token).
  const std::string bin = test::existing_asset("models/tokenizer.bin");
  const std::string model = test::existing_asset("tokenizers/llama2-sp/tokenizer.model");
  const std::string text_path = test::existing_asset("text/tinyshakespeare.txt");
  if (bin.empty() || model.empty() || text_path.empty()) GTEST_SKIP() << "shared assets not found";
  const auto tok = load_llama2c_tokenizer(bin);
  const auto spm = load_sentencepiece_model(model);
  const std::string text = read_file(text_path).substr(0, 20000);
  EXPECT_EQ(tok->encode(text), spm->encode(text));
}

// Segmented merging (cuts before space runs) equals one pass over the text, which a
// vocabulary with an unreachable token holding "x " forces.
TEST(Llama2cTokenizer, SegmentedMergeEqualsSinglePass) {
  const std::string bin = test::existing_asset("models/tokenizer.bin");
  const std::string text_path = test::existing_asset("text/tinyshakespeare.txt");
  if (bin.empty() || text_path.empty()) GTEST_SKIP() << "shared assets not found";
  const auto tok = load_llama2c_tokenizer(bin);
  std::vector<std::string> vocab = tok->vocab();
  std::vector<float> scores = tok->scores();
  vocab.push_back("\x01\x01 ");
  scores.push_back(-1e9f);
  const Llama2cTokenizer whole(vocab, scores, tok->max_token_length());
  const std::string text = read_file(text_path).substr(0, 50000) + " caf\xC3\xA9  \xF0\x9F\xA6\x99 \xFF end ";
  EXPECT_EQ(tok->encode(text), whole.encode(text));
}

TEST(Llama2cTokenizer, DecodeLikeRunC) {
  const std::string path = test::existing_asset("models/tokenizer.bin");
  if (path.empty()) GTEST_SKIP() << "shared assets not found (set LMKIT_ASSETS)";
  const auto tok = load_llama2c_tokenizer(path);
  // <0x0A> is a raw newline; the space of "▁Hello" (15043) is kept unless after BOS.
  EXPECT_EQ(tok->decode(std::vector<int32_t>{15043, 13, 15043}), " Hello\n Hello");
  EXPECT_EQ(tok->decode(std::vector<int32_t>{1, 15043}), "Hello");
  EXPECT_EQ(tok->decode(std::vector<int32_t>{2}), tok->token_text(2));
  // Byte fallback for characters not in the vocabulary, and invalid UTF-8 round trips.
  const std::string odd = "\xF0\x9F\xA6\x99 \xFF\xFE";
  const auto ids = tok->encode(odd);
  EXPECT_EQ(tok->decode(ids), " " + odd);
}

TEST(Llama2cTokenizer, Stories260KVocabulary) {
  const std::string path = test::existing_asset("models/tok512.bin");
  if (path.empty()) GTEST_SKIP() << "shared assets not found (set LMKIT_ASSETS)";
  const auto tok = load_llama2c_tokenizer(path);
  EXPECT_EQ(tok->vocab_size(), 512);
  const std::string text = "Once upon a time, there was a little girl named Lily.";
  const auto ids = tok->encode(text, true);
  EXPECT_EQ(ids.front(), 1);
  EXPECT_LT(ids.size(), text.size());
  EXPECT_EQ(tok->decode(ids), text);
  // Save and reload: identical file.
  const std::string out = (std::filesystem::temp_directory_path() / "lmkit_tok512_copy.bin").string();
  save_llama2c_tokenizer(*tok, out);
  EXPECT_EQ(read_file(out), read_file(path));
  std::filesystem::remove(out);
}

TEST(Llama2cTokenizer, MalformedFilesAreErrors) {
  auto expect_error = [](const std::string& bytes) {
    try {
      parse_llama2c_tokenizer(bytes, "bad.bin");
      ADD_FAILURE() << "no error";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("bad.bin"), std::string::npos) << e.what();
    }
  };
  expect_error("");
  expect_error(std::string("\x00\x00\x00\x00", 4));               // max_token_length 0
  expect_error(std::string("\x10\x00\x00\x00\x00\x00", 6));       // truncated score
  expect_error(std::string("\x10\x00\x00\x00\x00\x00\x80\x3f\x20\x00\x00\x00", 12));  // len > max
  expect_error(std::string("\x10\x00\x00\x00\x00\x00\x80\x3f\x05\x00\x00\x00ab", 14));  // overrun
  // A well-formed file with too few tokens for run.c's conventions.
  expect_error(std::string("\x10\x00\x00\x00\x00\x00\x80\x3f\x02\x00\x00\x00ab", 14));
  EXPECT_THROW(load_llama2c_tokenizer("/nonexistent/tokenizer.bin"), Error);
}

}  // namespace
}  // namespace lmkit
