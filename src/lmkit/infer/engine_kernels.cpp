// Scalar kernels of the inference engine (engine_kernels.h).
#include "lmkit/infer/engine_kernels.h"

#include <cmath>
#include <vector>

#include "lmkit/core/cpu.h"
#include "lmkit/core/error.h"
#include "lmkit/core/simd.h"
#include "lmkit/core/thread_pool.h"
#include "lmkit/infer/engine_kernels_isa.h"

namespace lmkit::infer_kernels {

// RoPE (Su et al. 2021, RoFormer): (x1, x2) -> (x1 cos - x2 sin, x2 cos + x1 sin) per pair.
void rope(float* x, int64_t H, int64_t hs, const float* cos_sin, bool interleaved) {
  const int64_t half = hs / 2;
  const float* cs = cos_sin;
  const float* sn = cos_sin + half;
  for (int64_t h = 0; h < H; ++h) {
    float* row = x + h * hs;
    if (interleaved) {  // llama2.c run.c: v0 * fcr - v1 * fci, v0 * fci + v1 * fcr
      for (int64_t i = 0; i < half; ++i) {
        const float x1 = row[2 * i], x2 = row[2 * i + 1];
        row[2 * i] = x1 * cs[i] - x2 * sn[i];
        row[2 * i + 1] = x2 * cs[i] + x1 * sn[i];
      }
    } else {  // HF apply_rotary_pos_emb: x cos + rotate_half(x) sin
      for (int64_t i = 0; i < half; ++i) {
        const float x1 = row[i], x2 = row[half + i];
        row[i] = x1 * cs[i] - x2 * sn[i];
        row[half + i] = x2 * cs[i] + x1 * sn[i];
      }
    }
  }
}

void gelu_ggml(float* out, const float* x, int64_t n) {
  // ggml-cpu.c ggml_cpu_init: table[i] = f16(ggml_gelu_f32(f32(f16 i))) with
  // ggml_gelu_f32(x) = 0.5 x (1 + tanhf(sqrt(2/pi) x (1 + 0.044715 x^2))).
  static const std::vector<f16> table = [] {
    std::vector<f16> t(1 << 16);
    const float kSqrt2OverPi = 0.79788456080286535587989211986876f, kCoefA = 0.044715f;
    for (uint32_t i = 0; i < (1u << 16); ++i) {
      const float v = f16_to_f32(f16{uint16_t(i)});
      t[i] = f32_to_f16(0.5f * v * (1.0f + std::tanh(kSqrt2OverPi * v * (1.0f + kCoefA * v * v))));
    }
    return t;
  }();
  for (int64_t i = 0; i < n; ++i) {
    if (x[i] <= -10.0f) out[i] = 0.0f;
    else if (x[i] >= 10.0f) out[i] = x[i];
    else out[i] = f16_to_f32(table[f32_to_f16(x[i]).bits]);
  }
}

void round_to_f16(float* out, const float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = f16_to_f32(f32_to_f16(x[i]));
}

void round_to_bf16(float* out, const float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = bf16_to_f32(f32_to_bf16(x[i]));
}


// Scaled dot-product attention (Vaswani et al. 2017) for one query row, and the f32
// matrix-vector product: the vectorised kernels of engine_kernels_impl.h for this CPU.
namespace detail {
namespace {

using simd::Scalar;

float h2f(f16 h) { return f16_to_f32(h); }

template <class S>
typename S::V load_half(const f16* p);
template <>
Scalar::V load_half<Scalar>(const f16* p) {
  return f16_to_f32(*p);
}

#include "lmkit/infer/engine_kernels_impl.h"

void attend_k(float* out, const float* q, const uint8_t* k, const uint8_t* v, bool kv_f16,
              int64_t n, int64_t hs, float scale, float* probs) {
  attend_impl<Scalar>(out, q, k, v, kv_f16, n, hs, scale, probs);
}

void gemv_k(float* y, int64_t ldy, const float* x, int64_t M, const float* w, int64_t K,
            int64_t n_rows) {
  gemv_f32_impl<Scalar>(y, ldy, x, M, w, K, n_rows);
}

void f32_to_f16_k(const float* src, f16* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = f32_to_f16(src[i]);
}

void attend_many_k(float* const* out, const float* const* q, const int64_t* n, int64_t nq,
                   const uint8_t* k, const uint8_t* v, bool kv_f16, int64_t hs, float scale,
                   float* scratch) {
  attend_many_impl<Scalar>(out, q, n, nq, k, v, kv_f16, hs, scale, scratch);
}

void gemv_seg_k(float* y, int64_t ldy, int64_t lds, const float* x, int64_t M, const float* w,
                int64_t K, int64_t k0, int64_t k1, int64_t seg, int64_t n_rows) {
  gemv_f32_segments_impl<Scalar>(y, ldy, lds, x, M, w, K, k0, k1, seg, n_rows);
}

constexpr Table kTable{attend_k, gemv_k, f32_to_f16_k, attend_many_k, gemv_seg_k};

}  // namespace

const Table& scalar_table() { return kTable; }

const Table& table() {
  switch (active_isa()) {
    case Isa::Avx512: return avx512_table();
    case Isa::Avx2: return avx2_table();
    case Isa::Scalar: break;
  }
  return scalar_table();
}

}  // namespace detail

void attend(float* out, const float* q, const uint8_t* k, const uint8_t* v, bool kv_f16,
            int64_t n, int64_t hs, float scale, float* probs) {
  detail::table().attend(out, q, k, v, kv_f16, n, hs, scale, probs);
}

void gemv_f32(float* y, int64_t ldy, const float* x, int64_t M, const float* w, int64_t K,
              int64_t n_rows) {
  detail::table().gemv_f32(y, ldy, x, M, w, K, n_rows);
}

void f32_to_f16_row(const float* src, f16* dst, int64_t n) {
  detail::table().f32_to_f16(src, dst, n);
}

void attend_many(float* const* out, const float* const* q, const int64_t* n, int64_t nq,
                 const uint8_t* k, const uint8_t* v, bool kv_f16, int64_t hs, float scale,
                 float* scratch) {
  detail::table().attend_many(out, q, n, nq, k, v, kv_f16, hs, scale, scratch);
}

void gemv_f32_segments(float* y, int64_t ldy, int64_t lds, const float* x, int64_t M,
                       const float* w, int64_t K, int64_t k0, int64_t k1, int64_t seg,
                       int64_t n_rows) {
  check(M >= 1 && M <= 3 && seg > 0 && seg % 16 == 0 && k0 >= 0 && k0 <= k1 && k1 <= K &&
            (k1 - k0) % seg == 0,
        "gemv_f32_segments: bad arguments (M {}, columns [{}, {}) of {}, segments of {})", M, k0,
        k1, K, seg);
  detail::table().gemv_f32_segments(y, ldy, lds, x, M, w, K, k0, k1, seg, n_rows);
}

int64_t attend_many_scratch(int64_t nq, int64_t n_max, int64_t hs) {
  constexpr int64_t kMaxW = 16;  // the widest vector (AVX-512) of the implementations
  return nq * ((n_max + kMaxW - 1) / kMaxW * kMaxW) + hs * kMaxW;
}

void matmul_llama2c_q8(float* y, const float* x, const int8_t* wq, const float* ws, int64_t gs,
                       int64_t M, int64_t K, int64_t N) {
  // runq.c quantize(): num_groups = K / gs whole groups; the tail is left unquantized
  // (and never read by matmul below).
  const int64_t ng = K / gs;
  std::vector<int8_t> xq(size_t(M * K), 0);
  std::vector<float> xs(size_t(M * (ng > 0 ? ng : 1)), 0.0f);
  for (int64_t m = 0; m < M; ++m) {
    const float* xr = x + m * K;
    for (int64_t g = 0; g < ng; ++g) {
      float wmax = 0.0f;
      for (int64_t i = 0; i < gs; ++i) {
        const float a = std::fabs(xr[g * gs + i]);
        if (a > wmax) wmax = a;
      }
      const float sc = wmax / 127.0f;
      xs[size_t(m * ng + g)] = sc;
      for (int64_t i = 0; i < gs; ++i) {
        // (int8_t) round(x / scale); an all-zero group (0/0) gives 0, as x86 does in runq.c.
        const float qv = xr[g * gs + i] / sc;
        xq[size_t(m * K + g * gs + i)] = sc == 0.0f ? int8_t(0) : int8_t(std::round(qv));
      }
    }
  }
  thread_pool().parallel_for(size_t(N), [&](size_t b, size_t e) {
    for (int64_t m = 0; m < M; ++m) {
      const int8_t* xqm = xq.data() + m * K;
      const float* xsm = xs.data() + m * ng;
      for (size_t r = b; r < e; ++r) {
        const int64_t in = int64_t(r) * K;
        float val = 0.0f;
        for (int64_t j = 0; j <= K - gs; j += gs) {
          int32_t ival = 0;
          for (int64_t k = 0; k < gs; ++k) ival += int32_t(xqm[j + k]) * int32_t(wq[in + j + k]);
          val += float(ival) * ws[(in + j) / gs] * xsm[j / gs];
        }
        y[m * N + int64_t(r)] = val;
      }
    }
  });
}

}  // namespace lmkit::infer_kernels
