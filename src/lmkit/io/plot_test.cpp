// plot::render draws real PNGs through gnuplot: each content kind produces a file with the
// PNG signature and the requested size; invalid figures and a missing gnuplot are errors.
#include "lmkit/io/plot.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "lmkit/core/error.h"

namespace fs = std::filesystem;
using namespace lmkit;

namespace {

class PlotTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!plot::gnuplot_available())
      GTEST_SKIP() << "gnuplot with the pngcairo terminal is not installed (Debian gnuplot-nox)";
    dir_ = fs::temp_directory_path() / ("lmkit_plot_test_" + std::to_string(getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    if (!dir_.empty()) fs::remove_all(dir_, ec);
  }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  fs::path dir_;
};

// Reads a PNG's width and height from its IHDR chunk (PNG spec, ISO/IEC 15948, 5.2 and
// 11.2.2: 8-byte signature, then the IHDR chunk: length, "IHDR", width, height big-endian).
struct PngInfo {
  bool signature_ok = false;
  uint32_t width = 0, height = 0;
  size_t bytes = 0;
};
PngInfo read_png(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  PngInfo info;
  info.bytes = s.size();
  if (s.size() < 24) return info;
  static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  info.signature_ok = std::equal(sig, sig + 8, reinterpret_cast<const unsigned char*>(s.data())) &&
                      s.compare(12, 4, "IHDR") == 0;
  auto be32 = [&](size_t o) {
    auto u = reinterpret_cast<const unsigned char*>(s.data() + o);
    return uint32_t(u[0]) << 24 | uint32_t(u[1]) << 16 | uint32_t(u[2]) << 8 | uint32_t(u[3]);
  };
  info.width = be32(16);
  info.height = be32(20);
  return info;
}

void expect_png(const std::string& path, int w, int h) {
  PngInfo p = read_png(path);
  EXPECT_TRUE(p.signature_ok) << path;
  EXPECT_EQ(p.width, uint32_t(w));
  EXPECT_EQ(p.height, uint32_t(h));
  EXPECT_GT(p.bytes, 2000u) << "suspiciously small image " << path;
}

plot::Figure loss_figure() {
  plot::Figure f;
  f.title = "loss (it's a test: under_scores stay)";
  f.x_label = "step";
  f.y_label = "loss";
  std::vector<double> x, y, vx, vy;
  for (int i = 1; i <= 100; ++i) {
    x.push_back(i);
    y.push_back(4.0 / std::sqrt(double(i)) + 1.0);
    if (i % 10 == 0) vx.push_back(i), vy.push_back(4.2 / std::sqrt(double(i)) + 1.1);
  }
  f.lines.push_back({"train", x, y});
  f.lines.push_back({"validation", vx, vy, plot::Style::LinesPoints, true});
  return f;
}

}  // namespace

TEST_F(PlotTest, LinePlotProducesPng) {
  plot::Figure f = loss_figure();
  f.width = 800;
  f.height = 500;
  std::string out = path("sub/dir/loss.png");  // parent directories are created
  plot::render(f, out);
  expect_png(out, 800, 500);
  // Rendering again replaces the file atomically and leaves no temporary behind.
  plot::render(f, out);
  expect_png(out, 800, 500);
  int files = 0;
  for (auto& e : fs::directory_iterator(fs::path(out).parent_path())) files += e.is_regular_file();
  EXPECT_EQ(files, 1);
}

TEST_F(PlotTest, LogAxesAndPoints) {
  plot::Figure f;
  f.log_x = f.log_y = true;
  f.key = plot::Key::BottomLeft;
  f.lines.push_back({"flops", {1e3, 1e4, 1e5}, {1e9, 1e11, 1e13}, plot::Style::Points});
  f.lines.push_back({"fit", {1e3, 1e5}, {1e9, 1e13}});
  plot::render(f, path("log.png"));
  expect_png(path("log.png"), 960, 600);
}

TEST_F(PlotTest, HistogramBoxStackedHeatmap) {
  plot::Figure h;
  h.title = "weights";
  std::vector<double> a, b;
  for (int i = 0; i < 1000; ++i)
    a.push_back(std::sin(i * 0.37) * 0.1), b.push_back(std::cos(i * 0.11) * 0.05);
  h.histograms = {{"layer 0", a}, {"layer 1", b}};
  h.bins = 30;
  plot::render(h, path("hist.png"));
  expect_png(path("hist.png"), 960, 600);

  plot::Figure bx;
  bx.boxes = {{"q", a}, {"k", b}, {"v", {1, 2, 3, 4, 100}}};  // 100 is an outlier
  plot::render(bx, path("box.png"));
  expect_png(path("box.png"), 960, 600);

  plot::Figure st;
  st.stacked.categories = {"gpt2", "llama-3.1-8b"};
  st.stacked.layers = {{"attention", {0.3, 0.2}}, {"mlp", {0.5, 0.7}}, {"lm_head", {0.2, 0.1}}};
  plot::render(st, path("stacked.png"));
  expect_png(path("stacked.png"), 960, 600);

  plot::Figure hm;
  hm.width = hm.height = 400;
  hm.heatmap.rows = 3;
  hm.heatmap.cols = 3;
  hm.heatmap.values = {1, 0, 0, 0.5, 0.5, 0, 0.2, 0.3, 0.5};
  hm.heatmap.row_labels = hm.heatmap.col_labels = {"The", "cat's", "\"hat\""};
  hm.heatmap.value_label = "attention";
  hm.heatmap.min = 0;
  hm.heatmap.max = 1;
  plot::render(hm, path("heat.png"));
  expect_png(path("heat.png"), 400, 400);
}

TEST_F(PlotTest, InvalidFiguresAreErrors) {
  plot::Figure empty;
  EXPECT_THROW(plot::render(empty, path("x.png")), Error);

  plot::Figure two = loss_figure();
  two.histograms.push_back({"h", {1, 2}});
  EXPECT_THROW(plot::render(two, path("x.png")), Error);

  plot::Figure mismatch;
  mismatch.lines.push_back({"s", {1, 2, 3}, {1, 2}});
  EXPECT_THROW(plot::render(mismatch, path("x.png")), Error);

  plot::Figure nan;
  nan.lines.push_back({"s", {1, 2}, {1, NAN}});
  EXPECT_THROW(plot::render(nan, path("x.png")), Error);

  plot::Figure logneg;
  logneg.log_y = true;
  logneg.lines.push_back({"s", {1, 2}, {1, 0}});
  EXPECT_THROW(plot::render(logneg, path("x.png")), Error);

  plot::Figure heat;
  heat.heatmap.rows = 2;
  heat.heatmap.cols = 2;
  heat.heatmap.values = {1, 2, 3};
  EXPECT_THROW(plot::render(heat, path("x.png")), Error);

  plot::Figure stacked;
  stacked.stacked.categories = {"a", "b"};
  stacked.stacked.layers = {{"l", {1}}};
  EXPECT_THROW(plot::render(stacked, path("x.png")), Error);

  plot::Figure ok = loss_figure();
  ok.width = 10;
  EXPECT_THROW(plot::render(ok, path("x.png")), Error);
  EXPECT_FALSE(fs::exists(path("x.png")));
}

TEST_F(PlotTest, MissingGnuplotIsAClearError) {
  ::setenv("LMKIT_GNUPLOT", "/nonexistent/gnuplot", 1);
  try {
    plot::render(loss_figure(), path("missing.png"));
    ADD_FAILURE() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("gnuplot"), std::string::npos) << e.what();
  }
  ::unsetenv("LMKIT_GNUPLOT");
  EXPECT_FALSE(fs::exists(path("missing.png")));
}
