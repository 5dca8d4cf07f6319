// Scalar kernels of the inference engine (engine_kernels.h).
#include "lmkit/infer/engine_kernels.h"

#include <cmath>
#include <vector>

#include "lmkit/core/thread_pool.h"

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

void f32_to_f16_row(const float* src, f16* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = f32_to_f16(src[i]);
}

// Scaled dot-product attention (Vaswani et al. 2017) for one query row.
void attend(float* out, const float* q, const uint8_t* k, const uint8_t* v, bool kv_f16,
            int64_t n, int64_t hs, float scale, float* probs) {
  thread_local std::vector<float> row;
  if (row.size() < size_t(hs)) row.resize(size_t(hs));
  auto load = [&](const uint8_t* base, int64_t j) -> const float* {
    if (!kv_f16) return reinterpret_cast<const float*>(base) + j * hs;
    const f16* r = reinterpret_cast<const f16*>(base) + j * hs;
    for (int64_t d = 0; d < hs; ++d) row[size_t(d)] = f16_to_f32(r[d]);
    return row.data();
  };
  float mx = -INFINITY;
  for (int64_t j = 0; j < n; ++j) {
    const float* kr = load(k, j);
    float s = 0;
    for (int64_t d = 0; d < hs; ++d) s += q[d] * kr[d];
    s *= scale;
    probs[j] = s;
    mx = std::max(mx, s);
  }
  float sum = 0;
  for (int64_t j = 0; j < n; ++j) sum += (probs[j] = std::exp(probs[j] - mx));
  const float inv = 1.0f / sum;
  for (int64_t d = 0; d < hs; ++d) out[d] = 0;
  for (int64_t j = 0; j < n; ++j) {
    const float p = (probs[j] *= inv);
    const float* vr = load(v, j);
    for (int64_t d = 0; d < hs; ++d) out[d] += p * vr[d];
  }
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
