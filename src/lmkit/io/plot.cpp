// Figure -> gnuplot script + data files -> PNG (see plot.h). gnuplot 5.4 documentation:
// http://www.gnuplot.info/docs_5.4/Gnuplot_5_4.pdf (terminal pngcairo, plot styles lines,
// points, boxes, candlesticks, histograms rowstacked, image; "matrix" data files).
#include "lmkit/io/plot.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <spawn.h>
#include <sys/wait.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>

#include "lmkit/core/error.h"
#include "lmkit/io/atomic_file.h"

extern char** environ;

namespace lmkit::plot {

namespace fs = std::filesystem;

namespace {

// A gnuplot single-quoted string: the only escape inside is '' for a quote.
std::string quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'')
      out += "''";
    else if (c == '\n' || c == '\r')
      out += ' ';
    else
      out += c;
  }
  return out + "'";
}

// A string field in a data file: double-quoted, with no double quotes inside.
std::string data_label(const std::string& s) {
  std::string out = "\"";
  for (char c : s) out += (c == '"' || c == '\n' || c == '\r') ? '\'' : c;
  return out + "\"";
}

std::string num(double v) {
  return fmt::format("{:.17g}", v);
}

std::string range(double lo, double hi) {
  return fmt::format("[{}:{}]", std::isnan(lo) ? "*" : num(lo), std::isnan(hi) ? "*" : num(hi));
}

// The temporary directory holding the script and data files; removed on scope exit.
class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/lmkit-plot-XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    if (!mkdtemp(buf.data()))
      fail("plot: cannot create a temporary directory: {}", strerror(errno));
    path_ = buf.data();
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

void write_text(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary);
  f << text;
  f.close();
  if (!f) fail("plot: cannot write {}", path);
}

std::string gnuplot_binary() {
  const char* env = std::getenv("LMKIT_GNUPLOT");
  return env && *env ? env : "gnuplot";
}

