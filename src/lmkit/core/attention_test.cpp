// Tests for the flash attention kernels (attention.h) against naive double-precision
// attention (full softmax over the causal row, the textbook formula of Vaswani et al. 2017)
// and against finite differences of that reference.
#include "lmkit/core/attention.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "lmkit/core/cpu.h"
#include "lmkit/core/error.h"
#include "lmkit/core/thread_pool.h"

namespace lmkit::kernels {
namespace {

struct Shape {
  int64_t B, T, NH, NKV, hs;
  std::string str() const {
    return "B=" + std::to_string(B) + " T=" + std::to_string(T) + " NH=" + std::to_string(NH) +
           " NKV=" + std::to_string(NKV) + " hs=" + std::to_string(hs);
  }
  size_t q_size() const { return static_cast<size_t>(B * T * NH * hs); }
  size_t kv_size() const { return static_cast<size_t>(B * T * NKV * hs); }
  size_t lse_size() const { return static_cast<size_t>(B * NH * T); }
  float scale() const { return 1.f / std::sqrt(static_cast<float>(hs)); }
};

// Several tiles and partial tiles, grouped-query heads, head sizes that are and are not
// multiples of the SIMD widths (and one that spans more vectors than one register block).
const std::vector<Shape> kShapes = {
    {1, 1, 1, 1, 12}, {2, 7, 4, 2, 12},  {1, 64, 6, 1, 48},  {2, 130, 4, 2, 64}, {1, 130, 6, 1, 48},
    {1, 33, 2, 2, 7}, {1, 70, 2, 1, 80}, {1, 45, 4, 4, 128}, {1, 257, 2, 2, 64}, {1, 100, 3, 3, 20},
};

struct Inputs {
  Shape s;
  std::vector<float> q, k, v, dout;
};

Inputs make_inputs(const Shape& s, uint32_t seed, float magnitude = 1.5f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.f, magnitude);
  auto fill = [&](size_t n) {
    std::vector<float> x(n);
    for (float& e : x) e = nd(rng);
    return x;
  };
  Inputs in{s, fill(s.q_size()), fill(s.kv_size()), fill(s.kv_size()), {}};
  std::normal_distribution<float> g(0.f, 1.f);
  in.dout.resize(s.q_size());
  for (float& e : in.dout) e = g(rng);
  return in;
}

size_t qi(const Shape& s, int64_t b, int64_t t, int64_t h) {
  return static_cast<size_t>(((b * s.T + t) * s.NH + h) * s.hs);
}
size_t ki(const Shape& s, int64_t b, int64_t t, int64_t h) {
  return static_cast<size_t>(((b * s.T + t) * s.NKV + h) * s.hs);
}

// Naive causal attention in double: the whole softmax row at once.
struct RefForward {
  std::vector<double> out, lse;
};

template <typename Q, typename K, typename V>
RefForward ref_forward(const Shape& s, const Q& q, const K& k, const V& v) {
  RefForward r{std::vector<double>(s.q_size()), std::vector<double>(s.lse_size())};
  const double scale = s.scale();
  std::vector<double> p(static_cast<size_t>(s.T));
  for (int64_t b = 0; b < s.B; ++b)
    for (int64_t h = 0; h < s.NH; ++h) {
      const int64_t kvh = h / (s.NH / s.NKV);
      for (int64_t t = 0; t < s.T; ++t) {
        double mx = -INFINITY;
        for (int64_t j = 0; j <= t; ++j) {
          double d = 0;
          for (int64_t i = 0; i < s.hs; ++i)
            d += double(q[qi(s, b, t, h) + i]) * double(k[ki(s, b, j, kvh) + i]);
          p[j] = scale * d;
          mx = std::max(mx, p[j]);
        }
        double sum = 0;
        for (int64_t j = 0; j <= t; ++j) sum += std::exp(p[j] - mx);
        r.lse[(b * s.NH + h) * s.T + t] = mx + std::log(sum);
        for (int64_t i = 0; i < s.hs; ++i) {
          double o = 0;
          for (int64_t j = 0; j <= t; ++j)
            o += std::exp(p[j] - mx) / sum * double(v[ki(s, b, j, kvh) + i]);
          r.out[qi(s, b, t, h) + i] = o;
        }
      }
    }
  return r;
}

struct Grads {
  std::vector<double> dq, dk, dv;
};

// Analytic gradient of sum(out * dout) for the naive attention, written from the softmax
// Jacobian directly (ds_j = p_j (dp_j - sum_i p_i dp_i)), not from the flash recurrences.
Grads ref_backward(const Inputs& in) {
  const Shape& s = in.s;
  Grads g{std::vector<double>(s.q_size()), std::vector<double>(s.kv_size()),
          std::vector<double>(s.kv_size())};
  const double scale = s.scale();
  std::vector<double> p(static_cast<size_t>(s.T)), dp(static_cast<size_t>(s.T));
  for (int64_t b = 0; b < s.B; ++b)
    for (int64_t h = 0; h < s.NH; ++h) {
      const int64_t kvh = h / (s.NH / s.NKV);
      for (int64_t t = 0; t < s.T; ++t) {
        const size_t qo = qi(s, b, t, h);
        double mx = -INFINITY;
        for (int64_t j = 0; j <= t; ++j) {
          double d = 0;
          for (int64_t i = 0; i < s.hs; ++i) d += double(in.q[qo + i]) * in.k[ki(s, b, j, kvh) + i];
          p[j] = scale * d;
          mx = std::max(mx, p[j]);
        }
        double sum = 0;
        for (int64_t j = 0; j <= t; ++j) sum += (p[j] = std::exp(p[j] - mx));
        double pdp = 0;
        for (int64_t j = 0; j <= t; ++j) {
          p[j] /= sum;
          double d = 0;
          for (int64_t i = 0; i < s.hs; ++i)
            d += double(in.dout[qo + i]) * in.v[ki(s, b, j, kvh) + i];
          dp[j] = d;
          pdp += p[j] * d;
        }
        for (int64_t j = 0; j <= t; ++j) {
          const size_t ko = ki(s, b, j, kvh);
          const double ds = p[j] * (dp[j] - pdp);
          for (int64_t i = 0; i < s.hs; ++i) {
            g.dv[ko + i] += p[j] * in.dout[qo + i];
            g.dq[qo + i] += scale * ds * in.k[ko + i];
            g.dk[ko + i] += scale * ds * in.q[qo + i];
          }
        }
      }
    }
  return g;
}

struct Result {
  std::vector<float> out, lse, dq, dk, dv;
};

Result run_kernels(const Inputs& in, bool backward = true) {
  const Shape& s = in.s;
  Result r{std::vector<float>(s.q_size(), NAN), std::vector<float>(s.lse_size(), NAN), {}, {}, {}};
  attention_forward(r.out.data(), r.lse.data(), in.q.data(), in.k.data(), in.v.data(), s.B, s.T,
                    s.NH, s.NKV, s.hs, s.scale());
  if (backward) {
    r.dq.assign(s.q_size(), 0.f);
    r.dk.assign(s.kv_size(), 0.f);
    r.dv.assign(s.kv_size(), 0.f);
    attention_backward(r.dq.data(), r.dk.data(), r.dv.data(), in.dout.data(), r.out.data(),
                       r.lse.data(), in.q.data(), in.k.data(), in.v.data(), s.B, s.T, s.NH, s.NKV,
                       s.hs, s.scale());
  }
  return r;
}

// |got - want| <= tol * max(1, max|want|) elementwise; reports the worst element.
template <typename A, typename Bv>
void expect_close(const A& got, const Bv& want, double tol, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  double scale = 1;
  for (auto w : want) scale = std::max(scale, std::fabs(double(w)));
  double worst = 0;
  size_t at = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    double e = std::fabs(double(got[i]) - double(want[i]));
    if (!(e <= worst)) worst = e, at = i;  // NaN counts as worst
  }
  EXPECT_LE(worst, tol * scale) << what << ": worst element " << at << " got " << got[at]
                                << " want " << want[at] << " (scale " << scale << ")";
}

