#include "lmkit/tokenizer/bpe.h"

#include <gtest/gtest.h>

#include <map>
#include <random>

#include "lmkit/core/error.h"

namespace lmkit {
namespace {

// A byte-level vocabulary: the 256 bytes, then merged tokens.
std::vector<std::string> byte_vocab(std::vector<std::string> extra) {
  std::vector<std::string> t;
  for (int b = 0; b < 256; ++b) t.push_back(std::string(1, char(b)));
  for (auto& e : extra) t.push_back(e);
  return t;
}

TEST(Bpe, MergeListLowestRankFirstLeftmostOnTies) {
  // ids: a=97 b=98 c=99; 256 "ab", 257 "bc", 258 "abc", 259 "aa"
  auto tokens = byte_vocab({"ab", "bc", "abc", "aa"});
  std::vector<std::pair<int32_t, int32_t>> merges = {{98, 99}, {97, 98}, {97, 257}, {97, 97}};
  Bpe bpe(tokens, merges, {}, "test");
  std::vector<int32_t> ids;
  bpe.encode_word("abc", ids);  // "bc" first (rank 0), then a+bc (rank 2)
  EXPECT_EQ(ids, (std::vector<int32_t>{258}));
  ids.clear();
  bpe.encode_word("aaa", ids);  // leftmost "aa" wins the tie
  EXPECT_EQ(ids, (std::vector<int32_t>{259, 97}));
  ids.clear();
  bpe.encode_word("abab", ids);
  EXPECT_EQ(ids, (std::vector<int32_t>{256, 256}));
}

TEST(Bpe, VocabRanksLikeTiktoken) {
  auto tokens = byte_vocab({"ab", "bc", "abc"});
  BpeOptions o;
  o.ranks = BpeOptions::Ranks::kVocabRanks;
  o.ignore_merges = true;
  Bpe bpe(tokens, {}, o, "test");
  std::vector<int32_t> ids;
  bpe.encode_word("abcab", ids);  // "ab" (256) before "bc" (257), then "ab"+"c" = 258
  EXPECT_EQ(ids, (std::vector<int32_t>{258, 256}));
  ids.clear();
  bpe.encode_word("bcab", ids);  // "ab" (256) first, then "bc" (257)
  EXPECT_EQ(ids, (std::vector<int32_t>{257, 256}));
  ids.clear();
  bpe.encode_word("abc", ids);  // whole word in the vocabulary
  EXPECT_EQ(ids, (std::vector<int32_t>{258}));
}

TEST(Bpe, ScanAndHeapAgree) {
  std::vector<std::string> extra;
  std::mt19937 rng(7);
  const std::string letters = "abcde";
  for (int i = 0; i < 300; ++i) {
    std::string s;
    int len = 2 + int(rng() % 4);
    for (int k = 0; k < len; ++k) s += letters[rng() % letters.size()];
    extra.push_back(s);
  }
  auto tokens = byte_vocab(extra);
  // Merge list from every token's splits that exist, in id order.
  std::vector<std::pair<int32_t, int32_t>> merges;
  std::map<std::string, int32_t> index;
  for (size_t i = 0; i < tokens.size(); ++i) index.emplace(tokens[i], int32_t(i));
  for (size_t i = 256; i < tokens.size(); ++i)
    for (size_t cut = 1; cut < tokens[i].size(); ++cut) {
      auto a = index.find(tokens[i].substr(0, cut)), b = index.find(tokens[i].substr(cut));
      if (a != index.end() && b != index.end()) merges.emplace_back(a->second, b->second);
    }
  for (auto ranks : {BpeOptions::Ranks::kMergeList, BpeOptions::Ranks::kVocabRanks}) {
    BpeOptions o;
    o.ranks = ranks;
    o.ignore_merges = ranks == BpeOptions::Ranks::kVocabRanks;
    Bpe bpe(tokens, ranks == BpeOptions::Ranks::kMergeList ? merges : decltype(merges){}, o, "t");
    for (int iter = 0; iter < 2000; ++iter) {
      std::string w;
      int len = 1 + int(rng() % 200);
      for (int k = 0; k < len; ++k) w += letters[rng() % letters.size()];
      std::vector<int32_t> a, b;
      bpe.encode_word(w, a);
      bpe.encode_word_heap(w, b);
      ASSERT_EQ(a, b) << w;
      std::string back;
      for (int32_t id : a) back += bpe.token(id);
      ASSERT_EQ(back, w);
    }
  }
}

TEST(Bpe, CharLevelWithByteFallbackAndUnk) {
  // SentencePiece-style BPE as tokenizer.json writes it (Mistral): characters, <0xNN>.
  std::vector<std::string> tokens = {"<unk>", "<0xE2>", "<0x82>", "<0xAC>", "\xE2\x96\x81", "a", "b",
                                     "\xE2\x96\x81" "a", "ab"};
  std::vector<std::pair<int32_t, int32_t>> merges = {{4, 5}, {5, 6}};
  BpeOptions o;
  o.byte_level = false;
  o.byte_fallback = true;
  o.unk_id = 0;
  o.fuse_unk = true;
  Bpe bpe(tokens, merges, o, "t");
  std::vector<int32_t> ids;
  bpe.encode_word("\xE2\x96\x81" "ab\xE2\x82\xAC" "xy", ids);  // ▁ab€xy
  EXPECT_EQ(ids, (std::vector<int32_t>{7, 6, 1, 2, 3, 0}));
}

TEST(Bpe, BadMergeIsAnError) {
  auto tokens = byte_vocab({});
  EXPECT_THROW(Bpe(tokens, {{97, 98}}, {}, "x.json"), Error);  // "ab" is not a token
}

}  // namespace
}  // namespace lmkit
