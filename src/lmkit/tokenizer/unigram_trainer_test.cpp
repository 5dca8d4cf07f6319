// Unigram trainer: a well-formed vocabulary that UnigramModel encodes with, deterministic,
// and at least as compressive as sentencepiece's own trainer (spm_training_reference.json,
// made by tests/fixtures/tokenizer/make_spm_fixtures.py) on the same text.
#include "lmkit/tokenizer/unigram_trainer.h"

#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "lmkit/core/error.h"
#include "lmkit/core/test_support.h"
#include "lmkit/tokenizer/unigram.h"

namespace lmkit {
namespace {

const std::string kSpace = "\xe2\x96\x81";

// Lines as sentencepiece sees them with remove_extra_whitespaces: "▁w1▁w2...".
std::vector<std::string> normalized_lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    std::istringstream ls(line);
    std::string norm;
    for (std::string w; ls >> w;) norm += kSpace + w;
    out.push_back(norm);
  }
  return out;
}

std::vector<std::pair<std::string, uint64_t>> word_counts(const std::vector<std::string>& lines) {
  std::map<std::string, uint64_t> counts;
  for (const auto& l : lines) {
    size_t pos = 0;
    while (pos < l.size()) {
      size_t next = l.find(kSpace, pos + kSpace.size());
      if (next == std::string::npos) next = l.size();
      ++counts[l.substr(pos, next - pos)];
      pos = next;
    }
  }
  return {counts.begin(), counts.end()};
}

UnigramModel model_of(const UnigramVocab& v) {
  UnigramOptions o;
  o.unk_id = v.unk_id;
  o.byte_fallback = v.byte_fallback;
  return UnigramModel(v.pieces, {}, o);
}

TEST(UnigramTrainer, SmallCorpusVocabulary) {
  const auto lines = normalized_lines("the cat sat on the mat\nthe cat ate the rat\nthat cat is fat\n");
  UnigramTrainerOptions o;
  o.vocab_size = 256 + 1 + 2 + 20;
  o.special_tokens = {"<s>", "</s>"};
  const UnigramVocab v = train_unigram(word_counts(lines), o);
  EXPECT_LE(v.pieces.size(), 279u);
  EXPECT_EQ(v.pieces[0].first, "<unk>");
  EXPECT_EQ(v.pieces[1].first, "<s>");
  EXPECT_EQ(v.pieces[3].first, "<0x00>");
  std::set<std::string> unique;
  for (const auto& p : v.pieces) EXPECT_TRUE(unique.insert(p.first).second) << p.first;
  for (size_t i = 259; i < v.pieces.size(); ++i) EXPECT_LT(v.pieces[i].second, 0.0) << v.pieces[i].first;
  // Every character is a piece, "▁the" is frequent enough to be one.
  EXPECT_TRUE(unique.count(kSpace + "the") || unique.count(kSpace + "cat"));
  const UnigramModel m = model_of(v);
  std::vector<int32_t> ids;
  m.encode(lines[0], ids);
  std::string back;
  for (int32_t id : ids) back += m.piece(id);
  EXPECT_EQ(back, lines[0]);
  EXPECT_LE(ids.size(), 12u);
  // Characters never seen fall back to bytes.
  ids.clear();
  m.encode(kSpace + "zq", ids);
  EXPECT_EQ(m.piece(ids.back()), "<0x71>");
  // Deterministic.
  const UnigramVocab v2 = train_unigram(word_counts(lines), o);
  EXPECT_EQ(v.pieces, v2.pieces);
}

TEST(UnigramTrainer, CompressesLikeSentencepiece) {
  const std::string path = test::existing_asset("text/tinyshakespeare.txt");
  if (path.empty()) GTEST_SKIP() << "shared assets not found (set LMKIT_ASSETS)";
  const auto ref = nlohmann::json::parse(test::read_file(test::fixture("tokenizer/spm_training_reference.json")));
  const auto lines = normalized_lines(test::read_file(path).substr(0, 300000));
  UnigramTrainerOptions o;
  o.vocab_size = ref["vocab_size"];
  o.special_tokens = {"<s>", "</s>"};
  o.num_threads = 2;
  const UnigramVocab v = train_unigram(word_counts(lines), o);
  EXPECT_EQ(v.pieces.size(), 1000u);
  const UnigramModel m = model_of(v);
  size_t tokens = 0;
  std::vector<int32_t> ids;
  for (const auto& l : lines) {
    ids.clear();
    m.encode(l, ids);
    tokens += ids.size();
  }
  const double spm_tokens = ref["unigram_tokens"];
  std::cout << "lmkit unigram tokens " << tokens << ", spm_train unigram tokens " << spm_tokens << "\n";
  EXPECT_LE(static_cast<double>(tokens), spm_tokens * 1.02);
}

TEST(UnigramTrainer, RejectsBadOptions) {
  UnigramTrainerOptions o;
  o.vocab_size = 100;  // < 256 byte pieces + unk
  EXPECT_THROW(train_unigram({{"\xe2\x96\x81x", 1}}, o), Error);
  o.vocab_size = 400;
  EXPECT_THROW(train_unigram({}, o), Error);
}

}  // namespace
}  // namespace lmkit
