// lmkit attention: the attention weights of one layer for a text, as a heatmap with the
// tokens as labels (io/plot.h): one head, or a grid of all heads of the layer.
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>

#include "cli/infer_options.h"
#include "lmkit/io/plot.h"

namespace lmkit::cli {
namespace {

Run setup(CLI::App& app) {
  struct Args {
    ModelArgs m;
    std::string text, out = "attention.png";
    int layer = -1, head = -1;
  };
  auto a = std::make_shared<Args>();
  app.description(
      "Attention weights (softmax rows) of one layer for a text as a heatmap: query tokens as "
      "rows, key tokens as columns. --head H draws one head; without it all heads of the layer "
      "are drawn side by side in a grid.");
  add_model_options(app, a->m);
  app.add_option("--text", a->text, "the text")->required();
  app.add_option("--layer", a->layer, "layer (default: the last)");
  app.add_option("--head", a->head, "head (default: all heads in a grid)");
  app.add_option("--out", a->out, "PNG file")->capture_default_str();
  return [a]() -> int {
    LoadedModel m = load_model_args(a->m);
    const ModelConfig& c = m.config();
    const int layer = a->layer < 0 ? int(c.n_layer) - 1 : a->layer;
    check(layer < c.n_layer, "--layer {}: the model has {} layers", layer, c.n_layer);
    check(a->head < c.n_head, "--head {}: the model has {} heads", a->head, c.n_head);
    const std::vector<int32_t> ids = m.encode_prompt(a->text);
    check(!ids.empty(), "the text encodes to no tokens");
    const int64_t T = int64_t(ids.size());
    check(T <= 512, "{} tokens: attention maps are drawn for at most 512", T);
    EngineOptions eo = engine_options(a->m, m, T);
    eo.context = std::max<int64_t>(T, 1);
    Engine e(m.weights, eo);
    e.capture_attention(layer);
    const int s = e.add_sequence();
    e.prefill(s, ids, nullptr);
    const auto& rows = e.captured_attention();
    std::vector<std::string> labels;
    for (int32_t id : ids) labels.push_back(show_token(m.tok(), id));
    // (T, NH, T) weights: w[t][h][k].
    std::vector<double> w(size_t(T * c.n_head * T), 0.0);
    for (const auto& r : rows)
      for (size_t k = 0; k < r.weights.size(); ++k)
        w[size_t((r.pos * c.n_head + r.head) * T) + k] = r.weights[k];
    plot::Figure f;
    plot::Heatmap& h = f.heatmap;
    h.value_label = "attention";
    h.min = 0;
    h.max = 1;
    f.x_label = "key";
    f.y_label = "query";
    const int64_t heads = a->head >= 0 ? 1 : c.n_head;
    const int64_t first = a->head >= 0 ? a->head : 0;
    h.rows = T;
    h.cols = heads * T + (heads - 1);  // one empty column between heads
    h.values.assign(size_t(h.rows * h.cols), 0.0);
    for (int64_t t = 0; t < T; ++t)
      for (int64_t hh = 0; hh < heads; ++hh)
        for (int64_t k = 0; k < T; ++k)
          h.values[size_t(t * h.cols + hh * (T + 1) + k)] = w[size_t((t * c.n_head + first + hh) * T + k)];
    h.row_labels = labels;
    for (int64_t hh = 0; hh < heads; ++hh) {
      for (int64_t k = 0; k < T; ++k) h.col_labels.push_back(labels[size_t(k)]);
      if (hh + 1 < heads) h.col_labels.push_back("|");
    }
    f.title = a->head >= 0 ? fmt::format("layer {} head {}", layer, a->head)
                           : fmt::format("layer {}, heads 0-{} left to right", layer, c.n_head - 1);
    f.width = int(std::min<int64_t>(4000, std::max<int64_t>(600, h.cols * 18 + 200)));
    f.height = int(std::min<int64_t>(3000, std::max<int64_t>(400, T * 18 + 200)));
    plot::render(f, a->out);
    write_out(fmt::format("wrote {} ({} tokens, layer {}, {})\n", a->out, T, layer,
                          a->head >= 0 ? fmt::format("head {}", a->head) : std::string("all heads")));
    return 0;
  };
}

const Command reg("attention", "heatmap of a layer's attention weights over a text", setup);

}  // namespace
}  // namespace lmkit::cli
