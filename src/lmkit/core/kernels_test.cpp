// Tests of the f32 kernels (kernels.h). For every kernel:
//   (a) against a double-precision reference written here, independent of kernels_impl.h,
//   (b) every ISA this CPU has against the scalar path on odd sizes,
//   (c) backward kernels against central finite differences of the double reference
//       (gradient of a random linear functional sum(r * out), inputs and weights perturbed),
//   (d) bit-identical results run to run for a fixed thread count.
#include "lmkit/core/kernels.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "lmkit/core/cpu.h"
#include "lmkit/core/error.h"
#include "lmkit/core/kernels_table.h"
#include "lmkit/core/thread_pool.h"

namespace lmkit::kernels {
namespace {

using detail::KernelTable;
using Vec = std::vector<float>;
using DVec = std::vector<double>;

const int64_t kOddSizes[] = {1, 7, 17, 288, 771};

std::vector<Isa> all_isas() {
  std::vector<Isa> v{Isa::Scalar};
  if (detect_isa() >= Isa::Avx2) v.push_back(Isa::Avx2);
  if (detect_isa() >= Isa::Avx512) v.push_back(Isa::Avx512);
  return v;
}

std::string name(Isa isa) {
  return std::string(isa_name(isa));
}

Vec randn(size_t n, uint64_t seed, float scale = 1.0f, float shift = 0.0f) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> d(0.0f, 1.0f);
  Vec v(n);
  for (auto& x : v) x = shift + scale * d(rng);
  return v;
}

DVec to_d(const Vec& v) {
  return DVec(v.begin(), v.end());
}

// Uses n threads for its lifetime, then goes back to the default.
struct Threads {
  explicit Threads(int n) { set_num_threads(n); }
  ~Threads() { set_num_threads(0); }
};

// |got - want| <= atol + rtol |want| everywhere; reports the first few violations.
void expect_close(const Vec& got, const DVec& want, double rtol, double atol,
                  const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  int bad = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double err = std::fabs(double(got[i]) - want[i]);
    if (!(err <= atol + rtol * std::fabs(want[i]))) {
      if (++bad <= 5)
        ADD_FAILURE() << what << " [" << i << "]: got " << got[i] << " want " << want[i] << " (err "
                      << err << ")";
    }
  }
  EXPECT_EQ(bad, 0) << what << ": " << bad << " of " << got.size() << " out of tolerance";
}

void expect_close(const Vec& got, const Vec& want, double rtol, double atol,
                  const std::string& what) {
  expect_close(got, to_d(want), rtol, atol, what);
}

void expect_bitwise(const Vec& a, const Vec& b, const std::string& what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)), 0) << what;
}

// A kernel run: given a table, returns all of its outputs concatenated.
using Runner = std::function<Vec(const KernelTable&)>;

// (b) every SIMD ISA against scalar.
void compare_isas(const Runner& run, double rtol, double atol, const std::string& what) {
  const Vec ref = run(detail::scalar_table());
  for (Isa isa : all_isas()) {
    if (isa == Isa::Scalar) continue;
    expect_close(run(detail::table_for(isa)), ref, rtol, atol,
                 what + " " + name(isa) + " vs scalar");
  }
}

// (d) same result twice with 3 threads, on every ISA.
void check_deterministic(const Runner& run, const std::string& what) {
  Threads threads(3);
  for (Isa isa : all_isas()) {
    const KernelTable& t = detail::table_for(isa);
    expect_bitwise(run(t), run(t), what + " " + name(isa) + " run to run");
  }
}

// (c) d/dtheta_j of L by central differences (double), against the analytic gradient.
void check_gradient(DVec theta, const std::function<double(const DVec&)>& L, const Vec& analytic,
                    double tol, const std::string& what, double h = 1e-4) {
  ASSERT_EQ(theta.size(), analytic.size()) << what;
  double scale = 0;
  for (float g : analytic) scale = std::max(scale, double(std::fabs(g)));
  int bad = 0;
  for (size_t j = 0; j < theta.size(); ++j) {
    const double t0 = theta[j];
    theta[j] = t0 + h;
    const double lp = L(theta);
    theta[j] = t0 - h;
    const double lm = L(theta);
    theta[j] = t0;
    const double numeric = (lp - lm) / (2 * h);
    if (!(std::fabs(numeric - analytic[j]) <= tol * (std::fabs(numeric) + scale))) {
      if (++bad <= 5)
        ADD_FAILURE() << what << " d/dtheta[" << j << "]: analytic " << analytic[j] << " numeric "
                      << numeric;
    }
  }
  EXPECT_EQ(bad, 0) << what;
}