std::vector<Isa> supported_isas() {
  std::vector<Isa> isas;
  for (int i = 0; i <= static_cast<int>(detect_isa()); ++i) isas.push_back(static_cast<Isa>(i));
  return isas;
}

// Restores the active ISA and thread count when a test ends.
class AttentionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    saved_isa_ = active_isa();
    saved_threads_ = num_threads();
  }
  void TearDown() override {
    set_active_isa(saved_isa_);
    set_num_threads(saved_threads_);
  }
  Isa saved_isa_ = Isa::Scalar;
  int saved_threads_ = 1;
};

TEST_F(AttentionTest, ForwardMatchesNaiveSoftmax) {
  for (const Shape& s : kShapes) {
    Inputs in = make_inputs(s, 1234);
    RefForward ref = ref_forward(s, in.q, in.k, in.v);
    for (Isa isa : supported_isas()) {
      set_active_isa(isa);
      Result r = run_kernels(in, false);
      const std::string what = s.str() + " " + std::string(isa_name(isa));
      expect_close(r.out, ref.out, 2e-5, what + " out");
      expect_close(r.lse, ref.lse, 2e-6, what + " lse");
    }
  }
}

// Scores of a few hundred: e^s overflows float, so this only passes with the running max.
TEST_F(AttentionTest, ForwardIsStableForLargeScores) {
  Shape s{1, 130, 2, 1, 16};
  Inputs in = make_inputs(s, 99, 6.f);
  RefForward ref = ref_forward(s, in.q, in.k, in.v);
  double max_lse = 0;
  for (double l : ref.lse) max_lse = std::max(max_lse, std::fabs(l));
  ASSERT_GT(max_lse, 100.0) << "inputs should give scores beyond float's e^88";
  for (Isa isa : supported_isas()) {
    set_active_isa(isa);
    Result r = run_kernels(in, true);
    expect_close(r.out, ref.out, 2e-5, std::string(isa_name(isa)) + " out");
    expect_close(r.lse, ref.lse, 1e-6, std::string(isa_name(isa)) + " lse");
    for (float g : r.dq) ASSERT_TRUE(std::isfinite(g)) << isa_name(isa);
  }
}

