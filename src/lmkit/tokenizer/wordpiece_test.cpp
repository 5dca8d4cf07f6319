// WordPiece / BERT basic tokenizer against HF tokenizers' ids for bert-base-uncased
// (tests/fixtures/tokenizer/make_wordpiece_fixtures.js), plus unit cases.
#include "lmkit/tokenizer/wordpiece.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "lmkit/core/error.h"
#include "lmkit/core/test_support.h"

namespace lmkit {
namespace {

std::vector<std::string> read_vocab(const std::string& path) {
  std::vector<std::string> v;
  std::istringstream in(test::read_file(path));
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    v.push_back(line);
  }
  return v;
}

TEST(WordPiece, BertUncasedMatchesHfTokenizers) {
  const std::string vocab = test::existing_asset("tokenizers/bert-base-uncased/vocab.txt");
  if (vocab.empty()) GTEST_SKIP() << "shared assets not found (set LMKIT_ASSETS)";
  WordPieceTokenizer tok(read_vocab(vocab), BertTokenizerOptions{}, vocab);
  EXPECT_EQ(tok.vocab_size(), 30522);
  const auto doc = nlohmann::json::parse(test::read_file(test::fixture("tokenizer/wordpiece_bert_uncased_cases.json")));
  int n = 0;
  for (const auto& c : doc["cases"]) {
    const std::string text = c["text"];
    EXPECT_EQ(tok.encode(text), c["ids"].get<std::vector<int32_t>>()) << "case " << n << ": " << text.substr(0, 80);
    EXPECT_EQ(tok.encode(text, true), c["ids_special"].get<std::vector<int32_t>>()) << "case " << n;
    EXPECT_EQ(tok.decode(c["ids"].get<std::vector<int32_t>>()), c["decoded"].get<std::string>()) << "case " << n;
    ++n;
  }
  EXPECT_GT(n, 40);
}

TEST(WordPiece, BasicTokenizerPieces) {
  std::string out;
  bert_normalize("Héllo\tWORLD\x01 中文", BertNormalizerOptions{}, out);
  EXPECT_EQ(out, "hello world  中  文 ");
  out.clear();
  BertNormalizerOptions cased;
  cased.lowercase = false;
  bert_normalize("Héllo", cased, out);
  EXPECT_EQ(out, "Héllo");  // strip_accents follows lowercase
  std::vector<std::string_view> words;
  bert_pre_tokenize("hey friend!  how're you?!", words);
  EXPECT_EQ(words, (std::vector<std::string_view>{"hey", "friend", "!", "how", "'", "re", "you", "?", "!"}));
}

TEST(WordPiece, GreedyLongestMatchAndUnknown) {
  WordPieceModel m({"[UNK]", "un", "##aff", "##able", "a", "##b", "aff"}, WordPieceOptions{});
  std::vector<int32_t> ids;
  m.encode_word("unaffable", ids);
  EXPECT_EQ(ids, (std::vector<int32_t>{1, 2, 3}));
  ids.clear();
  m.encode_word("unx", ids);  // no segmentation: the whole word is [UNK]
  EXPECT_EQ(ids, (std::vector<int32_t>{0}));
  ids.clear();
  m.encode_word(std::string(101, 'a'), ids);  // over max_input_chars_per_word
  EXPECT_EQ(ids, (std::vector<int32_t>{0}));
  ids.clear();
  m.encode_word("abbb", ids);
  EXPECT_EQ(ids, (std::vector<int32_t>{4, 5, 5, 5}));
  EXPECT_EQ(m.decode(std::vector<int32_t>{1, 2, 3, 4}), "unaffable a");
  EXPECT_THROW(WordPieceModel({"a"}, WordPieceOptions{}), Error);  // no [UNK]
}

}  // namespace
}  // namespace lmkit
