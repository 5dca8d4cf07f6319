// The one template source of the f32 kernels declared in kernels.h, written over the
// vector types of simd.h. Included only by kernels_scalar.cpp, kernels_avx2.cpp and
// kernels_avx512.cpp, each of which instantiates it for its vector type S and fills a
// detail::KernelTable (make_table<S>()). Everything sits in an anonymous namespace so every
// ISA file has its own private copy (no shared weak symbols compiled for a wider ISA); no
// std:: templates are used here.
//
// Pattern: each kernel splits its rows (or blocks of elements) statically over the thread
// pool; inside a row it runs full vectors of S and then a width-1 tail with simd::Scalar.
// Reductions over rows (dw, db, sum of squares) go to per-thread partials in
// detail::scratch() that are summed in thread order, so for a given thread count the
// result is bit-identical from run to run.
#pragma once
#include <cstdint>

#include "lmkit/core/kernels_table.h"
#include "lmkit/core/simd.h"
#include "lmkit/core/thread_pool.h"

namespace lmkit::kernels {
namespace {

using simd::Scalar;

// Work (in elements) below which a kernel stays on the calling thread: waking the pool
// costs a few microseconds.
constexpr int64_t kGrain = 1 << 14;
// Element-wise kernels split their range at multiples of this many elements.
constexpr int64_t kBlock = 256;
// Per-thread partial rows are padded to this many floats (64 bytes): no false sharing.
constexpr int64_t kPad = 16;

inline int64_t imin(int64_t a, int64_t b) {
  return a < b ? a : b;
}
inline int64_t round_up(int64_t a, int64_t m) {
  return (a + m - 1) / m * m;
}

// Calls f(tid, begin, end) for a static split of [0, n) over the pool, on every thread
// (ranges may be empty), or f(0, 0, n) on the calling thread alone when n * cost is small.
// Returns the number of parts, i.e. of tids that were called.
template <class F>
int run_split(int64_t n, int64_t cost, F&& f) {
  if (n <= 0) return 0;
  if (n == 1 || n * cost < kGrain) {
    f(0, int64_t{0}, n);
    return 1;
  }
  int used = 1;
  thread_pool().run([&](int tid, int nt) {
    if (tid == 0) used = nt;  // 1 when the pool runs us nested inside another job
    f(tid, n * tid / nt, n * (tid + 1) / nt);
  });
  return used;
}

// Calls f(begin, end) on static, kBlock-aligned pieces of [0, n).
template <class F>
void run_elems(int64_t n, F&& f) {
  const int64_t nb = (n + kBlock - 1) / kBlock;
  run_split(nb, kBlock, [&](int, int64_t b, int64_t e) {
    if (b < e) f(b * kBlock, imin(e * kBlock, n));
  });
}

// f(X{}, i) for i in [b, e): full vectors of S first (f gets the tag S{} and the vector's
// first index), then single elements (tag Scalar{}).
template <class S, class F>
inline void for_each_vec(int64_t b, int64_t e, F&& f) {
  int64_t i = b;
  for (; i + S::W <= e; i += S::W) f(S{}, i);
  for (; i < e; ++i) f(Scalar{}, i);
}

// Sum of f(X{}, i) (a vector of X) over [0, n), with two vector accumulators.
template <class S, class F>
inline float sum_over(int64_t n, F&& f) {
  typename S::V a0 = S::zero(), a1 = S::zero();
  int64_t i = 0;
  for (; i + 2 * S::W <= n; i += 2 * S::W) {
    a0 = S::add(a0, f(S{}, i));
    a1 = S::add(a1, f(S{}, i + S::W));
  }
  if (i + S::W <= n) {
    a0 = S::add(a0, f(S{}, i));
    i += S::W;
  }
  float s = S::reduce_add(S::add(a0, a1));
  for (; i < n; ++i) s += f(Scalar{}, i);
  return s;
}

// Two sums at once: f(X{}, i, acc_a, acc_b) adds its terms into the accumulators.
template <class S, class F>
inline void sum2_over(int64_t n, float* sa, float* sb, F&& f) {
  typename S::V a = S::zero(), b = S::zero();
  int64_t i = 0;
  for (; i + S::W <= n; i += S::W) f(S{}, i, a, b);
  float ta = S::reduce_add(a), tb = S::reduce_add(b);
  for (; i < n; ++i) f(Scalar{}, i, ta, tb);
  *sa = ta;
  *sb = tb;
}

template <class S>
inline float row_max(const float* x, int64_t n) {
  const float neg_inf = -__builtin_inff();
  typename S::V m0 = S::set1(neg_inf), m1 = S::set1(neg_inf);
  int64_t i = 0;
  for (; i + 2 * S::W <= n; i += 2 * S::W) {
    m0 = S::max(m0, S::load(x + i));
    m1 = S::max(m1, S::load(x + i + S::W));
  }
  if (i + S::W <= n) {
    m0 = S::max(m0, S::load(x + i));
    i += S::W;
  }
  float m = S::reduce_max(S::max(m0, m1));
  for (; i < n; ++i) m = x[i] > m ? x[i] : m;
  return m;
}

template <class S>
inline void zero_row(float* y, int64_t n) {
  for_each_vec<S>(0, n, [&](auto tag, int64_t i) {
    using X = decltype(tag);
    X::store(y + i, X::zero());
  });
}

// y += x over n elements.
template <class S>
inline void acc_row(float* y, const float* x, int64_t n) {
  for_each_vec<S>(0, n, [&](auto tag, int64_t i) {
    using X = decltype(tag);
    X::store(y + i, X::add(X::load(y + i), X::load(x + i)));
  });
}

// ---------------------------------------------------------------- embeddings

template <class S>
void embedding_forward(float* out, const int32_t* ids, const float* wte, const float* wpe,
                       int64_t B, int64_t T, int64_t C) {
  run_split(B * T, C, [&](int, int64_t nb, int64_t ne) {
    for (int64_t n = nb; n < ne; ++n) {
      float* o = out + n * C;
      const float* w = wte + static_cast<int64_t>(ids[n]) * C;
      if (wpe) {
        const float* p = wpe + (n % T) * C;
        for_each_vec<S>(0, C, [&](auto tag, int64_t i) {
          using X = decltype(tag);
          X::store(o + i, X::add(X::load(w + i), X::load(p + i)));
        });
      } else {
        for_each_vec<S>(0, C, [&](auto tag, int64_t i) {
          using X = decltype(tag);
          X::store(o + i, X::load(w + i));
        });
      }
    }
  });
}

// Parallel over channel slices (kPad channels each), not tokens: every thread walks all
// tokens in order for its own channels, so each dwte/dwpe element is summed in token order
// whatever the thread count (deterministic, no partial buffers).
template <class S>
void embedding_backward(float* dwte, float* dwpe, const float* dout, const int32_t* ids, int64_t B,
                        int64_t T, int64_t C) {
  const int64_t slices = (C + kPad - 1) / kPad;
  run_split(slices, B * T * kPad, [&](int, int64_t sb, int64_t se) {
    if (sb >= se) return;
    const int64_t c0 = sb * kPad, len = imin(se * kPad, C) - c0;
    for (int64_t b = 0; b < B; ++b) {
      for (int64_t t = 0; t < T; ++t) {
        const int64_t n = b * T + t;
        const float* d = dout + n * C + c0;
        acc_row<S>(dwte + static_cast<int64_t>(ids[n]) * C + c0, d, len);
        if (dwpe) acc_row<S>(dwpe + t * C + c0, d, len);
      }
    }
  });
}

// ---------------------------------------------------------------- layernorm / rmsnorm

template <class S>
void layernorm_forward(float* out, float* mean, float* rstd, const float* x, const float* w,
                       const float* b, int64_t N, int64_t C, float eps) {
  run_split(N, C, [&](int, int64_t nb, int64_t ne) {
    for (int64_t n = nb; n < ne; ++n) {
      const float* xr = x + n * C;
      float* o = out + n * C;
      const float m = sum_over<S>(C,
                                  [&](auto tag, int64_t i) {
                                    using X = decltype(tag);
                                    return X::load(xr + i);
                                  }) /
                      static_cast<float>(C);
      const float var = sum_over<S>(C,
                                    [&](auto tag, int64_t i) {
                                      using X = decltype(tag);
                                      const auto d = X::sub(X::load(xr + i), X::set1(m));
                                      return X::mul(d, d);
                                    }) /
                        static_cast<float>(C);
      const float s = 1.0f / __builtin_sqrtf(var + eps);
      if (b) {
        for_each_vec<S>(0, C, [&](auto tag, int64_t i) {
          using X = decltype(tag);
          const auto xhat = X::mul(X::sub(X::load(xr + i), X::set1(m)), X::set1(s));
          X::store(o + i, X::fma(xhat, X::load(w + i), X::load(b + i)));
        });
      } else {
        for_each_vec<S>(0, C, [&](auto tag, int64_t i) {
          using X = decltype(tag);
          const auto xhat = X::mul(X::sub(X::load(xr + i), X::set1(m)), X::set1(s));
          X::store(o + i, X::mul(xhat, X::load(w + i)));
        });
      }
      if (mean) mean[n] = m;
      if (rstd) rstd[n] = s;
    }
  });
}

// Sums the per-thread partial rows part[t * stride + (0..len)], t < used, into the first
// one, in thread order (deterministic for a given thread count).
template <class S>
void reduce_partials(float* part, int used, int64_t stride, int64_t len) {
  for (int t = 1; t < used; ++t) acc_row<S>(part, part + t * stride, len);
}

// llm.c layernorm_backward: with xhat = (x - mean) rstd and g = w dout,
//   dx += rstd (g - mean(g) - xhat mean(g xhat)),  dw += dout xhat,  db += dout.
template <class S>
void layernorm_backward(float* dx, float* dw, float* db, const float* dout, const float* x,
                        const float* w, const float* mean, const float* rstd, int64_t N,
                        int64_t C) {
  const int64_t Cp = round_up(C, kPad);
  float* part = detail::scratch(int64_t{thread_pool().size()} * 2 * Cp);
  const int used = run_split(N, C, [&](int tid, int64_t nb, int64_t ne) {
    float* pdw = part + tid * 2 * Cp;
    float* pdb = pdw + Cp;
    zero_row<S>(pdw, 2 * Cp);
    for (int64_t n = nb; n < ne; ++n) {
      const float* xr = x + n * C;
      const float* dr = dout + n * C;
      float* dxr = dx + n * C;
      const float m = mean[n], r = rstd[n];
      float sg = 0, sgx = 0;
      sum2_over<S>(C, &sg, &sgx, [&](auto tag, int64_t i, auto& acc_g, auto& acc_gx) {
        using X = decltype(tag);
        const auto xhat = X::mul(X::sub(X::load(xr + i), X::set1(m)), X::set1(r));
        const auto g = X::mul(X::load(w + i), X::load(dr + i));
        acc_g = X::add(acc_g, g);
        acc_gx = X::fma(g, xhat, acc_gx);
      });
      const float g_mean = sg / static_cast<float>(C);
      const float gx_mean = sgx / static_cast<float>(C);
      for_each_vec<S>(0, C, [&](auto tag, int64_t i) {
        using X = decltype(tag);
        const auto d = X::load(dr + i);
        const auto xhat = X::mul(X::sub(X::load(xr + i), X::set1(m)), X::set1(r));
        const auto g = X::mul(X::load(w + i), d);
        const auto v = X::fnma(xhat, X::set1(gx_mean), X::sub(g, X::set1(g_mean)));
        X::store(dxr + i, X::fma(v, X::set1(r), X::load(dxr + i)));
        X::store(pdw + i, X::fma(d, xhat, X::load(pdw + i)));
        X::store(pdb + i, X::add(X::load(pdb + i), d));
      });
    }
  });
  // Partial t holds [dw | db] in 2*Cp floats.
  reduce_partials<S>(part, used, 2 * Cp, 2 * Cp);
  acc_row<S>(dw, part, C);
  if (db) acc_row<S>(db, part + Cp, C);
}

// Llama RMSNorm (HF LlamaRMSNorm): out = (x rstd) w.
template <class S>
void rmsnorm_forward(float* out, float* rstd, const float* x, const float* w, int64_t N, int64_t C,
                     float eps) {
  run_split(N, C, [&](int, int64_t nb, int64_t ne) {
    for (int64_t n = nb; n < ne; ++n) {
      const float* xr = x + n * C;
      float* o = out + n * C;
      const float ms = sum_over<S>(C,
                                   [&](auto tag, int64_t i) {
                                     using X = decltype(tag);
                                     const auto v = X::load(xr + i);
                                     return X::mul(v, v);
                                   }) /
                       static_cast<float>(C);
      const float s = 1.0f / __builtin_sqrtf(ms + eps);
      for_each_vec<S>(0, C, [&](auto tag, int64_t i) {
        using X = decltype(tag);
        X::store(o + i, X::mul(X::mul(X::load(xr + i), X::set1(s)), X::load(w + i)));
      });
      if (rstd) rstd[n] = s;
    }
  });
}

// With xhat = x rstd and g = w dout: dx += rstd (g - xhat mean(g xhat)), dw += dout xhat.
template <class S>
void rmsnorm_backward(float* dx, float* dw, const float* dout, const float* x, const float* w,
                      const float* rstd, int64_t N, int64_t C) {
  const int64_t Cp = round_up(C, kPad);
  float* part = detail::scratch(int64_t{thread_pool().size()} * Cp);
  const int used = run_split(N, C, [&](int tid, int64_t nb, int64_t ne) {
    float* pdw = part + tid * Cp;
    zero_row<S>(pdw, Cp);
    for (int64_t n = nb; n < ne; ++n) {
      const float* xr = x + n * C;
      const float* dr = dout + n * C;
      float* dxr = dx + n * C;
      const float r = rstd[n];
      const float sgx = sum_over<S>(C, [&](auto tag, int64_t i) {
        using X = decltype(tag);
        return X::mul(X::mul(X::load(w + i), X::load(dr + i)), X::load(xr + i));
      });
      const float gx_mean = sgx * r / static_cast<float>(C);
      for_each_vec<S>(0, C, [&](auto tag, int64_t i) {
        using X = decltype(tag);
        const auto d = X::load(dr + i);
        const auto xhat = X::mul(X::load(xr + i), X::set1(r));
        const auto g = X::mul(X::load(w + i), d);
        const auto v = X::fnma(xhat, X::set1(gx_mean), g);
        X::store(dxr + i, X::fma(v, X::set1(r), X::load(dxr + i)));
        X::store(pdw + i, X::fma(d, xhat, X::load(pdw + i)));
      });
    }
  });
  reduce_partials<S>(part, used, Cp, Cp);
  acc_row<S>(dw, part, C);
}

// ---------------------------------------------------------------- activations

// GELU, tanh form: 0.5 x (1 + tanh(u)) = x sigmoid(2u) with u = sqrt(2/pi)(x + 0.044715 x^3)
// (the identity 1 + tanh(u) = 2 sigmoid(2u) avoids the cancellation of 1 + tanh for u << 0).
constexpr float kGeluK2 = 1.5957691216057308f;               // 2 sqrt(2/pi)
constexpr float kGeluK2C = 1.5957691216057308f * 0.044715f;  // 2 sqrt(2/pi) 0.044715
// exp argument clamp in backward passes: keeps e = e^-z finite so s (1 - s) = e s^2 is not
// inf * 0; beyond it the terms are < 1e-34 anyway.
constexpr float kSigClamp = 80.0f;

template <class S>
void gelu_forward(float* out, const float* x, int64_t n) {
  run_elems(n, [&](int64_t b, int64_t e) {
    for_each_vec<S>(b, e, [&](auto tag, int64_t i) {
      using X = decltype(tag);
      const auto v = X::load(x + i);
      const auto z = X::mul(v, X::fma(X::mul(v, v), X::set1(kGeluK2C), X::set1(kGeluK2)));
      const auto den = X::add(X::set1(1.0f), X::exp(X::sub(X::zero(), z)));
      X::store(out + i, X::div(v, den));
    });
  });
}

// d/dx [x s(z)] = s + x s (1 - s) z',  z = 2u,  z' = 2 sqrt(2/pi) (1 + 3 * 0.044715 x^2).
template <class S>
void gelu_backward(float* dx, const float* x, const float* dout, int64_t n) {
  run_elems(n, [&](int64_t b, int64_t e) {
    for_each_vec<S>(b, e, [&](auto tag, int64_t i) {
      using X = decltype(tag);
      const auto v = X::load(x + i);
      const auto v2 = X::mul(v, v);
      const auto z = X::mul(v, X::fma(v2, X::set1(kGeluK2C), X::set1(kGeluK2)));
      const auto dz = X::fma(v2, X::set1(3.0f * kGeluK2C), X::set1(kGeluK2));
      const auto en = X::exp(X::min(X::set1(kSigClamp), X::sub(X::zero(), z)));
      const auto s = X::div(X::set1(1.0f), X::add(X::set1(1.0f), en));
      const auto s1s = X::mul(s, X::mul(en, s));  // s (1 - s) = e^-z s^2
      const auto grad = X::fma(X::mul(v, s1s), dz, s);
      X::store(dx + i, X::fma(grad, X::load(dout + i), X::load(dx + i)));
    });
  });
}

template <class S>
void swiglu_forward(float* out, const float* gate, const float* up, int64_t n) {
  run_elems(n, [&](int64_t b, int64_t e) {
    for_each_vec<S>(b, e, [&](auto tag, int64_t i) {
      using X = decltype(tag);
      const auto g = X::load(gate + i);
      const auto den = X::add(X::set1(1.0f), X::exp(X::sub(X::zero(), g)));
      X::store(out + i, X::mul(X::div(g, den), X::load(up + i)));
    });
  });
}

// silu'(g) = s (1 + g (1 - s)), s = sigmoid(g); dgate += dout up silu'(g), dup += dout silu(g).
template <class S>
void swiglu_backward(float* dgate, float* dup, const float* gate, const float* up,
                     const float* dout, int64_t n) {
  run_elems(n, [&](int64_t b, int64_t e) {
    for_each_vec<S>(b, e, [&](auto tag, int64_t i) {
      using X = decltype(tag);
      const auto g = X::load(gate + i);
      const auto d = X::load(dout + i);
      const auto en = X::exp(X::min(X::set1(kSigClamp), X::sub(X::zero(), g)));
      const auto s = X::div(X::set1(1.0f), X::add(X::set1(1.0f), en));
      const auto dsilu = X::mul(s, X::fma(g, X::mul(en, s), X::set1(1.0f)));
      X::store(dgate + i, X::fma(X::mul(d, X::load(up + i)), dsilu, X::load(dgate + i)));
      X::store(dup + i, X::fma(d, X::mul(g, s), X::load(dup + i)));
    });
  });
}

// ---------------------------------------------------------------- rope

// Rotates each (B,T,H) row of hs floats, pairing i with i + hs/2 (HF apply_rotary_pos_emb:
// x cos + rotate_half(x) sin, rotate_half(x) = (-x2, x1)); the inverse rotation (the
// transpose) when `inverse`. cos_sin (T, 2, hs/2) holds the cos and sin rows of the T
// positions (detail::rope_cos_sin). Each product is rounded on its own (X::opaque, no FMA
// contraction), as torch rounds q * cos and rotate_half(q) * sin before adding them.
template <class S>
void rope(float* x, int64_t B, int64_t T, int64_t H, int64_t hs, const float* cos_sin,
          bool inverse) {
  const int64_t half = hs / 2;
  run_split(B * T * H, hs, [&](int, int64_t rb, int64_t re) {
    for (int64_t r = rb; r < re; ++r) {
      float* row = x + r * hs;
      const float* cs = cos_sin + ((r / H) % T) * 2 * half;
      const float* sn = cs + half;
      if (inverse) {  // x1 c + x2 s, x2 c - x1 s
        for_each_vec<S>(0, half, [&](auto tag, int64_t i) {
          using X = decltype(tag);
          const auto x1 = X::load(row + i), x2 = X::load(row + half + i);
          const auto c = X::load(cs + i), s = X::load(sn + i);
          X::store(row + i, X::add(X::opaque(X::mul(x1, c)), X::opaque(X::mul(x2, s))));
          X::store(row + half + i, X::sub(X::opaque(X::mul(x2, c)), X::opaque(X::mul(x1, s))));
        });
      } else {  // x1 c - x2 s, x2 c + x1 s
        for_each_vec<S>(0, half, [&](auto tag, int64_t i) {
          using X = decltype(tag);
          const auto x1 = X::load(row + i), x2 = X::load(row + half + i);
          const auto c = X::load(cs + i), s = X::load(sn + i);
          X::store(row + i, X::sub(X::opaque(X::mul(x1, c)), X::opaque(X::mul(x2, s))));
          X::store(row + half + i, X::add(X::opaque(X::mul(x2, c)), X::opaque(X::mul(x1, s))));
        });
      }
    }
  });
}

// ---------------------------------------------------------------- softmax / loss

template <class S>
void softmax_forward(float* out, const float* x, int64_t N, int64_t V) {
  run_split(N, 4 * V, [&](int, int64_t nb, int64_t ne) {
    for (int64_t n = nb; n < ne; ++n) {
      const float* xr = x + n * V;
      float* o = out + n * V;
      const float m = row_max<S>(xr, V);
      const float sum = sum_over<S>(V, [&](auto tag, int64_t i) {
        using X = decltype(tag);
        const auto e = X::exp(X::sub(X::load(xr + i), X::set1(m)));
        X::store(o + i, e);
        return e;
      });
      const float inv = 1.0f / sum;
      for_each_vec<S>(0, V, [&](auto tag, int64_t i) {
        using X = decltype(tag);
        X::store(o + i, X::mul(X::load(o + i), X::set1(inv)));
      });
    }
  });
}

// Per row: m = max, s = sum e^(x - m) (read only), loss = log s + m - x[target] (in double),
// then one pass overwrites the row with (e^(x - m) / s - onehot) * grad_scale.
template <class S>
void cross_entropy_forward_backward(float* losses, float* logits, const int32_t* targets, int64_t N,
                                    int64_t V, float grad_scale) {
  run_split(N, 4 * V, [&](int, int64_t nb, int64_t ne) {
    for (int64_t n = nb; n < ne; ++n) {
      float* row = logits + n * V;
      const int32_t target = targets[n];
      if (target < 0) {
        if (losses) losses[n] = 0.0f;
        zero_row<S>(row, V);
        continue;
      }
      const float m = row_max<S>(row, V);
      const float x_target = row[target];
      const float sum = sum_over<S>(V, [&](auto tag, int64_t i) {
        using X = decltype(tag);
        const auto e = X::exp(X::sub(X::load(row + i), X::set1(m)));
        X::store(row + i, e);
        return e;
      });
      if (losses) {
        losses[n] = static_cast<float>(__builtin_log(static_cast<double>(sum)) +
                                       static_cast<double>(m) - static_cast<double>(x_target));
      }
      const float scale = grad_scale / sum;
      for_each_vec<S>(0, V, [&](auto tag, int64_t i) {
        using X = decltype(tag);
        X::store(row + i, X::mul(X::load(row + i), X::set1(scale)));
      });
      row[target] -= grad_scale;
    }
  });
}

// ---------------------------------------------------------------- optimizer, reductions

// torch.optim.AdamW, torch 1.13 _single_tensor_adamw, in its f32 operation order:
//   param.mul_(1 - lr wd); m.mul_(b1).add_(g, alpha=1-b1); v.mul_(b2).addcmul_(g, g, 1-b2)
//   denom = v.sqrt() / sqrt(bc2) + eps; param.addcdiv_(m, denom, value=-lr/bc1)
// with bc_i = 1 - b_i^t; the scalar factors come precomputed (detail::adamw_coefs). The
// roundings are ATen's (AVX2 build, checked bit for bit against torch 1.13 in
// kernels_test): add_ with alpha is vec::fmadd and addcmul's last multiply-add is fused
// too, so those are FMAs on every ISA (fma_fused); each mul_ is its own op, so its product
// is rounded on its own (X::opaque stops GCC from fusing it into the next add).
template <class S>
void adamw_update(float* param, float* m, float* v, const float* grad, int64_t n,
                  const detail::AdamwCoefs& c) {
  run_elems(n, [&](int64_t b, int64_t e) {
    for_each_vec<S>(b, e, [&](auto tag, int64_t i) {
      using X = decltype(tag);
      const auto g = X::mul(X::load(grad + i), X::set1(c.grad_scale));
      const auto p = X::opaque(X::mul(X::load(param + i), X::set1(c.decay)));
      const auto mi = X::fma_fused(g, X::set1(c.one_minus_beta1),
                                   X::opaque(X::mul(X::load(m + i), X::set1(c.beta1))));
      const auto vi = X::fma_fused(X::mul(X::set1(c.one_minus_beta2), g), g,
                                   X::opaque(X::mul(X::load(v + i), X::set1(c.beta2))));
      const auto denom = X::add(X::div(X::sqrt(vi), X::set1(c.bc2_sqrt)), X::set1(c.eps));
      X::store(m + i, mi);
      X::store(v + i, vi);
      X::store(param + i, X::add(p, X::div(X::mul(X::set1(c.neg_step), mi), denom)));
    });
  });
}

template <class S>
double sum_squares(const float* x, int64_t n) {
  if (n <= 0) return 0.0;
  const int64_t nb = (n + kBlock - 1) / kBlock;
  // One double per thread, kPad floats apart.
  float* part = detail::scratch(int64_t{thread_pool().size()} * kPad);
  const int used = run_split(nb, kBlock, [&](int tid, int64_t b, int64_t e) {
    const int64_t i0 = b * kBlock, i1 = imin(e * kBlock, n);
    typename S::D acc0 = S::dzero(), acc1 = S::dzero();
    int64_t i = i0;
    for (; i + 2 * S::W <= i1; i += 2 * S::W) {
      acc0 = S::dadd_sq(acc0, S::load(x + i));
      acc1 = S::dadd_sq(acc1, S::load(x + i + S::W));
    }
    double s = S::dreduce(acc0) + S::dreduce(acc1);
    for (; i < i1; ++i) s += static_cast<double>(x[i]) * static_cast<double>(x[i]);
    *reinterpret_cast<double*>(part + tid * kPad) = s;
  });
  double total = 0.0;
  for (int t = 0; t < used; ++t) total += *reinterpret_cast<const double*>(part + t * kPad);
  return total;
}

template <class S>
void add_inplace(float* y, const float* x, int64_t n) {
  run_elems(n, [&](int64_t b, int64_t e) { acc_row<S>(y + b, x + b, e - b); });
}

template <class S>
void add(float* out, const float* a, const float* b, int64_t n) {
  run_elems(n, [&](int64_t lo, int64_t hi) {
    for_each_vec<S>(lo, hi, [&](auto tag, int64_t i) {
      using X = decltype(tag);
      X::store(out + i, X::add(X::load(a + i), X::load(b + i)));
    });
  });
}

// ---------------------------------------------------------------- dropout

// The keep decision for element i is a pure function of (seed, i): two rounds of the
// lowbias32 mixer over the low and high halves of i, keyed by SplitMix64(seed) (Steele et
// al. 2014). Keep iff (hash >> 8) >= thr, thr = round(p 2^24), so P(keep) = 1 - p to 2^-24.
struct DropoutKey {
  uint32_t k0, k1, thr;
  float scale;  // 1 / (1 - p) in f32, as torch's dropout scales its mask
};

inline DropoutKey dropout_key(float p, uint64_t seed) {
  uint64_t z = seed + 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  DropoutKey k;
  k.k0 = static_cast<uint32_t>(z);
  k.k1 = static_cast<uint32_t>(z >> 32);
  k.thr = static_cast<uint32_t>(static_cast<double>(p) * 16777216.0 + 0.5);
  k.scale = 1.0f / static_cast<float>(1.0 - static_cast<double>(p));
  return k;
}

template <class X>
inline typename X::U mix32(typename X::U h) {
  h = X::uxor(h, X::template ushr<16>(h));
  h = X::umul(h, simd::kMixM1);
  h = X::uxor(h, X::template ushr<15>(h));
  h = X::umul(h, simd::kMixM2);
  return X::uxor(h, X::template ushr<16>(h));
}

// Lanes i .. i+W-1 must share the high 32 bits of i.
template <class X>
inline typename X::U dropout_hash(const DropoutKey& k, int64_t i) {
  const uint64_t u = static_cast<uint64_t>(i);
  typename X::U h = X::uxor(X::index(static_cast<uint32_t>(u)), X::uset1(k.k0));
  h = mix32<X>(h);
  h = X::uxor(h, X::uset1(static_cast<uint32_t>(u >> 32) + k.k1));
  return mix32<X>(h);
}

// kBackward: y += keep ? x scale : 0, else y = keep ? x scale : 0.
template <class S, bool kBackward>
void dropout(float* y, const float* x, int64_t n, float p, uint64_t seed) {
  const DropoutKey k = dropout_key(p, seed);
  run_elems(n, [&](int64_t b, int64_t e) {
    auto one = [&](auto tag, int64_t i) {
      using X = decltype(tag);
      const auto v =
          X::keep_if(dropout_hash<X>(k, i), k.thr, X::mul(X::load(x + i), X::set1(k.scale)));
      X::store(y + i, kBackward ? X::add(X::load(y + i), v) : v);
    };
    int64_t i = b;
    while (i + S::W <= e) {
      if ((static_cast<uint64_t>(i) & 0xffffffffull) > 0xffffffffull - (S::W - 1)) {
        for (int w = 0; w < S::W; ++w) one(Scalar{}, i + w);  // the low half wraps inside
      } else {
        one(S{}, i);
      }
      i += S::W;
    }
    for (; i < e; ++i) one(Scalar{}, i);
  });
}

template <class S>
void dropout_forward(float* out, const float* x, int64_t n, float p, uint64_t seed) {
  dropout<S, false>(out, x, n, p, seed);
}

template <class S>
void dropout_backward(float* dx, const float* dout, int64_t n, float p, uint64_t seed) {
  dropout<S, true>(dx, dout, n, p, seed);
}

// ---------------------------------------------------------------- test hooks

template <class S>
void exp_array(float* out, const float* x, int64_t n) {
  for_each_vec<S>(0, n, [&](auto tag, int64_t i) {
    using X = decltype(tag);
    X::store(out + i, X::exp(X::load(x + i)));
  });
}

template <class S>
void tanh_array(float* out, const float* x, int64_t n) {
  for_each_vec<S>(0, n, [&](auto tag, int64_t i) {
    using X = decltype(tag);
    X::store(out + i, X::tanh(X::load(x + i)));
  });
}

template <class S>
constexpr detail::KernelTable make_table() {
  return detail::KernelTable{
      &embedding_forward<S>,
      &embedding_backward<S>,
      &layernorm_forward<S>,
      &layernorm_backward<S>,
      &rmsnorm_forward<S>,
      &rmsnorm_backward<S>,
      &gelu_forward<S>,
      &gelu_backward<S>,
      &swiglu_forward<S>,
      &swiglu_backward<S>,
      &rope<S>,
      &softmax_forward<S>,
      &cross_entropy_forward_backward<S>,
      &adamw_update<S>,
      &sum_squares<S>,
      &add_inplace<S>,
      &add<S>,
      &dropout_forward<S>,
      &dropout_backward<S>,
      &exp_array<S>,
      &tanh_array<S>,
  };
}

}  // namespace
}  // namespace lmkit::kernels
