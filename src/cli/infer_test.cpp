// End-to-end tests of the pretrained-model commands (generate, score, perplexity, bench,
// completions, attention, convert, quantize) on stories260K, against the golden file
// where it has numbers and against each other elsewhere (a converted model generates the
// same text; score's total is the sum of its log-probabilities; ...).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "cli/cli_test_util.h"
#include "lmkit/core/test_support.h"

namespace lmkit {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using cli_test::run;

class InferCli : public ::testing::Test {
 protected:
  void SetUp() override {
    model_ = test::assets_dir() + "/models/stories260K.bin";
    LMKIT_SKIP_IF_ABSENT(model_);
    tok_ = test::assets_dir() + "/models/tok512.bin";
    golden_ = json::parse(cli_test::read_file(test::assets_dir() + "/golden/stories260K_reference.json"));
  }
  std::string m() const { return "--model " + model_ + " --tokenizer " + tok_; }
  std::string model_, tok_;
  json golden_;
};

TEST_F(InferCli, GenerateJsonIsGreedyGolden) {
  const auto& c = golden_["cases"][1];  // "Once upon a time", 64 ids with BOS
  const auto want = c["output_ids"].get<std::vector<int32_t>>();
  auto r = run("generate " + m() + " --prompt 'Once upon a time' --max-tokens 20 --temperature 0 --json");
  ASSERT_EQ(r.code, 0) << r.err;
  json j = json::parse(r.out);
  EXPECT_EQ(j["prompt_ids"].get<std::vector<int32_t>>(), c["prompt_ids"].get<std::vector<int32_t>>());
  const auto ids = j["ids"].get<std::vector<int32_t>>();
  ASSERT_EQ(ids.size(), 20u);
  EXPECT_TRUE(std::equal(ids.begin(), ids.end(), want.begin() + 5));
  EXPECT_EQ(c["text"].get<std::string>().find("Once upon a time" + j["text"].get<std::string>()), 0u);
  // Streaming output is the same text; --show-probs prints the chosen token's probability.
  auto s = run("generate " + m() + " --prompt 'Once upon a time' --max-tokens 20 --temperature 0");
  EXPECT_EQ(s.out, "Once upon a time" + j["text"].get<std::string>() + "\n");
  auto p = run("generate " + m() + " --prompt Lily -n 3 --temperature 0 --show-probs --json --top-n 3");
  ASSERT_EQ(p.code, 0) << p.err;
  json pj = json::parse(p.out);
  ASSERT_EQ(pj["tokens"].size(), 3u);
  EXPECT_EQ(pj["tokens"][0]["top"].size(), 3u);
  EXPECT_EQ(pj["tokens"][0]["top"][0]["id"], pj["tokens"][0]["id"]);  // greedy = the most likely
}

TEST_F(InferCli, SamplingIsSeeded) {
  const std::string cmd = "generate " + m() + " --prompt Lily -n 30 --temperature 1 --top-k 40 --json";
  auto a = run(cmd + " --seed 5"), b = run(cmd + " --seed 5"), c = run(cmd + " --seed 6");
  ASSERT_EQ(a.code, 0) << a.err;
  EXPECT_EQ(json::parse(a.out)["ids"], json::parse(b.out)["ids"]);
  EXPECT_NE(json::parse(a.out)["ids"], json::parse(c.out)["ids"]);
}

TEST_F(InferCli, ScoreMatchesTheTeacherForcedNll) {
  const auto& pc = golden_["perplexity_case"];
  auto r = run("score " + m() + " --text '" + pc["text"].get<std::string>() + "' --json");
  ASSERT_EQ(r.code, 0) << r.err;
  json j = json::parse(r.out);
  const auto lps = j["logprobs"].get<std::vector<double>>();
  ASSERT_EQ(int64_t(lps.size()), pc["n_predicted"].get<int64_t>());
  double sum = 0;
  for (double x : lps) sum += x;
  EXPECT_NEAR(j["total_logprob"].get<double>(), sum, 1e-9);
  EXPECT_NEAR(-sum / double(lps.size()), pc["mean_nll"].get<double>(), 1e-5);
  EXPECT_EQ(j["tokens"].size(), lps.size());
  EXPECT_EQ(j["ids"].size(), lps.size());
  // The token pieces, in context, concatenate to the text (spaces included).
  std::string joined;
  for (const auto& t : j["tokens"]) joined += t.get<std::string>();
  EXPECT_EQ(joined, pc["text"].get<std::string>());
}

TEST_F(InferCli, PerplexityChunksAndWindow) {
  const std::string dir = cli_test::fresh_dir("ppl");
  // A text the model knows: its own greedy story, repeated a few times.
  std::string text;
  for (int i = 0; i < 3; ++i) text += golden_["cases"][0]["text"].get<std::string>() + "\n";
  std::ofstream(dir + "/t.txt") << text;
  auto r = run("perplexity " + m() + " --input " + dir + "/t.txt --ctx 128 --json");
  ASSERT_EQ(r.code, 0) << r.err;
  json j = json::parse(r.out);
  EXPECT_NEAR(std::exp(j["nll_mean"].get<double>()), j["ppl"].get<double>(), 1e-9);
  EXPECT_EQ(j["tokens"].get<int64_t>(), j["chunks"].get<int64_t>() * (128 - 64 - 1));
  EXPECT_LT(j["ppl"].get<double>(), 3.0);  // greedy text: very likely under the model
  EXPECT_GT(j["ppl_std"].get<double>(), 0.0);
  auto w = run("perplexity " + m() + " --input " + dir + "/t.txt --ctx 128 --stride 64 --json");
  ASSERT_EQ(w.code, 0) << w.err;
  json wj = json::parse(w.out);
  EXPECT_EQ(wj["tokens"].get<int64_t>(), wj["text_tokens"].get<int64_t>() - 1);  // all but the first
  auto s = run("perplexity " + m() + " --input " + dir + "/t.txt --ctx 512 --json");
  EXPECT_NE(s.code, 0);  // fewer than 2 * ctx tokens
  EXPECT_NE(s.err.find("2 * ctx"), std::string::npos) << s.err;
  fs::remove_all(dir);
}

TEST_F(InferCli, BenchReportsThroughputAndMemory) {
  auto r = run("bench " + m() + " -p 64 -n 16 -r 2 --json --threads 1");
  ASSERT_EQ(r.code, 0) << r.err;
  json j = json::parse(r.out);
  EXPECT_GT(j["pp_tok_s"].get<double>(), 0);
  EXPECT_GT(j["tg_tok_s"].get<double>(), 0);
  EXPECT_GT(j["peak_rss_mb"].get<double>(), 1.0);
  EXPECT_EQ(j["pp_samples"].size(), 2u);
}

TEST_F(InferCli, ConvertQuantizeAndGenerateTheSame) {
  const std::string dir = cli_test::fresh_dir("convert");
  const std::string greedy = " --prompt 'Lily and Ben' -n 24 --temperature 0 --json";
  auto base = run("generate " + m() + greedy);
  ASSERT_EQ(base.code, 0) << base.err;
  ASSERT_EQ(run("convert " + model_ + " --tokenizer " + tok_ + " " + dir + "/m.gguf --type f32").code, 0);
  ASSERT_EQ(run("convert " + dir + "/m.gguf " + dir + "/hf").code, 0);
  ASSERT_EQ(run("quantize " + dir + "/m.gguf " + dir + "/q8.gguf q8_0").code, 0);
  for (const std::string& p : {dir + "/m.gguf", dir + "/hf"}) {
    auto g = run("generate --model " + p + greedy);  // tokenizer travels with the model
    ASSERT_EQ(g.code, 0) << p << ": " << g.err;
    EXPECT_EQ(json::parse(g.out)["ids"], json::parse(base.out)["ids"]) << p;
  }
  EXPECT_LT(fs::file_size(dir + "/q8.gguf"), fs::file_size(dir + "/m.gguf") / 2);
  auto q = run("generate --model " + dir + "/q8.gguf" + greedy);
  ASSERT_EQ(q.code, 0) << q.err;
  EXPECT_EQ(json::parse(q.out)["ids"].size(), 24u);
  auto bad = run("quantize " + dir + "/m.gguf " + dir + "/x.gguf q3_k");
  EXPECT_EQ(bad.code, 1);
  EXPECT_NE(bad.err.find("unknown weight type"), std::string::npos) << bad.err;
  fs::remove_all(dir);
}

TEST_F(InferCli, CompletionsAndAttentionWritePngs) {
  const std::string dir = cli_test::fresh_dir("study");
  auto r = run("completions " + m() + " --prompt 'Lily and Ben' -n 6 --max-tokens 12 --stop sentence --seed 1 --out " + dir);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("highest"), std::string::npos);
  for (const char* f : {"completions.json", "logprob_hist.png", "logprob_box.png"})
    EXPECT_TRUE(fs::exists(dir + "/" + f)) << f;
  json j = json::parse(cli_test::read_file(dir + "/completions.json"));
  EXPECT_EQ(j["unconditional"]["completions"].size(), 6u);
  EXPECT_GE(j["conditional"]["highest"]["logprob"].get<double>(), j["conditional"]["lowest"]["logprob"].get<double>());
  auto a = run("attention " + m() + " --text 'Once upon a time' --layer 1 --out " + dir + "/a.png");
  ASSERT_EQ(a.code, 0) << a.err;
  EXPECT_GT(fs::file_size(dir + "/a.png"), 1000u);
  EXPECT_EQ(run("attention " + m() + " --text hi --layer 9 --out " + dir + "/b.png").code, 1);
  fs::remove_all(dir);
}

