#include "lmkit/train/progress.h"

#include <fmt/core.h>

#include <cmath>
#include <cstdio>
#include <string>

namespace lmkit {

namespace {
std::string eta_text(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  long t = long(s + 0.5);
  if (t >= 3600) return fmt::format("{}h{:02d}m", t / 3600, (t / 60) % 60);
  if (t >= 60) return fmt::format("{}m{:02d}s", t / 60, t % 60);
  return fmt::format("{}s", t);
}
}  // namespace

Progress::Progress(int64_t total_steps, bool terminal)
    : total_(total_steps), terminal_(terminal), t0_(std::chrono::steady_clock::now()) {}

void Progress::update(int64_t step, double loss, double lr, double tok_s, double val_loss) {
  auto now = std::chrono::steady_clock::now();
  if (first_step_ < 0) first_step_ = step - 1;  // resumed runs start counting here
  double elapsed = std::chrono::duration<double>(now - t0_).count();
  int64_t done = step - first_step_;
  double eta = done > 0 ? elapsed / double(done) * double(total_ - step) : NAN;
  std::string val = std::isnan(val_loss) ? "" : fmt::format(" val {:.4f}", val_loss);
  if (terminal_) {
    const int width = 24;
    int filled = int(double(width) * double(step) / double(total_));
    std::string bar(size_t(filled), '#');
    bar.append(size_t(width - filled), '.');
    fmt::print("\r[{}] step {}/{} loss {:.4f} lr {:.2e} {:.0f} tok/s ETA {}{}\x1b[K", bar, step,
               total_, loss, lr, tok_s, eta_text(eta), val);
    open_line_ = true;
    if (!std::isnan(val_loss)) {
      fmt::print("\n");
      open_line_ = false;
    }
    std::fflush(stdout);
    return;
  }
  int64_t every = total_ > 20 ? total_ / 20 : 1;
  if (step % every == 0 || step == total_ || step == 1 || !std::isnan(val_loss)) {
    fmt::print("step {}/{} loss {:.4f} lr {:.2e} {:.0f} tok/s ETA {}{}\n", step, total_, loss, lr,
               tok_s, eta_text(eta), val);
    std::fflush(stdout);
  }
}

void Progress::finish() {
  if (open_line_) fmt::print("\n");
  open_line_ = false;
  std::fflush(stdout);
}

}  // namespace lmkit