double dot(const DVec& a, const DVec& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

Vec minus(const Vec& a, const Vec& b) {
  Vec r(a.size());
  for (size_t i = 0; i < a.size(); ++i) r[i] = a[i] - b[i];
  return r;
}

Vec concat(std::initializer_list<Vec> parts) {
  Vec r;
  for (const Vec& p : parts) r.insert(r.end(), p.begin(), p.end());
  return r;
}

// ------------------------------------------------------------ double references

DVec ref_layernorm(const DVec& x, const DVec& w, const DVec* b, int64_t N, int64_t C, double eps,
                   DVec* mean = nullptr, DVec* rstd = nullptr) {
  DVec out(N * C);
  for (int64_t n = 0; n < N; ++n) {
    double m = 0, v = 0;
    for (int64_t c = 0; c < C; ++c) m += x[n * C + c];
    m /= C;
    for (int64_t c = 0; c < C; ++c) v += (x[n * C + c] - m) * (x[n * C + c] - m);
    v /= C;
    const double s = 1.0 / std::sqrt(v + eps);
    for (int64_t c = 0; c < C; ++c)
      out[n * C + c] = (x[n * C + c] - m) * s * w[c] + (b ? (*b)[c] : 0.0);
    if (mean) (*mean)[n] = m;
    if (rstd) (*rstd)[n] = s;
  }
  return out;
}

DVec ref_rmsnorm(const DVec& x, const DVec& w, int64_t N, int64_t C, double eps,
                 DVec* rstd = nullptr) {
  DVec out(N * C);
  for (int64_t n = 0; n < N; ++n) {
    double ms = 0;
    for (int64_t c = 0; c < C; ++c) ms += x[n * C + c] * x[n * C + c];
    const double s = 1.0 / std::sqrt(ms / C + eps);
    for (int64_t c = 0; c < C; ++c) out[n * C + c] = x[n * C + c] * s * w[c];
    if (rstd) (*rstd)[n] = s;
  }
  return out;
}

double ref_gelu(double x) {
  return 0.5 * x * (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
}

double ref_silu(double g) {
  return g / (1.0 + std::exp(-g));
}

// HF apply_rotary_pos_emb with the f32 angle (pos0 + t) * inv_freq[i].
DVec ref_rope(const DVec& x, int64_t B, int64_t T, int64_t H, int64_t hs, const Vec& inv_freq,
              int64_t pos0) {
  DVec y(x.size());
  const int64_t half = hs / 2;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < T; ++t)
      for (int64_t h = 0; h < H; ++h) {
        const int64_t o = ((b * T + t) * H + h) * hs;
        for (int64_t i = 0; i < half; ++i) {
          const double a = double(float(pos0 + t) * inv_freq[i]);
          const double x1 = x[o + i], x2 = x[o + half + i];
          y[o + i] = x1 * std::cos(a) - x2 * std::sin(a);
          y[o + half + i] = x2 * std::cos(a) + x1 * std::sin(a);
        }
      }
  return y;
}

DVec ref_softmax(const DVec& x, int64_t N, int64_t V) {
  DVec y(x.size());
  for (int64_t n = 0; n < N; ++n) {
    double m = -INFINITY, s = 0;
    for (int64_t i = 0; i < V; ++i) m = std::max(m, x[n * V + i]);
    for (int64_t i = 0; i < V; ++i) s += std::exp(x[n * V + i] - m);
    for (int64_t i = 0; i < V; ++i) y[n * V + i] = std::exp(x[n * V + i] - m) / s;
  }
  return y;
}

// -log softmax(x)[target] per row (0 for ignored rows).
DVec ref_ce_losses(const DVec& x, const std::vector<int32_t>& targets, int64_t N, int64_t V) {
  DVec l(N, 0.0);
  for (int64_t n = 0; n < N; ++n) {
    if (targets[n] < 0) continue;
    double m = -INFINITY, s = 0;
    for (int64_t i = 0; i < V; ++i) m = std::max(m, x[n * V + i]);
    for (int64_t i = 0; i < V; ++i) s += std::exp(x[n * V + i] - m);
    l[n] = std::log(s) + m - x[n * V + targets[n]];
  }
  return l;
}

// ------------------------------------------------------------ exp / tanh

// Distance in units of the last place of `want` (rounded to f32).
double ulps(float got, double want) {
  const float w = float(want);
  if (std::isnan(want)) return std::isnan(got) ? 0 : INFINITY;
  if (std::isinf(w)) return got == w ? 0 : INFINITY;
  const float a = std::fabs(w);
  const double ulp = double(std::nextafter(a, INFINITY)) - double(a);
  return std::fabs(double(got) - want) / ulp;
}

TEST(KernelsMath, ExpIsAccurateOnEveryIsa) {
  Vec x;
  for (int i = 0; i <= 40000; ++i) x.push_back(-86.9f + (88.7f + 86.9f) * float(i) / 40000.0f);
  for (float v : {0.0f, -0.0f, 1e-30f, -1e-30f, 1e-7f, -1e-7f, 0.5f, -0.5f, 1.0f, 88.0f})
    x.push_back(v);
  for (Isa isa : all_isas()) {
    Vec y(x.size());
    detail::table_for(isa).exp(y.data(), x.data(), int64_t(x.size()));
    double worst = 0;
    for (size_t i = 0; i < x.size(); ++i)
      worst = std::max(worst, ulps(y[i], std::exp(double(x[i]))));
    EXPECT_LE(worst, 2.0) << name(isa);
    // Special values: overflow to +inf, flush to 0, NaN propagates, e^0 = 1 exactly.
    const float nan = std::numeric_limits<float>::quiet_NaN();
    Vec s = {0.0f, 89.0f, 100.0f, INFINITY, -88.0f, -100.0f, -INFINITY, nan};
    Vec r(s.size());
    detail::table_for(isa).exp(r.data(), s.data(), int64_t(s.size()));
    EXPECT_EQ(r[0], 1.0f) << name(isa);
    EXPECT_EQ(r[1], INFINITY) << name(isa);
    EXPECT_EQ(r[2], INFINITY) << name(isa);
    EXPECT_EQ(r[3], INFINITY) << name(isa);
    EXPECT_EQ(r[4], 0.0f) << name(isa);
    EXPECT_EQ(r[5], 0.0f) << name(isa);
    EXPECT_EQ(r[6], 0.0f) << name(isa);
    EXPECT_TRUE(std::isnan(r[7])) << name(isa);
  }
}

TEST(KernelsMath, TanhIsAccurateOnEveryIsa) {
  Vec x;
  for (int i = 0; i <= 40000; ++i) x.push_back(-12.0f + 24.0f * float(i) / 40000.0f);
  for (float v : {0.0f, -0.0f, 1e-30f, -1e-20f, 1e-4f, 0.6249f, 0.625f, 0.6251f, 50.0f, -1e4f})
    x.push_back(v);
  for (Isa isa : all_isas()) {
    Vec y(x.size());
    detail::table_for(isa).tanh(y.data(), x.data(), int64_t(x.size()));
    double worst = 0;
    for (size_t i = 0; i < x.size(); ++i)
      worst = std::max(worst, ulps(y[i], std::tanh(double(x[i]))));
    EXPECT_LE(worst, 4.0) << name(isa);
    const float nan = std::numeric_limits<float>::quiet_NaN();
    Vec s = {INFINITY, -INFINITY, nan, -0.0f};
    Vec r(s.size());
    detail::table_for(isa).tanh(r.data(), s.data(), int64_t(s.size()));
    EXPECT_EQ(r[0], 1.0f);
    EXPECT_EQ(r[1], -1.0f);
    EXPECT_TRUE(std::isnan(r[2]));
    EXPECT_TRUE(r[3] == 0.0f && std::signbit(r[3]));
  }
}

// ------------------------------------------------------------ embeddings

struct EmbeddingCase {
  int64_t B, T, C, V;
  std::vector<int32_t> ids;
  Vec wte, wpe;
  EmbeddingCase(int64_t B_, int64_t T_, int64_t C_, int64_t V_, uint64_t seed)
      : B(B_),
        T(T_),
        C(C_),
        V(V_),
        ids(B_ * T_),
        wte(randn(V_ * C_, seed)),
        wpe(randn(T_ * C_, seed + 1)) {
    std::mt19937 rng{uint32_t(seed)};
    // Few distinct ids, so rows repeat and the backward must accumulate.
    for (auto& id : ids) id = int32_t(rng() % uint32_t(V));
  }
};

TEST(Kernels, EmbeddingForwardMatchesReference) {
  for (int64_t C : kOddSizes) {
    EmbeddingCase e(3, 5, C, 4, 11 + C);
    for (bool pos : {true, false}) {
      DVec want(e.B * e.T * C);
      for (int64_t n = 0; n < e.B * e.T; ++n)
        for (int64_t c = 0; c < C; ++c)
          want[n * C + c] =
              double(e.wte[e.ids[n] * C + c]) + (pos ? e.wpe[(n % e.T) * C + c] : 0.0);
      for (Isa isa : all_isas()) {
        Vec out(want.size());
        detail::table_for(isa).embedding_forward(out.data(), e.ids.data(), e.wte.data(),
                                                 pos ? e.wpe.data() : nullptr, e.B, e.T, C);
        expect_close(out, want, 1e-7, 0, "embedding_forward " + name(isa));
      }
    }
  }
}

TEST(Kernels, EmbeddingBackwardMatchesFiniteDifferences) {
  EmbeddingCase e(2, 4, 5, 3, 7);
  const Vec r = randn(e.B * e.T * e.C, 8);
  for (Isa isa : all_isas()) {
    Vec dwte = randn(e.wte.size(), 9), dwpe = randn(e.wpe.size(), 10);
    const Vec dwte0 = dwte, dwpe0 = dwpe;
    detail::table_for(isa).embedding_backward(dwte.data(), dwpe.data(), r.data(), e.ids.data(), e.B,
                                              e.T, e.C);
    // L(wte, wpe) = sum r * out.
    auto L = [&](const DVec& th) {
      double s = 0;
      const int64_t nwte = e.V * e.C;
      for (int64_t n = 0; n < e.B * e.T; ++n)
        for (int64_t c = 0; c < e.C; ++c)
          s += r[n * e.C + c] * (th[e.ids[n] * e.C + c] + th[nwte + (n % e.T) * e.C + c]);
      return s;
    };
    check_gradient(to_d(concat({e.wte, e.wpe})), L,
                   concat({minus(dwte, dwte0), minus(dwpe, dwpe0)}), 1e-5,
                   "embedding_backward " + name(isa));
  }
}

TEST(Kernels, EmbeddingIsasAgreeAndBackwardIsThreadCountIndependent) {
  for (int64_t C : kOddSizes) {
    EmbeddingCase e(4, 33, C, 7, 3 + C);
    const Vec d = randn(e.B * e.T * C, 5);
    Runner run = [&](const KernelTable& t) {
      Vec out(e.B * e.T * C), dwte(e.wte.size(), 0.5f), dwpe(e.wpe.size(), -0.25f);
      t.embedding_forward(out.data(), e.ids.data(), e.wte.data(), e.wpe.data(), e.B, e.T, C);
      t.embedding_backward(dwte.data(), dwpe.data(), d.data(), e.ids.data(), e.B, e.T, C);
      return concat({out, dwte, dwpe});
    };
    compare_isas(run, 1e-6, 1e-6, "embedding C=" + std::to_string(C));
    check_deterministic(run, "embedding C=" + std::to_string(C));
    // Channel-partitioned: every element is summed in token order whatever the threads.
    for (Isa isa : all_isas()) {
      Vec one, four;
      {
        Threads t1(1);
        one = run(detail::table_for(isa));
      }
      {
        Threads t4(4);
        four = run(detail::table_for(isa));
      }
      expect_bitwise(one, four, "embedding 1 vs 4 threads " + name(isa));
    }
  }
}

// ------------------------------------------------------------ layernorm

TEST(Kernels, LayernormForwardMatchesReference) {
  for (int64_t C : kOddSizes) {
    const int64_t N = 5;
    const Vec x = randn(N * C, 21 + C, 2.0f, 0.5f), w = randn(C, 22, 1.0f, 1.0f), b = randn(C, 23);
    const DVec bd = to_d(b);
    DVec mean(N), rstd(N);
    for (bool bias : {true, false}) {
      const DVec want =
          ref_layernorm(to_d(x), to_d(w), bias ? &bd : nullptr, N, C, 1e-5, &mean, &rstd);
      for (Isa isa : all_isas()) {
        Vec out(N * C), m(N), s(N);
        detail::table_for(isa).layernorm_forward(out.data(), m.data(), s.data(), x.data(), w.data(),
                                                 bias ? b.data() : nullptr, N, C, 1e-5f);
        const std::string what = "layernorm_forward C=" + std::to_string(C) + " " + name(isa);
        expect_close(out, want, 2e-5, 2e-5, what);
        expect_close(m, mean, 1e-5, 1e-6, what + " mean");
        expect_close(s, rstd, 2e-5, 0, what + " rstd");
      }
    }
  }
}

TEST(Kernels, LayernormBackwardMatchesFiniteDifferences) {
  const int64_t N = 3, C = 17;
  const Vec x = randn(N * C, 31, 1.5f, 0.3f), w = randn(C, 32, 0.5f, 1.0f), b = randn(C, 33);
  const Vec r = randn(N * C, 34);
  for (Isa isa : all_isas()) {
    const KernelTable& t = detail::table_for(isa);
    Vec out(N * C), mean(N), rstd(N);
    t.layernorm_forward(out.data(), mean.data(), rstd.data(), x.data(), w.data(), b.data(), N, C,
                        1e-5f);
    Vec dx = randn(N * C, 35), dw = randn(C, 36), db = randn(C, 37);
    const Vec dx0 = dx, dw0 = dw, db0 = db;
    t.layernorm_backward(dx.data(), dw.data(), db.data(), r.data(), x.data(), w.data(), mean.data(),
                         rstd.data(), N, C);
    const DVec rd = to_d(r);
    auto L = [&](const DVec& th) {
      const DVec xs(th.begin(), th.begin() + N * C), ws(th.begin() + N * C, th.begin() + N * C + C),
          bs(th.begin() + N * C + C, th.end());
      return dot(rd, ref_layernorm(xs, ws, &bs, N, C, 1e-5));
    };
    const Vec g = concat({minus(dx, dx0), minus(dw, dw0), minus(db, db0)});
    check_gradient(to_d(concat({x, w, b})), L, g, 1e-4, "layernorm_backward " + name(isa));
  }
}

TEST(Kernels, LayernormIsasAgreeAndAreDeterministic) {
  for (int64_t C : kOddSizes) {
    // N * C crosses the size at which kernels start using the pool.
    const int64_t N = C < 100 ? 37 : 64;
    const Vec x = randn(N * C, 41 + C, 1.0f, 0.2f), w = randn(C, 42, 1.0f, 1.0f), b = randn(C, 43);
    const Vec d = randn(N * C, 44);
    Runner run = [&](const KernelTable& t) {
      Vec out(N * C), mean(N), rstd(N), dx(N * C, 0.1f), dw(C, 0.2f), db(C, 0.3f);
      t.layernorm_forward(out.data(), mean.data(), rstd.data(), x.data(), w.data(), b.data(), N, C,
                          1e-5f);
      t.layernorm_backward(dx.data(), dw.data(), db.data(), d.data(), x.data(), w.data(),
                           mean.data(), rstd.data(), N, C);
      return concat({out, mean, rstd, dx, dw, db});
    };
    // C = 1 is degenerate (xhat = 0, rstd = 1/sqrt(eps) = 316): dx = rstd (g - mean(g)) is
    // an exact cancellation, and the SIMD builds fuse w * dout - mean into an FMA, so they
    // keep the rounding error of w * dout (~1e-7 * 316) that the scalar build cancels.
    compare_isas(run, 2e-5, C == 1 ? 1e-4 : 2e-5, "layernorm C=" + std::to_string(C));
    check_deterministic(run, "layernorm C=" + std::to_string(C));
  }
}

TEST(Kernels, LayernormBackwardParallelMatchesSerial) {
  // The per-thread partial sums of dw, db must add up to the serial result.
  const int64_t N = 200, C = 288;
  const Vec x = randn(N * C, 51), w = randn(C, 52, 1.0f, 1.0f), d = randn(N * C, 53);
  Vec mean(N), rstd(N), out(N * C);
  layernorm_forward(out.data(), mean.data(), rstd.data(), x.data(), w.data(), nullptr, N, C, 1e-5f);
  auto grads = [&](int threads) {
    Threads t(threads);
    Vec dx(N * C, 0.0f), dw(C, 0.0f), db(C, 0.0f);
    layernorm_backward(dx.data(), dw.data(), db.data(), d.data(), x.data(), w.data(), mean.data(),
                       rstd.data(), N, C);
    return concat({dx, dw, db});
  };
  expect_close(grads(4), grads(1), 1e-5, 1e-5, "layernorm_backward 4 vs 1 threads");
}

// ------------------------------------------------------------ rmsnorm

TEST(Kernels, RmsnormForwardMatchesReference) {
  for (int64_t C : kOddSizes) {
    const int64_t N = 5;
    const Vec x = randn(N * C, 61 + C, 2.0f, 0.5f), w = randn(C, 62, 1.0f, 1.0f);
    DVec rstd(N);
    const DVec want = ref_rmsnorm(to_d(x), to_d(w), N, C, 1e-6, &rstd);
    for (Isa isa : all_isas()) {
      Vec out(N * C), s(N);
      detail::table_for(isa).rmsnorm_forward(out.data(), s.data(), x.data(), w.data(), N, C, 1e-6f);
      const std::string what = "rmsnorm_forward C=" + std::to_string(C) + " " + name(isa);
      expect_close(out, want, 2e-5, 1e-6, what);
      expect_close(s, rstd, 2e-5, 0, what + " rstd");
    }
  }
}

TEST(Kernels, RmsnormBackwardMatchesFiniteDifferences) {
  const int64_t N = 3, C = 17;
  const Vec x = randn(N * C, 71, 1.5f, 0.3f), w = randn(C, 72, 0.5f, 1.0f), r = randn(N * C, 73);
  for (Isa isa : all_isas()) {
    const KernelTable& t = detail::table_for(isa);
    Vec out(N * C), rstd(N);
    t.rmsnorm_forward(out.data(), rstd.data(), x.data(), w.data(), N, C, 1e-6f);
    Vec dx = randn(N * C, 74), dw = randn(C, 75);
    const Vec dx0 = dx, dw0 = dw;
    t.rmsnorm_backward(dx.data(), dw.data(), r.data(), x.data(), w.data(), rstd.data(), N, C);
    const DVec rd = to_d(r);
    auto L = [&](const DVec& th) {
      const DVec xs(th.begin(), th.begin() + N * C), ws(th.begin() + N * C, th.end());
      return dot(rd, ref_rmsnorm(xs, ws, N, C, 1e-6));
    };
    check_gradient(to_d(concat({x, w})), L, concat({minus(dx, dx0), minus(dw, dw0)}), 1e-4,
                   "rmsnorm_backward " + name(isa));
  }
}

TEST(Kernels, RmsnormIsasAgreeAndAreDeterministic) {
  for (int64_t C : kOddSizes) {
    const int64_t N = C < 100 ? 37 : 64;
    const Vec x = randn(N * C, 81 + C), w = randn(C, 82, 1.0f, 1.0f), d = randn(N * C, 83);
    Runner run = [&](const KernelTable& t) {
      Vec out(N * C), rstd(N), dx(N * C, 0.1f), dw(C, 0.2f);
      t.rmsnorm_forward(out.data(), rstd.data(), x.data(), w.data(), N, C, 1e-6f);
      t.rmsnorm_backward(dx.data(), dw.data(), d.data(), x.data(), w.data(), rstd.data(), N, C);
      return concat({out, rstd, dx, dw});
    };
    compare_isas(run, 2e-5, 2e-5, "rmsnorm C=" + std::to_string(C));
    check_deterministic(run, "rmsnorm C=" + std::to_string(C));
  }
}

// ------------------------------------------------------------ gelu / swiglu

TEST(Kernels, GeluMatchesReferenceAndFiniteDifferences) {
  Vec x = randn(771, 91, 3.0f);
  for (float v : {0.0f, -0.0f, 20.0f, -20.0f, -60.0f, 60.0f, 1e-6f}) x.push_back(v);
  const int64_t n = int64_t(x.size());
  DVec want(n);
  for (int64_t i = 0; i < n; ++i) want[i] = ref_gelu(x[i]);
  const Vec r = randn(n, 92);
  for (Isa isa : all_isas()) {
    const KernelTable& t = detail::table_for(isa);
    Vec out(n);
    t.gelu_forward(out.data(), x.data(), n);
    expect_close(out, want, 1e-5, 1e-6, "gelu_forward " + name(isa));
    Vec dx = randn(n, 93);
    const Vec dx0 = dx;
    t.gelu_backward(dx.data(), x.data(), r.data(), n);
    // Per element, L = sum r gelu(x) separates: check each derivative.
    auto L = [&](const DVec& th) {
      double s = 0;
      for (int64_t i = 0; i < n; ++i) s += r[i] * ref_gelu(th[i]);
      return s;
    };
    check_gradient(to_d(x), L, minus(dx, dx0), 1e-4, "gelu_backward " + name(isa));
  }
}

TEST(Kernels, SwigluMatchesReferenceAndFiniteDifferences) {
  Vec g = randn(300, 101, 3.0f), u = randn(300, 102);
  for (float v : {0.0f, 30.0f, -30.0f, -100.0f, 100.0f}) {
    g.push_back(v);
    u.push_back(0.7f);
  }
  const int64_t n = int64_t(g.size());
  DVec want(n);
  for (int64_t i = 0; i < n; ++i) want[i] = ref_silu(g[i]) * u[i];
  const Vec r = randn(n, 103);
  for (Isa isa : all_isas()) {
    const KernelTable& t = detail::table_for(isa);
    Vec out(n);
    t.swiglu_forward(out.data(), g.data(), u.data(), n);
    expect_close(out, want, 1e-5, 1e-6, "swiglu_forward " + name(isa));
    Vec dg = randn(n, 104), du = randn(n, 105);
    const Vec dg0 = dg, du0 = du;
    t.swiglu_backward(dg.data(), du.data(), g.data(), u.data(), r.data(), n);
    auto L = [&](const DVec& th) {
      double s = 0;
      for (int64_t i = 0; i < n; ++i) s += r[i] * ref_silu(th[i]) * th[n + i];
      return s;
    };
    check_gradient(to_d(concat({g, u})), L, concat({minus(dg, dg0), minus(du, du0)}), 1e-4,
                   "swiglu_backward " + name(isa));
  }
}

TEST(Kernels, ActivationsIsasAgreeAndAreDeterministic) {
  for (int64_t n : {int64_t{1}, int64_t{7}, int64_t{17}, int64_t{771}, int64_t{40001}}) {
    const Vec x = randn(n, 111, 3.0f), u = randn(n, 112), d = randn(n, 113);
    Runner run = [&](const KernelTable& t) {
      Vec g(n), dx(n, 0.5f), s(n), dg(n, 0.1f), du(n, -0.1f);
      t.gelu_forward(g.data(), x.data(), n);
      t.gelu_backward(dx.data(), x.data(), d.data(), n);
      t.swiglu_forward(s.data(), x.data(), u.data(), n);
      t.swiglu_backward(dg.data(), du.data(), x.data(), u.data(), d.data(), n);
      return concat({g, dx, s, dg, du});
    };
    compare_isas(run, 1e-5, 1e-6, "activations n=" + std::to_string(n));
    check_deterministic(run, "activations n=" + std::to_string(n));
  }
}

// ------------------------------------------------------------ rope

void rope_with(const KernelTable& t, float* x, int64_t B, int64_t T, int64_t H, int64_t hs,
               const Vec& inv, int64_t pos0, bool inverse) {
  const float* cs = detail::rope_cos_sin(inv.data(), hs / 2, pos0 + T) + pos0 * hs;
  t.rope(x, B, T, H, hs, cs, inverse);
}

TEST(Kernels, RopeInvFreqPlain) {
  for (int64_t hs : {int64_t{2}, int64_t{64}, int64_t{128}}) {
    Vec f(hs / 2);
    rope_inv_freq(f.data(), hs, 10000.0, 0, 0, 0, 0);
    DVec want(hs / 2);
    for (int64_t i = 0; i < hs / 2; ++i) want[i] = std::pow(10000.0, -2.0 * double(i) / double(hs));
    expect_close(f, want, 2e-7, 0, "rope_inv_freq hs=" + std::to_string(hs));
  }
}

TEST(Kernels, RopeInvFreqLlama3ScalingByHand) {
  // Llama 3.1 8B: theta 500000, head size 128, factor 8, low 1, high 4, original ctx 8192.
  const int64_t hs = 128;
  Vec f(hs / 2);
  rope_inv_freq(f.data(), hs, 500000.0, 8.0, 1.0, 4.0, 8192);
  int high = 0, low = 0, medium = 0;
  for (int64_t i = 0; i < hs / 2; ++i) {
    const double base = std::pow(500000.0, -2.0 * double(i) / double(hs));
    const double wavelen = 2 * M_PI / base;
    double want;
    if (wavelen < 8192.0 / 4.0) {
      want = base;
      ++high;
    } else if (wavelen > 8192.0 / 1.0) {
      want = base / 8.0;
      ++low;
    } else {
      const double smooth = (8192.0 / wavelen - 1.0) / (4.0 - 1.0);
      want = (1 - smooth) * base / 8.0 + smooth * base;
      ++medium;
    }
    EXPECT_NEAR(f[i], want, 2e-6 * want) << "i=" << i;
  }
  EXPECT_GT(high, 0);
  EXPECT_GT(low, 0);
  EXPECT_GT(medium, 0);
  // Two values worked by hand. i = 0: wavelength 2 pi < 2048, unscaled: 1.
  EXPECT_EQ(f[0], 1.0f);
  // i = 63: f = 500000^(-126/128) = 2.4607e-6, wavelength 2.553e6 > 8192: f / 8 = 3.0759e-7.
  EXPECT_NEAR(f[63], std::pow(500000.0, -126.0 / 128.0) / 8.0, 1e-12);
}

TEST(Kernels, RopeInvFreqRejectsBadArguments) {
  Vec f(8);
  EXPECT_THROW(rope_inv_freq(f.data(), 7, 10000.0, 0, 0, 0, 0), Error);
  EXPECT_THROW(rope_inv_freq(f.data(), 16, -1.0, 0, 0, 0, 0), Error);
  EXPECT_THROW(rope_inv_freq(f.data(), 16, 10000.0, 8.0, 4.0, 4.0, 8192), Error);
  EXPECT_THROW(rope_inv_freq(f.data(), 16, 10000.0, 8.0, 1.0, 4.0, 0), Error);
}

TEST(Kernels, RopeMatchesReferenceAndTranspose) {
  const int64_t B = 2, T = 5, H = 3;
  for (int64_t hs : {int64_t{2}, int64_t{14}, int64_t{34}, int64_t{64}}) {
    Vec inv(hs / 2);
    rope_inv_freq(inv.data(), hs, 10000.0, 0, 0, 0, 0);
    const Vec x = randn(B * T * H * hs, 121 + hs), r = randn(B * T * H * hs, 122);
    const int64_t pos0 = 37;
    const DVec want = ref_rope(to_d(x), B, T, H, hs, inv, pos0);
    for (Isa isa : all_isas()) {
      const KernelTable& t = detail::table_for(isa);
      Vec y = x;
      rope_with(t, y.data(), B, T, H, hs, inv, pos0, false);
      const std::string what = "rope hs=" + std::to_string(hs) + " " + name(isa);
      expect_close(y, want, 1e-5, 1e-6, what + " forward");
      // (c) rope_backward(r) is the gradient of sum(r * rope(x)).
      Vec g = r;
      rope_with(t, g.data(), B, T, H, hs, inv, pos0, true);
      auto L = [&](const DVec& th) { return dot(to_d(r), ref_rope(th, B, T, H, hs, inv, pos0)); };
      check_gradient(to_d(x), L, g, 1e-5, what + " backward");
      // backward undoes forward.
      rope_with(t, y.data(), B, T, H, hs, inv, pos0, true);
      expect_close(y, x, 1e-5, 1e-5, what + " round trip");
    }
  }
}

TEST(Kernels, RopeWithOffsetMatchesFullSequence) {
  // Rotating rows t >= 3 alone with pos0 = 3 (a KV-cache step) equals the full rotation.
  const int64_t B = 1, T = 6, H = 2, hs = 16;
  Vec inv(hs / 2);
  rope_inv_freq(inv.data(), hs, 10000.0, 0, 0, 0, 0);
  const Vec x = randn(B * T * H * hs, 131);
  Vec full = x;
  rope_forward(full.data(), B, T, H, hs, inv.data(), 0);
  Vec tail(x.begin() + 3 * H * hs, x.end());
  rope_forward(tail.data(), B, T - 3, H, hs, inv.data(), 3);
  expect_bitwise(tail, Vec(full.begin() + 3 * H * hs, full.end()), "rope offset");
  // Token by token (decode), interleaved with another inv_freq: the per-thread cos/sin
  // cache must follow both the positions and the frequencies.
  Vec other(hs / 2);
  rope_inv_freq(other.data(), hs, 500000.0, 8.0, 1.0, 4.0, 8192);
  Vec steps = x;
  for (int64_t t = 0; t < T; ++t) {
    rope_forward(steps.data() + t * H * hs, B, 1, H, hs, inv.data(), t);
    Vec y = x;
    rope_forward(y.data(), B, T, H, hs, other.data(), 0);
    const DVec want = ref_rope(to_d(x), B, T, H, hs, other, 0);
    expect_close(y, want, 1e-5, 1e-6, "rope other inv_freq");
  }
  expect_bitwise(steps, full, "rope token by token");
}

TEST(Kernels, RopeIsasAgreeAndAreDeterministic) {
  for (int64_t hs : {int64_t{2}, int64_t{14}, int64_t{64}, int64_t{128}}) {
    const int64_t B = 2, T = 33, H = 4;
    Vec inv(hs / 2);
    rope_inv_freq(inv.data(), hs, 500000.0, 8.0, 1.0, 4.0, 8192);
    const Vec x = randn(B * T * H * hs, 141 + hs);
    Runner run = [&](const KernelTable& t) {
      Vec y = x, g = x;
      rope_with(t, y.data(), B, T, H, hs, inv, 5, false);
      rope_with(t, g.data(), B, T, H, hs, inv, 5, true);
      return concat({y, g});
    };
    compare_isas(run, 1e-6, 1e-6, "rope hs=" + std::to_string(hs));
    check_deterministic(run, "rope hs=" + std::to_string(hs));
  }
}

// ------------------------------------------------------------ softmax / cross-entropy

TEST(Kernels, SoftmaxMatchesReference) {
  for (int64_t V : kOddSizes) {
    const int64_t N = 4;
    const Vec x = randn(N * V, 151 + V, 3.0f);
    const DVec want = ref_softmax(to_d(x), N, V);
    for (Isa isa : all_isas()) {
      Vec y(N * V);
      detail::table_for(isa).softmax_forward(y.data(), x.data(), N, V);
      expect_close(y, want, 1e-5, 1e-9, "softmax V=" + std::to_string(V) + " " + name(isa));
      Vec z = x;  // in place
      detail::table_for(isa).softmax_forward(z.data(), z.data(), N, V);
      expect_bitwise(z, y, "softmax in place " + name(isa));
    }
  }
}

TEST(Kernels, CrossEntropyMatchesLogSoftmax) {
  for (int64_t V : kOddSizes) {
    const int64_t N = 6;
    const Vec x = randn(N * V, 161 + V, 4.0f, 1.0f);
    std::vector<int32_t> targets(N);
    for (int64_t n = 0; n < N; ++n) targets[n] = int32_t((n * 7919) % V);
    targets[2] = -1;  // ignored
    const DVec losses = ref_ce_losses(to_d(x), targets, N, V);
    const DVec p = ref_softmax(to_d(x), N, V);
    const float gs = 0.25f;
    for (Isa isa : all_isas()) {
      Vec g = x, l(N, -7.0f);
      detail::table_for(isa).cross_entropy_forward_backward(l.data(), g.data(), targets.data(), N,
                                                            V, gs);
      const std::string what = "cross_entropy V=" + std::to_string(V) + " " + name(isa);
      expect_close(l, losses, 1e-6, 1e-6, what + " loss");
      DVec want(N * V);
      for (int64_t n = 0; n < N; ++n) {
        double row_sum = 0;
        for (int64_t i = 0; i < V; ++i) {
          if (targets[n] >= 0) want[n * V + i] = gs * (p[n * V + i] - (i == targets[n] ? 1 : 0));
          row_sum += g[n * V + i];
        }
        EXPECT_NEAR(row_sum, 0.0, 1e-6) << what << " row " << n;
      }
      expect_close(g, want, 1e-5, 1e-8, what + " gradient");
      EXPECT_EQ(l[2], 0.0f) << what;
      for (int64_t i = 0; i < V; ++i) ASSERT_EQ(g[2 * V + i], 0.0f) << what;
    }
  }
}

TEST(Kernels, CrossEntropyGradientMatchesFiniteDifferences) {
  const int64_t N = 3, V = 11;
  const Vec x = randn(N * V, 171, 2.0f);
  const std::vector<int32_t> targets = {4, -1, 10};
  const float gs = 1.0f / 2.0f;
  for (Isa isa : all_isas()) {
    Vec g = x, l(N);
    detail::table_for(isa).cross_entropy_forward_backward(l.data(), g.data(), targets.data(), N, V,
                                                          gs);
    auto L = [&](const DVec& th) {
      double s = 0;
      for (double v : ref_ce_losses(th, targets, N, V)) s += v;
      return gs * s;
    };
    check_gradient(to_d(x), L, g, 1e-5, "cross_entropy " + name(isa));
  }
}

TEST(Kernels, SoftmaxAndCrossEntropyIsasAgreeAndAreDeterministic) {
  for (int64_t V : kOddSizes) {
    const int64_t N = V < 100 ? 64 : 37;
    const Vec x = randn(N * V, 181 + V, 3.0f);
    std::vector<int32_t> targets(N);
    for (int64_t n = 0; n < N; ++n) targets[n] = n % 5 == 3 ? -1 : int32_t((n * 31) % V);
    Runner run = [&](const KernelTable& t) {
      Vec y(N * V), g = x, l(N);
      t.softmax_forward(y.data(), x.data(), N, V);
      t.cross_entropy_forward_backward(l.data(), g.data(), targets.data(), N, V, 1.0f / N);
      return concat({y, g, l});
    };
    compare_isas(run, 1e-5, 1e-8, "softmax/ce V=" + std::to_string(V));
    check_deterministic(run, "softmax/ce V=" + std::to_string(V));
  }
}

TEST(Kernels, CrossEntropyRejectsTargetsOutOfRange) {
  Vec logits(2 * 5, 0.0f), l(2);
  const std::vector<int32_t> targets = {1, 5};
  EXPECT_THROW(cross_entropy_forward_backward(l.data(), logits.data(), targets.data(), 2, 5, 1.0f),
               Error);
}

// ------------------------------------------------------------ adamw

TEST(Kernels, AdamwMatchesDoubleReference) {
  const int64_t n = 771;
  const float lr = 3e-3f, b1 = 0.9f, b2 = 0.95f, eps = 1e-8f, wd = 0.1f, gs = 0.5f;
  const Vec p0 = randn(n, 191), g1 = randn(n, 192), g2 = randn(n, 193, 0.1f),
            g3 = randn(n, 194, 10.f);
  for (Isa isa : all_isas()) {
    Vec p = p0, m(n, 0.0f), v(n, 0.0f);
    DVec pd = to_d(p0), md(n, 0.0), vd(n, 0.0);
    int64_t t = 0;
    for (const Vec* g : {&g1, &g2, &g3}) {
      ++t;
      detail::table_for(isa).adamw_update(p.data(), m.data(), v.data(), g->data(), n,
                                          detail::adamw_coefs(lr, b1, b2, eps, wd, t, gs));
      for (int64_t i = 0; i < n; ++i) {
        const double gi = double((*g)[i]) * gs;
        pd[i] -= double(lr) * double(wd) * pd[i];
        md[i] = double(b1) * md[i] + (1 - double(b1)) * gi;
        vd[i] = double(b2) * vd[i] + (1 - double(b2)) * gi * gi;
        const double mhat = md[i] / (1 - std::pow(double(b1), double(t)));
        const double vhat = vd[i] / (1 - std::pow(double(b2), double(t)));
        pd[i] -= double(lr) * mhat / (std::sqrt(vhat) + double(eps));
      }
    }
    expect_close(p, pd, 1e-6, 1e-7, "adamw param " + name(isa));
    expect_close(m, md, 1e-5, 1e-9, "adamw m " + name(isa));
    expect_close(v, vd, 1e-5, 1e-12, "adamw v " + name(isa));
  }
}

// Three steps of torch.optim.AdamW (torch 1.13, foreach=False) from
// tests/fixtures/kernels/make_adamw.py: bit-identical parameters on every ISA.
TEST(Kernels, AdamwMatchesTorch) {
  const std::string path = std::string(LMKIT_SOURCE_DIR) + "/tests/fixtures/kernels/adamw.json";
  std::ifstream in(path);
  ASSERT_TRUE(in.good()) << path;
  const nlohmann::json j = nlohmann::json::parse(in);
  const Vec init = j["init"].get<Vec>();
  const int64_t n = int64_t(init.size());
  for (Isa isa : all_isas()) {
    Vec p = init, m(n, 0.0f), v(n, 0.0f);
    int64_t t = 0;
    int exact = 0;
    for (const auto& step : j["steps"]) {
      const Vec g = step["grad"].get<Vec>();
      detail::table_for(isa).adamw_update(
          p.data(), m.data(), v.data(), g.data(), n,
          detail::adamw_coefs(j["lr"].get<float>(), j["beta1"].get<float>(),
                              j["beta2"].get<float>(), j["eps"].get<float>(),
                              j["weight_decay"].get<float>(), ++t,
                              step["grad_scale"].get<float>()));
      const std::string what = "adamw vs torch step " + std::to_string(t) + " " + name(isa);
      // We follow ATen's roundings op by op, so this is bit for bit in practice; allow an
      // ulp in case a torch build fuses differently.
      expect_close(p, step["param"].get<Vec>(), 1.2e-7, 0, what + " param");
      expect_close(m, step["m"].get<Vec>(), 1.2e-7, 0, what + " m");
      expect_close(v, step["v"].get<Vec>(), 1.2e-7, 0, what + " v");
      int differ = 0;
      for (int64_t i = 0; i < n; ++i) differ += p[i] != step["param"][i].get<float>();
      exact += differ == 0;
    }
    EXPECT_EQ(exact, 3) << name(isa) << ": parameters not bit-identical to torch";
  }
}

TEST(Kernels, AdamwIsasAgreeAndAreDeterministic) {
  for (int64_t n : {int64_t{1}, int64_t{7}, int64_t{771}, int64_t{40001}}) {
    const Vec p0 = randn(n, 201), g = randn(n, 202);
    Runner run = [&](const KernelTable& t) {
      Vec p = p0, m(n, 0.01f), v(n, 0.02f);
      t.adamw_update(p.data(), m.data(), v.data(), g.data(), n,
                     detail::adamw_coefs(1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, 3, 1.0f));
      return concat({p, m, v});
    };
    compare_isas(run, 1e-6, 1e-7, "adamw n=" + std::to_string(n));
    check_deterministic(run, "adamw n=" + std::to_string(n));
  }
  Vec one(1);
  EXPECT_THROW(adamw_update(one.data(), one.data(), one.data(), one.data(), 1, 1e-3f, 0.9f, 0.999f,
                            1e-8f, 0.f, 0, 1.f),
               Error);
}

// ------------------------------------------------------------ reductions, adds

TEST(Kernels, SumSquaresMatchesDouble) {
  for (int64_t n : {int64_t{0}, int64_t{1}, int64_t{7}, int64_t{771}, int64_t{100003}}) {
    const Vec x = randn(n, 211, 3.0f);
    long double want = 0;
    for (float v : x) want += (long double)v * v;
    for (Isa isa : all_isas()) {
      const double got = detail::table_for(isa).sum_squares(x.data(), n);
      EXPECT_NEAR(got, double(want), 1e-12 * double(want)) << "n=" << n << " " << name(isa);
    }
    Runner run = [&](const KernelTable& t) { return Vec{float(t.sum_squares(x.data(), n))}; };
    check_deterministic(run, "sum_squares n=" + std::to_string(n));
  }
}

TEST(Kernels, AddsAreExactOnEveryIsa) {
  for (int64_t n : {int64_t{1}, int64_t{7}, int64_t{771}, int64_t{40001}}) {
    const Vec a = randn(n, 221), b = randn(n, 222);
    Vec want(n);
    for (int64_t i = 0; i < n; ++i) want[i] = a[i] + b[i];
    for (Isa isa : all_isas()) {
      Vec out(n), y = a;
      detail::table_for(isa).add(out.data(), a.data(), b.data(), n);
      detail::table_for(isa).add_inplace(y.data(), b.data(), n);
      expect_bitwise(out, want, "add " + name(isa));
      expect_bitwise(y, want, "add_inplace " + name(isa));
    }
  }
}

// ------------------------------------------------------------ dropout

TEST(Kernels, DropoutMaskIsCounterBasedAndUnbiased) {
  const int64_t n = 200003;
  const float p = 0.1f, scale = 1.0f / float(1.0 - 0.1f);
  const Vec x = randn(n, 231, 1.0f, 2.0f);
  Vec ref;
  for (Isa isa : all_isas()) {
    const KernelTable& t = detail::table_for(isa);
    Vec y(n);
    t.dropout_forward(y.data(), x.data(), n, p, 42);
    int64_t kept = 0;
    for (int64_t i = 0; i < n; ++i) {
      if (y[i] != 0.0f) {
        ++kept;
        ASSERT_EQ(y[i], x[i] * scale) << i;
      }
    }
    // 1 - p within 5 standard deviations.
    EXPECT_NEAR(double(kept) / n, 0.9, 5 * std::sqrt(0.09 / n)) << name(isa);
    // The mask is a function of (seed, i) only: identical on every ISA and thread count.
    if (ref.empty()) ref = y;
    expect_bitwise(y, ref, "dropout mask " + name(isa));
    {
      Threads t3(3);
      Vec y3(n);
      t.dropout_forward(y3.data(), x.data(), n, p, 42);
      expect_bitwise(y3, ref, "dropout 3 threads " + name(isa));
    }
    // A suffix of the array is not the same mask shifted: different seeds differ.
    Vec y2(n);
    t.dropout_forward(y2.data(), x.data(), n, p, 43);
    int64_t same = 0;
    for (int64_t i = 0; i < n; ++i) same += (y2[i] != 0.0f) == (y[i] != 0.0f);
    EXPECT_LT(same, int64_t(0.85 * n)) << name(isa);  // independent masks agree on ~82%
    // Backward: dx += dout * keep * scale, the transpose of the forward.
    Vec dx = randn(n, 232);
    const Vec dx0 = dx, d = randn(n, 233);
    t.dropout_backward(dx.data(), d.data(), n, p, 42);
    Vec fd(n);
    t.dropout_forward(fd.data(), d.data(), n, p, 42);
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(dx[i], dx0[i] + fd[i]) << i;
  }
}

TEST(Kernels, DropoutEdgeCases) {
  const Vec x = randn(100, 241);
  Vec y(100);
  dropout_forward(y.data(), x.data(), 100, 0.0f, 1);
  expect_bitwise(y, x, "dropout p=0 is the identity");
  EXPECT_THROW(dropout_forward(y.data(), x.data(), 100, 1.0f, 1), Error);
  EXPECT_THROW(dropout_forward(y.data(), x.data(), 100, -0.1f, 1), Error);
}

// ------------------------------------------------------------ dispatch

TEST(Kernels, PublicApiUsesTheActiveIsa) {
  const int64_t N = 3, C = 771;
  const Vec x = randn(N * C, 251), w = randn(C, 252, 1.0f, 1.0f);
  const Isa saved = active_isa();
  for (Isa isa : all_isas()) {
    set_active_isa(isa);
    Vec a(N * C), b(N * C), ma(N), sa(N), mb(N), sb(N);
    layernorm_forward(a.data(), ma.data(), sa.data(), x.data(), w.data(), nullptr, N, C, 1e-5f);
    detail::table_for(isa).layernorm_forward(b.data(), mb.data(), sb.data(), x.data(), w.data(),
                                             nullptr, N, C, 1e-5f);
    expect_bitwise(a, b, "public layernorm_forward on " + name(isa));
  }
  set_active_isa(saved);
  Vec y(4);
  EXPECT_THROW(gelu_forward(y.data(), y.data(), -1), Error);
  EXPECT_THROW(rope_forward(y.data(), 1, 1, 1, 3, y.data(), 0), Error);
}

}  // namespace
}  // namespace lmkit::kernels
