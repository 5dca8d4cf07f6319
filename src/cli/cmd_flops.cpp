// lmkit flops: parameters, FLOPs, memory and roofline of a model, exactly from its
// architecture (analysis/counts.h has the conventions and sources).
#include <fmt/core.h>

#include <cmath>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "lmkit/analysis/counts.h"
#include "lmkit/analysis/format.h"
#include "lmkit/analysis/presets.h"
#include "lmkit/analysis/roofline.h"
#include "lmkit/core/error.h"
#include "lmkit/io/plot.h"

namespace lmkit::cli {
namespace {

using json = nlohmann::json;
using namespace lmkit::analysis;

// Integral values below 2^53 as JSON integers (exact), the rest as doubles.
json num(double v) {
  if (std::isfinite(v) && v == std::floor(v) && std::abs(v) < 9007199254740992.0)
    return json(int64_t(v));
  return json(v);
}

// Contexts swept for the "how it grows with context" outputs: 128 .. 128K, powers of two.
std::vector<int64_t> context_sweep() {
  std::vector<int64_t> t;
  for (int64_t c = 128; c <= 131072; c *= 2) t.push_back(c);
  return t;
}

json flops_json(const Flops& f) {
  json shares = json::object();
  if (f.total > 0)
    shares = {{"attn_proj", f.attn_proj / f.total},
              {"mlp", f.mlp / f.total},
              {"lm_head", f.lm_head / f.total},
              {"attention", f.attention / f.total}};
  return {{"total", num(f.total)},
          {"matmul", num(f.matmul)},
          {"attn_proj", num(f.attn_proj)},
          {"mlp", num(f.mlp)},
          {"lm_head", num(f.lm_head)},
          {"attention", num(f.attention)},
          {"shares", shares},
          {"other_not_in_total",
           {{"total", num(f.other)},
            {"norm", num(f.other_norm)},
            {"activation", num(f.other_activation)},
            {"softmax", num(f.other_softmax)},
            {"rope", num(f.other_rope)},
            {"residual_and_bias", num(f.other_residual_bias)}}}};
}

struct Options {
  std::vector<std::string> models;
  int64_t context = 4096;
  double tokens = 0;
  std::string weight_dtype = "bf16", kv_dtype = "bf16", device = "host";
  bool json_out = false, csv = false;
  std::string plot_dir;
};

// Everything `lmkit flops` reports about one model, as JSON (the table and CSV are views).
json analyse(const ModelSpec& m, const Options& o, const Device* dev) {
  const ModelConfig& c = m.config;
  const int64_t T = o.context;
  ParamCounts p = count_params(c);
  Flops pre = prefill_flops(m, T), dec = decode_flops(m, T);
  Flops pre_last = prefill_flops(m, T, true);
  const double wbits = find_format(weight_formats(), o.weight_dtype).bits;
  const double kvbits = find_format(kv_formats(), o.kv_dtype).bits;

  json j;
  j["model"] = m.name;
  j["source"] = m.source;
  j["config"] = c.to_json();
  j["sliding_window"] = m.sliding_window;
  j["context"] = T;
  j["params"] = {{"total", p.total},
                 {"embedding", p.embedding},
                 {"position_embedding", p.position},
                 {"attention", p.attention},
                 {"attention_detail",
                  {{"q", p.attn_q},
                   {"k", p.attn_k},
                   {"v", p.attn_v},
                   {"o", p.attn_o},
                   {"bias", p.attn_bias},
                   {"qk_norm", p.attn_qk_norm}}},
                 {"mlp", p.mlp},
                 {"norm", p.norm},
                 {"lm_head", p.lm_head},
                 {"non_embedding", p.non_embedding}};
  if (m.published_params) {
    const char* key = m.counted_from_file ? "in_file" : "published";
    j["params"][key] = m.published_params;
    j["params"][std::string(key) + "_source"] = m.published_source;
  }
  json mm = json::array();
  for (const Matmul& x : matmuls(c))
    mm.push_back({{"name", x.name},
                  {"component", x.component},
                  {"in", x.in},
                  {"out", x.out},
                  {"count", x.count},
                  {"flops_per_token", num(x.flops_per_token())}});
  j["matmuls"] = mm;
  j["prefill_flops"] = num(pre.total);
  j["decode_flops"] = num(dec.total);
  j["prefill"] = flops_json(pre);
  j["prefill"]["total_last_logits_only"] = num(pre_last.total);
  j["decode"] = flops_json(dec);

  // Training: forward + backward = 3 x forward (backward ~ 2 x forward, Kaplan et al. 2020
  // Sec. 2.1), per token of a T-token sequence, next to the 6 N rule.
  const double train_per_token = 3 * pre.total / double(T);
  j["training"] = {{"flops_per_token", train_per_token},
                   {"six_n_per_token", num(6.0 * double(p.total))},
                   {"six_n_non_embedding_per_token", num(6.0 * double(p.non_embedding))},
                   {"ratio_to_six_n", train_per_token / (6.0 * double(p.total))}};
  if (o.tokens > 0) {
    j["training"]["tokens"] = o.tokens;
    j["training"]["flops"] = train_per_token * o.tokens;
    j["training"]["six_n_d"] = 6.0 * double(p.total) * o.tokens;
  }
  json sweep = json::array();
  for (int64_t t : context_sweep()) {
    Flops a = prefill_flops(m, t), d = decode_flops(m, t);
    sweep.push_back({{"context", t},
                     {"prefill_flops", num(a.total)},
                     {"prefill_flops_per_token", a.total / double(t)},
                     {"prefill_attention_share", a.attention / a.total},
                     {"decode_flops", num(d.total)},
                     {"decode_attention_share", d.attention / d.total},
                     {"kv_cache_bytes", num(kv_bytes_context(m, t, kvbits))},
                     {"prefill_intensity", a.total / prefill_bytes(m, t, wbits, kvbits)},
                     {"decode_intensity", d.total / decode_bytes(m, t, wbits, kvbits)}});
  }
  j["context_sweep"] = sweep;

  j["kv_cache_bytes_per_token"] = num(kv_bytes_per_token(c, 16));  // bf16 KV (contract)
  json kv = {{"dtype", o.kv_dtype},
             {"bytes_per_token", num(kv_bytes_per_token(c, kvbits))},
             {"bytes_context", num(kv_bytes_context(m, T, kvbits))}};
  for (const StorageFormat& f : kv_formats())
    kv["bytes_per_token_by_dtype"][f.name] = num(kv_bytes_per_token(c, f.bits));
  j["kv_cache"] = kv;
  for (const StorageFormat& f : weight_formats())
    j["weights_bytes"][f.name] = num(double(p.total) * f.bits / 8);

  const double pre_bytes = prefill_bytes(m, T, wbits, kvbits);
  const double dec_bytes = decode_bytes(m, T, wbits, kvbits);
  j["intensity"] = {{"weight_dtype", o.weight_dtype},
                    {"kv_dtype", o.kv_dtype},
                    {"prefill_bytes", num(pre_bytes)},
                    {"decode_bytes", num(dec_bytes)},
                    {"prefill_flops_per_byte", pre.total / pre_bytes},
                    {"decode_flops_per_byte", dec.total / dec_bytes}};
  if (dev) {
    Roofline rp = roofline(pre.total, pre_bytes, *dev), rd = roofline(dec.total, dec_bytes, *dev);
    j["roofline"] = {{"device", dev->name},
                     {"description", dev->description},
                     {"peak_flops", dev->peak_flops},
                     {"bandwidth_bytes_per_sec", dev->bandwidth},
                     {"source", dev->source},
                     {"ridge_flops_per_byte", rp.ridge},
                     {"prefill_seconds", rp.seconds},
                     {"prefill_tokens_per_sec", double(T) / rp.seconds},
                     {"prefill_bound", rp.memory_bound ? "memory" : "compute"},
                     {"decode_seconds", rd.seconds},
                     {"decode_tokens_per_sec", 1.0 / rd.seconds},
                     {"decode_bound", rd.memory_bound ? "memory" : "compute"}};
  }
  return j;
}

double d(const json& v) {
  return v.get<double>();
}

void print_table(const json& j) {
  const json& p = j["params"];
  fmt::print("== {} ==  ({})\n", j["model"].get<std::string>(), j["source"].get<std::string>());
  const json& cfg = j["config"];
  fmt::print("arch {}: {} layers, dim {}, {} heads ({} KV) x {}, MLP {} ({}), vocab {}{}\n",
             cfg["arch"].get<std::string>(), cfg["n_layer"].get<int64_t>(),
             cfg["dim"].get<int64_t>(), cfg["n_head"].get<int64_t>(),
             cfg["n_kv_head"].get<int64_t>(), cfg["head_dim"].get<int64_t>(),
             cfg["hidden_dim"].get<int64_t>(), cfg["mlp"].get<std::string>(),
             cfg["vocab_size"].get<int64_t>(),
             j["sliding_window"].get<int64_t>() > 0
                 ? fmt::format(", sliding window {}", j["sliding_window"].get<int64_t>())
                 : "");
  fmt::print("\nParameters\n");
  auto row = [&](const char* name, int64_t v) {
    fmt::print("  {:<22}{:>20}  {:>6}\n", name, with_commas(v),
               percent(double(v) / double(p["total"].get<int64_t>())));
  };
  row("embedding", p["embedding"]);
  if (p["position_embedding"].get<int64_t>()) row("position embedding", p["position_embedding"]);
  row("attention", p["attention"]);
  const json& ad = p["attention_detail"];
  fmt::print("    q {} | k {} | v {} | o {} | bias {} | q/k norm {}\n", with_commas(ad["q"]),
             with_commas(ad["k"]), with_commas(ad["v"]), with_commas(ad["o"]),
             with_commas(ad["bias"]), with_commas(ad["qk_norm"]));
  row("mlp", p["mlp"]);
  row("norms", p["norm"]);
  row("lm_head", p["lm_head"]);
  fmt::print("  {:<22}{:>20}\n", "total", with_commas(p["total"]));
  for (const char* key : {"published", "in_file"})
    if (p.contains(key))
      fmt::print("  {:<22}{:>20}  {} ({})\n", key, with_commas(p[key]),
                 p[key] == p["total"] ? "= total" : "DIFFERS",
                 p[std::string(key) + "_source"].get<std::string>());

  const int64_t T = j["context"];
  fmt::print("\nFLOPs (multiply-add = 2), context T = {}\n", T);
  fmt::print("  {:<12}{:>14}{:>14}{:>14}{:>14}{:>14}\n", "", "total", "attn proj", "mlp", "lm_head",
             "attention");
  for (const char* k : {"prefill", "decode"}) {
    const json& f = j[k];
    fmt::print("  {:<12}{:>14}{:>14}{:>14}{:>14}{:>14}\n", k, si(d(f["total"])) + "FLOP",
               percent(d(f["shares"]["attn_proj"])), percent(d(f["shares"]["mlp"])),
               percent(d(f["shares"]["lm_head"])), percent(d(f["shares"]["attention"])));
  }
  fmt::print(
      "  prefill = one forward pass over T tokens, logits at every position ({}FLOP with "
      "logits for the last token only)\n",
      si(d(j["prefill"]["total_last_logits_only"])));
  fmt::print(
      "  decode  = the T-th token alone, attending {} keys\n",
      j["sliding_window"].get<int64_t>() > 0 ? std::min(T, j["sliding_window"].get<int64_t>()) : T);
  fmt::print(
      "  other (norms, activations, softmax, RoPE, adds; not in totals): prefill {}FLOP, "
      "decode {}FLOP\n",
      si(d(j["prefill"]["other_not_in_total"]["total"])),
      si(d(j["decode"]["other_not_in_total"]["total"])));
  const json& tr = j["training"];
  fmt::print(
      "\nTraining per token (3 x forward at T): {}FLOP   6N: {}FLOP (ratio {:.3f});  6N "
      "non-embedding: {}FLOP\n",
      si(d(tr["flops_per_token"])), si(d(tr["six_n_per_token"])), d(tr["ratio_to_six_n"]),
      si(d(tr["six_n_non_embedding_per_token"])));
  if (tr.contains("tokens"))
    fmt::print("  for {} tokens: {}FLOP (6ND: {}FLOP)\n", si(d(tr["tokens"])), si(d(tr["flops"])),
               si(d(tr["six_n_d"])));

  fmt::print("\nAttention share of FLOPs as context grows\n  {:>8}{:>16}{:>10}{:>10}{:>12}\n",
             "context", "prefill/token", "prefill", "decode", "KV cache");
  for (const json& s : j["context_sweep"]) {
    if (s["context"].get<int64_t>() < 1024) continue;
    fmt::print("  {:>8}{:>16}{:>10}{:>10}{:>12}\n", s["context"].get<int64_t>(),
               si(d(s["prefill_flops_per_token"])) + "FLOP",
               percent(d(s["prefill_attention_share"])), percent(d(s["decode_attention_share"])),
               bytes(d(s["kv_cache_bytes"])));
  }

  fmt::print("\nMemory\n  weights:");
  for (auto& [k, v] : j["weights_bytes"].items()) fmt::print("  {} {}", k, bytes(d(v)));
  const json& kv = j["kv_cache"];
  fmt::print("\n  KV cache per token: bf16 {}  ({} {});  for T = {}: {}\n",
             bytes(d(j["kv_cache_bytes_per_token"])), kv["dtype"].get<std::string>(),
             bytes(d(kv["bytes_per_token"])), T, bytes(d(kv["bytes_context"])));
  const json& in = j["intensity"];
  fmt::print(
      "  arithmetic intensity ({} weights, {} KV): prefill {:.1f} FLOP/byte, decode "
      "{:.2f} FLOP/byte\n",
      in["weight_dtype"].get<std::string>(), in["kv_dtype"].get<std::string>(),
      d(in["prefill_flops_per_byte"]), d(in["decode_flops_per_byte"]));
  if (j.contains("roofline")) {
    const json& r = j["roofline"];
    fmt::print("\nRoofline on {} ({}: {}FLOP/s, {}B/s; ridge {:.1f} FLOP/byte)\n  source: {}\n",
               r["device"].get<std::string>(), r["description"].get<std::string>(),
               si(d(r["peak_flops"])), si(d(r["bandwidth_bytes_per_sec"])),
               d(r["ridge_flops_per_byte"]), r["source"].get<std::string>());
    fmt::print("  prefill of {} tokens: {} ({}tokens/s, {}-bound)\n", T,
               duration(d(r["prefill_seconds"])), si(d(r["prefill_tokens_per_sec"])),
               r["prefill_bound"].get<std::string>());
    fmt::print("  decode at T = {}: {} per token ({}tokens/s, {}-bound)\n", T,
               duration(d(r["decode_seconds"])), si(d(r["decode_tokens_per_sec"])),
               r["decode_bound"].get<std::string>());
  }
  fmt::print("\n");
}

void print_csv(const std::vector<json>& all) {
  fmt::print(
      "model,context,params_total,params_embedding,params_position_embedding,"
      "params_attention,params_mlp,params_norm,params_lm_head,prefill_flops,"
      "decode_flops,prefill_attention_share,decode_attention_share,"
      "training_flops_per_token,kv_cache_bytes_per_token,weights_bytes_bf16,"
      "prefill_flops_per_byte,decode_flops_per_byte\n");
  for (const json& j : all) {
    const json& p = j["params"];
    fmt::print(
        "{},{},{},{},{},{},{},{},{},{:.17g},{:.17g},{:.6g},{:.6g},{:.17g},{},{:.17g},{:.6g},{:.6g}"
        "\n",
        j["model"].get<std::string>(), j["context"].get<int64_t>(), p["total"].get<int64_t>(),
        p["embedding"].get<int64_t>(), p["position_embedding"].get<int64_t>(),
        p["attention"].get<int64_t>(), p["mlp"].get<int64_t>(), p["norm"].get<int64_t>(),
        p["lm_head"].get<int64_t>(), d(j["prefill_flops"]), d(j["decode_flops"]),
        d(j["prefill"]["shares"]["attention"]), d(j["decode"]["shares"]["attention"]),
        d(j["training"]["flops_per_token"]), d(j["kv_cache_bytes_per_token"]),
        d(j["weights_bytes"]["bf16"]), d(j["intensity"]["prefill_flops_per_byte"]),
        d(j["intensity"]["decode_flops_per_byte"]));
  }
}

// The course notebook's figures, one PNG each, through io/plot.
void write_plots(const std::vector<json>& all, const std::string& dir, const Device* dev) {
  std::filesystem::create_directories(dir);
  auto sweep_series = [&](const char* key, double scale) {
    std::vector<plot::Series> s;
    for (const json& j : all) {
      plot::Series x{j["model"].get<std::string>(), {}, {}};
      for (const json& r : j["context_sweep"]) {
        x.x.push_back(d(r["context"]));
        x.y.push_back(d(r[key]) * scale);
      }
      s.push_back(std::move(x));
    }
    return s;
  };
  const std::string T = std::to_string(all[0]["context"].get<int64_t>());

  plot::Figure f1;
  f1.title = "Forward FLOPs per token vs context (prefill of T tokens / T)";
  f1.x_label = "context length T (tokens)";
  f1.y_label = "FLOPs per token";
  f1.x_min = 100;
  f1.x_max = 2e5;
  f1.log_x = f1.log_y = true;
  f1.key = plot::Key::Outside;
  f1.lines = sweep_series("prefill_flops_per_token", 1);
  plot::render(f1, dir + "/flops_vs_context.png");

  plot::Figure f2;
  f2.title = "Where the prefill FLOPs go at T = " + T;
  f2.y_label = "share of prefill FLOPs";
  f2.key = plot::Key::Outside;
  for (const json& j : all) f2.stacked.categories.push_back(j["model"].get<std::string>());
  for (const char* k : {"attn_proj", "mlp", "lm_head", "attention"}) {
    plot::StackedBars::Layer layer{k, {}};
    for (const json& j : all) layer.values.push_back(d(j["prefill"]["shares"][k]));
    f2.stacked.layers.push_back(layer);
  }
  plot::render(f2, dir + "/components.png");

  plot::Figure f3;
  f3.title = "Attention (QK^T, AV) share of prefill FLOPs vs context";
  f3.x_label = "context length T (tokens)";
  f3.y_label = "attention share";
  f3.x_min = 100;
  f3.x_max = 2e5;
  f3.log_x = true;
  f3.y_min = 0;
  f3.y_max = 1;
  f3.key = plot::Key::Outside;
  f3.lines = sweep_series("prefill_attention_share", 1);
  plot::render(f3, dir + "/attention_share.png");

  plot::Figure f4;
  f4.title = "Decode FLOPs per token vs model size at T = " + T;
  f4.x_label = "parameters N";
  f4.y_label = "FLOPs per token";
  f4.log_x = f4.log_y = true;
  f4.key = plot::Key::Outside;
  double lo = INFINITY, hi = 0;
  for (const json& j : all) {
    double n = d(j["params"]["total"]);
    f4.lines.push_back(
        {j["model"].get<std::string>(), {n}, {d(j["decode_flops"])}, plot::Style::Points});
    lo = std::min(lo, n), hi = std::max(hi, n);
  }
  f4.lines.push_back({"2N", {lo, hi}, {2 * lo, 2 * hi}, plot::Style::Lines, true});
  plot::render(f4, dir + "/flops_per_token_vs_size.png");

  plot::Figure f5;
  f5.title = "Inference memory: weights (" +
             all[0]["intensity"]["weight_dtype"].get<std::string>() + ") + KV cache (" +
             all[0]["kv_cache"]["dtype"].get<std::string>() + ") vs context";
  f5.x_label = "context length T (tokens)";
  f5.y_label = "GB (1e9 bytes)";
  f5.x_min = 100;
  f5.x_max = 2e5;
  f5.log_x = f5.log_y = true;
  f5.key = plot::Key::Outside;
  for (const json& j : all) {
    plot::Series s{j["model"].get<std::string>(), {}, {}};
    double w = d(j["weights_bytes"][j["intensity"]["weight_dtype"].get<std::string>()]);
    for (const json& r : j["context_sweep"]) {
      s.x.push_back(d(r["context"]));
      s.y.push_back((w + d(r["kv_cache_bytes"])) / 1e9);
    }
    f5.lines.push_back(s);
  }
  plot::render(f5, dir + "/memory_vs_context.png");

  plot::Figure f6;
  f6.title = "Arithmetic intensity: prefill (solid) vs decode (dashed)";
  f6.x_label = "context length T (tokens)";
  f6.y_label = "FLOPs per byte moved";
  f6.x_min = 100;
  f6.x_max = 2e5;
  f6.log_x = f6.log_y = true;
  f6.key = plot::Key::Outside;
  for (size_t k = 0; k < all.size(); ++k) {
    const json& j = all[k];
    plot::Series pre{
        j["model"].get<std::string>() + " prefill", {}, {}, plot::Style::Lines, false, int(k)};
    plot::Series dec{
        j["model"].get<std::string>() + " decode", {}, {}, plot::Style::Lines, true, int(k)};
    for (const json& r : j["context_sweep"]) {
      pre.x.push_back(d(r["context"]));
      pre.y.push_back(d(r["prefill_intensity"]));
      dec.x.push_back(d(r["context"]));
      dec.y.push_back(d(r["decode_intensity"]));
    }
    f6.lines.push_back(pre);
    f6.lines.push_back(dec);
  }
  if (dev) {
    double ridge = dev->peak_flops / dev->bandwidth;
    f6.lines.push_back({"ridge of " + dev->name,
                        {128, 131072},
                        {ridge, ridge},
                        plot::Style::Lines,
                        false,
                        int(all.size())});
  }
  plot::render(f6, dir + "/intensity.png");
}

Run setup(CLI::App& app) {
  auto o = std::make_shared<Options>();
  auto threads = add_threads_option(app);
  app.description(
      "Parameters by component, exact FLOPs (prefill / decode / training), weights and KV-cache "
      "memory, arithmetic intensity and a roofline estimate for a model.");
  app.add_option("--model,-m", o->models,
                 "model SPEC (repeatable): a preset (" + preset_names() +
                     "), 'all' for every preset, an HF config.json or its directory, an lmkit "
                     "model config JSON, or a .gguf file")
      ->required();
  app.add_option("--context,-T", o->context, "context length T in tokens")->capture_default_str();
  app.add_option("--tokens", o->tokens, "training tokens D for total training FLOPs (optional)");
  app.add_option("--weight-dtype", o->weight_dtype,
                 "weight storage for intensity/roofline: f32 bf16 f16 int8 q8_0 q4_0")
      ->capture_default_str();
  app.add_option("--kv-dtype", o->kv_dtype, "KV-cache storage: f32 bf16 f16 q8_0 q4_0")
      ->capture_default_str();
  app.add_option("--device", o->device,
                 "roofline device: host (measured now), none, or " + device_names())
      ->capture_default_str();
  app.add_flag("--json", o->json_out, "print one JSON object (an array for several models)");
  app.add_flag("--csv", o->csv, "print one CSV row per model");
  app.add_option("--plot", o->plot_dir, "write the figures (PNG) into this directory");
  return [o, threads]() {
    threads();
    check(!(o->json_out && o->csv), "--json and --csv are exclusive");
    check(o->context >= 1 && o->context <= (int64_t(1) << 30),
          "--context {} is out of range (1 .. 2^30 tokens)", o->context);
    check(o->tokens >= 0 && std::isfinite(o->tokens) && o->tokens <= 1e20,
          "--tokens {} is out of range (0 .. 1e20)", o->tokens);
    find_format(weight_formats(), o->weight_dtype);
    find_format(kv_formats(), o->kv_dtype);
    std::vector<ModelSpec> specs;
    for (const std::string& s : o->models) {
      if (s == "all")
        for (const Preset& p : presets()) specs.push_back(resolve_model(p.name));
      else
        specs.push_back(resolve_model(s));
    }
    std::unique_ptr<Device> dev;
    if (o->device == "host")
      dev = std::make_unique<Device>(measure_host());
    else if (o->device != "none")
      dev = std::make_unique<Device>(find_device(o->device));
    std::vector<json> all;
    for (const ModelSpec& m : specs) {
      if (o->context > m.config.max_seq_len)
        fmt::print(stderr,
                   "note: {}: context {} exceeds the model's {} positions (counted anyway)\n",
                   m.name, o->context, m.config.max_seq_len);
      all.push_back(analyse(m, *o, dev.get()));
    }
    if (o->json_out) {
      fmt::print("{}\n", all.size() == 1 ? all[0].dump(2) : json(all).dump(2));
    } else if (o->csv) {
      print_csv(all);
    } else {
      for (const json& j : all) print_table(j);
    }
    if (!o->plot_dir.empty()) {
      write_plots(all, o->plot_dir, dev.get());
      if (!o->json_out && !o->csv) fmt::print("figures written to {}/\n", o->plot_dir);
    }
    return 0;
  };
}

const Command command("flops", "parameters, FLOPs, memory and roofline of a model", setup);

}  // namespace
}  // namespace lmkit::cli
