// Pre-tokenizers: the batched split_stream() path gives exactly the words split() gives.
#include "lmkit/tokenizer/pretokenizer.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace lmkit {
namespace {

std::vector<std::pair<std::string, bool>> via_split(const PreTokenizer& pre, const Piece& p) {
  std::vector<Piece> out;
  PieceStore store;
  pre.split(p, out, store);
  std::vector<std::pair<std::string, bool>> words;
  for (const Piece& w : out) words.emplace_back(std::string(w.text), w.at_start);
  return words;
}

std::vector<std::pair<std::string, bool>> via_stream(const PreTokenizer& pre, const Piece& p) {
  PieceStore store;
  std::vector<std::pair<std::string, bool>> words;
  pre.split_stream(p, store, [&](std::vector<Piece>& batch) {
    for (const Piece& w : batch) words.emplace_back(std::string(w.text), w.at_start);
  });
  return words;
}

// Text from pieces that matter to Metaspace: spaces, the replacement itself, its bytes
// alone (invalid UTF-8), other multi-byte characters, letters.
std::string random_text(std::mt19937& rng, size_t n) {
  static const std::vector<std::string> alphabet = {
      " ",        " ",        "a",  "b",        "\xE2\x96\x81",     "\xE2",
      "\x96\x81", "\xC3\xA9", "\n", "\xE2\x96", "\xF0\x9F\x98\x80", "_"};
  std::string s;
  for (size_t k = 0; k < n; ++k) s += alphabet[rng() % alphabet.size()];
  return s;
}

TEST(MetaspacePreTokenizer, StreamEqualsSplit) {
  std::mt19937 rng(7);
  for (const char* rep : {"\xE2\x96\x81", "_"})
    for (const char* scheme : {"always", "first", "never"}) {
      auto pre = make_metaspace_pretokenizer(rep, scheme, true);
      for (const std::string fixed :
           {"", " ", "  ", "a", " a", "a ", "a  b", "\xE2\x96\x81", "\xE2\x96\x81 x"})
        for (bool at_start : {false, true}) {
          Piece p{fixed, at_start};
          EXPECT_EQ(via_stream(*pre, p), via_split(*pre, p))
              << rep << " " << scheme << " '" << fixed << "'";
        }
      for (int trial = 0; trial < 300; ++trial) {
        const std::string text = random_text(rng, rng() % 40);
        Piece p{text, trial % 2 == 0};
        ASSERT_EQ(via_stream(*pre, p), via_split(*pre, p))
            << rep << " " << scheme << " '" << text << "'";
      }
    }
}

TEST(MetaspacePreTokenizer, StreamEqualsSplitAcrossBatches) {
  std::mt19937 rng(11);
  const std::string text = random_text(rng, 50000);  // far more words than one batch
  auto pre = make_metaspace_pretokenizer("\xE2\x96\x81", "always", true);
  const auto words = via_stream(*pre, {text, true});
  EXPECT_GT(words.size(), 10000u);
  EXPECT_EQ(words, via_split(*pre, {text, true}));
}

}  // namespace
}  // namespace lmkit
