// The sampler chain: every filter keeps exactly the set its definition names (computed here
// independently, in double), in llama.cpp's order; temperature sampling draws tokens with
// the frequencies of softmax(logits / T) (Pearson chi-square over many seeded draws);
// greedy, penalties, log-probs and top-n alternatives.
#include "lmkit/infer/sampler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <set>

#include "lmkit/core/random.h"

namespace lmkit {
namespace {

std::vector<float> random_logits(int64_t V, uint64_t seed, double scale = 2.0) {
  Rng r(seed);
  std::vector<float> l(static_cast<size_t>(V));
  for (float& x : l) x = float(r.normal() * scale);
  return l;
}

std::vector<double> softmax(const std::vector<float>& l, double T = 1.0) {
  double mx = *std::max_element(l.begin(), l.end());
  std::vector<double> p(l.size());
  double s = 0;
  for (size_t i = 0; i < l.size(); ++i) s += (p[i] = std::exp((double(l[i]) - mx) / T));
  for (double& x : p) x /= s;
  return p;
}

std::vector<int32_t> by_prob(const std::vector<double>& p) {
  std::vector<int32_t> o(p.size());
  std::iota(o.begin(), o.end(), 0);
  std::stable_sort(o.begin(), o.end(), [&](int32_t a, int32_t b) { return p[size_t(a)] > p[size_t(b)]; });
  return o;
}

std::set<int32_t> kept(Sampler& s, const std::vector<float>& logits) {
  std::set<int32_t> ids;
  for (const auto& [id, q] : s.distribution(logits, {})) ids.insert(id);
  return ids;
}

TEST(Sampler, TopKKeepsTheKLargest) {
  const auto l = random_logits(100, 1);
  const auto order = by_prob(softmax(l));
  for (int64_t k : {1, 5, 37, 100}) {
    SamplerOptions o;
    o.top_k = k;
    Sampler s(o);
    EXPECT_EQ(kept(s, l), std::set<int32_t>(order.begin(), order.begin() + k)) << "k " << k;
  }
}

TEST(Sampler, TopPKeepsTheSmallestSetReachingP) {
  const auto l = random_logits(100, 2);
  const auto p = softmax(l);
  const auto order = by_prob(p);
  for (float top_p : {0.05f, 0.3f, 0.5f, 0.9f, 0.999f}) {
    std::set<int32_t> want;
    double cum = 0;
    for (int32_t id : order) {
      want.insert(id);
      cum += p[size_t(id)];
      if (cum >= top_p) break;
    }
    SamplerOptions o;
    o.top_p = top_p;
    Sampler s(o);
    EXPECT_EQ(kept(s, l), want) << "top_p " << top_p;
  }
}

TEST(Sampler, MinPKeepsTokensAboveAFractionOfTheBest) {
  const auto l = random_logits(100, 3);
  const auto p = softmax(l);
  const double pmax = *std::max_element(p.begin(), p.end());
  for (float min_p : {0.01f, 0.1f, 0.5f, 1.0f}) {
    std::set<int32_t> want;
    for (size_t i = 0; i < p.size(); ++i)
      if (p[i] >= min_p * pmax) want.insert(int32_t(i));
    SamplerOptions o;
    o.min_p = min_p;
    Sampler s(o);
    EXPECT_EQ(kept(s, l), want) << "min_p " << min_p;
  }
}

TEST(Sampler, FiltersRunInLlamaCppOrderThenTemperature) {
  const auto l = random_logits(64, 4);
  SamplerOptions o;
  o.top_k = 20;
  o.top_p = 0.8f;
  o.min_p = 0.05f;
  o.temperature = 0.7f;
  Sampler s(o);
  // Expected: top-k on the logits, top-p on softmax over those k, min-p relative to the best,
  // then probabilities softmax(logit / T) renormalised over the survivors.
  const auto order = by_prob(softmax(l));
  std::vector<int32_t> set(order.begin(), order.begin() + 20);
  std::vector<float> sub;
  for (int32_t id : set) sub.push_back(l[size_t(id)]);
  auto p = softmax(sub);
  size_t n = 0;
  double cum = 0;
  while (n < set.size()) {
    cum += p[n++];
    if (cum >= 0.8) break;
  }
  size_t m = 1;
  while (m < n && p[m] >= 0.05 * p[0]) ++m;
  set.resize(m);
  std::vector<float> fin;
  for (int32_t id : set) fin.push_back(l[size_t(id)]);
  const auto q = softmax(fin, 0.7);
  const auto dist = s.distribution(l, {});
  ASSERT_EQ(dist.size(), set.size());
  for (size_t i = 0; i < set.size(); ++i) {
    EXPECT_EQ(dist[i].first, set[i]);
    EXPECT_NEAR(dist[i].second, q[i], 1e-12);
  }
}

TEST(Sampler, TemperatureFrequenciesMatchTheSoftmax) {
  // Pearson chi-square with 11 degrees of freedom: the 99.9% quantile is 31.26.
  const std::vector<float> l = {1.0f, 0.5f, -0.3f, 2.0f, 0.0f, -1.0f, 1.5f, 0.7f, -2.0f, 0.2f, 1.1f, -0.5f};
  for (float T : {0.5f, 1.0f, 1.7f}) {
    SamplerOptions o;
    o.temperature = T;
    o.seed = 42;
    Sampler s(o);
    const int N = 120000;
    std::vector<int> count(l.size(), 0);
    for (int i = 0; i < N; ++i) count[size_t(s.sample(l, {}).id)]++;
    const auto p = softmax(l, T);
    double chi2 = 0;
    for (size_t i = 0; i < l.size(); ++i) {
      const double e = p[i] * N;
      chi2 += (count[i] - e) * (count[i] - e) / e;
    }
    EXPECT_LT(chi2, 31.26) << "T " << T;
    // And the test can fail: the same draws against the T = 1 softmax when T != 1.
    if (T != 1.0f) {
      const auto p1 = softmax(l, 1.0);
      double wrong = 0;
      for (size_t i = 0; i < l.size(); ++i) {
        const double e = p1[i] * N;
        wrong += (count[i] - e) * (count[i] - e) / e;
      }
      EXPECT_GT(wrong, 1000.0) << "T " << T;
    }
  }
}

TEST(Sampler, GreedyIsArgmaxWithLowestIdOnTies) {
  SamplerOptions o;
  o.temperature = 0;
  Sampler s(o);
  std::vector<float> l = {0.1f, 3.0f, -1.0f, 3.0f};
  EXPECT_EQ(s.sample(l, {}).id, 1);
  l[3] = 3.5f;
  EXPECT_EQ(s.sample(l, {}).id, 3);
}

TEST(Sampler, PenaltiesChangeSeenTokens) {
  std::vector<float> l = {2.0f, 1.9f, -1.0f, 0.0f};
  const std::vector<int32_t> history = {0, 0, 2};
  SamplerOptions o;
  o.temperature = 0;
  o.repeat_penalty = 1.5f;  // token 0: 2.0 / 1.5 = 1.333 < 1.9
  Sampler s(o);
  EXPECT_EQ(s.sample(l, history).id, 1);
  SamplerOptions f;
  f.temperature = 1;
  f.frequency_penalty = 0.5f;
  f.presence_penalty = 0.25f;
  Sampler sf(f);
  // logit' = logit - count * 0.5 - 0.25 for seen tokens: 0 -> 0.75, 2 -> -1.75.
  std::vector<float> want = {0.75f, 1.9f, -1.75f, 0.0f};
  const auto p = softmax(want);
  for (const auto& [id, q] : sf.distribution(l, history)) EXPECT_NEAR(q, p[size_t(id)], 1e-9);
}

TEST(Sampler, ReportsLogprobsAndAlternatives) {
  const auto l = random_logits(30, 5);
  const auto p = softmax(l);
  const auto order = by_prob(p);
  SamplerOptions o;
  o.temperature = 0;
  Sampler s(o);
  const SampleResult r = s.sample(l, {}, 4);
  EXPECT_EQ(r.id, order[0]);
  EXPECT_NEAR(r.logprob, std::log(p[size_t(order[0])]), 1e-5);
  ASSERT_EQ(r.top.size(), 4u);
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(r.top[i].id, order[i]);
    EXPECT_NEAR(r.top[i].logprob, std::log(p[size_t(order[i])]), 1e-5);
  }
}

TEST(Sampler, SameSeedSameDraws) {
  const auto l = random_logits(50, 6);
  SamplerOptions o;
  o.seed = 7;
  Sampler a(o), b(o);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(a.sample(l, {}).id, b.sample(l, {}).id);
}

}  // namespace
}  // namespace lmkit
