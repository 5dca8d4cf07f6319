// The ZeRO paper's example and Korthikanti et al.'s per-layer activation formulas.
#include "lmkit/analysis/train_memory.h"

#include <gtest/gtest.h>

#include <cmath>

#include "lmkit/core/error.h"

using namespace lmkit;
using namespace lmkit::analysis;

TEST(TrainMemory, ZeroPaperExample) {
  // Rajbhandari et al. 2019, Fig. 1: Psi = 7.5B, N_d = 64, K = 12 -> 120 GB, 31.4 GB,
  // 16.6 GB and 1.9 GB per device, GB = 1e9 bytes, printed to one decimal.
  const double expected_gb[4] = {120.0, 31.4, 16.6, 1.9};
  const double exact_bytes[4] = {120e9, 31.40625e9, 16.640625e9, 1.875e9};
  for (int stage = 0; stage <= 3; ++stage) {
    TrainSetup s;
    s.params = 7.5e9;
    s.gpus = 64;
    s.zero_stage = stage;
    MemoryPlan p = plan_memory(s);
    EXPECT_EQ(p.data_parallel, 64);
    EXPECT_DOUBLE_EQ(p.bytes_per_gpu, exact_bytes[stage]) << "stage " << stage;
    EXPECT_DOUBLE_EQ(std::round(p.bytes_per_gpu / 1e9 * 10) / 10, expected_gb[stage]);
    EXPECT_DOUBLE_EQ(p.bytes_per_gpu, p.params_bytes + p.grads_bytes + p.optimizer_bytes);
  }
}

TEST(TrainMemory, ModelParallelSplitsFirst) {
  TrainSetup s;
  s.params = 8e9;
  s.gpus = 16;
  s.tensor_parallel = 4;
  s.pipeline_parallel = 2;
  s.zero_stage = 1;
  MemoryPlan p = plan_memory(s);
  EXPECT_EQ(p.data_parallel, 2);
  EXPECT_DOUBLE_EQ(p.bytes_per_gpu, 4 * 1e9 + 12 * 1e9 / 2);
}

TEST(TrainMemory, KorthikantiTable2) {
  const int64_t s = 2048, b = 1, h = 12288, a = 96;  // GPT-3 175B shape
  const double sbh = double(s) * b * h;
  EXPECT_DOUBLE_EQ(activation_bytes_per_layer(s, b, h, a, 1, false, Recompute::None),
                   sbh * (34 + 5.0 * a * s / h));
  EXPECT_DOUBLE_EQ(activation_bytes_per_layer(s, b, h, a, 8, false, Recompute::None),
                   sbh * (10 + 24.0 / 8 + 5.0 * a * s / (h * 8)));
  EXPECT_DOUBLE_EQ(activation_bytes_per_layer(s, b, h, a, 8, true, Recompute::None),
                   sbh / 8 * (34 + 5.0 * a * s / h));
  EXPECT_DOUBLE_EQ(activation_bytes_per_layer(s, b, h, a, 8, false, Recompute::Selective),
                   sbh * (10 + 24.0 / 8));
  EXPECT_DOUBLE_EQ(activation_bytes_per_layer(s, b, h, a, 8, true, Recompute::Selective),
                   sbh * 34 / 8);
  EXPECT_DOUBLE_EQ(activation_bytes_per_layer(s, b, h, a, 8, true, Recompute::Full), 2 * sbh);

  TrainSetup t;
  t.params = 175e9;
  t.gpus = 64;
  t.tensor_parallel = 8;
  t.pipeline_parallel = 8;
  t.activations = true;
  t.layers = 96, t.hidden = h, t.heads = a, t.seq_len = s, t.micro_batch = 1;
  t.sequence_parallel = true;
  t.recompute = Recompute::Selective;
  MemoryPlan p = plan_memory(t);
  EXPECT_DOUBLE_EQ(p.activation_bytes, 96 * sbh * 34 / 8);
  EXPECT_DOUBLE_EQ(p.bytes_per_gpu, p.model_states_bytes + p.activation_bytes);
}

TEST(TrainMemory, BadSetups) {
  TrainSetup s;
  s.params = 1e9;
  s.gpus = 6;
  s.tensor_parallel = 4;
  EXPECT_THROW(plan_memory(s), Error);  // 6 GPUs cannot hold tp = 4 groups
  s.tensor_parallel = 1;
  s.zero_stage = 4;
  EXPECT_THROW(plan_memory(s), Error);
  s.zero_stage = 0;
  s.params = -1;
  EXPECT_THROW(plan_memory(s), Error);
  s.params = 1e9;
  s.activations = true;  // no model shape given
  EXPECT_THROW(plan_memory(s), Error);
}
