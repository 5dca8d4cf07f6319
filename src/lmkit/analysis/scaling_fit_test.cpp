// The Chinchilla fit recovers known constants from synthetic runs (the law plus noise),
// and runs are read from `lmkit train` output with clear notes for missing keys.
#include "lmkit/analysis/scaling_fit.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "lmkit/core/error.h"

namespace fs = std::filesystem;
using namespace lmkit;
using namespace lmkit::analysis;

namespace {

// A grid of (N, D) "runs" following `law`, with multiplicative log-normal noise.
std::vector<FitPoint> synthetic(const ChinchillaLaw& law, double noise, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> eps(0.0, noise);
  std::vector<FitPoint> pts;
  for (double N : {1e7, 3e7, 1e8, 3e8, 1e9, 3e9})
    for (double D : {1e8, 4e8, 1.6e9, 6.4e9, 2.56e10, 1e11})
      pts.push_back({N, D, law.loss(N, D) * std::exp(eps(rng)), "synthetic"});
  return pts;
}

}  // namespace

TEST(ScalingFit, ExactDataHasZeroObjective) {
  ChinchillaLaw truth;
  EXPECT_LT(huber_objective(truth, synthetic(truth, 0, 1), 1e-3), 1e-20);  // rounding only
  ChinchillaLaw off = truth;
  off.E = 1.8;
  EXPECT_GT(huber_objective(off, synthetic(truth, 0, 1), 1e-3), 0.0);
}

TEST(ScalingFit, RecoversConstantsFromNoisyRuns) {
  ChinchillaLaw truth;  // E 1.69, A 406.4, B 410.7, alpha 0.34, beta 0.28
  FitOptions opt;
  opt.bootstrap = 40;
  FitResult r = fit_chinchilla(synthetic(truth, 0.002, 7), opt);
  EXPECT_EQ(r.n_points, 36);
  EXPECT_EQ(r.starts, 4500);
  EXPECT_NEAR(r.law.E, truth.E, 0.03);
  EXPECT_NEAR(r.law.alpha, truth.alpha, 0.02);
  EXPECT_NEAR(r.law.beta, truth.beta, 0.02);
  EXPECT_NEAR(std::log(r.law.A), std::log(truth.A), 0.3);
  EXPECT_NEAR(std::log(r.law.B), std::log(truth.B), 0.3);
  EXPECT_NEAR(r.law.a(), truth.a(), 0.02);
  // The fit is at least as good as the truth on its own data.
  EXPECT_LE(r.objective, huber_objective(truth, synthetic(truth, 0.002, 7), 1e-3) + 1e-12);
  // Bootstrap intervals exist and bracket the estimate.
  EXPECT_GT(r.bootstrap_fits, 30);
  EXPECT_LE(r.alpha.lo, r.law.alpha + 1e-9);
  EXPECT_GE(r.alpha.hi, r.law.alpha - 1e-9);
  EXPECT_LT(r.alpha.hi - r.alpha.lo, 0.2);
  EXPECT_LE(r.E.lo, truth.E + 0.03);
  EXPECT_GE(r.E.hi, truth.E - 0.03);
}

TEST(ScalingFit, RecoversOtherConstants) {
  ChinchillaLaw truth;
  truth.E = 2.1, truth.A = 150, truth.B = 900, truth.alpha = 0.28, truth.beta = 0.36;
  FitOptions opt;
  opt.bootstrap = 0;
  FitResult r = fit_chinchilla(synthetic(truth, 0.001, 3), opt);
  EXPECT_NEAR(r.law.E, truth.E, 0.03);
  EXPECT_NEAR(r.law.alpha, truth.alpha, 0.02);
  EXPECT_NEAR(r.law.beta, truth.beta, 0.02);
}

TEST(ScalingFit, TooFewOrBadPoints) {
  std::vector<FitPoint> four(4, FitPoint{1e8, 1e9, 3.0, "r"});
  EXPECT_THROW(fit_chinchilla(four), Error);
  std::vector<FitPoint> bad(6, FitPoint{1e8, 1e9, 3.0, "r"});
  bad[2].loss = -1;
  EXPECT_THROW(fit_chinchilla(bad), Error);
}

namespace {
struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() / ("lmkit_fit_test_" + std::to_string(getpid()));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  std::string run(const std::string& name, const std::string& summary, const std::string& log) {
    fs::path d = path / name;
    fs::create_directories(d);
    if (!summary.empty()) std::ofstream(d / "summary.json") << summary;
    if (!log.empty()) std::ofstream(d / "log.jsonl") << log;
    return d.string();
  }
};
const char* kLog =
    "{\"step\":1,\"loss\":5.0,\"lr\":0.001,\"tokens_per_sec\":100,\"tokens\":1000}\n"
    "{\"step\":2,\"loss\":4.0,\"lr\":0.001,\"tokens_per_sec\":100,\"tokens\":2000,\"val_loss\":4.2}"
    "\n"
    "{\"step\":3,\"loss\":3.5,\"lr\":0.001,\"tokens_per_sec\":100,\"tokens\":3000}\n"
    "{\"step\":4,\"loss\":3.0,\"lr\":0.001,\"tokens_per_sec\":100,\"tokens\":4000,\"val_loss\":3.3}"
    "\n";
}  // namespace

TEST(ScalingFit, ReadsRuns) {
  TempDir t;
  RunData full = read_run(t.run("full", R"({"params": 1000000, "tokens": 4000,
      "final_val_loss": 3.3, "loss_first": 5.0, "loss_last": 3.0})",
                                kLog),
                          false);
  EXPECT_TRUE(full.usable);
  ASSERT_EQ(full.points.size(), 1u);
  EXPECT_EQ(full.points[0].params, 1e6);
  EXPECT_EQ(full.points[0].tokens, 4000);
  EXPECT_EQ(full.points[0].loss, 3.3);
  EXPECT_TRUE(full.notes.empty());
  ASSERT_EQ(full.val_curve.size(), 2u);

  RunData all = read_run(t.run("full", "", ""), true);  // files already there
  EXPECT_EQ(all.points.size(), 2u);  // the evaluation at 2000 tokens + the final point

  // Older summary without tokens / final_val_loss: falls back to log.jsonl, with notes.
  RunData old = read_run(t.run("old", R"({"params": 2000000, "loss_last": 3.0})", kLog), false);
  EXPECT_TRUE(old.usable);
  EXPECT_EQ(old.points[0].tokens, 4000);
  EXPECT_EQ(old.points[0].loss, 3.3);
  EXPECT_EQ(old.notes.size(), 2u);

  // No validation at all: the training loss, said so.
  RunData train_only =
      read_run(t.run("trainonly", R"({"params": 5, "tokens": 10, "loss_last": 2.5})", ""), false);
  EXPECT_TRUE(train_only.usable);
  EXPECT_EQ(train_only.points[0].loss, 2.5);
  EXPECT_NE(train_only.notes.back().find("training loss"), std::string::npos);

  // No params: unusable, with a note naming the key.
  RunData nop = read_run(t.run("noparams", R"({"tokens": 10, "final_val_loss": 2})", ""), false);
  EXPECT_FALSE(nop.usable);
  EXPECT_NE(nop.notes.back().find("'params'"), std::string::npos);

  // Malformed files are errors naming the file.
  EXPECT_THROW(read_run(t.run("bad", "{\"params\": ", ""), false), Error);
  EXPECT_THROW(read_run(t.run("badlog", R"({"params": 5})", "{\"step\":1}\nnot json\n"), false),
               Error);
  EXPECT_THROW(read_run((t.path / "missing").string(), false), Error);
}
