// lmkit against the PyTorch reference (tests/fixtures/make_fixtures.py, torch 1.13): for
// GPT-2, Llama with GQA + Llama-3 RoPE scaling, and Qwen3 configs with given weights and
// batch: logits and loss (1e-5 relative), every parameter gradient (1e-4), and the losses
// and parameters after 5 AdamW steps with warmup, cosine decay and clipping (1e-4).
// The llm.c test_gpt2.c pattern.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>

#include "lmkit/core/graph.h"
#include "lmkit/io/safetensors.h"
#include "lmkit/model/decoder.h"
#include "lmkit/train/adamw.h"
#include "lmkit/train/schedule.h"

namespace lmkit {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

std::vector<std::string> fixture_names() {
  std::vector<std::string> names;
  fs::path dir = fs::path(LMKIT_SOURCE_DIR) / "tests/fixtures/model";
  if (fs::is_directory(dir))
    for (auto& e : fs::directory_iterator(dir))
      if (e.path().extension() == ".json") names.push_back(e.path().stem().string());
  std::sort(names.begin(), names.end());
  return names;
}

// max |a - b| / max(max |b|, tiny): the error relative to the tensor's scale.
double rel_err(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  double scale = 1e-30, err = 0;
  for (size_t i = 0; i < b.size(); ++i) scale = std::max(scale, std::fabs(double(b[i])));
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i)
    err = std::max(err, std::fabs(double(a[i]) - double(b[i])));
  return err / scale;
}

class PyTorchFidelity : public ::testing::TestWithParam<std::string> {};

TEST_P(PyTorchFidelity, LogitsLossGradientsAndFiveSteps) {
  fs::path base = fs::path(LMKIT_SOURCE_DIR) / "tests/fixtures/model" / GetParam();
  std::ifstream jf(base.string() + ".json");
  json meta = json::parse(jf);
  auto fx = SafetensorsFile::open(base.string() + ".safetensors");
  ModelConfig cfg = ModelConfig::from_json(meta["config"]);
  const int64_t B = meta["batch"], T = meta["seq_len"], V = cfg.vocab_size;

  Decoder model(cfg);
  for (auto& p : model.params()) p.value.copy_from(fx.get_as(p.name, DType::F32));
  Tensor ids = fx.get_as("input_ids", DType::I32), targets = fx.get_as("targets", DType::I32);

  // Logits (a graph without the loss, whose fused backward would consume them).
  {
    Graph g;
    auto io = model.build(g, B, T, false);
    g.allocate();
    g.tensor(io.ids).copy_from(ids.reshape({B, T}));
    g.forward();
    double e = rel_err(g.tensor(io.logits).to_vector(), fx.get_as("logits", DType::F32).to_vector());
    EXPECT_LT(e, 1e-5) << "logits";
  }

  AdamW opt(model, {meta["train"]["beta1"], meta["train"]["beta2"], meta["train"]["eps"],
                    meta["train"]["weight_decay"], meta["train"]["grad_clip"]});
  Graph g;
  auto io = model.build(g, B, T, true);
  g.allocate();
  g.tensor(io.ids).copy_from(ids.reshape({B, T}));
  g.tensor(io.targets).copy_from(targets.reshape({B, T}));
  model.zero_grads();
  g.forward();
  float loss = g.tensor(io.loss).data<float>()[0];
  float ref_loss = fx.get_as("loss", DType::F32).to_vector()[0];
  EXPECT_NEAR(loss, ref_loss, 1e-5 * std::fabs(ref_loss)) << "loss";
  g.backward(io.loss);
  // Parameters whose exact gradient is zero (GPT-2's key bias: it shifts every score of a
  // softmax row equally). Both sides hold rounding noise there, so they are checked against
  // an absolute bound, and their AdamW trajectories (noise amplified to lr-sized steps that
  // change no output) are not compared.
  std::set<std::string> zero_grad;
  for (const auto& n : meta.value("zero_grad_params", json::array())) zero_grad.insert(n.get<std::string>());
  double max_grad = 0;
  for (auto& p : model.params())
    for (float v : p.grad.to_vector()) max_grad = std::max(max_grad, std::fabs(double(v)));
  for (auto& p : model.params()) {
    if (zero_grad.count(p.name)) {
      for (float v : p.grad.to_vector()) EXPECT_LT(std::fabs(v), 1e-6 * max_grad) << p.name;
      continue;
    }
    double e = rel_err(p.grad.to_vector(), fx.get_as("grad." + p.name, DType::F32).to_vector());
    EXPECT_LT(e, 1e-4) << "gradient of " << p.name;
  }

  // Five AdamW steps on the same batch with the lmkit train schedule.
  const auto& tr = meta["train"];
  int64_t N = tr["steps"], W = tr["warmup_steps"];
  std::vector<float> losses5 = fx.get_as("losses5", DType::F32).to_vector();
  for (int64_t s = 0; s < N; ++s) {
    if (s > 0) {
      model.zero_grads();
      g.forward();
      g.backward(io.loss);
    }
    float l = g.tensor(io.loss).data<float>()[0];
    EXPECT_NEAR(l, losses5[size_t(s)], 1e-4 * std::fabs(losses5[size_t(s)])) << "loss at step " << s;
    opt.step(lr_at(s, N, tr["lr"], tr["min_lr"], W));
  }
  for (auto& p : model.params()) {
    if (zero_grad.count(p.name)) continue;
    double e = rel_err(p.value.to_vector(), fx.get_as("after5." + p.name, DType::F32).to_vector());
    EXPECT_LT(e, 1e-4) << "after 5 steps: " << p.name;
  }
  (void)V;
}

INSTANTIATE_TEST_SUITE_P(Fixtures, PyTorchFidelity, ::testing::ValuesIn(fixture_names()),
                         [](const auto& info) { return info.param; });
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(PyTorchFidelity);

}  // namespace
}  // namespace lmkit
