// Fidelity on a real pretrained model, karpathy's stories260K, against references made
// outside lmkit:
//   ../shared/assets/golden/stories260K_reference.json (llama2.c run.c semantics in f32):
//     prompt ids, greedy ids and text, the first 8 logits at positions 0-2 (1e-5), and the
//     teacher-forced mean NLL of a 62-token sentence - for the llama2.c file and for the
//     same model after conversion to GGUF F32 (io/model_writer.h).
//   tests/fixtures/infer/runq_stories260K.json (llama2.c's runq.c compiled and run by
//     make_runq_fixture.sh): greedy text of the int8 "version 2" export.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdlib>
#include <unistd.h>
#include <filesystem>
#include <fstream>

#include "lmkit/infer/engine.h"
#include "lmkit/infer/generate.h"
#include "lmkit/io/model_loader.h"
#include "lmkit/io/model_writer.h"
#include "lmkit/core/test_support.h"
#include "lmkit/io/json_file.h"

namespace lmkit {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

// Greedy generation as llama2.c's generate() loop: feed the prompt, then argmax, stopping
// at a BOS or when `total` ids (BOS and prompt included) exist. Returns every id.
// Note on counts: run.c / runq.c with -n N evaluate positions 0..N-1 and print the token
// chosen at each, so they end with N + 1 ids (BOS included); the golden file's output_ids
// hold N ids (its "steps counts BOS"), one fewer than run.c prints. Each test uses its
// reference's own count.
std::vector<int32_t> run_c_greedy(Engine& e, const std::vector<int32_t>& prompt, int64_t total) {
  SamplerOptions so;
  so.temperature = 0;
  Sampler s(so);
  GenerateOptions go;
  go.max_tokens = total - int64_t(prompt.size());
  std::vector<int32_t> ids = prompt;
  generate(e, prompt, s, go, [&](const SampleResult& r) {
    if (r.id == 1) return false;  // run.c: "the BOS (=1) token delimits sequences"
    ids.push_back(r.id);
    return true;
  });
  return ids;
}

void check_golden(const LoadedModel& m, const std::string& what) {
  const json g = read_json_file(test::assets_dir() + "/golden/stories260K_reference.json");
  Engine e(m.weights);
  const int64_t V = m.config().vocab_size;
  for (const auto& c : g["cases"]) {
    const std::string prompt = c["prompt"];
    const auto want_prompt = c["prompt_ids"].get<std::vector<int32_t>>();
    const auto ids = m.encode_prompt(prompt);
    ASSERT_EQ(ids, want_prompt) << what << " prompt '" << prompt << "'";
    // The first 8 logits at positions 0, 1, 2 of the output sequence.
    const auto out_ids = c["output_ids"].get<std::vector<int32_t>>();
    int s = e.add_sequence();
    std::vector<float> all(3 * size_t(V));
    e.prefill(s, std::span<const int32_t>(out_ids).first(3), nullptr, all.data());
    e.remove_sequence(s);
    // The reference prints 5 decimals: 1e-5 on the value plus half its last digit.
    for (int p = 0; p < 3; ++p)
      for (int j = 0; j < 8; ++j)
        EXPECT_NEAR(all[size_t(p * V + j)], c["logits_first8_at_pos0_1_2"][p][j].get<double>(), 1.5e-5)
            << what << " prompt '" << prompt << "' pos " << p << " logit " << j;
    const auto got = run_c_greedy(e, ids, c["steps"]);
    EXPECT_EQ(got, out_ids) << what << " prompt '" << prompt << "'";
    EXPECT_EQ(m.tok().decode(got), c["text"].get<std::string>()) << what;
  }
  // Teacher-forced NLL: mean of -log p(ids[t+1] | ids[..t]) over the sentence.
  const auto& pc = g["perplexity_case"];
  const auto ids = pc["ids"].get<std::vector<int32_t>>();
  ASSERT_EQ(m.encode_prompt(pc["text"]), ids);
  const int64_t T = int64_t(ids.size());
  std::vector<float> all(size_t(T * V));
  int s = e.add_sequence();
  e.prefill(s, ids, nullptr, all.data());
  double nll = 0;
  for (int64_t t = 0; t + 1 < T; ++t) {
    const float* l = all.data() + t * V;
    double mx = l[0], sum = 0;
    for (int64_t v = 0; v < V; ++v) mx = std::max(mx, double(l[v]));
    for (int64_t v = 0; v < V; ++v) sum += std::exp(double(l[v]) - mx);
    nll += mx + std::log(sum) - double(l[ids[size_t(t + 1)]]);
  }
  nll /= double(T - 1);
  EXPECT_EQ(T - 1, pc["n_predicted"].get<int64_t>());
  EXPECT_NEAR(nll, pc["mean_nll"].get<double>(), 1e-5) << what;
}

TEST(Stories260K, Llama2cFileMatchesGolden) {
  const std::string model = test::assets_dir() + "/models/stories260K.bin";
  LMKIT_SKIP_IF_ABSENT(model);
  LoadedModel m = load_model(model, test::assets_dir() + "/models/tok512.bin");
  EXPECT_EQ(m.weights->format, "llama2c");
  EXPECT_TRUE(m.add_bos);
  check_golden(m, "llama2.c");
}

TEST(Stories260K, ConvertedGgufF32MatchesGolden) {
  const std::string model = test::assets_dir() + "/models/stories260K.bin";
  LMKIT_SKIP_IF_ABSENT(model);
  LoadedModel src = load_model(model, test::assets_dir() + "/models/tok512.bin");
  const std::string out = (fs::temp_directory_path() / ("lmkit_stories_" + std::to_string(getpid()) + ".gguf")).string();
  ConvertOptions o;
  o.type = "f32";
  write_gguf(src, out, o);
  LoadedModel m = load_model(out);  // the tokenizer now comes from the GGUF itself
  fs::remove(out);
  EXPECT_EQ(m.weights->format, "gguf");
  EXPECT_EQ(m.weights->rope_pairing, RopePairing::Interleaved);  // llama.cpp's layout
  check_golden(m, "GGUF F32");
}

TEST(Stories260K, Int8ExportMatchesRunq) {
  const std::string model = test::assets_dir() + "/models/stories260K-q8_v2.bin";
  LMKIT_SKIP_IF_ABSENT(model);
  const json fx = read_json_file(test::fixture("infer/runq_stories260K.json"));
  LoadedModel m = load_model(model, test::assets_dir() + "/models/tok512.bin");
  EXPECT_EQ(m.weights->format, "llama2c-int8");
  Engine e(m.weights);
  for (const auto& c : fx["cases"]) {
    const auto got = run_c_greedy(e, m.encode_prompt(c["prompt"]), c["steps"].get<int64_t>() + 1);
    EXPECT_EQ(m.tok().decode(got), c["text"].get<std::string>()) << "prompt '" << c["prompt"] << "'";
  }
}

}  // namespace
}  // namespace lmkit
