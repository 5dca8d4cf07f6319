#include "lmkit/tokenizer/bpe_trainer.h"

#include <gtest/gtest.h>

#include <random>

#include "lmkit/core/error.h"
#include "lmkit/core/thread_pool.h"
#include "lmkit/tokenizer/bpe.h"
#include "lmkit/tokenizer/regex_split.h"

namespace lmkit {
namespace {

std::vector<std::pair<std::string, uint64_t>> count_words(std::string_view text, const std::string& pattern) {
  auto pre = make_split_pretokenizer(*split_pattern_by_name(pattern), true, SplitBehavior::kIsolated, false);
  WordCounter wc(nullptr, *pre);
  wc.add_text(text);
  return wc.counts();
}

TEST(BpeTrainer, MergesByCountThenSmallestPair) {
  // Word counts given directly: "ab"x5, "abc"x2, "bc"x4, "cd"x4.
  // Pair counts: (a,b)=7, (b,c)=6, (c,d)=4 -> merge ab (256); then (ab,c)=2, (b,c)=4,
  // (c,d)=4: tie at 4 -> the smaller pair (b=98,c=99) before (c,d) -> bc (257); then cd.
  std::vector<std::pair<std::string, uint64_t>> words = {{"ab", 5}, {"abc", 2}, {"bc", 4}, {"cd", 4}};
  BpeTrainerOptions o;
  o.vocab_size = 256 + 3 + 1;
  o.special_tokens = {"<eot>"};
  BpeTrainResult r = train_byte_level_bpe(words, o);
  ASSERT_EQ(r.merges.size(), 3u);
  EXPECT_EQ(r.tokens[256], "ab");
  EXPECT_EQ(r.tokens[257], "bc");
  EXPECT_EQ(r.tokens[258], "cd");
  EXPECT_EQ(r.merges[0], (std::pair<int32_t, int32_t>{'a', 'b'}));
  EXPECT_EQ(r.special_tokens, std::vector<std::string>{"<eot>"});
}

TEST(BpeTrainer, OverlappingPairsCountedOnce) {
  // "aaaa" holds (a,a) three times, but merging gives "aa aa": then (aa,aa) once.
  std::vector<std::pair<std::string, uint64_t>> words = {{"aaaa", 1}};
  BpeTrainerOptions o;
  o.vocab_size = 256 + 2;
  BpeTrainResult r = train_byte_level_bpe(words, o);
  ASSERT_EQ(r.tokens.size(), 258u);
  EXPECT_EQ(r.tokens[256], "aa");
  EXPECT_EQ(r.tokens[257], "aaaa");
}

TEST(BpeTrainer, DeterministicAcrossThreadCountsAndReproducesTrainingSegmentation) {
  std::mt19937 rng(11);
  std::string text;
  const char* words[] = {"the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "tokenizer", "merge", "ünïcode", "数据"};
  for (int i = 0; i < 20000; ++i) {
    text += words[rng() % 12];
    text += (rng() % 10 == 0) ? "\n" : " ";
  }
  BpeTrainerOptions o;
  o.vocab_size = 400;
  set_num_threads(1);
  auto w1 = count_words(text, "gpt2");
  set_num_threads(2);
  auto w2 = count_words(text, "gpt2");
  set_num_threads(0);
  ASSERT_EQ(w1, w2);
  BpeTrainResult a = train_byte_level_bpe(w1, o), b = train_byte_level_bpe(w2, o);
  EXPECT_EQ(a.tokens, b.tokens);
  EXPECT_EQ(a.merges, b.merges);
  // Encoding a training word with the learned merges gives back its bytes.
  BpeOptions bo;
  Bpe bpe(a.tokens, a.merges, bo, "trained");
  for (const auto& [w, c] : w1) {
    std::vector<int32_t> ids;
    bpe.encode_word(w, ids);
    std::string back;
    for (int32_t id : ids) back += bpe.token(id);
    ASSERT_EQ(back, w);
  }
  // Frequent words became single tokens.
  std::vector<int32_t> ids;
  bpe.encode_word(" quick", ids);
  EXPECT_EQ(ids.size(), 1u);
}

TEST(BpeTrainer, VocabTooSmallIsAnError) {
  BpeTrainerOptions o;
  o.vocab_size = 100;
  EXPECT_THROW(train_byte_level_bpe({}, o), Error);
}

}  // namespace
}  // namespace lmkit
