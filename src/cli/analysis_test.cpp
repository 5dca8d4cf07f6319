// End-to-end tests of `lmkit flops`, `lmkit scaling` (and `scaling fit`) and `lmkit memory`:
// the JSON contract, file inputs, plots and clear errors for bad input.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli/cli_test_util.h"
#include "lmkit/analysis/counts.h"
#include "lmkit/analysis/scaling.h"
#include "lmkit/io/plot.h"
#include "lmkit/core/test_support.h"

using lmkit::cli_test::fresh_dir;
using lmkit::cli_test::Result;
using lmkit::cli_test::run;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

json run_json(const std::string& args) {
  Result r = run(args);
  EXPECT_EQ(r.code, 0) << args << "\n" << r.err;
  try {
    return json::parse(r.out);
  } catch (const json::exception& e) {
    ADD_FAILURE() << args << ": output is not JSON: " << e.what() << "\n" << r.out;
    return json::object();
  }
}

void expect_error(const std::string& args, const std::string& needle) {
  Result r = run(args);
  EXPECT_NE(r.code, 0) << args;
  EXPECT_NE(r.err.find("error"), std::string::npos) << args << "\n" << r.err;
  EXPECT_NE(r.err.find(needle), std::string::npos) << args << "\nstderr: " << r.err;
}

bool is_png(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  char sig[8] = {};
  f.read(sig, 8);
  return f && std::string(sig, 8) == std::string("\x89PNG\r\n\x1a\n", 8) &&
         fs::file_size(path) > 2000;
}

}  // namespace

TEST(FlopsCli, ContractKeysLlama31_8B) {
  json j = run_json("flops --model llama-3.1-8b --context 8192 --json --device none");
  EXPECT_EQ(j["params"]["total"].get<int64_t>(), 8030261248);
  EXPECT_EQ(j["params"]["embedding"].get<int64_t>(), 525336576);
  EXPECT_EQ(j["params"]["lm_head"].get<int64_t>(), 525336576);
  EXPECT_EQ(j["params"]["attention"].get<int64_t>(), 1342177280);
  EXPECT_EQ(j["params"]["mlp"].get<int64_t>(), 5637144576);
  EXPECT_EQ(j["params"]["norm"].get<int64_t>(), 266240);
  // decode at T = 8192: 2 x weight-matrix params + 32 layers x 32 heads x 4 x 128 x 8192.
  const double matmul_params = 8030261248.0 - 525336576.0 - 266240.0;
  EXPECT_EQ(j["decode_flops"].get<double>(), 2 * matmul_params + 32.0 * 32 * 4 * 128 * 8192);
  // prefill: every token's matmuls + attention over 8192*8193/2 (query, key) pairs.
  EXPECT_EQ(j["prefill_flops"].get<double>(),
            8192 * 2 * matmul_params + 32.0 * 32 * 4 * 128 * (8192.0 * 8193 / 2));
  EXPECT_EQ(j["kv_cache_bytes_per_token"].get<int64_t>(), 131072);
  EXPECT_FALSE(j.contains("roofline"));
}

TEST(FlopsCli, Gpt2AndDevice) {
  json j = run_json("flops -m gpt2 -T 1024 --json --device h100");
  EXPECT_EQ(j["params"]["total"].get<int64_t>(), 124439808);
  EXPECT_EQ(j["params"]["lm_head"].get<int64_t>(), 0);
  EXPECT_EQ(j["params"]["position_embedding"].get<int64_t>(), 786432);
  EXPECT_EQ(j["roofline"]["device"], "h100");
  EXPECT_EQ(j["roofline"]["decode_bound"], "memory");
  EXPECT_GT(j["roofline"]["prefill_tokens_per_sec"].get<double>(), 0);
}

