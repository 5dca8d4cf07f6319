#include "lmkit/infer/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "lmkit/core/error.h"

namespace lmkit {

void SamplerOptions::validate() const {
  check(std::isfinite(temperature) && temperature >= 0, "--temperature {} must be >= 0",
        temperature);
  check(top_k >= 0, "--top-k {} must be >= 0", top_k);
  check(top_p > 0 && top_p <= 1, "--top-p {} must be in (0, 1]", top_p);
  check(min_p >= 0 && min_p <= 1, "--min-p {} must be in [0, 1]", min_p);
  check(std::isfinite(repeat_penalty) && repeat_penalty > 0, "--repeat-penalty {} must be > 0",
        repeat_penalty);
  check(std::isfinite(frequency_penalty) && std::isfinite(presence_penalty),
        "penalties must be finite");
  check(penalty_last_n >= 0, "--penalty-last-n must be >= 0");
}

Sampler::Sampler(SamplerOptions options) : opt_(options), rng_(options.seed) { opt_.validate(); }

namespace {
// log-softmax normaliser of x: max + log(sum exp(x - max)), in double.
double log_sum_exp(std::span<const float> x) {
  float mx = -INFINITY;
  for (float v : x) mx = std::max(mx, v);
  double s = 0;
  for (float v : x) s += std::exp(double(v) - mx);
  return double(mx) + std::log(s);
}
}  // namespace

std::vector<std::pair<int32_t, double>> Sampler::distribution(std::span<const float> logits,
                                                              std::span<const int32_t> history) {
  const int64_t V = int64_t(logits.size());
  work_.assign(logits.begin(), logits.end());
  // Penalties over the last penalty_last_n tokens.
  bool penalize = opt_.repeat_penalty != 1.0f || opt_.frequency_penalty != 0.0f ||
                  opt_.presence_penalty != 0.0f;
  if (penalize && opt_.penalty_last_n > 0) {
    counts_.assign(size_t(V), 0);
    size_t from = history.size() > size_t(opt_.penalty_last_n)
                      ? history.size() - size_t(opt_.penalty_last_n) : 0;
    for (size_t i = from; i < history.size(); ++i)
      if (history[i] >= 0 && history[i] < V) counts_[size_t(history[i])]++;
    for (int64_t t = 0; t < V; ++t) {
      int c = counts_[size_t(t)];
      if (c == 0) continue;
      float& l = work_[size_t(t)];
      l = l > 0 ? l / opt_.repeat_penalty : l * opt_.repeat_penalty;
      l -= float(c) * opt_.frequency_penalty + opt_.presence_penalty;
    }
  }
  std::vector<int32_t> order(static_cast<size_t>(V));
  std::iota(order.begin(), order.end(), 0);
  auto by_logit = [&](int32_t a, int32_t b) {
    return work_[size_t(a)] > work_[size_t(b)] || (work_[size_t(a)] == work_[size_t(b)] && a < b);
  };
  if (opt_.temperature == 0) {
    int32_t best = *std::min_element(order.begin(), order.end(), by_logit);
    return {{best, 1.0}};
  }
  size_t keep = size_t(V);
  if (opt_.top_k > 0 && opt_.top_k < V) {
    keep = size_t(opt_.top_k);
    std::partial_sort(order.begin(), order.begin() + long(keep), order.end(), by_logit);
  } else {
    std::sort(order.begin(), order.end(), by_logit);
  }
  order.resize(keep);
  // Probabilities at temperature 1 over the kept set.
  std::vector<double> p(keep);
  double mx = work_[size_t(order[0])], sum = 0;
  for (size_t i = 0; i < keep; ++i) sum += (p[i] = std::exp(double(work_[size_t(order[i])]) - mx));
  for (double& v : p) v /= sum;
  if (opt_.top_p < 1.0f) {
    double cum = 0;
    size_t k = 0;
    while (k < keep) {
      cum += p[k++];
      if (cum >= double(opt_.top_p)) break;
    }
    keep = k;
  }
  if (opt_.min_p > 0) {
    double thresh = double(opt_.min_p) * p[0];
    size_t k = 1;
    while (k < keep && p[k] >= thresh) ++k;
    keep = k;
  }
  // Temperature on the kept logits.
  std::vector<std::pair<int32_t, double>> out(keep);
  double s2 = 0;
  for (size_t i = 0; i < keep; ++i) {
    double z = (double(work_[size_t(order[i])]) - mx) / double(opt_.temperature);
    out[i] = {order[i], std::exp(z)};
    s2 += out[i].second;
  }
  for (auto& [id, q] : out) q /= s2;
  return out;
}

SampleResult Sampler::sample(std::span<const float> logits, std::span<const int32_t> history,
                             int top_n) {
  check(!logits.empty(), "sampler: empty logits");
  auto dist = distribution(logits, history);
  SampleResult r;
  double u = rng_.uniform(), cum = 0;
  r.id = dist.back().first;
  for (const auto& [id, q] : dist) {
    cum += q;
    if (u < cum) {
      r.id = id;
      break;
    }
  }
  double lse = log_sum_exp(logits);
  r.logprob = float(double(logits[size_t(r.id)]) - lse);
  if (top_n > 0) {
    std::vector<int32_t> idx(logits.size());
    std::iota(idx.begin(), idx.end(), 0);
    size_t n = std::min(size_t(top_n), idx.size());
    std::partial_sort(idx.begin(), idx.begin() + long(n), idx.end(), [&](int32_t a, int32_t b) {
      return logits[size_t(a)] > logits[size_t(b)] || (logits[size_t(a)] == logits[size_t(b)] && a < b);
    });
    for (size_t i = 0; i < n; ++i)
      r.top.push_back({idx[i], float(double(logits[size_t(idx[i])]) - lse)});
  }
  return r;
}

}  // namespace lmkit
