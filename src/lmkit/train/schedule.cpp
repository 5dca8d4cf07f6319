#include "lmkit/train/schedule.h"

#include <cmath>
#include <numbers>

namespace lmkit {

double lr_at(int64_t step, int64_t total, double lr, double min_lr, int64_t warmup) {
  if (step < warmup) return lr * double(step + 1) / double(warmup);
  if (total <= warmup) return min_lr;
  double ratio = double(step - warmup) / double(total - warmup);
  if (ratio > 1) ratio = 1;
  double coeff = 0.5 * (1.0 + std::cos(std::numbers::pi * ratio));
  return min_lr + coeff * (lr - min_lr);
}

}  // namespace lmkit