TEST(FlopsCli, HfAndLmkitConfigFiles) {
  std::string dir = fresh_dir("flops_cfg");
  // A tiny Llama in HF form: 2 layers, C 64, 4 heads (2 KV) of 16, MLP 128, vocab 100.
  std::ofstream(dir + "/config.json") << R"({"model_type": "llama", "hidden_size": 64,
    "intermediate_size": 128, "num_attention_heads": 4, "num_key_value_heads": 2,
    "num_hidden_layers": 2, "vocab_size": 100, "max_position_embeddings": 256,
    "rms_norm_eps": 1e-5, "tie_word_embeddings": false})";
  const int64_t expected =
      100 * 64 * 2 + 2 * (64 * 64 * 2 + 2 * 64 * 32 + 3 * 64 * 128 + 2 * 64) + 64;
  json a = run_json("flops --model " + dir + "/config.json --json --device none -T 16");
  EXPECT_EQ(a["params"]["total"].get<int64_t>(), expected);
  json b = run_json("flops --model " + dir + " --json --device none -T 16");  // the directory
  EXPECT_EQ(b["params"]["total"], a["params"]["total"]);
  // The same model as an lmkit config.
  std::ofstream(dir + "/lmkit.json") << R"({"arch": "llama", "n_layer": 2, "n_head": 4,
    "n_kv_head": 2, "dim": 64, "hidden_dim": 128, "vocab_size": 100, "max_seq_len": 256,
    "norm": "rmsnorm", "pos": "rope", "mlp": "swiglu", "attn_qkv_bias": false,
    "attn_out_bias": false, "mlp_bias": false, "norm_bias": false, "tie_embeddings": false})";
  json c = run_json("flops --model " + dir + "/lmkit.json --json --device none -T 16");
  EXPECT_EQ(c["params"]["total"].get<int64_t>(), expected);
  EXPECT_EQ(c["prefill_flops"], a["prefill_flops"]);
}

TEST(FlopsCli, GgufMetadata) {
  const std::string path = lmkit::test::asset("models/llama-2-tiny-random.gguf");
  LMKIT_SKIP_IF_ABSENT(path);
  json j = run_json("flops --model " + path + " --json --device none -T 32");
  EXPECT_EQ(j["config"]["arch"], "llama");
  EXPECT_EQ(j["params"]["total"], j["params"]["in_file"]);  // metadata count = tensor elements
  std::string dir = fresh_dir("flops_gguf");
  std::ofstream(dir + "/broken.gguf") << "GGUF\x03";
  expect_error("flops --model " + dir + "/broken.gguf --device none", "broken.gguf");
}

TEST(FlopsCli, CsvAndSeveralModels) {
  Result r = run("flops -m gpt2 -m qwen3-0.6b --csv --device none -T 512");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("model,context,params_total", 0), 0u);
  EXPECT_NE(r.out.find("\ngpt2,512,124439808,"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\nqwen3-0.6b,512,596049920,"), std::string::npos) << r.out;
  json arr = run_json("flops -m gpt2 -m qwen3-0.6b --json --device none -T 512");
  ASSERT_TRUE(arr.is_array());
  EXPECT_EQ(arr.size(), 2u);
  Result table = run("flops -m mistral-7b --device none");
  EXPECT_EQ(table.code, 0);
  EXPECT_NE(table.out.find("7,241,732,096"), std::string::npos);
  EXPECT_NE(table.out.find("sliding window 4096"), std::string::npos);
}

TEST(FlopsCli, Plots) {
  if (!lmkit::plot::gnuplot_available()) GTEST_SKIP() << "gnuplot (pngcairo) not installed";
  std::string dir = fresh_dir("flops_plots");
  Result r = run("flops -m gpt2 -m llama-3.2-1b -T 2048 --device none --plot " + dir);
  ASSERT_EQ(r.code, 0) << r.err;
  for (const char* f : {"flops_vs_context.png", "components.png", "attention_share.png",
                        "flops_per_token_vs_size.png", "memory_vs_context.png", "intensity.png"})
    EXPECT_TRUE(is_png(dir + "/" + f)) << f;
  fs::remove_all(dir);
}

TEST(FlopsCli, BadInput) {
  expect_error("flops --model llama-9 --device none", "unknown model 'llama-9'");
  std::string dir = fresh_dir("flops_bad");
  std::ofstream(dir + "/config.json") << "{\"model_type\": \"llama\", \"hidden_size\": ";
  expect_error("flops --model " + dir + "/config.json --device none", "not valid JSON");
  std::ofstream(dir + "/weird.json") << R"({"model_type": "bert", "hidden_size": 64})";
  expect_error("flops --model " + dir + "/weird.json --device none", "not supported");
  std::ofstream(dir + "/absurd.json") << R"({"model_type": "llama", "hidden_size": -64,
    "intermediate_size": 128, "num_attention_heads": 4, "num_hidden_layers": 2, "vocab_size": 100})";
  expect_error("flops --model " + dir + "/absurd.json --device none", "out of range");
  expect_error("flops -m gpt2 --context -5 --device none", "context");
  expect_error("flops -m gpt2 --context 99999999999 --device none", "context");
  expect_error("flops -m gpt2 --kv-dtype q3 --device none", "unknown storage format");
  expect_error("flops -m gpt2 --device tpu9", "unknown device");
  Result missing = run("flops");
  EXPECT_NE(missing.code, 0);
}

