// Ids equal to the reference tools' (tests/fixtures/tokenizer/make_fixtures.mjs: npm
// tiktoken for r50k/p50k/cl100k/o200k, npm tokenizers = HF tokenizers for the Llama-3,
// Qwen3 and Mistral tokenizer.json files) on a multilingual / emoji / code / whitespace
// stress text and on the first 32 KiB of Tiny Shakespeare.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <sstream>

#include "lmkit/io/hf_tokenizer_json.h"
#include "lmkit/io/tokenizer_loader.h"
#include "lmkit/tokenizer/bpe_trainer.h"
#include "lmkit/tokenizer/regex_split.h"

#include "lmkit/core/test_support.h"

namespace lmkit {
namespace {

namespace fs = std::filesystem;

std::string fixtures() { return test::fixture("tokenizer/"); }

std::vector<int32_t> read_ids(const std::string& path) {
  std::istringstream s(read_file_bytes(path));
  std::vector<int32_t> ids;
  for (int32_t id; s >> id;) ids.push_back(id);
  return ids;
}

struct Case {
  const char* name;       // fixture prefix
  const char* tokenizer;  // under shared/assets/tokenizers
};

class BpeFixtures : public ::testing::TestWithParam<Case> {};

TEST_P(BpeFixtures, MatchesReferenceTool) {
  const Case c = GetParam();
  std::string spec = std::string(c.tokenizer).rfind("fixture:", 0) == 0
                         ? fixtures() + std::string(c.tokenizer).substr(8)
                         : test::asset("tokenizers/") + c.tokenizer;
  std::string shakespeare = test::asset("text/tinyshakespeare.txt");
  LMKIT_SKIP_IF_ABSENT(spec);
  LMKIT_SKIP_IF_ABSENT(shakespeare);
  auto tok = load_tokenizer(spec);
  std::string stress = read_file_bytes(fixtures() + "bpe_stress.txt");
  std::string shake = read_file_bytes(shakespeare).substr(0, 32768);
  std::string base = fixtures() + c.name;
  EXPECT_EQ(tok->encode(stress), read_ids(base + ".stress.ids"));
  EXPECT_EQ(tok->encode(shake), read_ids(base + ".shakespeare.ids"));
  if (fs::exists(base + ".stress.special.ids")) {
    EXPECT_EQ(tok->encode(stress, true), read_ids(base + ".stress.special.ids"));
  }
  // Byte-level vocabularies decode back to the very text (Mistral's Metaspace pipeline and
  // Qwen's NFC do not promise that).
  if (std::string(c.name).find("mistral") == std::string::npos && std::string(c.name).find("qwen") == std::string::npos) {
    EXPECT_EQ(tok->decode(tok->encode(stress)), stress);
  }
}

INSTANTIATE_TEST_SUITE_P(Reference, BpeFixtures,
                         ::testing::Values(Case{"r50k_base", "tiktoken/r50k_base.tiktoken"},
                                           Case{"p50k_base", "tiktoken/p50k_base.tiktoken"},
                                           Case{"cl100k_base", "tiktoken/cl100k_base.tiktoken"},
                                           Case{"o200k_base", "tiktoken/o200k_base.tiktoken"},
                                           Case{"llama3-hf", "llama3-hf/tokenizer.json"},
                                           Case{"qwen3-hf", "qwen3-hf/tokenizer.json"},
                                           Case{"mistral-hf", "mistral-hf/tokenizer.json"},
                                           Case{"bpe_trained", "fixture:bpe_trained/tokenizer.json"}),
                         [](const auto& info) {
                           std::string n = info.param.name;
                           for (auto& ch : n)
                             if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           return n;
                         });

// lmkit's trainer reproduces the committed tokenizer.json (which HF tokenizers loads and
// encodes with the ids above) byte for byte: training is deterministic.
TEST(BpeTrainerFixture, ReproducesCommittedTokenizerJson) {
  std::string shakespeare = test::asset("text/tinyshakespeare.txt");
  LMKIT_SKIP_IF_ABSENT(shakespeare);
  std::string regex = *split_pattern_by_name("cl100k");
  auto pre = make_split_pretokenizer(regex, true, SplitBehavior::kIsolated, false);
  WordCounter wc(nullptr, *pre);
  wc.add_text(read_file_bytes(shakespeare).substr(0, 32768));
  wc.add_text(read_file_bytes(fixtures() + "bpe_stress.txt"));
  BpeTrainerOptions o;
  o.vocab_size = 1000;
  o.special_tokens = {"<|endoftext|>", "<|pad|>"};
  BpeTrainResult r = train_byte_level_bpe(wc.counts(), o);
  EXPECT_EQ(byte_level_bpe_tokenizer_json(r, regex), read_file_bytes(fixtures() + "bpe_trained/tokenizer.json"));
}

}  // namespace
}  // namespace lmkit
