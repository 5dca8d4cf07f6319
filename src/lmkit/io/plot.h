// lmkit's one plotting path: a small Figure description rendered to a PNG by gnuplot.
//
// gnuplot (Debian package gnuplot-nox, terminal "pngcairo") runs as a child process on a
// script and data files written to a private temporary directory; the finished PNG is put in
// place with io/atomic_file.h (temporary + fsync + rename), so a reader never sees a
// half-written image. The gnuplot binary is $LMKIT_GNUPLOT when set, else "gnuplot" on PATH;
// when it is missing render() throws lmkit::Error saying so.
//
// A Figure holds exactly one kind of content:
//   lines      several named (x, y) series: lines, points or both (loss curves, FLOPs vs context)
//   histograms several named samples binned on shared edges, drawn overlaid
//   boxes      one box per named sample (Tukey: quartiles, 1.5 IQR whiskers, outliers)
//   stacked    bars per category split into named layers (component breakdowns)
//   heatmap    a rows x cols matrix with tick labels on both axes (attention maps)
//
// Example (a trainer's loss plot):
//   plot::Figure f;
//   f.title = "loss"; f.x_label = "step"; f.y_label = "cross-entropy";
//   f.lines.push_back({"train", steps, train_loss});
//   f.lines.push_back({"validation", val_steps, val_loss, plot::Style::LinesPoints});
//   plot::render(f, "runs/kjv/loss.png");
#pragma once
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace lmkit::plot {

enum class Style { Lines, Points, LinesPoints };
enum class Key { TopRight, TopLeft, BottomRight, BottomLeft, Outside, None };

struct Series {
  std::string name;
  std::vector<double> x, y;  // same length, finite (and > 0 on a log axis)
  Style style = Style::Lines;
  bool dashed = false;
  int color = -1;  // colour slot (series of one slot share a colour); -1: the series' index
};

struct Histogram {
  std::string name;
  std::vector<double> values;  // finite
};

struct Box {
  std::string name;
  std::vector<double> values;  // finite, at least one
};

struct StackedBars {
  std::vector<std::string> categories;  // one bar each, left to right
  struct Layer {
    std::string name;
    std::vector<double> values;  // one per category, >= 0
  };
  std::vector<Layer> layers;  // bottom to top
};

struct Heatmap {
  int64_t rows = 0, cols = 0;
  std::vector<double> values;           // (rows, cols) row-major; row 0 drawn at the top
  std::vector<std::string> row_labels;  // empty, or one per row (y ticks)
  std::vector<std::string> col_labels;  // empty, or one per column (x ticks)
  std::string value_label;              // colour-bar title
  double min = NAN, max = NAN;          // colour range (NaN: from the data)
};

struct Figure {
  std::string title, x_label, y_label;
  bool log_x = false, log_y = false;
  double x_min = NAN, x_max = NAN, y_min = NAN, y_max = NAN;  // NaN: automatic
  int width = 960, height = 600;                              // pixels
  Key key = Key::TopRight;

  // Exactly one of these is non-empty.
  std::vector<Series> lines;
  std::vector<Histogram> histograms;
  int bins = 40;  // histogram bins over the common range of all histograms
  std::vector<Box> boxes;
  StackedBars stacked;
  Heatmap heatmap;
};

// Draws `fig` into the PNG file `png_path` (created or replaced atomically). Throws
// lmkit::Error naming the problem for an invalid figure (empty, mismatched lengths,
// non-finite values, non-positive values on a log axis), a missing gnuplot, a gnuplot
// failure (its stderr is quoted) or an unwritable destination.
void render(const Figure& fig, const std::string& png_path);

// True when a usable gnuplot with the pngcairo terminal can be run (for tests and for
// callers that want to skip optional figures with a warning instead of failing).
bool gnuplot_available();

}  // namespace lmkit::plot
