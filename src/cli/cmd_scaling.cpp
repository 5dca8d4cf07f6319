// lmkit scaling: Chinchilla / Kaplan scaling laws for a compute budget or a (N, D) pair, and
// `lmkit scaling fit RUN...` to fit the Chinchilla law to one's own training runs
// (analysis/scaling.h and analysis/scaling_fit.h have the formulas and sources).
#include <fmt/core.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "lmkit/analysis/format.h"
#include "lmkit/analysis/roofline.h"
#include "lmkit/analysis/scaling.h"
#include "lmkit/analysis/scaling_fit.h"
#include "lmkit/core/error.h"
#include "lmkit/io/plot.h"

namespace lmkit::cli {
namespace {

using json = nlohmann::json;
using namespace lmkit::analysis;

json allocation_json(const Allocation& a) {
  return {{"params", a.params},
          {"tokens", a.tokens},
          {"tokens_per_param", a.tokens / a.params},
          {"loss", a.loss},
          {"compute", a.compute}};
}

struct Options {
  double compute = 0, params = 0, tokens = 0;
  double gpus = 0, hours = 0, mfu = 0.4, peak = 0, usd_per_gpu_hour = 0;
  std::string device = "h100";
  bool json_out = false;
  std::string plot_dir;
  // fit
  std::vector<std::string> runs;
  std::string points = "final", params_key = "params";
  int bootstrap = 200;
  uint64_t seed = 1;
  double huber_delta = 1e-3;
};

// Peak FLOP/s per GPU: --peak-flops, else the --device datasheet figure.
double peak_flops(const Options& o, std::string* what) {
  if (o.peak > 0) {
    *what = "--peak-flops";
    return o.peak;
  }
  const Device& d = find_device(o.device);
  *what = d.description + " (" + d.source + ")";
  return d.peak_flops;
}

json law_json(const ChinchillaLaw& law) {
  return {{"E", law.E},       {"A", law.A},   {"B", law.B},   {"alpha", law.alpha},
          {"beta", law.beta}, {"G", law.G()}, {"a", law.a()}, {"b", law.b()}};
}

json budget_report(const Options& o) {
  ChinchillaLaw law;
  KaplanLaw kap;
  json j;
  j["chinchilla_law"] = law_json(law);
  j["chinchilla_law"]["source"] =
      "Hoffmann et al. 2022, arXiv:2203.15556, Sec. 3.3 (Approach 3), Eq. 2 and Eq. 4";
  double C = o.compute;
  std::string peak_what;
  if (o.gpus > 0 || o.hours > 0) {
    check(C == 0, "give either --compute or --gpus/--hours, not both");
    check_positive(o.gpus, "--gpus", 1e8);
    check_positive(o.hours, "--hours", 1e7);
    check(o.mfu > 0 && o.mfu <= 1, "--mfu must be in (0, 1] (got {})", o.mfu);
    double peak = peak_flops(o, &peak_what);
    C = o.gpus * o.hours * 3600 * o.mfu * peak;
    j["budget"] = {{"gpus", o.gpus},     {"hours", o.hours},         {"mfu", o.mfu},
                   {"peak_flops", peak}, {"peak_source", peak_what}, {"compute", C}};
  }
  if (C > 0) {
    check_positive(C, "--compute", 1e35);
    Allocation cf = chinchilla_optimal(law, C);
    Allocation num = chinchilla_optimal_numeric(law, C);
    j["compute"] = C;
    j["chinchilla"] = allocation_json(cf);
    j["chinchilla"]["method"] = "Approach 3 closed form (Eq. 4)";
    j["chinchilla_numeric_check"] = allocation_json(num);
    j["twenty_tokens_per_param"] = allocation_json(twenty_tokens_per_param(law, C));
    KaplanAllocation k = kaplan_optimal(kap, C);
    j["kaplan"] = {{"params_non_embedding", k.params},
                   {"tokens", k.tokens},
                   {"tokens_one_epoch_fit", k.tokens_one_epoch_fit},
                   {"batch_tokens", k.batch_tokens},
                   {"steps", k.steps},
                   {"loss_eq_1_5", k.loss_at_allocation},
                   {"loss_eq_1_3", k.loss_C},
                   {"source",
                    "Kaplan et al. 2020, arXiv:2001.08361: Eq. (6.1) and Appendix A Table 6 "
                    "(N_opt = 1.3e9 C^0.73, C in PF-days), Eq. (1.3), Eq. (1.5)"}};
    // Time and cost on the GPUs (given, or 1 of --device when only --compute was given).
    if (!j.contains("budget")) {
      double peak = peak_flops(o, &peak_what);
      double gpus = o.gpus > 0 ? o.gpus : 1;
      double seconds = C / (gpus * peak * o.mfu);
      j["training_time"] = {
          {"gpus", gpus}, {"peak_flops", peak}, {"peak_source", peak_what},
          {"mfu", o.mfu}, {"seconds", seconds}, {"gpu_hours", gpus * seconds / 3600}};
    } else {
      j["training_time"] = {
          {"gpus", o.gpus}, {"seconds", o.hours * 3600}, {"gpu_hours", o.gpus * o.hours}};
    }
    if (o.usd_per_gpu_hour > 0)
      j["training_time"]["cost_usd"] =
          j["training_time"]["gpu_hours"].get<double>() * o.usd_per_gpu_hour;
  }
  if (o.params > 0 || o.tokens > 0) {
    check_positive(o.params, "--params", 1e15);
    check_positive(o.tokens, "--tokens", 1e18);
    double c6 = 6 * o.params * o.tokens;
    json q = {{"params", o.params},
              {"tokens", o.tokens},
              {"tokens_per_param", o.tokens / o.params},
              {"compute", c6},
              {"chinchilla_loss", law.loss(o.params, o.tokens)},
              {"kaplan_loss_eq_1_5", kap.loss_ND(o.params, o.tokens)},
              {"kaplan_loss_N_eq_1_1", kap.loss_N(o.params)},
              {"kaplan_loss_D_eq_1_2", kap.loss_D(o.tokens)},
              {"kaplan_note", "Kaplan's N counts non-embedding parameters"}};
    q["compute_optimal_at_same_compute"] = allocation_json(chinchilla_optimal(law, c6));
    q["loss_excess_over_optimal"] = law.loss(o.params, o.tokens) - chinchilla_optimal(law, c6).loss;
    j["given"] = q;
  }
  json t3 = json::array();
  for (const Table3Row& r : chinchilla_table3()) {
    Allocation a3 = chinchilla_optimal_for_params(law, r.params);
    t3.push_back({{"params", r.params},
                  {"approach1_flops", r.flops},
                  {"gopher_units", r.gopher_units},
                  {"approach1_tokens", r.tokens},
                  {"approach3_flops", a3.compute},
                  {"approach3_tokens", a3.tokens}});
  }
  j["table3"] = t3;
  j["table3_source"] = "Hoffmann et al. 2022, Table 3 (Approach 1 projections)";
  return j;
}

double d(const json& v) {
  return v.get<double>();
}

void print_budget(const json& j) {
  const json& law = j["chinchilla_law"];
  fmt::print("Chinchilla law (Hoffmann et al. 2022, Approach 3): L(N,D) = {} + {}/N^{} + {}/D^{}\n",
             d(law["E"]), d(law["A"]), d(law["alpha"]), d(law["B"]), d(law["beta"]));
  fmt::print("  N_opt = G (C/6)^a, D_opt = G^-1 (C/6)^b with G = {:.4f}, a = {:.4f}, b = {:.4f}\n",
             d(law["G"]), d(law["a"]), d(law["b"]));
  if (j.contains("budget")) {
    const json& b = j["budget"];
    fmt::print("\nBudget: {} GPUs x {} h x MFU {} x {}FLOP/s ({}) = {:.4g} FLOPs\n", d(b["gpus"]),
               d(b["hours"]), d(b["mfu"]), si(d(b["peak_flops"])),
               b["peak_source"].get<std::string>(), d(b["compute"]));
  }
  if (j.contains("compute")) {
    const json& c = j["chinchilla"];
    fmt::print("\nCompute C = {:.4g} FLOPs ({:.4g} PF-days)\n", d(j["compute"]),
               d(j["compute"]) / kPetaflopDay);
    fmt::print("  {:<34}{:>14}{:>14}{:>12}{:>10}\n", "", "params N", "tokens D", "D/N", "loss");
    auto row = [&](const std::string& name, const json& a, const char* pk, const char* lk) {
      fmt::print("  {:<34}{:>14}{:>14}{:>12.1f}{:>10.4f}\n", name, si(d(a[pk])), si(d(a["tokens"])),
                 d(a["tokens"]) / d(a[pk]), d(a[lk]));
    };
    row("Chinchilla approach 3 (closed form)", c, "params", "loss");
    row("  numerical minimisation check", j["chinchilla_numeric_check"], "params", "loss");
    row("~20 tokens per parameter rule", j["twenty_tokens_per_param"], "params", "loss");
    row("Kaplan 2020 (N non-embedding)", j["kaplan"], "params_non_embedding", "loss_eq_1_5");
    fmt::print(
        "  note: Approach 3 with the published (rounded) constants gives far more tokens per "
        "parameter than\n  Approaches 1-2 (~20, Table 3); Besiroglu et al. 2024 "
        "(arXiv:2404.10102) analyse this inconsistency.\n");
    fmt::print(
        "  Kaplan L(C_min), Eq. (1.3): {:.4f} (WebText2 nats; not comparable with Chinchilla's "
        "MassiveText loss)\n",
        d(j["kaplan"]["loss_eq_1_3"]));
    const json& t = j["training_time"];
    fmt::print("  training time: {} on {} GPU(s) ({} GPU-hours)", duration(d(t["seconds"])),
               d(t["gpus"]), si(d(t["gpu_hours"])));
    if (t.contains("cost_usd")) fmt::print(", cost ${}", si(d(t["cost_usd"])));
    if (t.contains("peak_source"))
      fmt::print("\n    at MFU {} of {}FLOP/s per GPU ({})", d(t["mfu"]), si(d(t["peak_flops"])),
                 t["peak_source"].get<std::string>());
    fmt::print("\n");
  }
  if (j.contains("given")) {
    const json& g = j["given"];
    fmt::print("\nN = {} parameters, D = {} tokens ({:.1f} tokens/param), C = 6ND = {:.4g} FLOPs\n",
               si(d(g["params"])), si(d(g["tokens"])), d(g["tokens_per_param"]), d(g["compute"]));
    fmt::print(
        "  Chinchilla loss {:.4f}; compute-optimal at the same C: N {} D {} loss {:.4f} "
        "(excess {:.4f})\n",
        d(g["chinchilla_loss"]), si(d(g["compute_optimal_at_same_compute"]["params"])),
        si(d(g["compute_optimal_at_same_compute"]["tokens"])),
        d(g["compute_optimal_at_same_compute"]["loss"]), d(g["loss_excess_over_optimal"]));
    fmt::print(
        "  Kaplan (N taken as non-embedding): L(N, D) Eq. (1.5) {:.4f}; L(N) Eq. (1.1) "
        "{:.4f}; L(D) Eq. (1.2) {:.4f}\n",
        d(g["kaplan_loss_eq_1_5"]), d(g["kaplan_loss_N_eq_1_1"]), d(g["kaplan_loss_D_eq_1_2"]));
  }
  fmt::print("\n{}, next to Approach 3 (closed form):\n", j["table3_source"].get<std::string>());
  fmt::print("  {:>10}{:>12}{:>12}{:>12}  |{:>12}{:>12}\n", "params", "FLOPs", "Gopher", "tokens",
             "A3 FLOPs", "A3 tokens");
  for (const json& r : j["table3"])
    fmt::print("  {:>10}{:>12.3g}{:>12}{:>12}  |{:>12.3g}{:>12}\n", si(d(r["params"])),
               d(r["approach1_flops"]), r["gopher_units"].get<std::string>(),
               si(d(r["approach1_tokens"])), d(r["approach3_flops"]), si(d(r["approach3_tokens"])));
}

void plot_budget(const std::string& dir) {
  ChinchillaLaw law;
  KaplanLaw kap;
  plot::Figure f;
  f.title = "Compute-optimal model size vs training compute";
  f.x_label = "training compute C (FLOPs)";
  f.y_label = "parameters N";
  f.log_x = f.log_y = true;
  f.key = plot::Key::TopLeft;
  plot::Series a3{"Chinchilla approach 3", {}, {}},
      k20{"20 tokens/param", {}, {}, plot::Style::Lines, true},
      kp{"Kaplan 2020 (non-embedding)", {}, {}},
      t3{"Chinchilla Table 3 (approach 1)", {}, {}, plot::Style::Points};
  for (double lc = 18; lc <= 28.0001; lc += 0.25) {
    double C = std::pow(10, lc);
    a3.x.push_back(C), a3.y.push_back(chinchilla_optimal(law, C).params);
    k20.x.push_back(C), k20.y.push_back(twenty_tokens_per_param(law, C).params);
    kp.x.push_back(C), kp.y.push_back(kaplan_optimal(kap, C).params);
  }
  for (const Table3Row& r : chinchilla_table3()) t3.x.push_back(r.flops), t3.y.push_back(r.params);
  f.lines = {a3, k20, kp, t3};
  plot::render(f, dir + "/optimal_params_vs_compute.png");

  plot::Figure g;
  g.title = "Chinchilla loss at the compute-optimal allocation";
  g.x_label = "training compute C (FLOPs)";
  g.y_label = "predicted loss (nats/token)";
  g.log_x = true;
  plot::Series l{"L(N_opt, D_opt)", {}, {}};
  for (double lc = 18; lc <= 28.0001; lc += 0.25) {
    double C = std::pow(10, lc);
    l.x.push_back(C), l.y.push_back(chinchilla_optimal(law, C).loss);
  }
  g.lines = {l};
  plot::render(g, dir + "/loss_vs_compute.png");
}

// ---- scaling fit ----

json interval_json(double v, const Interval& i, bool have) {
  json j = {{"value", v}};
  if (have) j["interval"] = {i.lo, i.hi};
  return j;
}

int run_fit(const Options& o) {
  check(!o.runs.empty(), "scaling fit: give one or more run directories");
  check(o.points == "final" || o.points == "all", "--points must be 'final' or 'all'");
  check(o.params_key == "params" || o.params_key == "params_non_embedding",
        "--params-key must be 'params' or 'params_non_embedding'");
  std::vector<RunData> runs;
  std::vector<FitPoint> points;
  json runs_json = json::array();
  for (const std::string& r : o.runs) {
    RunData rd = read_run(r, o.points == "all", o.params_key);
    for (const std::string& n : rd.notes) fmt::print(stderr, "note: {}: {}\n", r, n);
    json rj = {{"run", r}, {"usable", rd.usable}, {"notes", rd.notes}};
    if (rd.usable) {
      rj["params"] = rd.points.back().params;
      rj["tokens"] = rd.points.back().tokens;
      rj["loss"] = rd.points.back().loss;
      rj["points"] = rd.points.size();
      points.insert(points.end(), rd.points.begin(), rd.points.end());
    }
    runs_json.push_back(rj);
    runs.push_back(std::move(rd));
  }
  FitOptions fo;
  fo.bootstrap = o.bootstrap;
  fo.seed = o.seed;
  fo.huber_delta = o.huber_delta;
  FitResult r = fit_chinchilla(points, fo);
  const bool ci = r.bootstrap_fits > 0;
  json j;
  j["runs"] = runs_json;
  j["n_points"] = r.n_points;
  j["method"] = "Huber (delta " + fmt::format("{:g}", fo.huber_delta) +
                ") on log loss, L-BFGS from the Hoffmann et al. 2022 initialisation grid; "
                "95% percentile bootstrap intervals";
  j["fit"] = {{"E", interval_json(r.law.E, r.E, ci)},
              {"A", interval_json(r.law.A, r.A, ci)},
              {"B", interval_json(r.law.B, r.B, ci)},
              {"alpha", interval_json(r.law.alpha, r.alpha, ci)},
              {"beta", interval_json(r.law.beta, r.beta, ci)},
              {"a", interval_json(r.law.a(), r.a, ci)},
              {"b", interval_json(r.law.b(), r.b, ci)},
              {"objective", r.objective},
              {"bootstrap_fits", r.bootstrap_fits}};
  j["paper"] = law_json(ChinchillaLaw{});
  double cmax = 0;
  for (const FitPoint& p : points) cmax = std::max(cmax, 6 * p.params * p.tokens);
  json frontier = json::array();
  for (double f : {1.0, 10.0, 100.0}) {
    Allocation a = chinchilla_optimal(r.law, cmax * f);
    frontier.push_back(allocation_json(a));
  }
  j["compute_optimal_under_fit"] = frontier;

  if (o.json_out) {
    fmt::print("{}\n", j.dump(2));
  } else {
    fmt::print("{} run(s), {} point(s) used\n", runs.size(), r.n_points);
    for (const json& rj : runs_json)
      if (rj["usable"].get<bool>())
        fmt::print("  {:<40} N {:>10}  D {:>10}  loss {:.4f}\n", rj["run"].get<std::string>(),
                   si(d(rj["params"])), si(d(rj["tokens"])), d(rj["loss"]));
      else
        fmt::print("  {:<40} skipped\n", rj["run"].get<std::string>());
    fmt::print("\nFitted L(N, D) = E + A/N^alpha + B/D^beta ({})\n",
               j["method"].get<std::string>());
    auto row = [&](const char* name, double v, const Interval& i, double paper) {
      fmt::print("  {:<6}{:>12.4g}", name, v);
      if (ci) fmt::print("   [{:.4g}, {:.4g}]", i.lo, i.hi);
      fmt::print("   (paper {:.4g})\n", paper);
    };
    ChinchillaLaw paper;
    row("E", r.law.E, r.E, paper.E);
    row("A", r.law.A, r.A, paper.A);
    row("B", r.law.B, r.B, paper.B);
    row("alpha", r.law.alpha, r.alpha, paper.alpha);
    row("beta", r.law.beta, r.beta, paper.beta);
    row("a", r.law.a(), r.a, paper.a());
    row("b", r.law.b(), r.b, paper.b());
    fmt::print("\nCompute-optimal under the fit:\n");
    for (const json& a : frontier)
      fmt::print("  C {:.3g} FLOPs: N {}  D {}  loss {:.4f}\n", d(a["compute"]), si(d(a["params"])),
                 si(d(a["tokens"])), d(a["loss"]));
  }
  if (!o.plot_dir.empty()) {
    std::filesystem::create_directories(o.plot_dir);
    plot::Figure f;
    f.title = "Loss vs training compute (C = 6ND) with the fitted compute-optimal frontier";
    f.x_label = "training compute C (FLOPs)";
    f.y_label = "validation loss";
    f.log_x = true;
    f.key = plot::Key::Outside;
    double cmin = INFINITY;
    for (const RunData& rd : runs) {
      if (!rd.usable) continue;
      double N = rd.points.back().params;
      std::filesystem::path name = rd.dir;
      if (name.filename() == "summary.json") name = name.parent_path();
      plot::Series s{name.filename().string(), {}, {}};
      for (auto [t, v] : rd.val_curve) {
        s.x.push_back(6 * N * t), s.y.push_back(v);
        cmin = std::min(cmin, 6 * N * t);
      }
      if (!s.x.empty()) f.lines.push_back(s);
    }
    plot::Series fin{"fitted points", {}, {}, plot::Style::Points};
    for (const FitPoint& p : points) {
      fin.x.push_back(6 * p.params * p.tokens), fin.y.push_back(p.loss);
      cmin = std::min(cmin, 6 * p.params * p.tokens);
    }
    f.lines.push_back(fin);
    plot::Series front{"fitted frontier L(N_opt(C), D_opt(C))", {}, {}, plot::Style::Lines, true};
    for (int k = 0; k <= 60; ++k) {
      double C = cmin * std::pow(cmax * 10 / cmin, k / 60.0);
      front.x.push_back(C), front.y.push_back(chinchilla_optimal(r.law, C).loss);
    }
    f.lines.push_back(front);
    plot::render(f, o.plot_dir + "/scaling_fit.png");
    if (!o.json_out) fmt::print("figure written to {}/scaling_fit.png\n", o.plot_dir);
  }
  return 0;
}

Run setup(CLI::App& app) {
  auto o = std::make_shared<Options>();
  auto threads = add_threads_option(app);
  app.description(
      "Chinchilla (Hoffmann et al. 2022) and Kaplan et al. 2020 scaling laws: compute-optimal "
      "model size, data and loss for a budget, or the predicted loss of N parameters trained on "
      "D tokens. `lmkit scaling fit RUN...` fits the law to your own runs.");
  app.add_option("--compute,-C", o->compute, "training compute budget in FLOPs (e.g. 1e23)");
  app.add_option("--gpus", o->gpus, "budget as GPUs x hours x MFU x peak: number of GPUs");
  app.add_option("--hours", o->hours, "budget: wall-clock hours");
  app.add_option("--mfu", o->mfu, "model FLOPs utilisation (0..1]")->capture_default_str();
  app.add_option("--device", o->device, "GPU for the peak FLOP/s: " + device_names())
      ->capture_default_str();
  app.add_option("--peak-flops", o->peak, "peak FLOP/s per GPU (overrides --device)");
  app.add_option("--usd-per-gpu-hour", o->usd_per_gpu_hour, "price for the cost estimate");
  app.add_option("--params,-N", o->params, "model parameters N (with --tokens: predicted loss)");
  app.add_option("--tokens,-D", o->tokens, "training tokens D (with --params)");
  app.add_flag("--json", o->json_out, "print one JSON object");
  app.add_option("--plot", o->plot_dir, "write figures (PNG) into this directory");

  CLI::App* fit = app.add_subcommand("fit", "fit the Chinchilla law to lmkit train runs");
  fit->add_option("runs", o->runs,
                  "run directories written by `lmkit train` (or their summary.json)")
      ->required();
  fit->add_option("--points", o->points,
                  "final: one point per run (its end); all: also every validation evaluation")
      ->capture_default_str();
  fit->add_option("--params-key", o->params_key,
                  "summary.json field used as N: params | params_non_embedding")
      ->capture_default_str();
  fit->add_option("--bootstrap", o->bootstrap, "bootstrap resamples for the intervals (0: none)")
      ->capture_default_str();
  fit->add_option("--seed", o->seed, "bootstrap seed")->capture_default_str();
  fit->add_option("--huber-delta", o->huber_delta, "Huber loss delta (paper: 1e-3)")
      ->capture_default_str();
  fit->add_flag("--json", o->json_out, "print one JSON object");
  fit->add_option("--plot", o->plot_dir, "write scaling_fit.png into this directory");
  app.require_subcommand(0, 1);
  return [o, fit, threads]() {
    threads();
    if (fit->parsed()) return run_fit(*o);
    for (auto [v, name] : {std::pair{o->compute, "--compute"},
                           {o->params, "--params"},
                           {o->tokens, "--tokens"},
                           {o->gpus, "--gpus"},
                           {o->hours, "--hours"},
                           {o->peak, "--peak-flops"},
                           {o->usd_per_gpu_hour, "--usd-per-gpu-hour"}})
      check(std::isfinite(v) && v >= 0, "{} must be a positive number (got {})", name, v);
    check((o->params > 0) == (o->tokens > 0), "--params and --tokens go together");
    json j = budget_report(*o);
    if (o->json_out)
      fmt::print("{}\n", j.dump(2));
    else
      print_budget(j);
    if (!o->plot_dir.empty()) {
      std::filesystem::create_directories(o->plot_dir);
      plot_budget(o->plot_dir);
      if (!o->json_out) fmt::print("\nfigures written to {}/\n", o->plot_dir);
    }
    return 0;
  };
}

const Command command("scaling", "Chinchilla / Kaplan scaling laws; `scaling fit` for your runs",
                      setup);

}  // namespace
}  // namespace lmkit::cli
