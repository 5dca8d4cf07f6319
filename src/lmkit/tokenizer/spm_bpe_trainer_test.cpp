// SentencePiece-style BPE trainer: its vocabulary drives SentencePieceTokenizer (BPE) and
// compresses at least as well as spm_train's BPE (spm_training_reference.json) on the same
// text.
#include "lmkit/tokenizer/spm_bpe_trainer.h"

#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "lmkit/core/error.h"
#include "lmkit/core/test_support.h"

namespace lmkit {
namespace {

const std::string kSpace = "\xe2\x96\x81";

std::vector<std::pair<std::string, uint64_t>> word_counts(const std::string& text) {
  std::map<std::string, uint64_t> counts;
  std::istringstream in(text);
  for (std::string w; in >> w;) ++counts[kSpace + w];
  return {counts.begin(), counts.end()};
}

TEST(SpmBpeTrainer, SmallCorpus) {
  const std::string text = "low lower lowest low low newer newest wider\n";
  SpmBpeTrainerOptions o;
  o.vocab_size = 259 + 3 + 20;
  o.special_tokens = {"<s>", "</s>"};
  const SpmBpeVocab v = train_spm_bpe(word_counts(text), o);
  EXPECT_LE(v.pieces.size(), 282u);
  EXPECT_EQ(v.pieces[0].piece, "<unk>");
  EXPECT_EQ(v.pieces[3].piece, "<0x00>");
  // "lo" and "▁l" both occur 5 times (the most); equal length, so the smaller string wins.
  EXPECT_EQ(v.merges.front(), (std::pair<std::string, std::string>{"l", "o"}));
  std::set<std::string> unique;
  for (const auto& p : v.pieces) EXPECT_TRUE(unique.insert(p.piece).second) << p.piece;
  SentencePieceTokenizer tok(spm_bpe_model_spec(v), "trained");
  EXPECT_EQ(tok.encode_pieces("low"), std::vector<std::string>{kSpace + "low"});
  EXPECT_EQ(tok.decode(tok.encode("lowest newer zq")), "lowest newer zq");  // z, q: byte fallback
  EXPECT_EQ(train_spm_bpe(word_counts(text), o).pieces.size(), v.pieces.size());
}

TEST(SpmBpeTrainer, CompressesLikeSentencepiece) {
  const std::string path = test::existing_asset("text/tinyshakespeare.txt");
  if (path.empty()) GTEST_SKIP() << "shared assets not found (set LMKIT_ASSETS)";
  const auto ref = nlohmann::json::parse(test::read_file(test::fixture("tokenizer/spm_training_reference.json")));
  const std::string text = test::read_file(path).substr(0, 300000);
  SpmBpeTrainerOptions o;
  o.vocab_size = ref["vocab_size"];
  o.special_tokens = {"<s>", "</s>"};
  const SpmBpeVocab v = train_spm_bpe(word_counts(text), o);
  EXPECT_EQ(v.pieces.size(), 1000u);
  SentencePieceTokenizer tok(spm_bpe_model_spec(v), "trained");
  size_t tokens = 0;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) tokens += tok.encode(line).size();
  const double spm_tokens = ref["bpe_tokens"];
  std::cout << "lmkit spm-bpe tokens " << tokens << ", spm_train bpe tokens " << spm_tokens << "\n";
  EXPECT_LE(static_cast<double>(tokens), spm_tokens * 1.02);
}

}  // namespace
}  // namespace lmkit
