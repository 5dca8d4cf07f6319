// Chinchilla / Kaplan formulas: the closed form against a numerical minimisation, inverse
// relations, and the constants as printed in the papers.
#include "lmkit/analysis/scaling.h"

#include <gtest/gtest.h>

#include <cmath>

#include "lmkit/analysis/optimize.h"
#include "lmkit/core/error.h"

using namespace lmkit;
using namespace lmkit::analysis;

TEST(Scaling, ChinchillaExponents) {
  ChinchillaLaw law;
  EXPECT_DOUBLE_EQ(law.a(), 0.28 / 0.62);
  EXPECT_DOUBLE_EQ(law.b(), 0.34 / 0.62);
  EXPECT_DOUBLE_EQ(law.G(), std::pow(0.34 * 406.4 / (0.28 * 410.7), 1 / 0.62));
  EXPECT_DOUBLE_EQ(law.loss(1e9, 20e9),
                   1.69 + 406.4 / std::pow(1e9, 0.34) + 410.7 / std::pow(20e9, 0.28));
}

TEST(Scaling, ClosedFormMatchesNumericalMinimisation) {
  ChinchillaLaw law;
  for (double C : {1e15, 1e18, 1.21e20, 1e21, 5.76e23, 3.85e24, 1e26, 1.3e28}) {
    SCOPED_TRACE(C);
    Allocation cf = chinchilla_optimal(law, C);
    Allocation num = chinchilla_optimal_numeric(law, C);
    EXPECT_NEAR(cf.params / num.params, 1.0, 1e-6);
    EXPECT_NEAR(cf.tokens / num.tokens, 1.0, 1e-6);
    EXPECT_NEAR(cf.loss, num.loss, 1e-12);
    EXPECT_NEAR(cf.compute / C, 1.0, 1e-12);  // 6 N_opt D_opt = C
    // The closed form is a minimum: nearby allocations on the same budget are worse.
    for (double f : {0.9, 1.1}) {
      double N = cf.params * f;
      EXPECT_GT(law.loss(N, C / (6 * N)), cf.loss);
    }
  }
}

TEST(Scaling, InverseAndRules) {
  ChinchillaLaw law;
  for (double N : {1e8, 7e10, 1e12}) {
    Allocation a = chinchilla_optimal_for_params(law, N);
    EXPECT_NEAR(a.params / N, 1.0, 1e-9);
  }
  Allocation r = twenty_tokens_per_param(law, 6 * 1e9 * 20e9);
  EXPECT_NEAR(r.params, 1e9, 1e-3);
  EXPECT_NEAR(r.tokens, 20e9, 1e-2);
}

TEST(Scaling, Table3AsPrinted) {
  const auto& t = chinchilla_table3();
  ASSERT_EQ(t.size(), 9u);
  EXPECT_EQ(t[3].params, 67e9);
  EXPECT_EQ(t[3].flops, 5.76e23);
  EXPECT_EQ(t[3].gopher_units, "1");
  EXPECT_EQ(t[1].tokens, 20.2e9);
  // The table's FLOPs are 6 N D to its printed precision (3 significant digits).
  for (const auto& row : t) EXPECT_NEAR(6 * row.params * row.tokens / row.flops, 1.0, 0.05);
}

TEST(Scaling, Kaplan) {
  KaplanLaw k;
  EXPECT_DOUBLE_EQ(k.loss_N(8.8e13), 1.0);
  EXPECT_DOUBLE_EQ(k.loss_D(5.4e13), 1.0);
  EXPECT_DOUBLE_EQ(k.loss_C(3.1e8 * kPetaflopDay), 1.0);
  // Eq. (1.5) tends to Eq. (1.1) as D -> infinity and to Eq. (1.2) as N -> infinity.
  EXPECT_NEAR(k.loss_ND(1e9, 1e30), k.loss_N(1e9), 1e-9);
  EXPECT_NEAR(k.loss_ND(1e30, 1e10), k.loss_D(1e10), 1e-9);
  KaplanAllocation a = kaplan_optimal(k, kPetaflopDay);  // C_min = 1 PF-day
  EXPECT_DOUBLE_EQ(a.params, 1.3e9);
  EXPECT_DOUBLE_EQ(a.steps, 5.4e3);
  EXPECT_DOUBLE_EQ(a.tokens, kPetaflopDay / (6 * 1.3e9));
  EXPECT_NEAR(kaplan_optimal(k, 10 * kPetaflopDay).params / a.params, std::pow(10, 0.73), 1e-9);
}

TEST(Scaling, BadNumbers) {
  ChinchillaLaw law;
  EXPECT_THROW(chinchilla_optimal(law, -1), Error);
  EXPECT_THROW(chinchilla_optimal(law, 0), Error);
  EXPECT_THROW(chinchilla_optimal(law, NAN), Error);
  EXPECT_THROW(chinchilla_optimal(law, 1e60), Error);
  EXPECT_THROW(chinchilla_optimal_for_params(law, -5), Error);
}

TEST(Optimize, LbfgsRosenbrockAndGolden) {
  Objective rosen = [](const std::vector<double>& x, std::vector<double>& g) {
    double a = 1 - x[0], b = x[1] - x[0] * x[0];
    g[0] = -2 * a - 400 * x[0] * b;
    g[1] = 200 * b;
    return a * a + 100 * b * b;
  };
  LbfgsResult r = lbfgs_minimize(rosen, {-1.2, 1.0});
  EXPECT_TRUE(r.converged);
  EXPECT_NEAR(r.x[0], 1.0, 1e-6);
  EXPECT_NEAR(r.x[1], 1.0, 1e-6);
  EXPECT_NEAR(golden_section_minimize([](double x) { return (x - 2.5) * (x - 2.5); }, -10, 10), 2.5,
              1e-9);
}