// Runs gnuplot with `args`, stdout/stderr into `log`. Returns the exit status, or -1 when
// the binary cannot be started (errno-style code in *spawn_error).
int run_gnuplot(const std::vector<std::string>& args, const std::string& log, int* spawn_error) {
  std::vector<std::string> argv_s = {gnuplot_binary()};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  pid_t pid = 0;
  int rc = posix_spawnp(&pid, argv[0], &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) {
    *spawn_error = rc;
    return -1;
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) {
      *spawn_error = errno;
      return -1;
    }
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

std::string read_tail(const std::string& path, size_t max_chars) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  std::string s = ss.str();
  if (s.size() > max_chars) s = "..." + s.substr(s.size() - max_chars);
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

void check_finite(const std::vector<double>& v, const std::string& what) {
  for (double x : v) check(std::isfinite(x), "plot: {} holds a non-finite value ({})", what, x);
}

void check_positive(const std::vector<double>& v, const std::string& what, const char* axis) {
  for (double x : v)
    check(x > 0, "plot: {} holds {} but the {} axis is logarithmic (values must be > 0)", what,
          num(x), axis);
}

// Linear-interpolated quantile of sorted values (numpy's default, Hyndman & Fan type 7).
double quantile(const std::vector<double>& sorted, double q) {
  double pos = q * double(sorted.size() - 1);
  size_t i = size_t(pos);
  double frac = pos - double(i);
  if (i + 1 >= sorted.size()) return sorted.back();
  return sorted[i] + frac * (sorted[i + 1] - sorted[i]);
}

const char* key_setting(Key k) {
  switch (k) {
    case Key::TopRight:
      return "set key top right opaque box";
    case Key::TopLeft:
      return "set key top left opaque box";
    case Key::BottomRight:
      return "set key bottom right opaque box";
    case Key::BottomLeft:
      return "set key bottom left opaque box";
    case Key::Outside:
      return "set key outside right top box";
    case Key::None:
      return "unset key";
  }
  return "unset key";
}

int content_kinds(const Figure& f) {
  return int(!f.lines.empty()) + int(!f.histograms.empty()) + int(!f.boxes.empty()) +
         int(!f.stacked.categories.empty() || !f.stacked.layers.empty()) +
         int(f.heatmap.rows > 0 || f.heatmap.cols > 0 || !f.heatmap.values.empty());
}

// Each builder validates its content, writes its data files and returns the plot commands.
std::string lines_script(const Figure& f, const TempDir& dir) {
  std::string plot = "plot ";
  for (size_t i = 0; i < f.lines.size(); ++i) {
    const Series& s = f.lines[i];
    std::string what = fmt::format("series '{}'", s.name);
    check(!s.x.empty(), "plot: {} is empty", what);
    check(s.x.size() == s.y.size(), "plot: {} has {} x values but {} y values", what, s.x.size(),
          s.y.size());
    check_finite(s.x, what);
    check_finite(s.y, what);
    if (f.log_x) check_positive(s.x, what, "x");
    if (f.log_y) check_positive(s.y, what, "y");
    std::string data;
    for (size_t k = 0; k < s.x.size(); ++k) data += num(s.x[k]) + " " + num(s.y[k]) + "\n";
    std::string file = dir.file(fmt::format("series{}.dat", i));
    write_text(file, data);
    const char* with = s.style == Style::Lines    ? "lines lw 2"
                       : s.style == Style::Points ? "points pt 7 ps 0.8"
                                                  : "linespoints lw 2 pt 7 ps 0.6";
    // gnuplot cycles 8 colours; later series also change the dash pattern (solid, dash-dot,
    // dash-dot-dot) so that up to 24 stay distinguishable. `dashed` series use dashes.
    const int dash_cycle[3] = {1, 4, 5};
    const size_t slot = s.color >= 0 ? size_t(s.color) : i;
    plot +=
        fmt::format("{}{} using 1:2 with {} lc {} dt {} title {}", i ? ", \\\n  " : "", quote(file),
                    with, slot % 8 + 1, s.dashed ? 2 : dash_cycle[(slot / 8) % 3], quote(s.name));
  }
  return plot + "\n";
}

std::string histogram_script(const Figure& f, const TempDir& dir) {
  check(f.bins >= 1 && f.bins <= 100000, "plot: histogram bins = {} is out of range (1..100000)",
        f.bins);
  check(!f.log_x, "plot: a histogram cannot have a logarithmic x axis");
  double lo = INFINITY, hi = -INFINITY;
  for (auto& h : f.histograms) {
    std::string what = fmt::format("histogram '{}'", h.name);
    check(!h.values.empty(), "plot: {} is empty", what);
    check_finite(h.values, what);
    for (double v : h.values) lo = std::min(lo, v), hi = std::max(hi, v);
  }
  if (hi == lo) lo -= 0.5, hi += 0.5;  // one distinct value: a unit-wide range around it
  double width = (hi - lo) / f.bins;
  std::string plot = "set style fill transparent solid 0.45 border -1\nplot ";
  for (size_t i = 0; i < f.histograms.size(); ++i) {
    std::vector<int64_t> counts(size_t(f.bins), 0);
    for (double v : f.histograms[i].values) {
      int64_t b = int64_t((v - lo) / width);
      counts[size_t(std::clamp<int64_t>(b, 0, f.bins - 1))]++;  // the top edge joins the last bin
    }
    std::string data;
    for (int b = 0; b < f.bins; ++b)
      if (!f.log_y || counts[size_t(b)] > 0)
        data += fmt::format("{} {}\n", num(lo + (b + 0.5) * width), counts[size_t(b)]);
    std::string file = dir.file(fmt::format("hist{}.dat", i));
    write_text(file, data);
    plot += fmt::format("{}{} using 1:2:({}) with boxes lc {} title {}", i ? ", \\\n  " : "",
                        quote(file), num(width), i + 1, quote(f.histograms[i].name));
  }
  return plot + "\n";
}

std::string boxes_script(const Figure& f, const TempDir& dir) {
  check(!f.log_x, "plot: a box plot cannot have a logarithmic x axis");
  std::string stats, outliers, tics;
  for (size_t i = 0; i < f.boxes.size(); ++i) {
    const Box& b = f.boxes[i];
    std::string what = fmt::format("box '{}'", b.name);
    check(!b.values.empty(), "plot: {} is empty", what);
    check_finite(b.values, what);
    if (f.log_y) check_positive(b.values, what, "y");
    std::vector<double> v = b.values;
    std::sort(v.begin(), v.end());
    // Tukey's box plot: box from Q1 to Q3, whiskers to the most extreme values within
    // 1.5 IQR of the box, points beyond them drawn as outliers.
    double q1 = quantile(v, 0.25), med = quantile(v, 0.5), q3 = quantile(v, 0.75);
    double iqr = q3 - q1, lo_fence = q1 - 1.5 * iqr, hi_fence = q3 + 1.5 * iqr;
    double wlo = q1, whi = q3;
    for (double x : v) {
      if (x >= lo_fence) wlo = std::min(wlo, x);
      if (x <= hi_fence) whi = std::max(whi, x);
      if (x < lo_fence || x > hi_fence) outliers += fmt::format("{} {}\n", i + 1, num(x));
    }
    stats +=
        fmt::format("{} {} {} {} {} {}\n", i + 1, num(q1), num(wlo), num(whi), num(q3), num(med));
    tics += fmt::format("{}{} {}", i ? ", " : "", quote(b.name), i + 1);
  }
  std::string sfile = dir.file("boxes.dat"), ofile = dir.file("outliers.dat");
  write_text(sfile, stats);
  std::string s = fmt::format("set xtics ({})\nset xrange [0.4:{}]\nset boxwidth 0.5\n", tics,
                              num(f.boxes.size() + 0.6));
  if (f.boxes.size() > 6) s += "set xtics rotate by -30 left\n";
  s += "set style fill solid 0.35 border -1\n";
  s += fmt::format("plot {} using 1:2:3:4:5 with candlesticks whiskerbars 0.5 lc 1 notitle, \\\n",
                   quote(sfile));
  s += fmt::format("  {} using 1:6:6:6:6 with candlesticks lc rgb 'black' lw 2 notitle",
                   quote(sfile));
  if (!outliers.empty()) {
    write_text(ofile, outliers);
    s += fmt::format(", \\\n  {} using 1:2 with points pt 6 ps 0.8 lc rgb 'black' notitle",
                     quote(ofile));
  }
  return s + "\n";
}

std::string stacked_script(const Figure& f, const TempDir& dir) {
  const StackedBars& sb = f.stacked;
  check(!f.log_x && !f.log_y, "plot: stacked bars cannot have logarithmic axes");
  check(!sb.categories.empty(), "plot: stacked bars need at least one category");
  check(!sb.layers.empty(), "plot: stacked bars need at least one layer");
  for (auto& l : sb.layers) {
    std::string what = fmt::format("layer '{}'", l.name);
    check(l.values.size() == sb.categories.size(), "plot: {} has {} values for {} categories", what,
          l.values.size(), sb.categories.size());
    check_finite(l.values, what);
    for (double v : l.values) check(v >= 0, "plot: {} holds a negative value ({})", what, num(v));
  }
  std::string data;
  size_t longest = 0;
  for (size_t c = 0; c < sb.categories.size(); ++c) {
    data += data_label(sb.categories[c]);
    longest = std::max(longest, sb.categories[c].size());
    for (auto& l : sb.layers) data += " " + num(l.values[c]);
    data += "\n";
  }
  std::string file = dir.file("stacked.dat");
  write_text(file, data);
  std::string s =
      "set style data histograms\nset style histogram rowstacked\n"
      "set style fill solid 0.8 border -1\nset boxwidth 0.7 relative\nset grid noxtics\n";
  s += fmt::format("set xrange [-0.6:{}]\n", num(double(sb.categories.size()) - 0.4));
  if (longest * sb.categories.size() > 80) s += "set xtics rotate by -30 left\n";
  s += "plot ";
  for (size_t i = 0; i < sb.layers.size(); ++i) {
    if (i == 0)
      s += fmt::format("{} using 2:xtic(1) lc {} title {}", quote(file), 1,
                       quote(sb.layers[0].name));
    else
      s +=
          fmt::format(", \\\n  '' using {} lc {} title {}", i + 2, i + 1, quote(sb.layers[i].name));
  }
  return s + "\n";
}

std::string heatmap_script(const Figure& f, const TempDir& dir) {
  const Heatmap& h = f.heatmap;
  check(!f.log_x && !f.log_y, "plot: a heatmap cannot have logarithmic axes");
  check(h.rows >= 1 && h.cols >= 1, "plot: heatmap needs rows >= 1 and cols >= 1 (got {} x {})",
        h.rows, h.cols);
  check(int64_t(h.values.size()) == h.rows * h.cols,
        "plot: heatmap has {} values for {} x {} cells", h.values.size(), h.rows, h.cols);
  check(h.row_labels.empty() || int64_t(h.row_labels.size()) == h.rows,
        "plot: heatmap has {} row labels for {} rows", h.row_labels.size(), h.rows);
  check(h.col_labels.empty() || int64_t(h.col_labels.size()) == h.cols,
        "plot: heatmap has {} column labels for {} columns", h.col_labels.size(), h.cols);
  check_finite(h.values, "heatmap");
  if (!std::isnan(h.min) && !std::isnan(h.max))
    check(h.min < h.max, "plot: heatmap colour range [{}, {}] is empty", h.min, h.max);
  std::string data;
  for (int64_t r = 0; r < h.rows; ++r) {
    for (int64_t c = 0; c < h.cols; ++c)
      data += (c ? " " : "") + num(h.values[size_t(r * h.cols + c)]);
    data += "\n";
  }
  std::string file = dir.file("heatmap.dat");
  write_text(file, data);
  auto tics = [](const std::vector<std::string>& labels) {
    std::string t = "(";
    for (size_t i = 0; i < labels.size(); ++i)
      t += fmt::format("{}{} {}", i ? ", " : "", quote(labels[i]), i);
    return t + ")";
  };
  std::string s;
  s += fmt::format("set xrange [-0.5:{}]\nset yrange [{}:-0.5]\n", num(h.cols - 0.5),
                   num(h.rows - 0.5));
  s += "unset grid\nset tics out nomirror\n";
  if (!h.col_labels.empty())
    s += fmt::format("set xtics {} rotate by 90 right\n", tics(h.col_labels));
  if (!h.row_labels.empty()) s += fmt::format("set ytics {}\n", tics(h.row_labels));
  s += fmt::format("set cbrange {}\n", range(h.min, h.max));
  if (!h.value_label.empty()) s += fmt::format("set cblabel {}\n", quote(h.value_label));
  // viridis (van der Walt & Smith, matplotlib's default colour map), 5 anchors.
  s += "set palette defined (0 '#440154', 1 '#3b528b', 2 '#21918c', 3 '#5ec962', 4 '#fde725')\n";
  s += fmt::format("plot {} matrix with image notitle\n", quote(file));
  return s;
}

}  // namespace

