// Generation: stop ids, the callback, the context shift past the engine's context, the
// Decoder overload that `lmkit sample` uses; TextStream's UTF-8 and stop-string handling.
#include "lmkit/infer/generate.h"

#include <gtest/gtest.h>

#include "lmkit/core/graph.h"

namespace lmkit {
namespace {

Decoder tiny_model(int64_t ctx) {
  Decoder d(ModelConfig::llama(2, 2, 1, 16, 32, 40, ctx));
  d.init_weights(3);
  for (auto& p : d.params())
    if (!p.name.ends_with("norm.weight"))
      for (float& v : p.value.f32()) v *= 10.0f;
  return d;
}

TEST(Generate, GreedyEqualsArgmaxOfTheFullGraph) {
  const Decoder d = tiny_model(64);
  SamplerOptions so;
  so.temperature = 0;
  Sampler s(so);
  std::vector<int32_t> prompt = {1, 5, 9};
  auto out = generate(d, prompt, s, {10, -1, 0}, nullptr);
  ASSERT_EQ(out.size(), 10u);
  // Re-derive every token from the graph over the growing sequence.
  std::vector<int32_t> seq = prompt;
  for (const auto& r : out) {
    Graph g;
    auto io = d.build(g, 1, int64_t(seq.size()), false);
    g.allocate();
    std::copy(seq.begin(), seq.end(), g.tensor(io.ids).data<int32_t>());
    g.forward();
    const float* l = g.tensor(io.logits).data<float>() + (seq.size() - 1) * 40;
    EXPECT_EQ(r.id, int32_t(std::max_element(l, l + 40) - l));
    seq.push_back(r.id);
  }
}

TEST(Generate, StopsOnStopIdsAndCallback) {
  const Decoder d = tiny_model(64);
  auto w = std::make_shared<const ModelWeights>(ModelWeights::from_decoder(d));
  Engine e(w);
  SamplerOptions so;
  so.temperature = 0;
  Sampler s(so);
  auto all = generate(e, {1, 2}, s, {12, -1, 0}, nullptr);
  ASSERT_EQ(all.size(), 12u);
  GenerateOptions go;
  go.max_tokens = 12;
  go.stop_ids = {all[4].id};
  auto stopped = generate(e, {1, 2}, s, go, nullptr);
  EXPECT_LE(stopped.size(), 5u);
  EXPECT_EQ(stopped.back().id, all[4].id);
  int n = 0;
  generate(e, {1, 2}, s, {12, -1, 0}, [&](const SampleResult&) { return ++n < 3; });
  EXPECT_EQ(n, 3);
  EXPECT_EQ(e.num_sequences(), 0);  // sequences are released
}

TEST(Generate, RunsPastTheContextByShiftingIt) {
  const Decoder d = tiny_model(16);
  auto w = std::make_shared<const ModelWeights>(ModelWeights::from_decoder(d));
  Engine e(w);
  SamplerOptions so;
  so.seed = 3;
  Sampler s(so);
  auto out = generate(e, {1, 2, 3}, s, {50, -1, 0}, nullptr);
  EXPECT_EQ(out.size(), 50u);
}

TEST(TextStream, HoldsIncompleteUtf8AndStopsBeforeStopStrings) {
  ByteTokenizer tok;
  {
    TextStream ts(tok);
    const std::string s = "a\xc3\xa9z";  // a é z
    EXPECT_EQ(ts.push(uint8_t(s[0])), "a");
    EXPECT_EQ(ts.push(uint8_t(s[1])), "");  // half of é
    EXPECT_EQ(ts.push(uint8_t(s[2])), "\xc3\xa9");
    EXPECT_EQ(ts.push(uint8_t(s[3])), "z");
  }
  {
    TextStream ts(tok, {"END", "\n\n"});
    std::string out;
    for (char c : std::string("hello EN")) out += ts.push(uint8_t(c));
    EXPECT_EQ(out, "hello ");  // "EN" may start "END": held back
    out += ts.push('D');
    EXPECT_TRUE(ts.stopped());
    EXPECT_EQ(out, "hello ");
    EXPECT_EQ(ts.text(), "hello ");
  }
  {
    TextStream ts(tok, {"END"});
    std::string out;
    for (char c : std::string("ENx")) out += ts.push(uint8_t(c));
    EXPECT_FALSE(ts.stopped());
    EXPECT_EQ(out, "ENx");
  }
}

}  // namespace
}  // namespace lmkit
