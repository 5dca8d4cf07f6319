// End-to-end tests of `lmkit bench` beyond throughput (src/cli/infer_test.cpp checks that):
// the bytes one generated token reads, the prompt's pass size, and the --mem-bw mode.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <string>

#include "cli/cli_test_util.h"
#include "lmkit/core/test_support.h"

namespace lmkit {
namespace {

using json = nlohmann::json;
using cli_test::run;

TEST(BenchCli, WeightsReadPerTokenAndPassSize) {
  const std::string model = test::assets_dir() + "/models/stories260K.bin";
  LMKIT_SKIP_IF_ABSENT(model);
  const std::string m = "--model " + model + " --tokenizer " + test::assets_dir() + "/models/tok512.bin";
  auto r = run("bench " + m + " -p 20 -n 4 -r 1 -b 7 --kv-type f16 --json --threads 1");
  ASSERT_EQ(r.code, 0) << r.err;
  json j = json::parse(r.out);
  // stories260K shares its classifier with the embedding: a token reads every weight once
  // (the embedding table as the output head).
  EXPECT_DOUBLE_EQ(j["weights_read_per_token_mb"].get<double>(), j["weights_mb"].get<double>());
  EXPECT_EQ(j["ubatch"].get<int64_t>(), 7);
  EXPECT_EQ(j["kv_type"].get<std::string>(), "f16");
  EXPECT_GT(j["pp_tok_s"].get<double>(), 0);
}

TEST(BenchCli, MemoryBandwidth) {
  auto r = run("bench --mem-bw --mem-bw-mb 64 -r 3 --threads 2 --json");
  ASSERT_EQ(r.code, 0) << r.err;
  json j = json::parse(r.out);
  EXPECT_EQ(j["mem_bw_samples"].size(), 3u);
  EXPECT_GT(j["mem_bw_gb_s"].get<double>(), 0.1);  // any machine reads faster than 100 MB/s
  EXPECT_EQ(j["threads"].get<int64_t>(), 2);
  EXPECT_NE(run("bench --mem-bw --model x.gguf").code, 0);  // a model makes no sense with it
  EXPECT_NE(run("bench --json").code, 0);                   // neither a model nor --mem-bw
  EXPECT_NE(run("bench --mem-bw --mem-bw-mb 1").code, 0);   // too small to leave the caches
}

}  // namespace
}  // namespace lmkit