TEST_F(AttentionTest, BackwardMatchesAnalyticReference) {
  for (const Shape& s : kShapes) {
    Inputs in = make_inputs(s, 777);
    Grads ref = ref_backward(in);
    for (Isa isa : supported_isas()) {
      set_active_isa(isa);
      Result r = run_kernels(in);
      const std::string what = s.str() + " " + std::string(isa_name(isa));
      expect_close(r.dq, ref.dq, 1e-4, what + " dq");
      expect_close(r.dk, ref.dk, 1e-4, what + " dk");
      expect_close(r.dv, ref.dv, 1e-4, what + " dv");
    }
  }
}

// Central differences of L = sum(out * dout) with the double reference forward pin both the
// analytic reference and the kernels' gradients, element by element for q, k and v.
TEST_F(AttentionTest, BackwardMatchesFiniteDifferences) {
  const std::vector<Shape> shapes = {
      {1, 7, 4, 2, 12}, {2, 9, 6, 1, 5}, {1, 1, 2, 1, 3}, {1, 20, 2, 2, 20}};
  for (const Shape& s : shapes) {
    Inputs in = make_inputs(s, 4321);
    std::vector<double> q(in.q.begin(), in.q.end()), k(in.k.begin(), in.k.end()),
        v(in.v.begin(), in.v.end());
    auto loss = [&] {
      RefForward f = ref_forward(s, q, k, v);
      double l = 0;
      for (size_t i = 0; i < f.out.size(); ++i) l += f.out[i] * in.dout[i];
      return l;
    };
    auto fd = [&](std::vector<double>& x) {
      std::vector<double> g(x.size());
      const double h = 1e-6;
      for (size_t i = 0; i < x.size(); ++i) {
        const double x0 = x[i];
        x[i] = x0 + h;
        const double lp = loss();
        x[i] = x0 - h;
        const double lm = loss();
        x[i] = x0;
        g[i] = (lp - lm) / (2 * h);
      }
      return g;
    };
    Grads num{fd(q), fd(k), fd(v)};
    Grads ref = ref_backward(in);
    expect_close(ref.dq, num.dq, 1e-7, s.str() + " reference dq");
    expect_close(ref.dk, num.dk, 1e-7, s.str() + " reference dk");
    expect_close(ref.dv, num.dv, 1e-7, s.str() + " reference dv");
    for (Isa isa : supported_isas()) {
      set_active_isa(isa);
      Result r = run_kernels(in);
      const std::string what = s.str() + " " + std::string(isa_name(isa));
      expect_close(r.dq, num.dq, 1e-4, what + " dq");
      expect_close(r.dk, num.dk, 1e-4, what + " dk");
      expect_close(r.dv, num.dv, 1e-4, what + " dv");
    }
  }
}

TEST_F(AttentionTest, SimdMatchesScalar) {
  if (detect_isa() == Isa::Scalar) GTEST_SKIP() << "this CPU has neither AVX2 nor AVX-512";
  for (const Shape& s : kShapes) {
    Inputs in = make_inputs(s, 31337);
    set_active_isa(Isa::Scalar);
    Result want = run_kernels(in);
    for (Isa isa : supported_isas()) {
      if (isa == Isa::Scalar) continue;
      set_active_isa(isa);
      Result got = run_kernels(in);
      const std::string what = s.str() + " " + std::string(isa_name(isa)) + " vs scalar";
      expect_close(got.out, want.out, 1e-5, what + " out");
      expect_close(got.lse, want.lse, 1e-6, what + " lse");
      expect_close(got.dq, want.dq, 5e-5, what + " dq");
      expect_close(got.dk, want.dk, 5e-5, what + " dk");
      expect_close(got.dv, want.dv, 5e-5, what + " dv");
    }
  }
}

