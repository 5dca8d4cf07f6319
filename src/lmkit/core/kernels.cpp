// Dispatch of the f32 kernels (kernels.h) to the table of the active ISA, with argument
// checks, plus the pieces that are not per-ISA: rope_inv_freq and the scratch memory.
#include "lmkit/core/kernels.h"

#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <new>
#include <vector>

#include "lmkit/core/cpu.h"
#include "lmkit/core/error.h"
#include "lmkit/core/kernels_table.h"
#include "lmkit/core/thread_pool.h"

namespace lmkit::kernels {

namespace detail {

const KernelTable& table_for(Isa isa) {
  switch (isa) {
    case Isa::Avx512:
      return avx512_table();
    case Isa::Avx2:
      return avx2_table();
    case Isa::Scalar:
      break;
  }
  return scalar_table();
}

float* scratch(int64_t n) {
  struct Block {
    float* p = nullptr;
    int64_t cap = 0;
    ~Block() { ::operator delete[](p, std::align_val_t{64}); }
  };
  thread_local Block block;
  if (n > block.cap) {
    ::operator delete[](block.p, std::align_val_t{64});
    block.p = nullptr;
    block.cap = 0;
    const int64_t want = (n + 15) / 16 * 16;
    block.p = static_cast<float*>(
        ::operator new[](static_cast<size_t>(want) * sizeof(float), std::align_val_t{64}));
    block.cap = want;
  }
  return block.p;
}

namespace {
// The shortest decimal that rounds to x (std::to_chars), read back as a double.
double decimal_of(float x) {
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof(buf), x);
  double d = x;
  std::from_chars(buf, r.ptr, d);
  return d;
}
}  // namespace

AdamwCoefs adamw_coefs(float lr, float beta1, float beta2, float eps, float weight_decay, int64_t t,
                       float grad_scale) {
  const double lr_d = decimal_of(lr), b1 = decimal_of(beta1), b2 = decimal_of(beta2);
  const double wd = decimal_of(weight_decay);
  const double bc1 = 1.0 - std::pow(b1, static_cast<double>(t));
  const double bc2 = 1.0 - std::pow(b2, static_cast<double>(t));
  AdamwCoefs c;
  c.decay = static_cast<float>(1.0 - lr_d * wd);
  c.beta1 = beta1;
  c.one_minus_beta1 = static_cast<float>(1.0 - b1);
  c.beta2 = beta2;
  c.one_minus_beta2 = static_cast<float>(1.0 - b2);
  c.neg_step = static_cast<float>(-(lr_d / bc1));
  c.bc2_sqrt = static_cast<float>(std::sqrt(bc2));
  c.eps = eps;
  c.grad_scale = grad_scale;
  return c;
}

const float* rope_cos_sin(const float* inv_freq, int64_t half, int64_t pos_end) {
  struct Cache {
    std::vector<float> inv_freq;
    std::vector<float> table;  // (rows, 2, half)
    int64_t rows = 0;
  };
  thread_local Cache cache;
  if (cache.inv_freq.size() != static_cast<size_t>(half) ||
      std::memcmp(cache.inv_freq.data(), inv_freq, static_cast<size_t>(half) * sizeof(float)) !=
          0) {
    cache.inv_freq.assign(inv_freq, inv_freq + half);
    cache.rows = 0;
  }
  if (pos_end > cache.rows) {
    const int64_t first = cache.rows;
    cache.table.resize(static_cast<size_t>(pos_end * 2 * half));
    float* tab = cache.table.data();
    const float* f = cache.inv_freq.data();
    auto fill = [&](size_t b, size_t e) {
      for (int64_t p = first + static_cast<int64_t>(b); p < first + static_cast<int64_t>(e); ++p) {
        float* row = tab + p * 2 * half;
        const float pos = static_cast<float>(p);
        for (int64_t i = 0; i < half; ++i) {
          const double angle = static_cast<double>(pos * f[i]);
          row[i] = static_cast<float>(std::cos(angle));
          row[half + i] = static_cast<float>(std::sin(angle));
        }
      }
    };
    const size_t n = static_cast<size_t>(pos_end - first);
    if (n * static_cast<size_t>(half) < 4096)
      fill(0, n);
    else
      thread_pool().parallel_for(n, fill);
    cache.rows = pos_end;
  }
  return cache.table.data();
}

}  // namespace detail

namespace {

const detail::KernelTable& table() {
  return detail::table_for(active_isa());
}

void check_nonneg(const char* kernel, int64_t a, int64_t b = 0, int64_t c = 0, int64_t d = 0) {
  check(a >= 0 && b >= 0 && c >= 0 && d >= 0, "{}: negative size", kernel);
}

}  // namespace

