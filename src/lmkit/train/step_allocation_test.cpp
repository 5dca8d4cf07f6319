// A whole training step (zero grads, forward, backward, clip + AdamW update) performs no
// heap allocation once the graph is recorded and allocated: activation memory is planned
// once per shape and reused. Checked with a counting global operator new.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>

#include "lmkit/core/counting_allocator.h"
#include "lmkit/core/graph.h"
#include "lmkit/model/decoder.h"
#include "lmkit/train/adamw.h"
#include "lmkit/train/schedule.h"


namespace lmkit {
namespace {

void expect_allocation_free_steps(ModelConfig cfg) {
  const int64_t B = 2, T = 32;
  Decoder model(cfg);
  model.init_weights(1);
  AdamW opt(model, {});
  Graph g;
  auto io = model.build(g, B, T, true);
  g.allocate();
  for (int64_t i = 0; i < B * T; ++i) {
    g.tensor(io.ids).data<int32_t>()[i] = int32_t(i % cfg.vocab_size);
    g.tensor(io.targets).data<int32_t>()[i] = int32_t((i + 1) % cfg.vocab_size);
  }
  auto step = [&](int64_t s) {
    model.zero_grads();
    g.set_seed(uint64_t(s));
    g.forward();
    g.backward(io.loss);
    opt.step(lr_at(s, 10, 1e-3, 1e-4, 2));
  };
  step(0);  // warm-up: kernels size their per-thread scratch once
  test_support::AllocationCounter counter;
  for (int64_t s = 1; s < 4; ++s) step(s);
  EXPECT_EQ(counter.count(), 0) << cfg.arch;
}

TEST(TrainingStep, NoHeapAllocationGpt2WithDropout) {
  ModelConfig c = ModelConfig::gpt2(2, 4, 64, 97, 64);
  c.dropout = 0.1f;
  expect_allocation_free_steps(c);
}

TEST(TrainingStep, NoHeapAllocationLlamaAndQwen3) {
  expect_allocation_free_steps(ModelConfig::llama(2, 4, 2, 64, 96, 97, 64));
  expect_allocation_free_steps(ModelConfig::qwen3(2, 4, 2, 64, 24, 96, 97, 64));
}

}  // namespace
}  // namespace lmkit