bool bit_equal(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// Each output row (forward) and each (b, kv head) (backward) is computed by one thread in a
// fixed order, so results are bit-identical across runs and across thread counts.
TEST_F(AttentionTest, DeterministicAcrossRunsAndThreadCounts) {
  const Shape s{3, 130, 4, 2, 48};
  Inputs in = make_inputs(s, 5);
  for (Isa isa : supported_isas()) {
    set_active_isa(isa);
    set_num_threads(2);
    Result a = run_kernels(in), b = run_kernels(in);
    set_num_threads(1);
    Result c = run_kernels(in);
    set_num_threads(3);
    Result d = run_kernels(in);
    for (const Result* r : {&b, &c, &d}) {
      EXPECT_TRUE(bit_equal(a.out, r->out)) << isa_name(isa);
      EXPECT_TRUE(bit_equal(a.lse, r->lse)) << isa_name(isa);
      EXPECT_TRUE(bit_equal(a.dq, r->dq)) << isa_name(isa);
      EXPECT_TRUE(bit_equal(a.dk, r->dk)) << isa_name(isa);
      EXPECT_TRUE(bit_equal(a.dv, r->dv)) << isa_name(isa);
    }
  }
}

TEST_F(AttentionTest, BackwardAccumulatesIntoGradients) {
  const Shape s{2, 37, 4, 2, 24};
  Inputs in = make_inputs(s, 8);
  for (Isa isa : supported_isas()) {
    set_active_isa(isa);
    Result fresh = run_kernels(in);
    std::mt19937 rng(9);
    std::uniform_real_distribution<float> u(-1.f, 1.f);
    std::vector<float> dq0(s.q_size()), dk0(s.kv_size()), dv0(s.kv_size());
    for (auto* x : {&dq0, &dk0, &dv0})
      for (float& e : *x) e = u(rng);
    std::vector<float> dq = dq0, dk = dk0, dv = dv0;
    attention_backward(dq.data(), dk.data(), dv.data(), in.dout.data(), fresh.out.data(),
                       fresh.lse.data(), in.q.data(), in.k.data(), in.v.data(), s.B, s.T, s.NH,
                       s.NKV, s.hs, s.scale());
    std::vector<double> want_dq(dq0.size()), want_dk(dk0.size()), want_dv(dv0.size());
    for (size_t i = 0; i < dq0.size(); ++i) want_dq[i] = double(dq0[i]) + fresh.dq[i];
    for (size_t i = 0; i < dk0.size(); ++i) want_dk[i] = double(dk0[i]) + fresh.dk[i];
    for (size_t i = 0; i < dv0.size(); ++i) want_dv[i] = double(dv0[i]) + fresh.dv[i];
    expect_close(dq, want_dq, 1e-5, std::string(isa_name(isa)) + " dq");
    expect_close(dk, want_dk, 1e-5, std::string(isa_name(isa)) + " dk");
    expect_close(dv, want_dv, 1e-5, std::string(isa_name(isa)) + " dv");
  }
}

TEST_F(AttentionTest, RejectsBadShapes) {
  std::vector<float> buf(4096, 0.f);
  float* p = buf.data();
  EXPECT_THROW(attention_forward(p, p, p, p, p, 1, 4, 6, 4, 8, 0.5f), Error);  // NH % NKV
  EXPECT_THROW(attention_forward(p, p, p, p, p, 1, 4, 2, 1, 0, 0.5f), Error);  // hs = 0
  EXPECT_THROW(attention_forward(p, p, p, p, p, 1, 4, 0, 1, 8, 0.5f), Error);  // NH = 0
  EXPECT_THROW(attention_forward(p, p, p, p, p, -1, 4, 2, 1, 8, 0.5f), Error);
  EXPECT_THROW(attention_forward(p, p, p, p, p, 1, 4, 2, 1, 8, NAN), Error);
  EXPECT_THROW(attention_forward(p, nullptr, p, p, p, 1, 4, 2, 1, 8, 0.5f), Error);
  EXPECT_THROW(attention_backward(p, p, p, p, p, p, p, p, p, 1, 4, 3, 2, 8, 0.5f), Error);
  EXPECT_THROW(attention_backward(p, p, nullptr, p, p, p, p, p, p, 1, 4, 2, 1, 8, 0.5f), Error);
  // Empty batches are a no-op.
  EXPECT_NO_THROW(
      attention_forward(nullptr, nullptr, nullptr, nullptr, nullptr, 0, 4, 2, 1, 8, 0.5f));
}

}  // namespace
}  // namespace lmkit::kernels
