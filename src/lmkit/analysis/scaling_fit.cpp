#include "lmkit/analysis/scaling_fit.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "lmkit/analysis/optimize.h"
#include "lmkit/core/error.h"
#include "lmkit/core/thread_pool.h"
#include "lmkit/io/json_file.h"

namespace lmkit::analysis {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

struct Prepared {
  std::vector<double> logN, logD, logL;
};

Prepared prepare(const std::vector<FitPoint>& points) {
  Prepared p;
  for (const FitPoint& q : points) {
    check(std::isfinite(q.params) && q.params > 0 && std::isfinite(q.tokens) && q.tokens > 0 &&
              std::isfinite(q.loss) && q.loss > 0,
          "scaling fit: point (N={}, D={}, L={}) of run '{}' is not positive and finite", q.params,
          q.tokens, q.loss, q.run);
    p.logN.push_back(std::log(q.params));
    p.logD.push_back(std::log(q.tokens));
    p.logL.push_back(std::log(q.loss));
  }
  return p;
}

// x = (a, b, e, alpha, beta). Sum of Huber losses of the log-space residuals and gradient.
double objective(const Prepared& p, const std::vector<size_t>& idx, double delta,
                 const std::vector<double>& x, std::vector<double>& g) {
  const double a = x[0], b = x[1], e = x[2], alpha = x[3], beta = x[4];
  std::fill(g.begin(), g.end(), 0.0);
  double f = 0;
  for (size_t i : idx) {
    double t1 = a - alpha * p.logN[i], t2 = b - beta * p.logD[i], t3 = e;
    double m = std::max(t1, std::max(t2, t3));
    double e1 = std::exp(t1 - m), e2 = std::exp(t2 - m), e3 = std::exp(t3 - m);
    double s = e1 + e2 + e3;
    double r = m + std::log(s) - p.logL[i];  // log L_hat - log L
    double ar = std::abs(r);
    double h, dh;
    if (ar <= delta)
      h = 0.5 * r * r, dh = r;
    else
      h = delta * (ar - 0.5 * delta), dh = r > 0 ? delta : -delta;
    f += h;
    double w1 = e1 / s, w2 = e2 / s, w3 = e3 / s;  // d LSE / d t_k
    g[0] += dh * w1;
    g[1] += dh * w2;
    g[2] += dh * w3;
    g[3] -= dh * w1 * p.logN[i];
    g[4] -= dh * w2 * p.logD[i];
  }
  return f;
}

std::vector<std::vector<double>> init_grid() {
  std::vector<std::vector<double>> grid;
  for (double alpha = 0; alpha <= 2.0001; alpha += 0.5)
    for (double beta = 0; beta <= 2.0001; beta += 0.5)
      for (double e = -1; e <= 1.0001; e += 0.5)
        for (double a = 0; a <= 25.0001; a += 5)
          for (double b = 0; b <= 25.0001; b += 5) grid.push_back({a, b, e, alpha, beta});
  return grid;
}

struct Best {
  std::vector<double> x;
  double f = INFINITY;
};

// Runs L-BFGS from every start (in parallel over lmkit's thread pool) and keeps the lowest
// objective; ties go to the earliest start, so the result does not depend on the threads.
Best fit_from(const Prepared& p, const std::vector<size_t>& idx, double delta,
              const std::vector<std::vector<double>>& starts) {
  Objective obj = [&](const std::vector<double>& x, std::vector<double>& g) {
    return objective(p, idx, delta, x, g);
  };
  LbfgsOptions opt;
  opt.max_iterations = 1000;
  std::vector<Best> found(starts.size());
  thread_pool().parallel_for(starts.size(), [&](size_t b, size_t e) {
    for (size_t i = b; i < e; ++i) {
      LbfgsResult r = lbfgs_minimize(obj, starts[i], opt);
      if (std::isfinite(r.f)) found[i] = {r.x, r.f};
    }
  });
  Best best;
  for (Best& f : found)
    if (f.f < best.f) best = std::move(f);
  return best;
}

ChinchillaLaw law_of(const std::vector<double>& x) {
  ChinchillaLaw l;
  l.A = std::exp(x[0]);
  l.B = std::exp(x[1]);
  l.E = std::exp(x[2]);
  l.alpha = x[3];
  l.beta = x[4];
  return l;
}

Interval percentile_interval(std::vector<double> v, double confidence) {
  std::sort(v.begin(), v.end());
  auto at = [&](double q) {
    double pos = q * double(v.size() - 1);
    size_t i = size_t(pos);
    double frac = pos - double(i);
    return i + 1 < v.size() ? v[i] + frac * (v[i + 1] - v[i]) : v.back();
  };
  double tail = (1 - confidence) / 2;
  return {at(tail), at(1 - tail)};
}

}  // namespace

