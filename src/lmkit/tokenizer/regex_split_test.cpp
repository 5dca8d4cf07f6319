// The hand-written scanners must split exactly like PCRE2 running the same pattern.
#include "lmkit/tokenizer/regex_split.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>

#include "lmkit/core/error.h"
#include "lmkit/tokenizer/unicode.h"

namespace lmkit {
namespace {

std::string assets_dir() {
  if (const char* e = std::getenv("LMKIT_ASSETS")) return e;
  return std::string(LMKIT_SOURCE_DIR) + "/../shared/assets";
}

// Characters chosen to hit every class the patterns test: letters of each case category,
// marks, numbers of each kind, White_Space of each kind, \r \n, apostrophes and the
// contraction letters in both cases (plus U+017F, which case-folds to 's'), punctuation,
// symbols, format characters, and an ill-formed byte.
const std::vector<std::string>& alphabet() {
  static const std::vector<std::string> a = [] {
    std::vector<std::string> v;
    for (const char* s : {"a", "b", "s", "t", "r", "e", "v", "l", "m", "d", "S", "T", "R", "E", "V",
                          "L", "M", "D", "Q", "x", "0", "1", "7", " ", " ", " ", "\t", "\n", "\r",
                          "'", "'", ".", ",", "!", "?", "/", "-", "_", "(", "$", "\xff", "\x0b"})
      v.push_back(s);
    for (uint32_t cp : {0x17Fu, 0x212Au, 0xE9u, 0xC9u, 0x1C5u, 0x2B0u, 0x4E2Du, 0x301u, 0x903u,
                        0x216Bu, 0xBDu, 0x663u, 0xA0u, 0x2028u, 0x3000u, 0x85u, 0x200Bu, 0x1F600u,
                        0x3C3u, 0x3A3u, 0x5D0u, 0x2019u})
      v.push_back(unicode::encode_utf8(cp));
    return v;
  }();
  return a;
}

std::vector<Span> split(const RegexSplitter& r, std::string_view text) {
  std::vector<Span> out;
  r.find_matches(text, out);
  return out;
}

class ScannerVsPcre2 : public ::testing::TestWithParam<const char*> {};

TEST_P(ScannerVsPcre2, RandomStrings) {
  std::string pattern = *split_pattern_by_name(GetParam());
  RegexSplitter fast(pattern), pcre(pattern, RegexSplitter::Engine::kPcre2);
  ASSERT_TRUE(fast.uses_scanner());
  ASSERT_FALSE(pcre.uses_scanner());
  std::mt19937 rng(1234);
  const auto& a = alphabet();
  for (int iter = 0; iter < 20000; ++iter) {
    std::string s;
    int len = int(rng() % 24);
    for (int k = 0; k < len; ++k) s += a[rng() % a.size()];
    auto x = split(fast, s), y = split(pcre, s);
    ASSERT_EQ(x, y) << "pattern " << GetParam() << " on '" << s << "'";
    // The known patterns match every character: the pieces tile the text.
    size_t pos = 0;
    for (auto [b, e] : x) {
      ASSERT_EQ(b, pos);
      ASSERT_LT(b, e);
      pos = e;
    }
    ASSERT_EQ(pos, s.size());
  }
}

TEST_P(ScannerVsPcre2, TinyShakespeare) {
  std::ifstream f(assets_dir() + "/text/tinyshakespeare.txt", std::ios::binary);
  if (!f) GTEST_SKIP() << "shared assets not found (set LMKIT_ASSETS): text/tinyshakespeare.txt";
  std::stringstream ss;
  ss << f.rdbuf();
  std::string pattern = *split_pattern_by_name(GetParam());
  RegexSplitter fast(pattern), pcre(pattern, RegexSplitter::Engine::kPcre2);
  EXPECT_EQ(split(fast, ss.str()), split(pcre, ss.str()));
}

INSTANTIATE_TEST_SUITE_P(KnownPatterns, ScannerVsPcre2, ::testing::Values("gpt2", "cl100k", "qwen2", "o200k"));

TEST(RegexSplit, Cl100kExamples) {
  RegexSplitter r(*split_pattern_by_name("cl100k"));
  std::string s = "Hello world's  123456\n\n  x";
  std::vector<std::string> pieces;
  for (auto [b, e] : split(r, s)) pieces.push_back(s.substr(b, e - b));
  std::vector<std::string> want = {"Hello", " world", "'s", " ", " ", "123", "456", "\n\n", " ", " x"};
  EXPECT_EQ(pieces, want);
}

TEST(RegexSplit, IllFormedBytesArePiecesOfTheirOwn) {
  RegexSplitter r(*split_pattern_by_name("gpt2"));
  std::string s = "ab\xff\xfe cd";
  auto m = split(r, s);
  std::vector<Span> want = {{0, 2}, {2, 4}, {4, 7}};
  EXPECT_EQ(m, want);
}

TEST(RegexSplit, UserPatternAndErrors) {
  RegexSplitter r("[0-9]+");
  EXPECT_FALSE(r.uses_scanner());
  std::vector<Span> want = {{1, 3}, {4, 5}};
  EXPECT_EQ(split(r, "a12b3"), want);
  EXPECT_THROW(RegexSplitter("(unclosed"), Error);
  // Empty matches are skipped.
  RegexSplitter empty("x*");
  std::vector<Span> want2 = {{1, 3}};
  EXPECT_EQ(split(empty, "axxb"), want2);
}

TEST(RegexSplit, LongRunsAreLinear) {
  // 4 MB runs: a quadratic scanner would not finish.
  for (const char* name : {"gpt2", "cl100k", "o200k"}) {
    RegexSplitter r(*split_pattern_by_name(name));
    for (std::string unit : {" ", "a", "A", "\xca\xb0" "A", "1", "!", " \n"}) {
      std::string s;
      while (s.size() < (4u << 20)) s += unit;
      auto m = split(r, s);
      ASSERT_FALSE(m.empty());
      EXPECT_EQ(m.back().second, s.size());
    }
  }
}

}  // namespace
}  // namespace lmkit