TEST(ScalingCli, ContractKeys) {
  json j = run_json("scaling --compute 1e21 --json");
  // Hoffmann et al. 2022, Eq. 4 with E, A, B, alpha, beta of Sec. 3.3, computed here.
  const double alpha = 0.34, beta = 0.28, A = 406.4, B = 410.7;
  const double G = std::pow(alpha * A / (beta * B), 1 / (alpha + beta));
  const double N = G * std::pow(1e21 / 6, beta / (alpha + beta));
  const double D = std::pow(1e21 / 6, alpha / (alpha + beta)) / G;
  EXPECT_NEAR(j["chinchilla"]["params"].get<double>() / N, 1, 1e-12);
  EXPECT_NEAR(j["chinchilla"]["tokens"].get<double>() / D, 1, 1e-12);
  EXPECT_NEAR(j["chinchilla"]["loss"].get<double>(),
              1.69 + A / std::pow(N, alpha) + B / std::pow(D, beta), 1e-12);
  EXPECT_EQ(j["table3"].size(), 9u);
  EXPECT_TRUE(j.contains("kaplan"));
}

TEST(ScalingCli, BudgetFromGpusAndGivenModel) {
  json j = run_json("scaling --gpus 8 --hours 10 --mfu 0.5 --peak-flops 1e15 --json");
  EXPECT_DOUBLE_EQ(j["compute"].get<double>(), 8 * 10 * 3600 * 0.5 * 1e15);
  json g = run_json("scaling --params 1e9 --tokens 2e10 --json");
  lmkit::analysis::ChinchillaLaw law;
  EXPECT_DOUBLE_EQ(g["given"]["chinchilla_loss"].get<double>(), law.loss(1e9, 2e10));
  EXPECT_DOUBLE_EQ(g["given"]["compute"].get<double>(), 6 * 1e9 * 2e10);
  Result text = run("scaling --compute 5.76e23");
  EXPECT_EQ(text.code, 0);
  EXPECT_NE(text.out.find("Table 3"), std::string::npos);
}

TEST(ScalingCli, BadInput) {
  expect_error("scaling --compute -5", "compute");
  expect_error("scaling --compute 1e50", "absurd");
  expect_error("scaling --params 1e9", "--params and --tokens go together");
  expect_error("scaling --gpus 8 --hours 10 --mfu 1.5", "--mfu");
  expect_error("scaling fit /nonexistent/run", "does not exist");
}

namespace {
// A run directory as `lmkit train` writes it, with the loss from `law` (+ small noise).
void write_run(const std::string& dir, double N, double D, double loss, bool with_tokens) {
  fs::create_directories(dir);
  json s = {{"params", int64_t(N)},          {"loss_first", 10.0}, {"loss_last", loss + 0.05},
            {"tokens_per_sec_median", 1000}, {"peak_rss_mb", 100}, {"mfu", 0.3}};
  if (with_tokens) s["tokens"] = D, s["final_val_loss"] = loss;
  std::ofstream(dir + "/summary.json") << s.dump(2);
  std::ofstream log(dir + "/log.jsonl");
  for (int k = 1; k <= 4; ++k) {
    json rec = {{"step", k},
                {"loss", loss + 1.0 / k},
                {"lr", 1e-3},
                {"tokens_per_sec", 1000},
                {"tokens", D * k / 4}};
    if (k % 2 == 0) rec["val_loss"] = k == 4 ? loss : loss + 0.3;
    log << rec.dump() << "\n";
  }
}
}  // namespace