double huber_objective(const ChinchillaLaw& law, const std::vector<FitPoint>& points,
                       double delta) {
  Prepared p = prepare(points);
  std::vector<size_t> idx(points.size());
  for (size_t i = 0; i < idx.size(); ++i) idx[i] = i;
  std::vector<double> g(5);
  return objective(p, idx, delta,
                   {std::log(law.A), std::log(law.B), std::log(law.E), law.alpha, law.beta}, g);
}

FitResult fit_chinchilla(const std::vector<FitPoint>& points, const FitOptions& opt) {
  check(points.size() >= 5,
        "scaling fit: {} data point(s); the law has 5 parameters, so at least 5 points are "
        "needed (more runs, or use every evaluation with --points all)",
        points.size());
  check(opt.huber_delta > 0, "scaling fit: Huber delta must be positive");
  check(opt.bootstrap >= 0 && opt.bootstrap <= 100000,
        "scaling fit: bootstrap count {} out of range", opt.bootstrap);
  check(opt.confidence > 0 && opt.confidence < 1, "scaling fit: confidence must be in (0, 1)");
  Prepared p = prepare(points);
  const size_t n = points.size();
  std::vector<size_t> all(n);
  for (size_t i = 0; i < n; ++i) all[i] = i;

  const auto grid = init_grid();
  Best best = fit_from(p, all, opt.huber_delta, grid);
  check(std::isfinite(best.f), "scaling fit: no initialisation converged");
  FitResult r;
  r.law = law_of(best.x);
  r.objective = best.f;
  r.n_points = int(n);
  r.starts = int(grid.size());

  std::vector<double> vE, vA, vB, valpha, vbeta, va, vb;
  std::mt19937_64 rng(opt.seed);
  std::uniform_int_distribution<size_t> pick(0, n - 1);
  std::vector<double> g(5);
  for (int k = 0; k < opt.bootstrap; ++k) {
    std::vector<size_t> idx(n);
    for (size_t& i : idx) i = pick(rng);
    // Starts: the full-data optimum and the 8 grid points scoring best on this resample.
    std::vector<std::pair<double, size_t>> scored;
    scored.reserve(grid.size());
    for (size_t s = 0; s < grid.size(); ++s)
      scored.push_back({objective(p, idx, opt.huber_delta, grid[s], g), s});
    std::partial_sort(scored.begin(), scored.begin() + 8, scored.end());
    std::vector<std::vector<double>> starts = {best.x};
    for (int s = 0; s < 8; ++s) starts.push_back(grid[scored[size_t(s)].second]);
    Best b = fit_from(p, idx, opt.huber_delta, starts);
    if (!std::isfinite(b.f)) continue;
    ChinchillaLaw l = law_of(b.x);
    vE.push_back(l.E), vA.push_back(l.A), vB.push_back(l.B);
    valpha.push_back(l.alpha), vbeta.push_back(l.beta);
    va.push_back(l.a()), vb.push_back(l.b());
  }
  r.bootstrap_fits = int(vE.size());
  if (!vE.empty()) {
    r.E = percentile_interval(vE, opt.confidence);
    r.A = percentile_interval(vA, opt.confidence);
    r.B = percentile_interval(vB, opt.confidence);
    r.alpha = percentile_interval(valpha, opt.confidence);
    r.beta = percentile_interval(vbeta, opt.confidence);
    r.a = percentile_interval(va, opt.confidence);
    r.b = percentile_interval(vb, opt.confidence);
  }
  return r;
}

