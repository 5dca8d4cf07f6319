// WordPiece trainer: HF WordPieceTrainer's vocabulary layout (specials, sorted alphabet,
// "##" characters, merged tokens) and a vocabulary WordPieceModel encodes with.
#include "lmkit/tokenizer/wordpiece_trainer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>
#include <sstream>

#include "lmkit/core/test_support.h"
#include "lmkit/tokenizer/wordpiece.h"

namespace lmkit {
namespace {

std::vector<std::pair<std::string, uint64_t>> bert_word_counts(const std::string& text) {
  std::string norm;
  bert_normalize(text, BertNormalizerOptions{}, norm);
  std::vector<std::string_view> words;
  bert_pre_tokenize(norm, words);
  std::map<std::string, uint64_t> counts;
  for (auto w : words) ++counts[std::string(w)];
  return {counts.begin(), counts.end()};
}

TEST(WordPieceTrainer, LayoutAndMerges) {
  WordPieceTrainerOptions o;
  o.vocab_size = 40;
  const auto v = train_wordpiece(bert_word_counts("low lower lowest low low newer newest wider"), o);
  ASSERT_GE(v.tokens.size(), 10u);
  EXPECT_EQ(std::vector<std::string>(v.tokens.begin(), v.tokens.begin() + 5),
            (std::vector<std::string>{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"}));
  // Alphabet next, sorted.
  EXPECT_EQ(v.tokens[5], "d");
  EXPECT_EQ(v.tokens[6], "e");
  std::set<std::string> all(v.tokens.begin(), v.tokens.end());
  EXPECT_EQ(all.size(), v.tokens.size());
  EXPECT_TRUE(all.count("##o"));
  EXPECT_TRUE(all.count("lo") || all.count("low"));  // l + ##o merged without "##" in the middle
  EXPECT_TRUE(all.count("low"));
  for (const auto& t : v.tokens) EXPECT_EQ(t.find("##", 1), std::string::npos) << t;
  EXPECT_LE(v.tokens.size(), 40u);
  WordPieceModel m(v.tokens, WordPieceOptions{});
  std::vector<int32_t> ids;
  m.encode_word("lowest", ids);
  std::string joined;
  for (int32_t id : ids) joined += m.token(id) + " ";
  EXPECT_LE(ids.size(), 3u) << joined;
  EXPECT_NE(ids[0], m.unk_id());
  // Deterministic.
  EXPECT_EQ(train_wordpiece(bert_word_counts("low lower lowest low low newer newest wider"), o).tokens, v.tokens);
}

TEST(WordPieceTrainer, ShakespeareVocabularyEncodes) {
  const std::string path = test::existing_asset("text/tinyshakespeare.txt");
  if (path.empty()) GTEST_SKIP() << "shared assets not found (set LMKIT_ASSETS)";
  const std::string text = test::read_file(path).substr(0, 200000);
  WordPieceTrainerOptions o;
  o.vocab_size = 2000;
  const auto v = train_wordpiece(bert_word_counts(text), o);
  EXPECT_EQ(v.tokens.size(), 2000u);
  BertTokenizerOptions bo;
  WordPieceTokenizer tok(v.tokens, bo);
  const std::string sample = text.substr(0, 5000);
  const auto ids = tok.encode(sample);
  size_t unk = std::count(ids.begin(), ids.end(), tok.model().unk_id());
  EXPECT_EQ(unk, 0u);
  EXPECT_LT(ids.size(), sample.size() / 3);
  std::string norm;
  bert_normalize(sample, BertNormalizerOptions{}, norm);
  std::vector<std::string_view> words;
  bert_pre_tokenize(norm, words);
  std::string want;
  for (auto w : words) want += std::string(want.empty() ? "" : " ") + std::string(w);
  // Decoding joins words with spaces (cleanup off here: punctuation stays separate).
  EXPECT_EQ(tok.model().decode(ids, false), want);
}

}  // namespace
}  // namespace lmkit