TEST_F(InferCli, ChatTemplatesAndErrors) {
  const std::string dir = cli_test::fresh_dir("chat");
  auto none = run("generate " + m() + " --prompt hi --chat -n 2");
  EXPECT_EQ(none.code, 1);
  EXPECT_NE(none.err.find("chat template"), std::string::npos) << none.err;
  std::ofstream(dir + "/t.jinja") << "{{ bos_token }}{% for m in messages %}{{ m.content }}{% endfor %}";
  auto chat = run("generate " + m() + " --prompt 'Once upon a time' --chat --chat-template " + dir +
                  "/t.jinja -n 5 --temperature 0 --json");
  ASSERT_EQ(chat.code, 0) << chat.err;
  EXPECT_EQ(json::parse(chat.out)["prompt_ids"],
            golden_["cases"][1]["prompt_ids"]);  // the template wrote BOS + text, no second BOS
  // A llama2.c model without a tokenizer beside it needs --tokenizer.
  fs::copy_file(model_, dir + "/m.bin");
  auto notok = run("generate --model " + dir + "/m.bin --prompt hi -n 2");
  EXPECT_EQ(notok.code, 1);
  EXPECT_NE(notok.err.find("--tokenizer"), std::string::npos) << notok.err;
  auto missing = run("score --model " + dir + "/nope.gguf --text hi");
  EXPECT_EQ(missing.code, 1);
  EXPECT_NE(missing.err.find("does not exist"), std::string::npos) << missing.err;
  std::ofstream(dir + "/junk.gguf") << "GGUF garbage";
  auto junk = run("generate --model " + dir + "/junk.gguf --prompt hi");
  EXPECT_EQ(junk.code, 1);
  EXPECT_EQ(junk.err.rfind("error:", 0), 0u) << junk.err;
  fs::remove_all(dir);
}

}  // namespace
}  // namespace lmkit
