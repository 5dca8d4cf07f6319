#include "lmkit/io/token_data.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "lmkit/core/error.h"
#include "lmkit/tokenizer/tokenizer.h"
#include "lmkit/core/test_support.h"

namespace lmkit {
namespace {

namespace fs = std::filesystem;

class TokenDataTest : public test::ScratchDirTest {
 protected:
  // An llm.c file image built by hand (dev/data/data_common.py layout).
  static std::string llmc_image(int32_t magic, int32_t version, int32_t count,
                                const std::string& payload) {
    std::string h(1024, '\0');
    std::memcpy(&h[0], &magic, 4);
    std::memcpy(&h[4], &version, 4);
    std::memcpy(&h[8], &count, 4);
    return h + payload;
  }
  static std::string u16_bytes(std::initializer_list<uint16_t> v) {
    std::string out(v.size() * 2, '\0');
    size_t i = 0;
    for (uint16_t x : v) std::memcpy(&out[2 * i++], &x, 2);
    return out;
  }
  static std::vector<int32_t> all(const TokenData& t) {
    std::vector<int32_t> out(t.size());
    t.copy(0, t.size(), out.data());
    return out;
  }
  void expect_error(const std::string& path, TokenFormat f, const std::string& needle,
                    const Tokenizer* tok = nullptr) {
    try {
      TokenData::open(path, tok, f);
      ADD_FAILURE() << "expected lmkit::Error opening " << path;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    }
  }
};

TEST_F(TokenDataTest, LlmcRoundTripU16AndExactBytes) {
  std::vector<int32_t> ids = {50256, 0, 1, 65535, 42, 7};
  std::string p = (dir_ / "train.bin").string();
  write_llmc_tokens(p, ids);
  EXPECT_EQ(test::read_file(p), llmc_image(20240520, 1, 6, u16_bytes({50256, 0, 1, 65535, 42, 7})));
  TokenData t = TokenData::open(p);
  EXPECT_EQ(t.format(), TokenFormat::LlmC);
  ASSERT_EQ(t.size(), ids.size());
  EXPECT_EQ(all(t), ids);
  EXPECT_EQ(t[3], 65535);
  EXPECT_EQ(t.max_id(), 65535);
  std::vector<int32_t> mid(2);
  t.copy(2, 2, mid.data());
  EXPECT_EQ(mid, (std::vector<int32_t>{1, 65535}));
  EXPECT_THROW(t[6], Error);
  EXPECT_THROW(t.copy(5, 2, mid.data()), Error);
  EXPECT_THROW(t.copy(7, 0, mid.data()), Error);
  t.copy(6, 0, mid.data());  // empty range at the end is fine
}

TEST_F(TokenDataTest, LlmcRoundTripU32) {
  std::vector<int32_t> ids = {128000, 5, 70000, 2147483647};
  std::string p = (dir_ / "llama.dat").string();
  write_llmc_tokens(p, ids);
  std::string bytes = test::read_file(p);
  EXPECT_EQ(bytes.size(), 1024u + 16u);
  int32_t h[3];
  std::memcpy(h, bytes.data(), 12);
  EXPECT_EQ(h[0], 20240801);
  EXPECT_EQ(h[1], 7);
  EXPECT_EQ(h[2], 4);
  TokenData t = TokenData::open(p);
  EXPECT_EQ(all(t), ids);
  EXPECT_EQ(t.max_id(), 2147483647);
  write_llmc_tokens(p, std::vector<int32_t>{1, 2}, /*force_u32=*/true);
  EXPECT_EQ(test::read_file(p).size(), 1024u + 8u);
  EXPECT_EQ(all(TokenData::open(p)), (std::vector<int32_t>{1, 2}));
  EXPECT_THROW(write_llmc_tokens(p, std::vector<int32_t>{1, -2}), Error);
}

TEST_F(TokenDataTest, LlmcHeaderValidation) {
  const std::string four = u16_bytes({1, 2, 3, 4});
  expect_error(write("a.bin", llmc_image(20240520, 2, 4, four)), TokenFormat::Auto,
               "must have version 1");
  expect_error(write("b.bin", llmc_image(20240520, 1, 5, four)), TokenFormat::Auto,
               "says 5 tokens");
  expect_error(write("c.bin", llmc_image(20240520, 1, 3, four)), TokenFormat::Auto,
               "says 3 tokens");
  expect_error(write("d.bin", llmc_image(20240520, 1, -1, four)), TokenFormat::Auto, "negative");
  expect_error(write("e.bin", llmc_image(20240801, 1, 2, four)), TokenFormat::Auto,
               "must have version 7");
  expect_error(write("f.bin", llmc_image(20240520, 1, 4, four).substr(0, 1000)), TokenFormat::Auto,
               "shorter than the 1024-byte header");
  expect_error(write("g.bin", llmc_image(12345, 1, 4, four)), TokenFormat::LlmC, "magic 12345");
  // A valid llm.c file is recognised whatever its extension.
  TokenData t = TokenData::open(write("h.tokens", llmc_image(20240520, 1, 4, four)));
  EXPECT_EQ(t.format(), TokenFormat::LlmC);
  EXPECT_EQ(all(t), (std::vector<int32_t>{1, 2, 3, 4}));
}

TEST_F(TokenDataTest, RawU16) {
  std::string p = write("shakespeare.bin", u16_bytes({10, 300, 2, 65000, 9}));
  TokenData t = TokenData::open(p);
  EXPECT_EQ(t.format(), TokenFormat::RawU16);
  EXPECT_EQ(all(t), (std::vector<int32_t>{10, 300, 2, 65000, 9}));
  EXPECT_EQ(t.max_id(), 65000);
  expect_error(write("odd.bin", std::string(7, '\x01')), TokenFormat::Auto, "odd size (7 bytes)");
  // Unknown extension: ids < 256 have NUL high bytes, so this is binary, not text.
  TokenData u = TokenData::open(write("ids.dat", u16_bytes({65, 66, 67})));
  EXPECT_EQ(u.format(), TokenFormat::RawU16);
  EXPECT_EQ(all(u), (std::vector<int32_t>{65, 66, 67}));
  EXPECT_EQ(TokenData::open(write("empty.bin", "")).size(), 0u);
  EXPECT_EQ(TokenData::open(write("empty.bin", "")).max_id(), -1);
}

TEST_F(TokenDataTest, TextIsTokenized) {
  ByteTokenizer bytes;
  std::string text = "In the beginning\nGod created \xc3\xa9";
  std::string p = write("kjv.txt", text);
  TokenData t = TokenData::open(p, &bytes);
  EXPECT_EQ(t.format(), TokenFormat::Text);
  ASSERT_EQ(t.size(), text.size());
  for (size_t i = 0; i < text.size(); ++i) EXPECT_EQ(t[i], static_cast<unsigned char>(text[i]));
  EXPECT_EQ(t.max_id(), 0xc3);
  expect_error(p, TokenFormat::Auto, "needs a tokenizer");
  // No extension: valid UTF-8 without NUL -> text.
  EXPECT_EQ(TokenData::open(write("corpus", text), &bytes).format(), TokenFormat::Text);
  // Forcing: a text-looking file read as raw uint16 ("ab" "cd" -> 2 ids).
  TokenData f = TokenData::open(write("four.txt", "abcd"), nullptr, TokenFormat::RawU16);
  EXPECT_EQ(all(f), (std::vector<int32_t>{'a' | ('b' << 8), 'c' | ('d' << 8)}));
  // Forcing text on a .bin file.
  EXPECT_EQ(TokenData::open(write("t.bin", "xyz"), &bytes, TokenFormat::Text).size(), 3u);
}

TEST_F(TokenDataTest, SplitAndSlice) {
  std::vector<int32_t> ids(100);
  for (int i = 0; i < 100; ++i) ids[i] = (i * 37) % 101;
  TokenData t = TokenData::from_ids(ids);
  auto [train, val] = t.split(0.1);
  EXPECT_EQ(train.size(), 90u);
  EXPECT_EQ(val.size(), 10u);
  EXPECT_EQ(val[0], ids[90]);
  EXPECT_EQ(train[89], ids[89]);
  EXPECT_THROW(val[10], Error);
  // max_id is per range.
  int32_t mv = *std::max_element(ids.begin() + 90, ids.end());
  EXPECT_EQ(val.max_id(), mv);
  EXPECT_EQ(t.max_id(), 100);
  auto [all_train, none] = t.split(0.0);
  EXPECT_EQ(all_train.size(), 100u);
  EXPECT_EQ(none.size(), 0u);
  EXPECT_THROW(t.split(1.0), Error);
  EXPECT_THROW(t.split(-0.1), Error);
  EXPECT_THROW(TokenData::from_ids({1, 2}).split(0.1), Error);  // rounds to 0 held out
  TokenData s = t.slice(10, 20);
  EXPECT_EQ(s.size(), 10u);
  EXPECT_EQ(s[0], ids[10]);
  EXPECT_THROW(t.slice(20, 10), Error);
  EXPECT_THROW(t.slice(0, 101), Error);
  EXPECT_THROW(TokenData::from_ids({1, -1}), Error);
  // Split of a mapped file shares the mapping.
  std::string p = (dir_ / "m.bin").string();
  write_llmc_tokens(p, ids);
  auto [mt, mvl] = TokenData::open(p).split(0.25);
  EXPECT_EQ(mvl.size(), 25u);
  EXPECT_EQ(mvl[24], ids[99]);
  EXPECT_EQ(mt[0], ids[0]);
}

TEST(TokenFormat, Names) {
  for (TokenFormat f :
       {TokenFormat::Auto, TokenFormat::LlmC, TokenFormat::RawU16, TokenFormat::Text})
    EXPECT_EQ(parse_token_format(token_format_name(f)), f);
  EXPECT_THROW(parse_token_format("csv"), Error);
}

}  // namespace
}  // namespace lmkit
