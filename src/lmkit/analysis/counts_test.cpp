// FLOP / byte counts against hand-worked numbers for a tiny configuration.
#include "lmkit/analysis/counts.h"

#include <gtest/gtest.h>

#include "lmkit/analysis/presets.h"
#include "lmkit/core/error.h"

using namespace lmkit;
using namespace lmkit::analysis;

namespace {
// 2 layers, 4 query heads, 2 KV heads, C = 16, head_dim 4, SwiGLU width 32, vocab 10.
ModelSpec tiny(int64_t window = 0) {
  ModelSpec m = spec_from_config(ModelConfig::llama(2, 4, 2, 16, 32, 10, 8), "tiny");
  m.sliding_window = window;
  return m;
}
}  // namespace

TEST(Counts, TinyParams) {
  ParamCounts p = count_params(tiny().config);
  EXPECT_EQ(p.embedding, 160);
  EXPECT_EQ(p.attention, 2 * (16 * 16 + 16 * 8 + 16 * 8 + 16 * 16));  // 1536
  EXPECT_EQ(p.mlp, 2 * 3 * 16 * 32);                                  // 3072
  EXPECT_EQ(p.norm, 5 * 16);
  EXPECT_EQ(p.lm_head, 160);
  EXPECT_EQ(p.total, 160 + 1536 + 3072 + 80 + 160);
}

TEST(Counts, TinyFlopsByHand) {
  // Per token: q 2*16*16 = 512, k 2*16*8 = 256, v 256, o 512 -> 1536 per layer, 3072 for two.
  // MLP 3 * 2*16*32 = 3072 per layer -> 6144. lm_head 2*16*10 = 320. Sum 9536.
  // Attention: 2 layers * 4 heads * (2+2)*head_dim 4 = 128 FLOPs per attended key.
  std::vector<Matmul> mm = matmuls(tiny().config);
  double per_token = 0;
  for (auto& m : mm) per_token += m.flops_per_token();
  EXPECT_EQ(per_token, 9536);

  Flops p = prefill_flops(tiny(), 5);  // tokens attend 1+2+3+4+5 = 15 keys
  EXPECT_EQ(p.attn_proj, 5 * 3072);
  EXPECT_EQ(p.mlp, 5 * 6144);
  EXPECT_EQ(p.lm_head, 5 * 320);
  EXPECT_EQ(p.matmul, 47680);
  EXPECT_EQ(p.attention, 128 * 15);
  EXPECT_EQ(p.total, 47680 + 1920);
  EXPECT_GT(p.other, 0);
  EXPECT_EQ(p.other, p.other_norm + p.other_activation + p.other_softmax + p.other_rope +
                         p.other_residual_bias);

  Flops d = decode_flops(tiny(), 5);  // the 5th token attends 5 keys
  EXPECT_EQ(d.total, 9536 + 128 * 5);

  Flops last = prefill_flops(tiny(), 5, /*last_logits_only=*/true);
  EXPECT_EQ(last.lm_head, 320);
  EXPECT_EQ(last.total, p.total - 4 * 320);
}

TEST(Counts, OtherFlopsByHand) {
  // One token, tiny Llama: norms (2*2+1) * 16 * 4 = 320; SwiGLU 2 * 32 * 4 = 256;
  // softmax 1 key * 2 layers * 4 heads * 5 = 40; RoPE 2 layers * (16 + 8) * 3 = 144;
  // residual 2 layers * 2 * 16 = 64 (no biases, no learned positions).
  Flops d = decode_flops(tiny(), 1);
  EXPECT_EQ(d.other_norm, 320);
  EXPECT_EQ(d.other_activation, 256);
  EXPECT_EQ(d.other_softmax, 40);
  EXPECT_EQ(d.other_rope, 144);
  EXPECT_EQ(d.other_residual_bias, 64);
}

TEST(Counts, PrefillIsTheSumOfDecodes) {
  for (int64_t window : {0, 3}) {
    for (int64_t T : {1, 2, 7, 40}) {
      double sum = 0;
      for (int64_t t = 1; t <= T; ++t) sum += decode_flops(tiny(window), t).total;
      EXPECT_EQ(prefill_flops(tiny(window), T).total, sum) << "T=" << T << " W=" << window;
    }
  }
}

TEST(Counts, SlidingWindowCountsExactly) {
  EXPECT_EQ(attended_keys_prefill(5, 0), 15);
  EXPECT_EQ(attended_keys_prefill(5, 3), 1 + 2 + 3 + 3 + 3);
  EXPECT_EQ(attended_keys_prefill(3, 3), 6);
  EXPECT_EQ(attended_keys_decode(10, 4), 4);
  EXPECT_EQ(attended_keys_decode(3, 4), 3);
  EXPECT_EQ(kv_bytes_context(tiny(4), 100, 16), 4 * kv_bytes_per_token(tiny().config, 16));
}

TEST(Counts, KvCacheBytes) {
  // K and V, 2 layers, 2 KV heads of 4: 32 elements per token; bf16 = 64 bytes.
  EXPECT_EQ(kv_bytes_per_token(tiny().config, 16), 64);
  // Llama-3.1-8B: 2 * 32 layers * 8 KV heads * 128 * 2 bytes = 131072 bytes per token.
  EXPECT_EQ(kv_bytes_per_token(find_preset("llama-3.1-8b")->config, 16), 131072);
  EXPECT_EQ(kv_bytes_context(tiny(), 10, 8.5), 10 * 32 * 8.5 / 8);
}

TEST(Counts, Bytes) {
  // Tiny Llama, f32 weights, untied: every weight but the input embedding (attention 1536 +
  // mlp 3072 + norms 80 + lm_head 160 = 4848) plus one embedding row per token; bf16 KV of
  // 64 bytes per token for each attended (decode) or written (prefill) token.
  ModelSpec m = tiny();
  EXPECT_EQ(decode_bytes(m, 5, 32, 16), (4848 + 16) * 4.0 + 5 * 64);
  EXPECT_EQ(prefill_bytes(m, 5, 32, 16), (4848 + 5 * 16) * 4.0 + 5 * 64);
}

TEST(Counts, Llama8bDecodeAt8k) {
  // Matmul FLOPs per token = 2 * (all weight matrices incl. lm_head) = 2 * (8030261248 -
  // 525336576 embedding - 266240 norms); attention = 32 layers * 32 heads * 4 * 128 * T.
  ModelSpec m = resolve_model("llama-3.1-8b");
  Flops d = decode_flops(m, 8192);
  EXPECT_EQ(d.matmul, 2.0 * (8030261248.0 - 525336576.0 - 266240.0));
  EXPECT_EQ(d.attention, 32.0 * 32 * 4 * 128 * 8192);
}

TEST(Counts, BadInput) {
  EXPECT_THROW(prefill_flops(tiny(), 0), Error);
  EXPECT_THROW(decode_flops(tiny(), -3), Error);
  EXPECT_THROW(find_format(weight_formats(), "q3_k"), Error);
  EXPECT_EQ(find_format(weight_formats(), "q4_0").bits, 4.5);
}