TEST(ScalingCli, FitRecoversSyntheticLaw) {
  std::string root = fresh_dir("scaling_fit");
  lmkit::analysis::ChinchillaLaw truth;
  std::string runs;
  int i = 0;
  for (double N : {2e7, 1e8, 5e8, 2.5e9}) {
    for (double D : {2e8, 2e9, 2e10, 2e11}) {
      double noise = 1 + 0.001 * std::sin(17.0 * ++i);  // deterministic small noise
      std::string d = root + "/run" + std::to_string(i);
      write_run(d, N, D, truth.loss(N, D) * noise, /*with_tokens=*/i != 3);
      runs += " " + d;
    }
  }
  write_run(root + "/broken", 1e8, 1e9, 3.0, true);
  fs::remove(root + "/broken/summary.json");
  runs += " " + root + "/broken";
  Result r = run("scaling fit" + runs + " --bootstrap 20 --json --plot " + root + "/plots");
  ASSERT_EQ(r.code, 0) << r.err;
  json j = json::parse(r.out);
  EXPECT_EQ(j["n_points"].get<int>(), 16);
  EXPECT_NEAR(j["fit"]["alpha"]["value"].get<double>(), 0.34, 0.03);
  EXPECT_NEAR(j["fit"]["beta"]["value"].get<double>(), 0.28, 0.03);
  EXPECT_NEAR(j["fit"]["E"]["value"].get<double>(), 1.69, 0.05);
  EXPECT_TRUE(j["fit"]["alpha"].contains("interval"));
  // run3 lacks tokens/final_val_loss in its summary: taken from log.jsonl, with a note.
  EXPECT_NE(r.err.find("lacks 'tokens'"), std::string::npos) << r.err;
  // The broken run has no summary.json: skipped, with a note naming the missing key.
  EXPECT_NE(r.err.find("no summary.json"), std::string::npos) << r.err;
  if (lmkit::plot::gnuplot_available()) {
    EXPECT_TRUE(is_png(root + "/plots/scaling_fit.png"));
  }

  // Too few usable runs is an error.
  expect_error("scaling fit " + root + "/run1 " + root + "/run2", "at least 5 points");
  fs::remove_all(root);
}

TEST(MemoryCli, ZeroPaperExample) {
  const double expected[4] = {120e9, 31.40625e9, 16.640625e9, 1.875e9};
  for (int z = 0; z <= 3; ++z) {
    json j = run_json("memory --params 7.5e9 --gpus 64 --zero " + std::to_string(z) + " --json");
    EXPECT_DOUBLE_EQ(j["bytes_per_gpu"].get<double>(), expected[z]) << "stage " << z;
    EXPECT_EQ(j["activations_included"], false);
  }
}

TEST(MemoryCli, ModelWithActivations) {
  json base = run_json("memory --model gpt2 --gpus 2 --zero 1 --json");
  EXPECT_DOUBLE_EQ(base["bytes_per_gpu"].get<double>(), 124439808.0 * (4 + 12.0 / 2));
  json act = run_json(
      "memory --model gpt2 --gpus 2 --zero 1 --activations --seq-len 1024 "
      "--micro-batch 4 --recompute full --json --device a100");
  // Full recomputation keeps 2 s b h bytes per layer (Korthikanti et al. 2022, Table 2).
  EXPECT_DOUBLE_EQ(act["activation_bytes"].get<double>(), 12 * 2.0 * 1024 * 4 * 768);
  EXPECT_DOUBLE_EQ(act["bytes_per_gpu"].get<double>(),
                   base["bytes_per_gpu"].get<double>() + act["activation_bytes"].get<double>());
  EXPECT_EQ(act["setups"].size(), 12u);
  EXPECT_TRUE(act["setups"][0].contains("fits"));
}

TEST(MemoryCli, BadInput) {
  expect_error("memory --params 7.5e9 --gpus 64 --zero 4", "ZeRO stage");
  expect_error("memory --params 7.5e9 --gpus 6 --tp 4", "not a multiple");
  expect_error("memory --params -3", "--params");
  expect_error("memory --gpus 8", "exactly one of --model and --params");
  expect_error("memory --params 1e9 --activations", "--activations needs");
  expect_error("memory --model nope-1b", "unknown model");
}

TEST(AnalysisCli, Help) {
  for (const char* cmd : {"flops", "scaling", "memory", "scaling fit"}) {
    Result r = run(std::string(cmd) + " --help");
    EXPECT_EQ(r.code, 0) << cmd;
    EXPECT_NE(r.out.find("--json"), std::string::npos) << cmd;
  }
}
