// Internal: ggml's Q4_K / Q6_K dequantization (ggml-quants.c dequantize_row_q4_K /
// dequantize_row_q6_K), written once and compiled in every ISA's translation unit:
// quant.cpp instantiates the reference (bit-identical to ggml, pinned by the fixtures),
// quant_avx2.cpp / quant_avx512.cpp the vectorized copies matmul_q uses. Everything is in
// an anonymous namespace and the f16 converter is a template argument, so each TU has a
// private copy compiled for its own ISA (no shared inline symbols across ISAs).
#pragma once
#include <cstdint>

#include "lmkit/core/quant.h"

namespace lmkit::quant_detail {
namespace {

// ggml-quants.c get_scale_min_k4: the 6-bit scale and min of sub-block j (0..7) of a
// Q4_K block, packed in 12 bytes.
inline void get_scale_min_k4(int j, const uint8_t* q, uint8_t* d, uint8_t* m) {
  if (j < 4) {
    *d = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *d = uint8_t((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
    *m = uint8_t((q[j + 4] >> 4) | ((q[j - 0] >> 6) << 4));
  }
}

// Q4_K: per 64 elements two sub-blocks (low then high nibbles of 32 bytes),
// y = d*sc*q - dmin*m. x (k/256 blocks), y (k).
template <float (*H2F)(f16)>
void dequant_q4_K(const block_q4_K* x, float* y, int64_t k) {
  const int64_t nb = k / QK_K;
  for (int64_t i = 0; i < nb; ++i) {
    const uint8_t* q = x[i].qs;
    const float d = H2F(x[i].d);
    const float min = H2F(x[i].dmin);
    int is = 0;
    uint8_t sc, m;
    for (int j = 0; j < QK_K; j += 64) {
      get_scale_min_k4(is + 0, x[i].scales, &sc, &m);
      const float d1 = d * float(sc), m1 = min * float(m);
      get_scale_min_k4(is + 1, x[i].scales, &sc, &m);
      const float d2 = d * float(sc), m2 = min * float(m);
      for (int l = 0; l < 32; ++l) *y++ = d1 * float(q[l] & 0xF) - m1;
      for (int l = 0; l < 32; ++l) *y++ = d2 * float(q[l] >> 4) - m2;
      q += 32;
      is += 2;
    }
  }
}

// Q6_K: 6-bit q = 4 low bits (ql) | 2 high bits (qh) << 4, y = d * scale * (q - 32).
// ggml loops l over 0..31 with scale index l/16; the two halves are split here so each
// inner loop has fixed scales (and vectorizes): the same products in the same order.
template <float (*H2F)(f16)>
void dequant_q6_K(const block_q6_K* x, float* y, int64_t k) {
  const int64_t nb = k / QK_K;
  for (int64_t i = 0; i < nb; ++i) {
    const float d = H2F(x[i].d);
    const uint8_t* ql = x[i].ql;
    const uint8_t* qh = x[i].qh;
    const int8_t* sc = x[i].scales;
    for (int n = 0; n < QK_K; n += 128) {
      for (int is = 0; is < 2; ++is) {
        const float s1 = d * float(sc[is + 0]), s2 = d * float(sc[is + 2]);
        const float s3 = d * float(sc[is + 4]), s4 = d * float(sc[is + 6]);
        for (int l = 16 * is; l < 16 * is + 16; ++l) {
          const int q1 = int((ql[l + 0] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
          const int q2 = int((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
          const int q3 = int((ql[l + 0] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
          const int q4 = int((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
          y[l + 0] = s1 * float(q1);
          y[l + 32] = s2 * float(q2);
          y[l + 64] = s3 * float(q3);
          y[l + 96] = s4 * float(q4);
        }
      }
      y += 128;
      ql += 64;
      qh += 32;
      sc += 8;
    }
  }
}

}  // namespace
}  // namespace lmkit::quant_detail
