// Every preset reproduces its published parameter count exactly (sources in presets.cpp),
// and the component breakdown adds up.
#include "lmkit/analysis/presets.h"

#include <gtest/gtest.h>

#include "lmkit/analysis/counts.h"
#include "lmkit/analysis/model_spec.h"
#include "lmkit/core/error.h"

using namespace lmkit;
using namespace lmkit::analysis;

TEST(Presets, TotalsEqualPublishedCounts) {
  ASSERT_GE(presets().size(), 17u);
  for (const Preset& p : presets()) {
    SCOPED_TRACE(p.name);
    EXPECT_NO_THROW(p.config.validate());
    ParamCounts c = count_params(p.config);
    EXPECT_EQ(c.total, p.published_params) << "source: " << p.params_source;
    EXPECT_EQ(c.total, c.embedding + c.position + c.attention + c.mlp + c.norm + c.lm_head);
    EXPECT_EQ(c.attention,
              c.attn_q + c.attn_k + c.attn_v + c.attn_o + c.attn_bias + c.attn_qk_norm);
    EXPECT_FALSE(p.config_source.empty());
    EXPECT_FALSE(p.params_source.empty());
  }
}

TEST(Presets, NamedCountsFromTheIssue) {
  EXPECT_EQ(count_params(find_preset("llama-3.1-8b")->config).total, 8030261248);
  EXPECT_EQ(count_params(find_preset("GPT2")->config).total, 124439808);  // case-insensitive
}

TEST(Presets, HandCheckedBreakdowns) {
  // GPT-2 small (Radford et al. 2019; HF GPT2LMHeadModel): wte 50257*768, wpe 1024*768,
  // per layer c_attn 768*2304 + 2304, c_proj 768*768 + 768, c_fc 768*3072 + 3072,
  // c_proj 3072*768 + 768, ln_1/ln_2 2*768 each; ln_f 2*768.
  ParamCounts g = count_params(find_preset("gpt2")->config);
  EXPECT_EQ(g.embedding, 50257 * 768);
  EXPECT_EQ(g.position, 1024 * 768);
  EXPECT_EQ(g.attention, 12 * (768 * 2304 + 2304 + 768 * 768 + 768));
  EXPECT_EQ(g.mlp, 12 * (768 * 3072 + 3072 + 3072 * 768 + 768));
  EXPECT_EQ(g.norm, 25 * 2 * 768);
  EXPECT_EQ(g.lm_head, 0);
  // Llama-3.1-8B: q 4096x4096, k/v 4096x1024, o 4096x4096, MLP 3 x 4096x14336, 2 RMSNorms per
  // layer, final norm, untied head 128256x4096.
  ParamCounts l = count_params(find_preset("llama-3.1-8b")->config);
  EXPECT_EQ(l.attn_k, int64_t(32) * 4096 * 1024);
  EXPECT_EQ(l.mlp, int64_t(32) * 3 * 4096 * 14336);
  EXPECT_EQ(l.norm, 65 * 4096);
  EXPECT_EQ(l.lm_head, int64_t(128256) * 4096);
  EXPECT_EQ(l.non_embedding, l.total - 2 * int64_t(128256) * 4096);
  // Qwen3 adds q_norm/k_norm (head_dim weights each, per layer); Qwen2.5 adds q/k/v biases.
  ParamCounts q = count_params(find_preset("qwen3-0.6b")->config);
  EXPECT_EQ(q.attn_qk_norm, 28 * 2 * 128);
  ParamCounts q25 = count_params(find_preset("qwen2.5-7b")->config);
  EXPECT_EQ(q25.attn_bias, 28 * (3584 + 2 * 512));
}

TEST(Presets, MistralHasItsSlidingWindow) {
  ModelSpec m = resolve_model("mistral-7b");
  EXPECT_EQ(m.sliding_window, 4096);
  EXPECT_EQ(m.published_params, 7241732096);
}

TEST(Presets, UnknownPresetIsAnError) {
  EXPECT_EQ(find_preset("llama-9"), nullptr);
  try {
    resolve_model("llama-9");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("unknown model"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("llama-3.1-8b"), std::string::npos) << e.what();
  }
}
