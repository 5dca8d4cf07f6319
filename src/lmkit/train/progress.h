// Training progress: a one-line bar redrawn in place on a terminal (step, loss, lr,
// tokens/s, ETA), or plain lines (about 20 per run, plus every validation) otherwise.
#pragma once
#include <chrono>
#include <cstdint>

namespace lmkit {

class Progress {
 public:
  Progress(int64_t total_steps, bool terminal);
  // val_loss: NaN when this step had no validation.
  void update(int64_t step, double loss, double lr, double tokens_per_sec, double val_loss);
  void finish();

 private:
  int64_t total_;
  bool terminal_;
  bool open_line_ = false;
  int64_t first_step_ = -1;
  std::chrono::steady_clock::time_point t0_;
};

}  // namespace lmkit
