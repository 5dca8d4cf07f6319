// lmkit completions: the completion study. Sample N completions unconditionally (from the
// BOS alone) and, with --prompt, conditionally; score each by its total and mean
// log-probability under the model (temperature-1 distribution, whatever the sampler does);
// show the highest, median and lowest side by side; summary statistics (mean, std,
// quantiles) of log-probability and length; a histogram and a box plot as PNG (io/plot.h).
// All N sequences of a set are decoded together, one batched engine step per token.
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "cli/infer_options.h"
#include "lmkit/infer/generate.h"
#include "lmkit/io/atomic_file.h"
#include "lmkit/io/plot.h"

namespace lmkit::cli {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

struct Completion {
  std::vector<int32_t> ids;
  std::string text;
  double total = 0;  // sum of log P(token)
  double mean() const { return ids.empty() ? 0.0 : total / double(ids.size()); }
};

// Linear-interpolated quantile (numpy's default) of sorted values.
double quantile(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return NAN;
  const double pos = q * double(sorted.size() - 1);
  const size_t lo = size_t(std::floor(pos)), hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (pos - double(lo)) * (sorted[hi] - sorted[lo]);
}

json summary(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  double m = 0, s = 0;
  for (double x : v) m += x;
  m /= double(v.size());
  for (double x : v) s += (x - m) * (x - m);
  s = v.size() > 1 ? std::sqrt(s / double(v.size() - 1)) : 0.0;
  return {{"mean", m}, {"std", s}, {"min", v.front()}, {"q25", quantile(v, 0.25)},
          {"median", quantile(v, 0.5)}, {"q75", quantile(v, 0.75)}, {"max", v.back()}};
}

// Samples n completions of `prompt` together (batched decode).
std::vector<Completion> sample_set(Engine& e, const LoadedModel& m, const std::vector<int32_t>& prompt,
                                   int64_t n, int64_t max_tokens, bool stop_sentence,
                                   const SamplerOptions& so) {
  const int64_t V = e.vocab_size();
  std::vector<Completion> out(static_cast<size_t>(n));
  std::vector<int> seqs;
  std::vector<Sampler> samplers;
  std::vector<std::vector<int32_t>> hist;
  std::vector<float> logits(static_cast<size_t>(n * V));
  // Every sequence reads the prompt in one batch, then all step together.
  for (int64_t i = 0; i < n; ++i) {
    seqs.push_back(e.add_sequence());
    SamplerOptions o = so;
    o.seed = so.seed + uint64_t(i);
    samplers.emplace_back(o);
    hist.push_back(prompt);
  }
  std::vector<BatchToken> batch;
  for (int64_t i = 0; i < n; ++i)
    for (size_t t = 0; t < prompt.size(); ++t) batch.push_back({seqs[size_t(i)], prompt[t], t + 1 == prompt.size()});
  e.decode(batch, logits.data());
  std::vector<char> done(static_cast<size_t>(n), 0);
  std::vector<TextStream> streams;
  for (int64_t i = 0; i < n; ++i) streams.emplace_back(m.tok(), std::vector<std::string>{});
  for (int64_t step = 0; step < max_tokens; ++step) {
    std::vector<int> active;
    std::vector<int32_t> next;
    size_t row = 0;
    for (int64_t i = 0; i < n; ++i) {
      if (done[size_t(i)]) continue;
      const float* l = logits.data() + row++ * size_t(V);
      SampleResult r = samplers[size_t(i)].sample(std::span<const float>(l, size_t(V)), hist[size_t(i)]);
      Completion& c = out[size_t(i)];
      if (std::find(m.stop_ids.begin(), m.stop_ids.end(), r.id) != m.stop_ids.end()) {
        done[size_t(i)] = 1;
        continue;
      }
      c.ids.push_back(r.id);
      c.total += r.logprob;
      hist[size_t(i)].push_back(r.id);
      streams[size_t(i)].push(r.id);
      bool end = false;
      if (stop_sentence) {
        const std::string& t = streams[size_t(i)].text();
        end = !t.empty() && (t.back() == '.' || t.back() == '!' || t.back() == '?');
      }
      if (end || step + 1 == max_tokens || e.length(seqs[size_t(i)]) >= e.context()) {
        done[size_t(i)] = 1;
        continue;
      }
      active.push_back(seqs[size_t(i)]);
      next.push_back(r.id);
    }
    if (active.empty()) break;
    e.step(active, next, logits.data());
  }
  for (int64_t i = 0; i < n; ++i) {
    out[size_t(i)].text = m.tok().decode(out[size_t(i)].ids);
    e.remove_sequence(seqs[size_t(i)]);
  }
  return out;
}

std::string one_line(std::string s, size_t width) {
  for (char& c : s)
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  if (s.size() > width) s = s.substr(0, width - 3) + "...";
  return s;
}

Run setup(CLI::App& app) {
  struct Args {
    ModelArgs m;
    std::string prompt, out = "completions";
    int64_t n = 100, max_tokens = 40;
    std::string stop;
    SamplerOptions s;
  };
  auto a = std::make_shared<Args>();
  app.description(
      "The completion study: N sampled completions without a prompt and with --prompt, each "
      "scored by its total and mean log-probability; the highest, median and lowest side by "
      "side; statistics of log-probability and length; histogram and box plot PNGs in --out.");
  add_model_options(app, a->m);
  app.add_option("--prompt", a->prompt, "prompt for the conditional set (none: unconditional only)");
  app.add_option("-n,--count", a->n, "completions per set")->capture_default_str()->check(CLI::Range(1, 100000));
  app.add_option("--max-tokens", a->max_tokens, "tokens per completion at most")->capture_default_str();
  app.add_option("--stop", a->stop, "'sentence': end each completion at its first . ! or ?")
      ->check(CLI::IsMember({"", "sentence"}));
  add_sampler_options(app, a->s);
  app.add_option("--out", a->out, "output folder")->capture_default_str();
  return [a]() -> int {
    LoadedModel m = load_model_args(a->m);
    check(m.bos_id >= 0 || !a->prompt.empty() || !m.stop_ids.empty(),
          "unconditional sampling needs a BOS or end-of-text token to start from");
    fs::create_directories(a->out);
    const std::vector<int32_t> bos = m.bos_id >= 0 ? std::vector<int32_t>{m.bos_id}
                                                   : std::vector<int32_t>{m.stop_ids.front()};
    EngineOptions eo = engine_options(a->m, m);
    Engine e(m.weights, eo);
    struct Set {
      std::string name;
      std::vector<int32_t> prompt;
      std::vector<Completion> c;
    };
    std::vector<Set> sets;
    sets.push_back({"unconditional", bos, {}});
    if (!a->prompt.empty()) sets.push_back({"conditional", m.encode_prompt(a->prompt), {}});
    json j = {{"model", a->m.model}, {"n", a->n}, {"max_tokens", a->max_tokens}, {"prompt", a->prompt}};
    plot::Figure hist, box;
    hist.title = "total log-probability of sampled completions";
    hist.x_label = "log P(completion)";
    hist.y_label = "count";
    hist.bins = 30;
    box.title = "mean log-probability per token";
    box.y_label = "mean log P(token)";
    for (Set& s : sets) {
      s.c = sample_set(e, m, s.prompt, a->n, a->max_tokens, a->stop == "sentence", a->s);
      std::vector<size_t> order(s.c.size());
      for (size_t i = 0; i < order.size(); ++i) order[i] = i;
      std::sort(order.begin(), order.end(), [&](size_t x, size_t y) { return s.c[x].total > s.c[y].total; });
      std::vector<double> totals, means, lengths;
      json items = json::array();
      for (const Completion& c : s.c) {
        totals.push_back(c.total);
        means.push_back(c.mean());
        lengths.push_back(double(c.ids.size()));
        items.push_back({{"text", c.text}, {"ids", c.ids}, {"logprob", c.total}, {"mean_logprob", c.mean()}});
      }
      const Completion& hi = s.c[order.front()];
      const Completion& md = s.c[order[order.size() / 2]];
      const Completion& lo = s.c[order.back()];
      write_out(fmt::format("\n== {} ({} completions{})\n", s.name, s.c.size(),
                            s.name == "conditional" ? ", prompt: " + one_line(a->prompt, 60) : ""));
      write_out(fmt::format("{:<8} {:>10} {:>8} {:>5}  {}\n", "", "logprob", "mean", "len", "text"));
      for (auto [label, c] : {std::pair<const char*, const Completion*>{"highest", &hi}, {"median", &md}, {"lowest", &lo}})
        write_out(fmt::format("{:<8} {:>10.3f} {:>8.3f} {:>5}  {}\n", label, c->total, c->mean(),
                              c->ids.size(), one_line(c->text, 90)));
      const json st = {{"logprob", summary(totals)}, {"mean_logprob", summary(means)}, {"length", summary(lengths)}};
      for (const char* k : {"logprob", "mean_logprob", "length"})
        write_out(fmt::format("{:<13} mean {:9.3f}  std {:8.3f}  q25 {:9.3f}  median {:9.3f}  q75 {:9.3f}\n", k,
                              st[k]["mean"].get<double>(), st[k]["std"].get<double>(), st[k]["q25"].get<double>(),
                              st[k]["median"].get<double>(), st[k]["q75"].get<double>()));
      j[s.name] = {{"prompt_ids", s.prompt}, {"stats", st}, {"highest", items[order.front()]},
                   {"median", items[order[order.size() / 2]]}, {"lowest", items[order.back()]},
                   {"completions", items}};
      hist.histograms.push_back({s.name, totals});
      box.boxes.push_back({s.name, means});
    }
    write_file_atomic((fs::path(a->out) / "completions.json").string(),
                      j.dump(1, ' ', false, json::error_handler_t::replace) + "\n");
    plot::render(hist, (fs::path(a->out) / "logprob_hist.png").string());
    plot::render(box, (fs::path(a->out) / "logprob_box.png").string());
    write_out(fmt::format("\nwrote {}/completions.json, logprob_hist.png, logprob_box.png\n", a->out));
    return 0;
  };
}

const Command reg("completions", "sample many completions and study their log-probabilities", setup);

}  // namespace
}  // namespace lmkit::cli