namespace {

// A positive finite number under `key`, or NaN when absent / null / not a number.
double number(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_number()) return NAN;
  double v = it->get<double>();
  return std::isfinite(v) && v > 0 ? v : NAN;
}

}  // namespace

RunData read_run(const std::string& run, bool all_points, const std::string& params_key) {
  RunData r;
  std::error_code ec;
  fs::path dir = run;
  if (!fs::is_directory(dir, ec)) {
    check(fs::exists(dir, ec), "run '{}' does not exist", run);
    dir = dir.parent_path();  // a summary.json path
    if (dir.empty()) dir = ".";
  }
  r.dir = run;
  fs::path summary_path = dir / "summary.json", log_path = dir / "log.jsonl";
  json summary = json::object();
  if (fs::exists(summary_path, ec)) {
    summary = read_json_file(summary_path.string(), "run summary");
    check(summary.is_object(), "{} is not a JSON object", summary_path.string());
  } else {
    r.notes.push_back("no summary.json");
  }
  std::vector<json> log;
  if (fs::exists(log_path, ec)) {
    std::ifstream f(log_path);
    std::string line;
    int line_no = 0;
    while (std::getline(f, line)) {
      ++line_no;
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      try {
        log.push_back(json::parse(line));
      } catch (const json::parse_error& e) {
        fail("{}:{} is not valid JSON: {}", log_path.string(), line_no, e.what());
      }
      check(log.back().is_object(), "{}:{} is not a JSON object", log_path.string(), line_no);
    }
  } else {
    r.notes.push_back("no log.jsonl");
  }
  for (const json& rec : log) {
    double t = number(rec, "tokens"), v = number(rec, "val_loss");
    if (!std::isnan(t) && !std::isnan(v)) r.val_curve.push_back({t, v});
  }

  double N = number(summary, params_key.c_str());
  if (std::isnan(N)) {
    r.notes.push_back("summary.json lacks '" + params_key + "' (the parameter count): run skipped");
    return r;
  }
  double D = number(summary, "tokens");
  if (std::isnan(D)) {
    for (auto it = log.rbegin(); it != log.rend() && std::isnan(D); ++it) D = number(*it, "tokens");
    if (std::isnan(D)) {
      r.notes.push_back(
          "no 'tokens' (training tokens seen) in summary.json or log.jsonl: run skipped");
      return r;
    }
    r.notes.push_back("summary.json lacks 'tokens'; using the last 'tokens' of log.jsonl");
  }
  double L = number(summary, "final_val_loss");
  if (std::isnan(L)) {
    for (auto it = log.rbegin(); it != log.rend() && std::isnan(L); ++it)
      L = number(*it, "val_loss");
    if (!std::isnan(L)) {
      r.notes.push_back(
          "summary.json lacks 'final_val_loss'; using the last 'val_loss' of log.jsonl");
    } else {
      L = number(summary, "loss_last");
      if (std::isnan(L)) {
        r.notes.push_back("no validation loss and no 'loss_last': run skipped");
        return r;
      }
      r.notes.push_back("no validation loss anywhere; using the final training loss 'loss_last'");
    }
  }
  r.usable = true;
  if (all_points) {
    for (auto [t, v] : r.val_curve)
      if (t < D) r.points.push_back({N, t, v, run});
  }
  r.points.push_back({N, D, L, run});
  return r;
}

}  // namespace lmkit::analysis
