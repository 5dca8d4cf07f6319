// llama.cpp's tokenizer test vectors (tests/test-tokenizer-0: *.inp strings separated by
// "\n__ggml_vocab_test__\n", *.out one line of expected ids per string, no BOS) for the
// byte-level BPE vocabularies: through the HF files the vectors were made from (gpt-2,
// llama-bpe = Llama-3 with ignore_merges, qwen2) and through llama.cpp's own vocab GGUFs.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <sstream>

#include "lmkit/io/tokenizer_loader.h"
#include "lmkit/core/test_support.h"

namespace lmkit {
namespace {

namespace fs = std::filesystem;

std::string tok_dir() { return test::asset("tokenizers"); }

struct Case {
  const char* vectors;  // llamacpp-vocab/ggml-vocab-<name>.gguf.{inp,out}
  const char* tokenizer;  // path under tokenizers/
};

class LlamaCppBpeVectors : public ::testing::TestWithParam<Case> {};

TEST_P(LlamaCppBpeVectors, EveryCase) {
  const Case c = GetParam();
  std::string base = tok_dir() + "/llamacpp-vocab/ggml-vocab-" + c.vectors + ".gguf";
  std::string spec = tok_dir() + "/" + c.tokenizer;
  LMKIT_SKIP_IF_ABSENT(base + ".inp");
  LMKIT_SKIP_IF_ABSENT(spec);
  std::string inp = read_file_bytes(base + ".inp"), out = read_file_bytes(base + ".out");
  std::vector<std::string> texts, lines;
  const std::string sep = "\n__ggml_vocab_test__\n";
  for (size_t pos = 0;;) {
    size_t p = inp.find(sep, pos);
    texts.push_back(inp.substr(pos, p == std::string::npos ? std::string::npos : p - pos));
    if (p == std::string::npos) break;
    pos = p + sep.size();
  }
  std::istringstream os(out);
  for (std::string line; std::getline(os, line);) lines.push_back(line);
  // The file ends with a separator, so the last "text" is empty and has no line.
  if (!texts.empty() && texts.back().empty() && lines.size() + 1 == texts.size()) texts.pop_back();
  ASSERT_EQ(texts.size(), lines.size());
  ASSERT_GT(texts.size(), 30u);
  auto tok = load_tokenizer(spec);
  for (size_t i = 0; i < texts.size(); ++i) {
    std::vector<int32_t> want;
    std::istringstream ls(lines[i]);
    for (int32_t id; ls >> id;) want.push_back(id);
    EXPECT_EQ(tok->encode(texts[i]), want) << c.vectors << " case " << i << ": '" << texts[i] << "'";
  }
}

INSTANTIATE_TEST_SUITE_P(
    Vocabs, LlamaCppBpeVectors,
    ::testing::Values(Case{"gpt-2", "gpt2"}, Case{"gpt-2", "llamacpp-vocab/ggml-vocab-gpt-2.gguf"},
                      Case{"llama-bpe", "llama3-hf/tokenizer.json"},
                      Case{"llama-bpe", "llama3-tiktoken/tokenizer.model"},
                      Case{"qwen2", "qwen3-hf/tokenizer.json"}, Case{"qwen2", "qwen2.5-derived"},
                      Case{"falcon", "llamacpp-vocab/ggml-vocab-falcon.gguf"},
                      Case{"mpt", "llamacpp-vocab/ggml-vocab-mpt.gguf"}),
    [](const auto& info) {
      std::string n = std::string(info.param.vectors) + "_" + info.param.tokenizer;
      for (auto& ch : n)
        if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
      return n;
    });

}  // namespace
}  // namespace lmkit