void embedding_forward(float* out, const int32_t* ids, const float* wte, const float* wpe,
                       int64_t B, int64_t T, int64_t C) {
  check_nonneg("embedding_forward", B, T, C);
  table().embedding_forward(out, ids, wte, wpe, B, T, C);
}

void embedding_backward(float* dwte, float* dwpe, const float* dout, const int32_t* ids, int64_t B,
                        int64_t T, int64_t C) {
  check_nonneg("embedding_backward", B, T, C);
  table().embedding_backward(dwte, dwpe, dout, ids, B, T, C);
}

void layernorm_forward(float* out, float* mean, float* rstd, const float* x, const float* w,
                       const float* b, int64_t N, int64_t C, float eps) {
  check_nonneg("layernorm_forward", N, C);
  table().layernorm_forward(out, mean, rstd, x, w, b, N, C, eps);
}

void layernorm_backward(float* dx, float* dw, float* db, const float* dout, const float* x,
                        const float* w, const float* mean, const float* rstd, int64_t N,
                        int64_t C) {
  check_nonneg("layernorm_backward", N, C);
  table().layernorm_backward(dx, dw, db, dout, x, w, mean, rstd, N, C);
}

void rmsnorm_forward(float* out, float* rstd, const float* x, const float* w, int64_t N, int64_t C,
                     float eps) {
  check_nonneg("rmsnorm_forward", N, C);
  table().rmsnorm_forward(out, rstd, x, w, N, C, eps);
}

void rmsnorm_backward(float* dx, float* dw, const float* dout, const float* x, const float* w,
                      const float* rstd, int64_t N, int64_t C) {
  check_nonneg("rmsnorm_backward", N, C);
  table().rmsnorm_backward(dx, dw, dout, x, w, rstd, N, C);
}

void gelu_forward(float* out, const float* x, int64_t n) {
  check_nonneg("gelu_forward", n);
  table().gelu_forward(out, x, n);
}

void gelu_backward(float* dx, const float* x, const float* dout, int64_t n) {
  check_nonneg("gelu_backward", n);
  table().gelu_backward(dx, x, dout, n);
}

void swiglu_forward(float* out, const float* gate, const float* up, int64_t n) {
  check_nonneg("swiglu_forward", n);
  table().swiglu_forward(out, gate, up, n);
}

void swiglu_backward(float* dgate, float* dup, const float* gate, const float* up,
                     const float* dout, int64_t n) {
  check_nonneg("swiglu_backward", n);
  table().swiglu_backward(dgate, dup, gate, up, dout, n);
}

namespace {
void check_rope(const char* kernel, int64_t B, int64_t T, int64_t H, int64_t hs, int64_t pos0) {
  check_nonneg(kernel, B, T, H, pos0);
  check(hs > 0 && hs % 2 == 0, "{}: head size {} must be even and positive", kernel, hs);
}
}  // namespace

void rope_forward(float* x, int64_t B, int64_t T, int64_t H, int64_t hs, const float* inv_freq,
                  int64_t pos0) {
  check_rope("rope_forward", B, T, H, hs, pos0);
  if (B * T * H == 0) return;
  const float* cs = detail::rope_cos_sin(inv_freq, hs / 2, pos0 + T) + pos0 * hs;
  table().rope(x, B, T, H, hs, cs, false);
}

void rope_backward(float* dx, int64_t B, int64_t T, int64_t H, int64_t hs, const float* inv_freq,
                   int64_t pos0) {
  check_rope("rope_backward", B, T, H, hs, pos0);
  if (B * T * H == 0) return;
  const float* cs = detail::rope_cos_sin(inv_freq, hs / 2, pos0 + T) + pos0 * hs;
  table().rope(dx, B, T, H, hs, cs, true);
}

