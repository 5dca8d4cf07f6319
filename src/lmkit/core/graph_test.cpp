// Autograd wiring: gradients of composed graphs against central finite differences (the
// per-op kernels are checked in double precision in kernels_test / attention_test; here the
// graph's accumulate/overwrite logic, parameter sharing and the fused loss are the subject),
// and the no-allocation property of a recorded graph.
#include "lmkit/core/graph.h"

#include <gtest/gtest.h>

#include "lmkit/core/counting_allocator.h"

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <new>

#include "lmkit/core/error.h"
#include "lmkit/core/random.h"


namespace lmkit {
namespace {

Tensor randn(const Tensor::Shape& s, Rng& rng, float sd, float mean = 0) {
  Tensor t = Tensor::zeros(s);
  for (float& v : t.f32()) v = mean + float(rng.normal()) * sd;
  return t;
}

struct TinyNet {
  // Parameters of a 1-block pre-norm transformer touching every graph op.
  int64_t B = 2, T = 5, V = 11, C = 8, NH = 2, NKV = 1, hs = 4, H = 12;
  std::vector<std::pair<Tensor, Tensor>> p;  // value, grad
  std::vector<float> inv_freq{1.0f, 0.1f};
  explicit TinyNet(uint64_t seed) {
    Rng rng(seed);
    auto add = [&](Tensor::Shape s, float sd, float mean = 0) {
      Tensor v = randn(s, rng, sd, mean);
      p.emplace_back(v, Tensor::zeros(s));
    };
    add({V, C}, 0.5f);          // 0 wte (tied head)
    add({T, C}, 0.3f);          // 1 wpe
    add({C}, 0.2f, 1.0f);       // 2 ln w
    add({C}, 0.2f);             // 3 ln b
    add({NH * hs, C}, 0.4f);    // 4 q
    add({NKV * hs, C}, 0.4f);   // 5 k
    add({NKV * hs, C}, 0.4f);   // 6 v
    add({hs}, 0.2f, 1.0f);      // 7 q norm
    add({C, NH * hs}, 0.4f);    // 8 o
    add({C}, 0.2f, 1.0f);       // 9 rms w
    add({H, C}, 0.4f);          // 10 gate
    add({H, C}, 0.4f);          // 11 up
    add({C, H}, 0.4f);          // 12 down
    add({H}, 0.2f);             // 13 up bias
  }
  // Returns (graph-owned) ids/targets/loss vars.
  Var build(Graph& g, Var* ids, Var* tg) {
    std::vector<Var> v;
    for (auto& [val, grad] : p) v.push_back(g.parameter(val, grad));
    *ids = g.input({B, T}, DType::I32);
    Var x = g.embedding(*ids, v[0], v[1]);
    Var h = g.layernorm(x, v[2], v[3], 1e-5f);
    Var q = g.rope(g.rmsnorm_grouped(g.linear(h, v[4]), v[7], hs, 1e-6f), NH, inv_freq.data());
    Var k = g.rope(g.linear(h, v[5]), NKV, inv_freq.data());
    Var a = g.attention(q, k, g.linear(h, v[6]), NH, NKV);
    x = g.add(x, g.linear(a, v[8]));
    Var h2 = g.rmsnorm(x, v[9], 1e-5f);
    Var m1 = g.swiglu(g.linear(h2, v[10]), g.linear(h2, v[11], v[13]));
    Var m2 = g.gelu(g.linear(h2, v[11], v[13]));  // shares `up` with the SwiGLU branch
    x = g.add(x, g.add(g.linear(m1, v[12]), g.linear(m2, v[12])));
    Var logits = g.linear(g.layernorm(x, v[2], v[3], 1e-5f), v[0]);
    *tg = g.input({B, T}, DType::I32);
    return g.cross_entropy(logits, *tg);
  }
};

TEST(Graph, GradientsMatchFiniteDifferences) {
  TinyNet net(7);
  Graph g;
  Var ids, tg;
  Var loss = net.build(g, &ids, &tg);
  g.allocate();
  Rng rng(3);
  for (int64_t i = 0; i < net.B * net.T; ++i) {
    g.tensor(ids).data<int32_t>()[i] = int32_t(rng.next_u64() % uint64_t(net.V));
    g.tensor(tg).data<int32_t>()[i] = i == 3 ? -1 : int32_t(rng.next_u64() % uint64_t(net.V));
  }
  g.forward();
  g.backward(loss);
  auto eval = [&] {
    g.forward();
    return double(g.tensor(loss).data<float>()[0]);
  };
  for (size_t pi = 0; pi < net.p.size(); ++pi) {
    auto& [val, grad] = net.p[pi];
    auto gv = grad.to_vector();
    float* w = val.data<float>();
    for (int probe = 0; probe < 4; ++probe) {
      size_t i = size_t(rng.next_u64() % uint64_t(val.numel()));
      float orig = w[i];
      const float h = 1e-2f;
      w[i] = orig + h;
      double lp = eval();
      w[i] = orig - h;
      double lm = eval();
      w[i] = orig;
      double fd = (lp - lm) / (2 * h);
      EXPECT_NEAR(gv[i], fd, 2e-3 + 2e-2 * std::fabs(fd)) << "param " << pi << " index " << i;
    }
  }
}

TEST(Graph, GradientsAccumulateAcrossBackwardCalls) {
  TinyNet net(9);
  Graph g;
  Var ids, tg;
  Var loss = net.build(g, &ids, &tg);
  g.allocate();
  for (int64_t i = 0; i < net.B * net.T; ++i) {
    g.tensor(ids).data<int32_t>()[i] = int32_t(i % net.V);
    g.tensor(tg).data<int32_t>()[i] = int32_t((i * 7 + 1) % net.V);
  }
  g.forward();
  g.backward(loss);
  auto once = net.p[4].second.to_vector();
  g.forward();
  g.backward(loss);
  auto twice = net.p[4].second.to_vector();
  for (size_t i = 0; i < once.size(); ++i) EXPECT_NEAR(twice[i], 2 * once[i], 1e-6 + 1e-5 * std::fabs(once[i]));
}

TEST(Graph, StepPerformsNoHeapAllocation) {
  TinyNet net(11);
  Graph g;
  Var ids, tg;
  Var loss = net.build(g, &ids, &tg);
  g.allocate();
  g.forward();
  g.backward(loss);  // warm-up: kernels may size their per-thread scratch once
  test_support::AllocationCounter counter;
  for (int i = 0; i < 3; ++i) {
    g.forward();
    g.backward(loss);
  }
  EXPECT_EQ(counter.count(), 0);
}

TEST(Graph, RejectsOutOfVocabularyIds) {
  TinyNet net(1);
  Graph g;
  Var ids, tg;
  net.build(g, &ids, &tg);
  g.allocate();
  g.tensor(ids).data<int32_t>()[0] = int32_t(net.V);
  EXPECT_THROW(g.forward(), Error);
}

}  // namespace
}  // namespace lmkit
