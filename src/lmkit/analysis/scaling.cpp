#include "lmkit/analysis/scaling.h"

#include <cmath>

#include "lmkit/analysis/optimize.h"
#include "lmkit/core/error.h"

namespace lmkit::analysis {

void check_positive(double v, const std::string& name, double max) {
  check(std::isfinite(v), "{} must be a finite number (got {})", name, v);
  check(v > 0, "{} must be positive (got {})", name, v);
  check(v <= max, "{} = {:g} is absurd (limit {:g})", name, v, max);
}

double ChinchillaLaw::loss(double N, double D) const {
  return E + A / std::pow(N, alpha) + B / std::pow(D, beta);
}
double ChinchillaLaw::G() const {
  return std::pow(alpha * A / (beta * B), 1.0 / (alpha + beta));
}
double ChinchillaLaw::a() const {
  return beta / (alpha + beta);
}
double ChinchillaLaw::b() const {
  return alpha / (alpha + beta);
}

Allocation chinchilla_optimal(const ChinchillaLaw& law, double C) {
  check_positive(C, "compute");
  Allocation r;
  r.params = law.G() * std::pow(C / 6, law.a());
  r.tokens = std::pow(C / 6, law.b()) / law.G();
  r.loss = law.loss(r.params, r.tokens);
  r.compute = 6 * r.params * r.tokens;
  return r;
}

Allocation chinchilla_optimal_numeric(const ChinchillaLaw& law, double C) {
  check_positive(C, "compute");
  // L(N, C/(6N)) is unimodal in log N (a sum of a decreasing and an increasing power).
  auto loss_at = [&](double logN) { return law.loss(std::exp(logN), C / (6 * std::exp(logN))); };
  double hi = std::log(C / 6);  // D >= 1 token
  double logN = golden_section_minimize(loss_at, 0.0, hi, 1e-13 * std::max(1.0, hi));
  Allocation r;
  r.params = std::exp(logN);
  r.tokens = C / (6 * r.params);
  r.loss = law.loss(r.params, r.tokens);
  r.compute = C;
  return r;
}

Allocation chinchilla_optimal_for_params(const ChinchillaLaw& law, double N) {
  check_positive(N, "params");
  // Invert N = G (C/6)^a.
  double C = 6 * std::pow(N / law.G(), 1 / law.a());
  return chinchilla_optimal(law, C);
}

Allocation twenty_tokens_per_param(const ChinchillaLaw& law, double C) {
  check_positive(C, "compute");
  Allocation r;
  r.params = std::sqrt(C / 120);
  r.tokens = 20 * r.params;
  r.loss = law.loss(r.params, r.tokens);
  r.compute = C;
  return r;
}

const std::vector<Table3Row>& chinchilla_table3() {
  static const std::vector<Table3Row> t = {
      {400e6, 1.92e19, "1/29,968", 8.0e9},   {1e9, 1.21e20, "1/4,761", 20.2e9},
      {10e9, 1.23e22, "1/46", 205.1e9},      {67e9, 5.76e23, "1", 1.5e12},
      {175e9, 3.85e24, "6.7", 3.7e12},       {280e9, 9.90e24, "17.2", 5.9e12},
      {520e9, 3.43e25, "59.5", 11.0e12},     {1e12, 1.27e26, "221.3", 21.2e12},
      {10e12, 1.30e28, "22515.9", 216.2e12},
  };
  return t;
}

double KaplanLaw::loss_N(double N) const {
  return std::pow(N_c / N, alpha_N);
}
double KaplanLaw::loss_D(double D) const {
  return std::pow(D_c / D, alpha_D);
}
double KaplanLaw::loss_C(double C_flops) const {
  return std::pow(C_c / (C_flops / kPetaflopDay), alpha_C);
}
double KaplanLaw::loss_ND(double N, double D) const {
  return std::pow(std::pow(N_c / N, alpha_N / alpha_D) + D_c / D, alpha_D);
}

KaplanAllocation kaplan_optimal(const KaplanLaw& law, double C_flops) {
  check_positive(C_flops, "compute");
  const double c = C_flops / kPetaflopDay;
  KaplanAllocation r;
  r.params = 1.3e9 * std::pow(c, 0.73);
  r.tokens = C_flops / (6 * r.params);
  r.tokens_one_epoch_fit = 2e10 * std::pow(c, 0.27);
  r.batch_tokens = 2.0e6 * std::pow(c, 0.24);
  r.steps = 5.4e3 * std::pow(c, 0.03);
  r.loss_at_allocation = law.loss_ND(r.params, r.tokens);
  r.loss_C = law.loss_C(C_flops);
  return r;
}

}  // namespace lmkit::analysis
