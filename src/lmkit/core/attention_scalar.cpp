// Scalar attention kernels: the portable fallback and the readable statement of the
// algorithms that the SIMD versions (attention_simd.h) tile and vectorise.
//
// Forward (FlashAttention, Dao et al. 2022, with the online softmax of Milakov &
// Gimelshein 2018): each query row walks its keys 0..t in tiles; per tile it takes the
// scores s_j = scale q.k_j, the new running max m' = max(m, max_j s_j), rescales the
// running sum l and accumulator o by e^(m - m'), and adds e^(s_j - m') and
// e^(s_j - m') v_j. At the end out = o / l and lse = m + log l. Memory: one tile of
// scores and one accumulator row per thread.
//
// Backward (FlashAttention-2, Dao 2023, Algorithm 2), with P recomputed from lse:
//   D_t = dO_t . O_t,  p_tj = e^(scale q_t.k_j - lse_t),  dV_j += p_tj dO_t,
//   dp_tj = dO_t . v_j,  ds_tj = p_tj (dp_tj - D_t),
//   dQ_t += scale ds_tj k_j,  dK_j += scale ds_tj q_t.
// Work is split over (b, kv head); the thread owning one also runs the NH/NKV query heads
// that share it, so every dk/dv row has one writer and the sums run in a fixed order.
#include <algorithm>
#include <cmath>

#include "lmkit/core/attention_isa.h"

namespace lmkit::kernels::attention_isa {

namespace {

constexpr int64_t kKeyTile = 64;

float dot(const float* a, const float* b, int64_t n) {
  float s = 0.f;
  for (int64_t i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}

size_t forward_scratch(const Shape& s) {
  return static_cast<size_t>(kKeyTile + s.hs);
}

void forward(const ForwardArgs& a, int tid, int nt, float* scratch) {
  const auto [B, T, NH, NKV, hs, scale] = a.s;
  const int64_t group = NH / NKV;
  float* scores = scratch;          // (kKeyTile)
  float* acc = scratch + kKeyTile;  // (hs)
  int64_t u0, u1;
  split_range(B * NH, tid, nt, &u0, &u1);
  for (int64_t u = u0; u < u1; ++u) {
    const int64_t b = u / NH, h = u % NH, kvh = h / group;
    for (int64_t t = 0; t < T; ++t) {
      const float* qt = a.q + ((b * T + t) * NH + h) * hs;
      float m = -INFINITY, l = 0.f;
      for (int64_t i = 0; i < hs; ++i) acc[i] = 0.f;
      for (int64_t j0 = 0; j0 <= t; j0 += kKeyTile) {
        const int64_t n = std::min(kKeyTile, t + 1 - j0);
        float tile_max = -INFINITY;
        for (int64_t c = 0; c < n; ++c) {
          const float* kj = a.k + ((b * T + j0 + c) * NKV + kvh) * hs;
          scores[c] = scale * dot(qt, kj, hs);
          tile_max = std::max(tile_max, scores[c]);
        }
        const float m_new = std::max(m, tile_max);
        const float alpha = std::exp(m - m_new);  // 0 on the first tile (m = -inf)
        l *= alpha;
        for (int64_t i = 0; i < hs; ++i) acc[i] *= alpha;
        for (int64_t c = 0; c < n; ++c) {
          const float p = std::exp(scores[c] - m_new);
          const float* vj = a.v + ((b * T + j0 + c) * NKV + kvh) * hs;
          l += p;
          for (int64_t i = 0; i < hs; ++i) acc[i] += p * vj[i];
        }
        m = m_new;
      }
      float* ot = a.out + ((b * T + t) * NH + h) * hs;
      const float inv_l = 1.f / l;
      for (int64_t i = 0; i < hs; ++i) ot[i] = acc[i] * inv_l;
      a.lse[(b * NH + h) * T + t] = m + std::log(l);
    }
  }
}

size_t backward_scratch(const Shape&) {
  return 0;
}

void backward(const BackwardArgs& a, int tid, int nt, float*) {
  const auto [B, T, NH, NKV, hs, scale] = a.s;
  const int64_t group = NH / NKV;
  int64_t u0, u1;
  split_range(B * NKV, tid, nt, &u0, &u1);
  for (int64_t u = u0; u < u1; ++u) {
    const int64_t b = u / NKV, kvh = u % NKV;
    for (int64_t h = kvh * group; h < (kvh + 1) * group; ++h) {
      for (int64_t t = 0; t < T; ++t) {
        const int64_t row = ((b * T + t) * NH + h) * hs;
        const float* qt = a.q + row;
        const float* dout_t = a.dout + row;
        float* dqt = a.dq + row;
        const float D = dot(dout_t, a.out + row, hs);
        const float lse = a.lse[(b * NH + h) * T + t];
        for (int64_t j = 0; j <= t; ++j) {
          const int64_t krow = ((b * T + j) * NKV + kvh) * hs;
          const float* kj = a.k + krow;
          const float* vj = a.v + krow;
          const float p = std::exp(scale * dot(qt, kj, hs) - lse);
          const float ds = p * (dot(dout_t, vj, hs) - D);
          float* dkj = a.dk + krow;
          float* dvj = a.dv + krow;
          for (int64_t i = 0; i < hs; ++i) {
            dvj[i] += p * dout_t[i];
            dqt[i] += scale * ds * kj[i];
            dkj[i] += scale * ds * qt[i];
          }
        }
      }
    }
  }
}

}  // namespace

const Kernels scalar_kernels = {forward_scratch, forward, backward_scratch, backward};

}  // namespace lmkit::kernels::attention_isa
