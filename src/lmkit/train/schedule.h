// Learning-rate schedule: linear warmup then cosine decay to a minimum (Loshchilov & Hutter
// 2017, SGDR; as llm.c train_gpt2.c and nanoGPT's get_lr).
#pragma once
#include <cstdint>

namespace lmkit {

// Learning rate for 0-based optimizer step `step` of `total`: lr*(step+1)/warmup while
// step < warmup, then min_lr + 0.5*(1 + cos(pi*ratio))*(lr - min_lr) with
// ratio = (step - warmup)/(total - warmup), reaching min_lr at step == total.
double lr_at(int64_t step, int64_t total, double lr, double min_lr, int64_t warmup);

}  // namespace lmkit
