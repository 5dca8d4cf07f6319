// Cross-check: the FLOPs `lmkit flops` predicts (analysis/counts.h) equal the FLOPs lmkit's
// engine performs, counted by an instrumented run. core/gemm.h counts 2*M*N*K for every
// linear_forward / linear_backward product it executes, and the attention op adds its
// causal QK^T + AV FLOPs (core/graph.cpp); here a tiny model of each family runs one
// forward pass (and one training step) and the counters are compared with the prediction.
#include <gtest/gtest.h>

#include "lmkit/analysis/counts.h"
#include "lmkit/core/gemm.h"
#include "lmkit/core/graph.h"
#include "lmkit/model/decoder.h"

using namespace lmkit;
using namespace lmkit::analysis;

namespace {

struct Case {
  const char* name;
  ModelConfig config;
};

std::vector<Case> cases() {
  ModelConfig untied = ModelConfig::llama(2, 4, 2, 32, 48, 40, 16);  // GQA, untied head
  ModelConfig qwen2 = ModelConfig::qwen2(2, 4, 4, 32, 64, 40, 16);   // q/k/v biases
  qwen2.tie_embeddings = true;
  return {{"gpt2", ModelConfig::gpt2(2, 4, 32, 40, 16)},
          {"llama-gqa-untied", untied},
          {"qwen2-bias-tied", qwen2},
          {"qwen3-qknorm", ModelConfig::qwen3(3, 4, 2, 32, 16, 40, 40, 16)}};
}

}  // namespace

TEST(EngineFlops, ForwardMatchesPrediction) {
  const int64_t B = 2, T = 7;
  for (const Case& c : cases()) {
    SCOPED_TRACE(c.name);
    Decoder model(c.config);
    model.init_weights(1);
    Graph g;
    Decoder::Outputs out = model.build(g, B, T, /*with_loss=*/false);
    g.allocate();
    int32_t* ids = g.tensor(out.ids).data<int32_t>();
    for (int64_t i = 0; i < B * T; ++i) ids[i] = int32_t((i * 7) % c.config.vocab_size);
    reset_flop_count();
    g.forward();
    FlopCount counted = flop_count();
    Flops predicted = prefill_flops(spec_from_config(c.config, c.name), T);
    EXPECT_EQ(counted.matmul, double(B) * predicted.matmul);
    EXPECT_EQ(counted.attention, double(B) * predicted.attention);
  }
}

TEST(EngineFlops, TrainingStepIsThreeForwards) {
  // Backward computes dx and dW for every product (2 products of the forward's size) and
  // attention's backward is twice its forward: 3 x forward in all, the factor `lmkit flops`
  // uses for training FLOPs.
  const int64_t B = 2, T = 5;
  for (const Case& c : cases()) {
    SCOPED_TRACE(c.name);
    Decoder model(c.config);
    model.init_weights(2);
    model.enable_grads();
    Graph g;
    Decoder::Outputs out = model.build(g, B, T, /*with_loss=*/true);
    g.allocate();
    int32_t* ids = g.tensor(out.ids).data<int32_t>();
    int32_t* tg = g.tensor(out.targets).data<int32_t>();
    for (int64_t i = 0; i < B * T; ++i) {
      ids[i] = int32_t((i * 3) % c.config.vocab_size);
      tg[i] = int32_t((i * 5 + 1) % c.config.vocab_size);
    }
    reset_flop_count();
    g.forward();
    g.backward(out.loss);
    FlopCount counted = flop_count();
    Flops predicted = prefill_flops(spec_from_config(c.config, c.name), T);
    EXPECT_EQ(counted.matmul + counted.attention, 3.0 * double(B) * predicted.total);
  }
}
