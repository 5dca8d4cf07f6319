// SentencePiece .model loading and encoding against ids made by the real sentencepiece
// library (tests/fixtures/tokenizer/make_spm_fixtures.py).
#include "lmkit/io/sentencepiece_model.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "lmkit/core/error.h"
#include "lmkit/core/test_support.h"
#include "lmkit/tokenizer/unigram.h"

namespace lmkit {
namespace {

using json = nlohmann::json;
std::string fixture(const std::string& rel) { return test::fixture("tokenizer/" + rel); }
using lmkit::test::read_file;

std::string model_path(const std::string& ref) {
  if (ref.rfind("assets:", 0) == 0) return test::existing_asset(ref.substr(7));
  return fixture(ref.substr(8));
}

void check_cases(const std::string& cases_file) {
  const json doc = json::parse(read_file(fixture(cases_file)));
  const std::string path = model_path(doc["model"]);
  if (path.empty()) GTEST_SKIP() << "shared assets not found (set LMKIT_ASSETS): " << doc["model"];
  const auto tok = load_sentencepiece_model(path);
  int n = 0;
  for (const json& c : doc["cases"]) {
    const std::string text = c.contains("text") ? c["text"].get<std::string>() : test::from_hex(c["text_hex"]);
    const std::vector<int32_t> want = c["ids"].get<std::vector<int32_t>>();
    const std::vector<int32_t> got = tok->encode(text);
    EXPECT_EQ(got, want) << cases_file << " case " << n << ": " << text.substr(0, 80);
    EXPECT_EQ(tok->decode(want), c["decoded"].get<std::string>()) << cases_file << " case " << n;
    ++n;
  }
  for (const json& c : doc["decode_only"]) {
    const std::vector<int32_t> ids = c["ids"].get<std::vector<int32_t>>();
    EXPECT_EQ(tok->decode(ids), c["decoded"].get<std::string>()) << cases_file << " decode " << json(ids).dump();
  }
  EXPECT_GT(n, 30);
}

TEST(SentencePieceModel, Llama2MatchesSentencepiece) { check_cases("spm_llama2_cases.json"); }
TEST(SentencePieceModel, UnigramNfkcMatchesSentencepiece) { check_cases("spm_unigram_nfkc_cases.json"); }
TEST(SentencePieceModel, BpeIdentityMatchesSentencepiece) { check_cases("spm_bpe_identity_cases.json"); }
TEST(SentencePieceModel, CharMatchesSentencepiece) { check_cases("spm_char_cases.json"); }

// All of Tiny Shakespeare in one call (long inputs: float score sums in Unigram, BPE
// segments), pinned by count and FNV-1a-64 of the ids (spm_whole_text.json).
TEST(SentencePieceModel, WholeShakespeareMatchesSentencepiece) {
  const std::string text_path = test::existing_asset("text/tinyshakespeare.txt");
  const std::string llama = test::existing_asset("tokenizers/llama2-sp/tokenizer.model");
  if (text_path.empty() || llama.empty()) GTEST_SKIP() << "shared assets not found (set LMKIT_ASSETS)";
  const std::string text = read_file(text_path);
  const json doc = json::parse(read_file(fixture("spm_whole_text.json")));
  for (const auto& [name, want] : doc["models"].items()) {
    const auto tok = load_sentencepiece_model(name == "llama2" ? llama : fixture(name + ".model"));
    const auto ids = tok->encode(text);
    uint64_t h = 0xcbf29ce484222325ull;
    for (int32_t id : ids)
      for (int k = 0; k < 4; ++k) h = (h ^ ((static_cast<uint32_t>(id) >> (8 * k)) & 0xFF)) * 0x100000001b3ull;
    EXPECT_EQ(ids.size(), want["count"].get<size_t>()) << name;
    EXPECT_EQ(std::to_string(h), want["fnv1a64"].get<std::string>()) << name;
  }
}

// UnigramModel with HF semantics (every piece in the lattice, f64 scores, fuse_unk,
// byte fallback) against HF tokenizers' Unigram behind a Metaspace pre-tokenizer
// (make_wordpiece_fixtures.js), on the pieces of the fixture Unigram model.
TEST(SentencePieceModel, UnigramHfSemanticsMatchesHfTokenizers) {
  const SpmModelSpec spec = parse_sentencepiece_model(read_file(fixture("spm_unigram_nfkc.model")), "unigram");
  std::vector<std::pair<std::string, double>> pieces;
  for (const auto& p : spec.pieces) pieces.emplace_back(p.piece, p.score);
  UnigramOptions o;
  o.unk_id = 0;
  o.byte_fallback = true;
  const UnigramModel model(std::move(pieces), {}, o);
  const json doc = json::parse(read_file(fixture("spm_unigram_hf_cases.json")));
  const std::string space = "\xe2\x96\x81";
  int n = 0;
  for (const json& c : doc["cases"]) {
    // HF Metaspace (prepend_scheme "always", split): ' ' -> U+2581, a leading U+2581
    // added, a new word before every U+2581.
    const std::string text = c["text"];
    std::string meta;
    for (char ch : text) meta += ch == ' ' ? space : std::string(1, ch);
    if (!meta.empty() && meta.compare(0, space.size(), space) != 0) meta = space + meta;
    std::vector<int32_t> ids;
    size_t pos = 0;
    while (pos < meta.size()) {
      size_t next = meta.find(space, pos + 1);
      if (next == std::string::npos) next = meta.size();
      model.encode(std::string_view(meta).substr(pos, next - pos), ids);
      pos = next;
    }
    EXPECT_EQ(ids, c["ids"].get<std::vector<int32_t>>()) << "case " << n << ": " << text.substr(0, 80);
    ++n;
  }
  EXPECT_GT(n, 40);
}

TEST(SentencePieceModel, Llama2Fields) {
  const std::string path = test::existing_asset("tokenizers/llama2-sp/tokenizer.model");
  if (path.empty()) GTEST_SKIP() << "shared assets not found (set LMKIT_ASSETS)";
  const auto tok = load_sentencepiece_model(path);
  EXPECT_EQ(tok->vocab_size(), 32000);
  EXPECT_EQ(tok->spec().model_type, SpmModelType::kBpe);
  EXPECT_TRUE(tok->spec().byte_fallback);
  EXPECT_EQ(tok->bos_id(), 1);
  EXPECT_EQ(tok->eos_id(), 2);
  EXPECT_EQ(tok->token_text(3), "<0x00>");
  EXPECT_EQ(tok->encode("Hello world", true), (std::vector<int32_t>{1, 15043, 3186}));
  // Round trip through our own serializer.
  const SpmModelSpec again = parse_sentencepiece_model(serialize_sentencepiece_model(tok->spec()), "roundtrip");
  SentencePieceTokenizer tok2(again, "roundtrip");
  EXPECT_EQ(tok2.encode("I believe the meaning of life is"), tok->encode("I believe the meaning of life is"));
  SpmModelSpec eos = tok->spec();
  eos.add_eos = true;
  EXPECT_EQ(SentencePieceTokenizer(eos).encode("Hello world", true), (std::vector<int32_t>{1, 15043, 3186, 2}));
  eos.add_bos = false;
  const SentencePieceTokenizer no_bos(eos);
  EXPECT_FALSE(no_bos.adds_bos());
  EXPECT_EQ(no_bos.encode("Hello world", true), (std::vector<int32_t>{15043, 3186, 2}));
}

// BPE encodes the text in segments cut before "▁" runs when no piece spans such a cut;
// a model with one unreachable piece that does span one is encoded in a single pass.
// Both must give the same ids.
TEST(SentencePieceModel, SegmentedBpeEqualsSinglePass) {
  const std::string path = test::existing_asset("tokenizers/llama2-sp/tokenizer.model");
  const std::string text_path = test::existing_asset("text/tinyshakespeare.txt");
  if (path.empty() || text_path.empty()) GTEST_SKIP() << "shared assets not found (set LMKIT_ASSETS)";
  const auto tok = load_sentencepiece_model(path);
  SpmModelSpec spec = tok->spec();
  spec.pieces.push_back({"\x01\x01\xe2\x96\x81", -1e9f, SpmPieceType::kNormal});
  const SentencePieceTokenizer whole(spec, "single-pass");
  const std::string text = read_file(text_path).substr(0, 100000) + read_file(fixture("spm_stress.txt"));
  std::vector<int32_t> a = tok->encode(text), b = whole.encode(text);
  EXPECT_EQ(a, b);
}

// decode(encode(x)) == x for any valid UTF-8 with Llama-2's model (identity normalizer,
// byte fallback, dummy prefix stripped on decode); empty input gives no ids.
TEST(SentencePieceModel, Llama2RoundTripsRandomUtf8) {
  const std::string path = test::existing_asset("tokenizers/llama2-sp/tokenizer.model");
  if (path.empty()) GTEST_SKIP() << "shared assets not found (set LMKIT_ASSETS)";
  const auto tok = load_sentencepiece_model(path);
  EXPECT_TRUE(tok->encode("").empty());
  EXPECT_EQ(tok->encode("", true), std::vector<int32_t>{1});
  uint64_t state = 42;
  auto next = [&]() {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<uint32_t>(state >> 33);
  };
  const uint32_t pools[][2] = {{0x20, 0x7F}, {0x09, 0x0E}, {0xA0, 0x2FF}, {0x400, 0x4FF}, {0x3040, 0x30FF},
                               {0x4E00, 0x9FFF}, {0x1F300, 0x1FAFF}, {0xE000, 0xE0FF}, {0x10000, 0x10FFF}};
  for (int round = 0; round < 200; ++round) {
    std::string text;
    const uint32_t len = next() % 60;
    for (uint32_t i = 0; i < len; ++i) {
      const auto& pool = pools[next() % 9];
      uint32_t cp = pool[0] + next() % (pool[1] - pool[0] + 1);
      if (cp >= 0xD800 && cp < 0xE000) cp = 0x41;
      if (cp < 0x80) text.push_back(static_cast<char>(cp));
      else if (cp < 0x800) text += {static_cast<char>(0xC0 | (cp >> 6)), static_cast<char>(0x80 | (cp & 0x3F))};
      else if (cp < 0x10000)
        text += {static_cast<char>(0xE0 | (cp >> 12)), static_cast<char>(0x80 | ((cp >> 6) & 0x3F)), static_cast<char>(0x80 | (cp & 0x3F))};
      else
        text += {static_cast<char>(0xF0 | (cp >> 18)), static_cast<char>(0x80 | ((cp >> 12) & 0x3F)),
                 static_cast<char>(0x80 | ((cp >> 6) & 0x3F)), static_cast<char>(0x80 | (cp & 0x3F))};
    }
    EXPECT_EQ(tok->decode(tok->encode(text)), text) << "round " << round;
  }
}

// A 10 MB single line (words) and a 1 MB line without spaces (one BPE segment) encode
// and round-trip.
TEST(SentencePieceModel, LongSingleLines) {
  const std::string path = test::existing_asset("tokenizers/llama2-sp/tokenizer.model");
  if (path.empty()) GTEST_SKIP() << "shared assets not found (set LMKIT_ASSETS)";
  const auto tok = load_sentencepiece_model(path);
  std::string words;
  while (words.size() < 10'000'000) words += "the quick brown fox jumps over the lazy dog, caf\xC3\xA9 \xF0\x9F\xA6\x99 ";
  const auto ids = tok->encode(words);
  EXPECT_LT(ids.size(), words.size() / 2);
  EXPECT_EQ(tok->decode(ids), words);
  std::string run;
  while (run.size() < 1'000'000) run += "abcdefghij0123456789\xD0\xB6";
  EXPECT_EQ(tok->decode(tok->encode(run)), run);
}

TEST(SentencePieceModel, MalformedFilesAreErrors) {
  auto expect_error = [](std::string_view bytes, const std::string& what) {
    try {
      const SpmModelSpec s = parse_sentencepiece_model(bytes, "bad.model");
      SentencePieceTokenizer t(s, "bad.model");
      ADD_FAILURE() << "no error for " << what;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("bad.model"), std::string::npos) << e.what();
    }
  };
  expect_error("", "empty file");
  expect_error("\x0a\x05\x0a\x03", "truncated piece");
  expect_error("\x0a\xff\xff\xff\xff\x0f", "huge length");
  expect_error("\x0b", "group wire type");
  expect_error("\x0a\x02\x0a\x00", "empty piece");
  // One piece, no unknown piece.
  expect_error(std::string("\x0a\x03\x0a\x01x", 5), "no unk");
  SpmModelSpec s;
  s.pieces = {{"<unk>", 0, SpmPieceType::kUnknown}, {"<0x41>", 0, SpmPieceType::kByte}};
  expect_error(serialize_sentencepiece_model(s), "byte piece without byte_fallback");
  s.pieces = {{"<unk>", 0, SpmPieceType::kUnknown}, {"a", -1, SpmPieceType::kNormal}, {"a", -2, SpmPieceType::kNormal}};
  expect_error(serialize_sentencepiece_model(s), "duplicate piece");
  // Charsmap blob of wrong size.
  s.pieces = {{"<unk>", 0, SpmPieceType::kUnknown}, {"a", -1, SpmPieceType::kNormal}};
  s.normalizer.precompiled_charsmap = std::string("\xff\xff\x00\x00" "abc", 7);
  expect_error(serialize_sentencepiece_model(s), "charsmap");
  EXPECT_THROW(load_sentencepiece_model("/nonexistent/x.model"), Error);
}

}  // namespace
}  // namespace lmkit
