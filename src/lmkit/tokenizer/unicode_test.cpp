#include "lmkit/tokenizer/unicode.h"

#include <gtest/gtest.h>

namespace lmkit::unicode {
namespace {

TEST(Unicode, StrictUtf8) {
  uint32_t cp;
  EXPECT_EQ(decode_utf8("\xC3\xA9", 2, 0, cp), 2);
  EXPECT_EQ(cp, 0xE9u);
  EXPECT_EQ(decode_utf8("\xF0\x9F\x98\x80", 4, 0, cp), 4);
  EXPECT_EQ(cp, 0x1F600u);
  EXPECT_EQ(decode_utf8("\xC0\x80", 2, 0, cp), 0);          // overlong NUL
  EXPECT_EQ(decode_utf8("\xE0\x80\xAF", 3, 0, cp), 0);      // overlong
  EXPECT_EQ(decode_utf8("\xED\xA0\x80", 3, 0, cp), 0);      // surrogate
  EXPECT_EQ(decode_utf8("\xF4\x90\x80\x80", 4, 0, cp), 0);  // > U+10FFFF
  EXPECT_EQ(decode_utf8("\xE2\x82", 2, 0, cp), 0);          // truncated
  EXPECT_EQ(decode_utf8("\x80", 1, 0, cp), 0);              // lone continuation
  EXPECT_EQ(valid_prefix_length("abc\xE2\x82\xAC\xFFxyz"), 6u);
  for (uint32_t c : {0x41u, 0x7FFu, 0x800u, 0xFFFFu, 0x10000u, 0x10FFFFu}) {
    std::string s = encode_utf8(c);
    ASSERT_EQ(decode_utf8(s.data(), s.size(), 0, cp), int(s.size()));
    EXPECT_EQ(cp, c);
  }
}

TEST(Unicode, Categories) {
  EXPECT_EQ(category('A'), kLu);
  EXPECT_EQ(category('a'), kLl);
  EXPECT_EQ(category(0x1C5), kLt);
  EXPECT_EQ(category(0x2B0), kLm);
  EXPECT_EQ(category(0x4E2D), kLo);
  EXPECT_EQ(category(0x301), kMn);
  EXPECT_EQ(category('7'), kNd);
  EXPECT_EQ(category(0x216B), kNl);
  EXPECT_EQ(category(0xBD), kNo);
  EXPECT_EQ(category(0x1F600), kSo);
  EXPECT_TRUE(is_white_space(' '));
  EXPECT_TRUE(is_white_space(0x85));
  EXPECT_TRUE(is_white_space(0x3000));
  EXPECT_FALSE(is_white_space(0x200B));
  EXPECT_FALSE(is_white_space(0x180E));
  EXPECT_TRUE(is_letter(0x5D0));
  EXPECT_FALSE(is_letter('1'));
}

TEST(Unicode, Normalization) {
  std::string e_acute = "e\xCC\x81";  // e + U+0301
  EXPECT_EQ(normalize(e_acute, NormalForm::kNFC), "\xC3\xA9");
  EXPECT_EQ(normalize("\xC3\xA9", NormalForm::kNFD), e_acute);
  EXPECT_EQ(normalize("\xEF\xAC\x81", NormalForm::kNFKC), "fi");  // U+FB01 ligature
  EXPECT_EQ(normalize("\xEF\xAC\x81", NormalForm::kNFC), "\xEF\xAC\x81");
  // ASCII passes through; ill-formed bytes are kept and cut segments.
  EXPECT_EQ(normalize("abc \xFF" "e\xCC\x81", NormalForm::kNFC), "abc \xFF\xC3\xA9");
  EXPECT_EQ(normalize("", NormalForm::kNFC), "");
}

TEST(Unicode, LowerAndMarks) {
  EXPECT_EQ(to_lower("HeLLo \xC3\x89"), "hello \xC3\xA9");
  EXPECT_EQ(to_lower("\xC4\xB0"), "i\xCC\x87");  // U+0130 -> i + U+0307
  EXPECT_EQ(strip_marks("e\xCC\x81" "a"), "ea");
}

}  // namespace
}  // namespace lmkit::unicode