bool gnuplot_available() {
  TempDir dir;
  int err = 0;
  int rc = run_gnuplot({"-e", "set terminal pngcairo"}, dir.file("probe.log"), &err);
  return rc == 0;
}

void render(const Figure& fig, const std::string& png_path) {
  check(!png_path.empty(), "plot: empty output path");
  int kinds = content_kinds(fig);
  check(kinds == 1,
        "plot: a figure needs exactly one kind of content (lines, histograms, boxes, "
        "stacked bars or heatmap); this one has {}",
        kinds);
  check(fig.width >= 64 && fig.width <= 16384 && fig.height >= 64 && fig.height <= 16384,
        "plot: image size {} x {} is out of range (64..16384)", fig.width, fig.height);
  for (double v : {fig.x_min, fig.x_max, fig.y_min, fig.y_max})
    check(std::isnan(v) || std::isfinite(v), "plot: axis limits must be finite");

  TempDir dir;
  std::string body;
  if (!fig.lines.empty())
    body = lines_script(fig, dir);
  else if (!fig.histograms.empty())
    body = histogram_script(fig, dir);
  else if (!fig.boxes.empty())
    body = boxes_script(fig, dir);
  else if (fig.heatmap.rows > 0 || fig.heatmap.cols > 0 || !fig.heatmap.values.empty())
    body = heatmap_script(fig, dir);
  else
    body = stacked_script(fig, dir);

  fs::path out(png_path);
  std::error_code ec;
  if (out.has_parent_path()) {
    fs::create_directories(out.parent_path(), ec);
    check(!ec, "plot: cannot create directory {}: {}", out.parent_path().string(), ec.message());
  }
  // gnuplot draws into the private directory; the finished image is then put in place by
  // io/atomic_file (temporary + fsync + rename), so readers never see a partial PNG.
  std::string tmp_png = dir.file("figure.png");

  std::string s;
  s += fmt::format("set terminal pngcairo size {},{} noenhanced font 'Sans,10'\n", fig.width,
                   fig.height);
  s += fmt::format("set output {}\n", quote(tmp_png));
  s += "set encoding utf8\nset grid\n";
  // Only line, histogram and stacked-bar figures have titled entries to list.
  bool keyed = !fig.lines.empty() || !fig.histograms.empty() || !fig.stacked.layers.empty();
  s += std::string(key_setting(keyed ? fig.key : Key::None)) + "\n";
  if (!fig.title.empty()) s += fmt::format("set title {}\n", quote(fig.title));
  if (!fig.x_label.empty()) s += fmt::format("set xlabel {}\n", quote(fig.x_label));
  std::string ylabel = fig.y_label.empty() && !fig.histograms.empty() ? "count" : fig.y_label;
  if (!ylabel.empty()) s += fmt::format("set ylabel {}\n", quote(ylabel));
  if (fig.log_x) s += "set logscale x\nset format x '%.0e'\n";
  if (fig.log_y) s += "set logscale y\nset format y '%g'\n";
  if (!std::isnan(fig.x_min) || !std::isnan(fig.x_max))
    s += fmt::format("set xrange {}\n", range(fig.x_min, fig.x_max));
  if (!std::isnan(fig.y_min) || !std::isnan(fig.y_max))
    s += fmt::format("set yrange {}\n", range(fig.y_min, fig.y_max));
  s += body;
  s += "unset output\n";
  std::string script = dir.file("figure.gp");
  write_text(script, s);

  std::string log = dir.file("gnuplot.log");
  int err = 0;
  int rc = run_gnuplot({script}, log, &err);
  if (rc < 0)
    fail(
        "plot: cannot run '{}' ({}); install the Debian package gnuplot-nox or set "
        "LMKIT_GNUPLOT to a gnuplot binary",
        gnuplot_binary(), strerror(err));
  if (rc != 0) {
    fail("plot: gnuplot failed (exit {}) drawing {}: {}", rc, png_path, read_tail(log, 800));
  }
  auto size = fs::file_size(tmp_png, ec);
  if (ec || size == 0)
    fail("plot: gnuplot wrote no image for {}: {}", png_path, read_tail(log, 800));
  std::ifstream png(tmp_png, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(png)), std::istreambuf_iterator<char>());
  check(bytes.size() == size_t(size), "plot: cannot read the image gnuplot wrote");
  write_file_atomic(png_path, bytes);
}

}  // namespace lmkit::plot
