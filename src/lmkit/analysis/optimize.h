// Small numerical optimisers for the scaling-law fits.
#pragma once
#include <functional>
#include <vector>

namespace lmkit::analysis {

// f(x, grad) returns f(x) and writes its gradient into grad (same size as x).
using Objective = std::function<double(const std::vector<double>& x, std::vector<double>& grad)>;

struct LbfgsOptions {
  int max_iterations = 2000;
  int history = 10;         // m: correction pairs kept
  double grad_tol = 1e-10;  // stop when ||g||_inf <= grad_tol * max(1, |f|)
  double f_tol = 1e-15;     // or when the relative decrease of f is below this
};

struct LbfgsResult {
  std::vector<double> x;
  double f = 0;
  int iterations = 0;
  bool converged = false;  // a tolerance was met (not the iteration limit)
};

// Limited-memory BFGS (Nocedal 1980; Nocedal & Wright, Numerical Optimization, 2nd ed.,
// Algorithm 7.4 two-loop recursion + Algorithm 7.5) with a backtracking line search on the
// Armijo condition; a correction pair is stored only when s.y > 0 (keeps H positive definite).
LbfgsResult lbfgs_minimize(const Objective& f, std::vector<double> x0,
                           const LbfgsOptions& opt = {});

// Golden-section search for the minimum of a unimodal f on [lo, hi] (Kiefer 1953), to an
// interval width of `tol`. Returns the argmin.
double golden_section_minimize(const std::function<double(double)>& f, double lo, double hi,
                               double tol = 1e-12);

}  // namespace lmkit::analysis
