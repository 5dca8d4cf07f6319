// Tokenizers from GGUF vocabularies against llama.cpp's tokenizer test vectors
// (../shared/assets/tokenizers/llamacpp-vocab: every .inp case must give its .out ids,
// read as llama.cpp tests/test-tokenizer-0.cpp reads them).
#include "lmkit/io/gguf_tokenizer.h"

#include <gtest/gtest.h>

#include <sstream>

#include "lmkit/core/error.h"
#include "lmkit/core/test_support.h"

namespace lmkit {
namespace {

using lmkit::test::read_file;

struct VocabCase {
  std::string text;
  std::vector<int32_t> ids;
};

std::vector<VocabCase> read_cases(const std::string& inp_path, const std::string& out_path) {
  const std::string raw = read_file(inp_path);
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> inputs;
  size_t pos = 0;
  while (pos < raw.size()) {
    const size_t next = raw.find(sep, pos);
    if (next == std::string::npos) {
      inputs.push_back(raw.substr(pos));
      break;
    }
    inputs.push_back(raw.substr(pos, next - pos));
    pos = next + sep.size();
  }
  std::istringstream out(read_file(out_path));
  std::vector<VocabCase> cases;
  std::string line;
  for (size_t i = 0; i < inputs.size() && std::getline(out, line); ++i) {
    VocabCase c{inputs[i], {}};
    std::istringstream ls(line);
    for (int32_t id; ls >> id;) c.ids.push_back(id);
    cases.push_back(std::move(c));
  }
  EXPECT_EQ(cases.size(), inputs.size()) << out_path;
  return cases;
}

void check_vocab(const std::string& name) {
  const std::string base = "tokenizers/llamacpp-vocab/ggml-vocab-" + name + ".gguf";
  const std::string gguf = test::existing_asset(base), inp = test::existing_asset(base + ".inp"), out = test::existing_asset(base + ".out");
  if (gguf.empty() || inp.empty() || out.empty()) GTEST_SKIP() << "shared assets not found: " << base;
  const auto tok = load_gguf_tokenizer(gguf);
  const auto cases = read_cases(inp, out);
  ASSERT_GT(cases.size(), 30u);
  size_t failures = 0;
  for (const VocabCase& c : cases) {
    const auto got = tok->encode(c.text);
    if (got != c.ids) ++failures;
    EXPECT_EQ(got, c.ids) << name << ": \"" << c.text << "\"";
  }
  EXPECT_EQ(failures, 0u) << name;
}

TEST(GgufTokenizer, LlamaSpmVectors) { check_vocab("llama-spm"); }
TEST(GgufTokenizer, Phi3Vectors) { check_vocab("phi-3"); }
TEST(GgufTokenizer, BertBgeVectors) {
  check_vocab("bert-bge");
  const std::string gguf = test::existing_asset("tokenizers/llamacpp-vocab/ggml-vocab-bert-bge.gguf");
  if (gguf.empty()) return;
  const auto tok = load_gguf_tokenizer(gguf);
  // [CLS] hello world [SEP]; continuation pieces come back with "##".
  EXPECT_EQ(tok->encode("Hello world", true), (std::vector<int32_t>{101, 7592, 2088, 102}));
  EXPECT_EQ(tok->token_text(2075), "##ing");
  EXPECT_EQ(tok->decode(tok->encode("Tokenizing works!", true)), "tokenizing works!");
}
TEST(GgufTokenizer, Gpt2Vectors) { check_vocab("gpt-2"); }
TEST(GgufTokenizer, FalconVectors) { check_vocab("falcon"); }
TEST(GgufTokenizer, MptVectors) { check_vocab("mpt"); }

TEST(GgufTokenizer, Llama2TinyModelVocabulary) {
  const std::string path = test::existing_asset("models/llama-2-tiny-random.gguf");
  if (path.empty()) GTEST_SKIP() << "shared assets not found (set LMKIT_ASSETS)";
  const auto tok = load_gguf_tokenizer(path);
  EXPECT_EQ(tok->vocab_size(), 32000);
  EXPECT_EQ(tok->encode("Hello world", true), (std::vector<int32_t>{1, 15043, 3186}));
  EXPECT_EQ(tok->decode(std::vector<int32_t>{1, 15043, 3186, 2}), "Hello world");
}

TEST(GgufTokenizer, BadVocabulariesAreErrors) {
  GgufVocab v;
  v.source = "x.gguf";
  v.model = "llama";
  EXPECT_THROW(tokenizer_from_gguf_vocab(v), Error);  // no tokens
  v.tokens = {"<unk>", "a"};
  v.scores = {0.0f};
  EXPECT_THROW(tokenizer_from_gguf_vocab(v), Error);  // scores length
  v.scores = {0.0f, -1.0f};
  v.token_types = {2, 9};
  EXPECT_THROW(tokenizer_from_gguf_vocab(v), Error);  // token type 9
  v.token_types = {2, 1};
  v.bos_id = 7;
  EXPECT_THROW(tokenizer_from_gguf_vocab(v), Error);  // bos out of range
  v.bos_id.reset();
  EXPECT_EQ(tokenizer_from_gguf_vocab(v)->encode("aa"), (std::vector<int32_t>{0, 1, 1}));  // ▁ unknown
  v.model = "rwkv";
  try {
    tokenizer_from_gguf_vocab(v);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("x.gguf"), std::string::npos);
  }
  v.model = "gpt2";
  EXPECT_THROW(tokenizer_from_gguf_vocab(v), Error);  // no merges
}

}  // namespace
}  // namespace lmkit
