#include "lmkit/analysis/optimize.h"

#include <algorithm>
#include <cmath>
#include <deque>

#include "lmkit/core/error.h"

namespace lmkit::analysis {

namespace {
double dot(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}
double max_abs(const std::vector<double>& a) {
  double m = 0;
  for (double v : a) m = std::max(m, std::abs(v));
  return m;
}
}  // namespace

LbfgsResult lbfgs_minimize(const Objective& f, std::vector<double> x, const LbfgsOptions& opt) {
  const size_t n = x.size();
  check(n > 0, "lbfgs: empty parameter vector");
  std::vector<double> g(n), g_new(n), d(n), x_new(n);
  double fx = f(x, g);
  LbfgsResult r;
  if (!std::isfinite(fx)) {
    r.x = x;
    r.f = fx;
    return r;
  }
  struct Pair {
    std::vector<double> s, y;
    double rho;
  };
  std::deque<Pair> mem;
  std::vector<double> alpha(size_t(opt.history));
  for (int it = 0; it < opt.max_iterations; ++it) {
    r.iterations = it + 1;
    if (max_abs(g) <= opt.grad_tol * std::max(1.0, std::abs(fx))) {
      r.converged = true;
      break;
    }
    // Two-loop recursion: d = -H g.
    d = g;
    for (size_t k = mem.size(); k-- > 0;) {
      alpha[k] = mem[k].rho * dot(mem[k].s, d);
      for (size_t i = 0; i < n; ++i) d[i] -= alpha[k] * mem[k].y[i];
    }
    double gamma = mem.empty() ? 1.0 / std::max(1.0, max_abs(g))
                               : dot(mem.back().s, mem.back().y) / dot(mem.back().y, mem.back().y);
    for (double& v : d) v *= gamma;
    for (size_t k = 0; k < mem.size(); ++k) {
      double beta = mem[k].rho * dot(mem[k].y, d);
      for (size_t i = 0; i < n; ++i) d[i] += mem[k].s[i] * (alpha[k] - beta);
    }
    for (double& v : d) v = -v;
    double slope = dot(g, d);
    if (!(slope < 0)) {  // not a descent direction: restart from steepest descent
      mem.clear();
      for (size_t i = 0; i < n; ++i) d[i] = -g[i] / std::max(1.0, max_abs(g));
      slope = dot(g, d);
    }
    // Backtracking line search on the Armijo condition f(x + t d) <= f(x) + c1 t g.d.
    const double c1 = 1e-4;
    double t = 1.0, f_new = 0;
    bool accepted = false;
    for (int ls = 0; ls < 60; ++ls) {
      for (size_t i = 0; i < n; ++i) x_new[i] = x[i] + t * d[i];
      f_new = f(x_new, g_new);
      if (std::isfinite(f_new) && f_new <= fx + c1 * t * slope) {
        accepted = true;
        break;
      }
      t *= 0.5;
    }
    if (!accepted) {  // no decrease possible along d at machine precision
      r.converged = true;
      break;
    }
    Pair p{std::vector<double>(n), std::vector<double>(n), 0};
    for (size_t i = 0; i < n; ++i) p.s[i] = x_new[i] - x[i], p.y[i] = g_new[i] - g[i];
    double sy = dot(p.s, p.y);
    if (sy > 1e-300) {
      p.rho = 1.0 / sy;
      mem.push_back(std::move(p));
      if (int(mem.size()) > opt.history) mem.pop_front();
    }
    double decrease = fx - f_new;
    x.swap(x_new);
    g.swap(g_new);
    fx = f_new;
    if (decrease <= opt.f_tol * std::max(1.0, std::abs(fx)) && max_abs(g) < 1e-6) {
      r.converged = true;
      break;
    }
  }
  r.x = x;
  r.f = fx;
  return r;
}

double golden_section_minimize(const std::function<double(double)>& f, double lo, double hi,
                               double tol) {
  check(lo < hi, "golden section: empty interval [{}, {}]", lo, hi);
  const double inv_phi = (std::sqrt(5.0) - 1) / 2;  // 1/phi
  double a = lo, b = hi;
  double c = b - inv_phi * (b - a), d = a + inv_phi * (b - a);
  double fc = f(c), fd = f(d);
  for (int it = 0; it < 400 && b - a > tol; ++it) {
    if (fc < fd) {
      b = d, d = c, fd = fc;
      c = b - inv_phi * (b - a);
      fc = f(c);
    } else {
      a = c, c = d, fc = fd;
      d = a + inv_phi * (b - a);
      fd = f(d);
    }
  }
  return (a + b) / 2;
}

}  // namespace lmkit::analysis
