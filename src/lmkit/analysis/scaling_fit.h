// Fitting the Chinchilla loss law L(N, D) = E + A/N^alpha + B/D^beta to one's own training
// runs, as Hoffmann et al. 2022 do for Approach 3 (Sec. 3.3, Appendix D.2): minimise
//     sum_i Huber_delta( LSE(a - alpha log N_i, b - beta log D_i, e) - log L_i ),
// A = e^a, B = e^b, E = e^e, delta = 1e-3, with L-BFGS from a grid of initialisations
// alpha, beta in {0, 0.5, ..., 2}, e in {-1, -.5, ..., 1}, a, b in {0, 5, ..., 25}, keeping
// the best. Uncertainty: percentile intervals over bootstrap resamples of the points
// (Efron & Tibshirani 1993); each resample is refitted from the full-data optimum and the
// few grid starts that score best on it.
//
// Runs are the directories `lmkit train` writes: summary.json (params, tokens,
// final_val_loss, loss_last, ...) and log.jsonl (one record per step: step, loss, tokens,
// and val_loss on evaluation steps).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "lmkit/analysis/scaling.h"

namespace lmkit::analysis {

struct FitPoint {
  double params = 0, tokens = 0, loss = 0;
  std::string run;
};

struct FitOptions {
  double huber_delta = 1e-3;
  int bootstrap = 200;  // resamples (0: none)
  uint64_t seed = 1;
  double confidence = 0.95;  // central interval
};

struct Interval {
  double lo = 0, hi = 0;
};

struct FitResult {
  ChinchillaLaw law;     // the best fit
  double objective = 0;  // its Huber objective
  int n_points = 0;
  int starts = 0;                       // initialisations tried on the full data
  int bootstrap_fits = 0;               // resamples fitted
  Interval E, A, B, alpha, beta, a, b;  // a = beta/(alpha+beta), b = alpha/(alpha+beta)
};

// The Huber objective above for `law` on `points` (for tests and reports).
double huber_objective(const ChinchillaLaw& law, const std::vector<FitPoint>& points, double delta);

// Fits the law; throws lmkit::Error when there are fewer than 5 points or a point is
// not positive and finite.
FitResult fit_chinchilla(const std::vector<FitPoint>& points, const FitOptions& opt = {});

// One training run read from disk.
struct RunData {
  std::string dir;
  bool usable = false;           // has params, tokens and a loss
  std::vector<FitPoint> points;  // the final point, or every evaluation (all_points)
  std::vector<std::pair<double, double>> val_curve;  // (tokens, val_loss) from log.jsonl
  std::vector<std::string> notes;                    // what was missing and what was used instead
};

// Reads RUN (a run directory, or its summary.json). `params_key` names the summary field
// used as N ("params" or "params_non_embedding"). Missing keys are reported in notes
// (the run is then unusable or uses a fallback); unreadable or malformed files throw.
RunData read_run(const std::string& run, bool all_points, const std::string& params_key = "params");

}  // namespace lmkit::analysis