// Plain: HF `_compute_default_rope_parameters` / Meta `precompute_freqs_cis`,
//   inv_freq = 1.0 / (theta ** (arange(0, hs, 2).float() / hs)), all in f32.
// Llama 3.1: HF `_compute_llama3_parameters` (transformers modeling_rope_utils.py) and Meta
// llama-models `apply_scaling` (models/llama3/reference_impl/model.py), also in f32:
//   wavelen = 2 pi / f;  f' = wavelen > ctx/low ? f / factor : f
//   smooth = (ctx / wavelen - low) / (high - low)
//   medium (ctx/high <= wavelen <= ctx/low): f' = (1 - smooth) f' / factor + smooth f'
// torch evaluates `scalar / tensor` as reciprocal(tensor) * scalar; we follow that order.
void rope_inv_freq(float* inv_freq, int64_t hs, double theta, double scale_factor,
                   double low_freq_factor, double high_freq_factor, int64_t original_ctx) {
  check(hs > 0 && hs % 2 == 0, "rope_inv_freq: head size {} must be even and positive", hs);
  check(theta > 0 && std::isfinite(theta), "rope_inv_freq: theta {} must be positive", theta);
  const float base = static_cast<float>(theta);
  for (int64_t i = 0; i < hs / 2; ++i) {
    const float e = static_cast<float>(2 * i) / static_cast<float>(hs);
    const float p = static_cast<float>(std::pow(static_cast<double>(base), static_cast<double>(e)));
    inv_freq[i] = 1.0f / p;
  }
  if (!(scale_factor > 0)) return;
  check(low_freq_factor > 0 && high_freq_factor > low_freq_factor,
        "rope_inv_freq: llama3 scaling needs 0 < low_freq_factor < high_freq_factor (got {}, {})",
        low_freq_factor, high_freq_factor);
  check(original_ctx > 0, "rope_inv_freq: llama3 scaling needs original_ctx > 0 (got {})",
        original_ctx);
  const double ctx = static_cast<double>(original_ctx);
  const float low_wavelen = static_cast<float>(ctx / low_freq_factor);
  const float high_wavelen = static_cast<float>(ctx / high_freq_factor);
  const float two_pi = static_cast<float>(2.0 * 3.141592653589793);
  const float factor = static_cast<float>(scale_factor);
  const float low = static_cast<float>(low_freq_factor);
  const float range = static_cast<float>(high_freq_factor - low_freq_factor);
  const float ctx_f = static_cast<float>(ctx);
  for (int64_t i = 0; i < hs / 2; ++i) {
    const float f = inv_freq[i];
    const float wavelen = (1.0f / f) * two_pi;
    float f_new = wavelen > low_wavelen ? f / factor : f;
    if (!(wavelen < high_wavelen) && !(wavelen > low_wavelen)) {
      const float smooth = ((1.0f / wavelen) * ctx_f - low) / range;
      f_new = (1.0f - smooth) * f_new / factor + smooth * f_new;
    }
    inv_freq[i] = f_new;
  }
}

void softmax_forward(float* out, const float* x, int64_t N, int64_t V) {
  check_nonneg("softmax_forward", N, V);
  table().softmax_forward(out, x, N, V);
}

void cross_entropy_forward_backward(float* losses, float* logits, const int32_t* targets, int64_t N,
                                    int64_t V, float grad_scale) {
  check_nonneg("cross_entropy_forward_backward", N, V);
  for (int64_t n = 0; n < N; ++n)
    check(targets[n] < V, "cross_entropy: target {} at row {} is not below the vocab size {}",
          targets[n], n, V);
  table().cross_entropy_forward_backward(losses, logits, targets, N, V, grad_scale);
}

void adamw_update(float* param, float* m, float* v, const float* grad, int64_t n, float lr,
                  float beta1, float beta2, float eps, float weight_decay, int64_t t,
                  float grad_scale) {
  check_nonneg("adamw_update", n);
  check(t >= 1, "adamw_update: step {} must be >= 1", t);
  table().adamw_update(param, m, v, grad, n,
                       detail::adamw_coefs(lr, beta1, beta2, eps, weight_decay, t, grad_scale));
}

double sum_squares(const float* x, int64_t n) {
  check_nonneg("sum_squares", n);
  return table().sum_squares(x, n);
}

void add_inplace(float* y, const float* x, int64_t n) {
  check_nonneg("add_inplace", n);
  table().add_inplace(y, x, n);
}

void add(float* out, const float* a, const float* b, int64_t n) {
  check_nonneg("add", n);
  table().add(out, a, b, n);
}

void dropout_forward(float* out, const float* x, int64_t n, float p, uint64_t seed) {
  check_nonneg("dropout_forward", n);
  check(p >= 0.0f && p < 1.0f, "dropout: p = {} must be in [0, 1)", p);
  table().dropout_forward(out, x, n, p, seed);
}

void dropout_backward(float* dx, const float* dout, int64_t n, float p, uint64_t seed) {
  check_nonneg("dropout_backward", n);
  check(p >= 0.0f && p < 1.0f, "dropout: p = {} must be in [0, 1)", p);
  table().dropout_backward(dx, dout, n, p, seed);
}

}  // namespace lmkit::kernels
