// Internal: the vectorised engine kernels, written once over core/simd.h's vector types and
// instantiated per ISA by engine_kernels.cpp (scalar), engine_kernels_avx2.cpp and
// engine_kernels_avx512.cpp (like core/kernels_impl.h). Included inside an anonymous
// namespace of each TU; the TU provides h2f() (one f16 -> f32) and load_half<S>() (f16 ->
// f32 lanes) first, as local functions (no inline function shared between ISAs).
#pragma once

// q . k over hs floats.
template <class S>
float dot(const float* a, const float* b, int64_t n) {
  using V = typename S::V;
  V acc = S::zero();
  int64_t d = 0;
  for (; d + S::W <= n; d += S::W) acc = S::fma(S::load(a + d), S::load(b + d), acc);
  float s = S::reduce_add(acc);
  for (; d < n; ++d) s += a[d] * b[d];
  return s;
}

template <class S>
float dot_half(const float* a, const f16* b, int64_t n) {
  using V = typename S::V;
  V acc = S::zero();
  int64_t d = 0;
  for (; d + S::W <= n; d += S::W) acc = S::fma(S::load(a + d), load_half<S>(b + d), acc);
  float s = S::reduce_add(acc);
  for (; d < n; ++d) s += a[d] * h2f(b[d]);
  return s;
}

// probs (n) = softmax(probs): max-subtracted, vector exp, scaled by 1 / sum.
template <class S>
void softmax_row(float* probs, int64_t n) {
  using V = typename S::V;
  float mx = -__builtin_inff();
  for (int64_t j = 0; j < n; ++j) mx = probs[j] > mx ? probs[j] : mx;
  const V vmx = S::set1(mx);
  V vsum = S::zero();
  int64_t j = 0;
  for (; j + S::W <= n; j += S::W) {
    const V e = S::exp(S::sub(S::load(probs + j), vmx));
    S::store(probs + j, e);
    vsum = S::add(vsum, e);
  }
  float sum = S::reduce_add(vsum);
  for (; j < n; ++j) sum += (probs[j] = simd::Scalar::exp(probs[j] - mx));
  const float inv = 1.0f / sum;
  for (j = 0; j < n; ++j) probs[j] *= inv;
}

// engine_kernels.h attend: scores, softmax (max-subtracted, vector exp), weighted sum of V.
template <class S>
void attend_impl(float* out, const float* q, const uint8_t* k, const uint8_t* v, bool kv_f16,
                 int64_t n, int64_t hs, float scale, float* probs) {
  using V = typename S::V;
  for (int64_t j = 0; j < n; ++j)
    probs[j] = (kv_f16 ? dot_half<S>(q, reinterpret_cast<const f16*>(k) + j * hs, hs)
                       : dot<S>(q, reinterpret_cast<const float*>(k) + j * hs, hs)) * scale;
  softmax_row<S>(probs, n);
  int64_t j;
  // out = sum_j p_j v_j, a register block of up to 4 vectors of the head at a time.
  int64_t d = 0;
  for (; d + 4 * S::W <= hs; d += 4 * S::W) {
    V a0 = S::zero(), a1 = S::zero(), a2 = S::zero(), a3 = S::zero();
    for (j = 0; j < n; ++j) {
      const V p = S::set1(probs[j]);
      if (kv_f16) {
        const f16* vr = reinterpret_cast<const f16*>(v) + j * hs + d;
        a0 = S::fma(p, load_half<S>(vr), a0);
        a1 = S::fma(p, load_half<S>(vr + S::W), a1);
        a2 = S::fma(p, load_half<S>(vr + 2 * S::W), a2);
        a3 = S::fma(p, load_half<S>(vr + 3 * S::W), a3);
      } else {
        const float* vr = reinterpret_cast<const float*>(v) + j * hs + d;
        a0 = S::fma(p, S::load(vr), a0);
        a1 = S::fma(p, S::load(vr + S::W), a1);
        a2 = S::fma(p, S::load(vr + 2 * S::W), a2);
        a3 = S::fma(p, S::load(vr + 3 * S::W), a3);
      }
    }
    S::store(out + d, a0);
    S::store(out + d + S::W, a1);
    S::store(out + d + 2 * S::W, a2);
    S::store(out + d + 3 * S::W, a3);
  }
  for (; d + S::W <= hs; d += S::W) {
    V a0 = S::zero();
    for (j = 0; j < n; ++j) {
      const V p = S::set1(probs[j]);
      a0 = kv_f16 ? S::fma(p, load_half<S>(reinterpret_cast<const f16*>(v) + j * hs + d), a0)
                  : S::fma(p, S::load(reinterpret_cast<const float*>(v) + j * hs + d), a0);
    }
    S::store(out + d, a0);
  }
  for (; d < hs; ++d) {
    float a = 0;
    for (j = 0; j < n; ++j)
      a += probs[j] * (kv_f16 ? h2f(reinterpret_cast<const f16*>(v)[j * hs + d])
                              : reinterpret_cast<const float*>(v)[j * hs + d]);
    out[d] = a;
  }
}

// Decode's weight rows are streamed from memory: each row is read once, R rows side by
// side, with a software prefetch of the same place R rows on, i.e. the next block of rows
// (rows are a few KB, too short for the hardware prefetcher to run far enough ahead of R
// interleaved streams). 8 rows and a 4 KB lead along each row measured ~15% faster than 4
// rows without; the next block instead of the 4 KB lead, 17-28% faster again on 98 MB
// matrices (2 threads) and +4-8% on llama110m F32 decode (12 of 12 paired rounds): a 4 KB
// lead in a 3 KB row lands in the neighbouring row, already being read. Column segments
// (gemv_seg_rows) prefetch the same way, which for them also keeps to their own columns.

// y[m * ldy + r] = w_r . x_m for rows r of w (n_rows, K) and the M <= 4 rows of x (M, K):
// each weight row is read once for all M activation rows, R rows at a time (8 for one
// activation row, else 4: the accumulators must fit the registers).
template <class S, int M>
void gemv_rows(float* y, int64_t ldy, const float* x, const float* w, int64_t K, int64_t n_rows) {
  using V = typename S::V;
  constexpr int R = M == 1 ? 8 : 4;
  int64_t r = 0;
  for (; r + R <= n_rows; r += R) {
    V acc[R][M];
    for (int i = 0; i < R; ++i)
      for (int m = 0; m < M; ++m) acc[i][m] = S::zero();
    const float* w0 = w + r * K;
    int64_t k = 0;
    for (; k + S::W <= K; k += S::W) {
      V xv[M];
      for (int m = 0; m < M; ++m) xv[m] = S::load(x + m * K + k);
      for (int i = 0; i < R; ++i) {
        if (k % 16 == 0) __builtin_prefetch(w0 + (R + i) * K + k);
        const V wv = S::load(w0 + i * K + k);
        for (int m = 0; m < M; ++m) acc[i][m] = S::fma(wv, xv[m], acc[i][m]);
      }
    }
    for (int i = 0; i < R; ++i)
      for (int m = 0; m < M; ++m) {
        float s = S::reduce_add(acc[i][m]);
        for (int64_t kk = k; kk < K; ++kk) s += w0[i * K + kk] * x[m * K + kk];
        y[m * ldy + r + i] = s;
      }
  }
  for (; r < n_rows; ++r)
    for (int m = 0; m < M; ++m) y[m * ldy + r] = dot<S>(w + r * K, x + m * K, K);
}

template <class S>
void gemv_f32_impl(float* y, int64_t ldy, const float* x, int64_t M, const float* w, int64_t K,
                   int64_t n_rows) {
  for (int64_t m0 = 0; m0 < M; m0 += 4) {
    const int64_t mb = M - m0 < 4 ? M - m0 : 4;
    float* ym = y + m0 * ldy;
    const float* xm = x + m0 * K;
    switch (mb) {
      case 1: gemv_rows<S, 1>(ym, ldy, xm, w, K, n_rows); break;
      case 2: gemv_rows<S, 2>(ym, ldy, xm, w, K, n_rows); break;
      case 3: gemv_rows<S, 3>(ym, ldy, xm, w, K, n_rows); break;
      default: gemv_rows<S, 4>(ym, ldy, xm, w, K, n_rows); break;
    }
  }
}

// engine_kernels.h attend_many: nq query rows against one head's cache. Scores a tile of W
// keys at a time for every query that reaches it, from the tile transposed (hs, W) so that
// each lane is one key (no horizontal sums); then each row's softmax; then the weighted
// sums of V for four queries at a time, each V row loaded (and converted) once for them.
template <class S>
void attend_many_impl(float* const* out, const float* const* q, const int64_t* n, int64_t nq,
                      const uint8_t* k, const uint8_t* v, bool kv_f16, int64_t hs, float scale,
                      float* scratch) {
  using V = typename S::V;
  constexpr int W = S::W;
  int64_t n_max = 0;
  for (int64_t r = 0; r < nq; ++r) n_max = n[r] > n_max ? n[r] : n_max;
  const int64_t ld = (n_max + W - 1) / W * W;
  float* sc = scratch;            // (nq, ld) scores, then probabilities
  float* kt = scratch + nq * ld;  // (hs, W) one tile of keys, transposed
  auto key = [&](int64_t j, int64_t d) {
    return kv_f16 ? h2f(reinterpret_cast<const f16*>(k)[j * hs + d])
                  : reinterpret_cast<const float*>(k)[j * hs + d];
  };
  for (int64_t j0 = 0; j0 < n_max; j0 += W) {
    const int64_t jw = n_max - j0 < W ? n_max - j0 : W;
    for (int64_t jj = 0; jj < W; ++jj)
      for (int64_t d = 0; d < hs; ++d) kt[d * W + jj] = jj < jw ? key(j0 + jj, d) : 0.0f;
    // Four queries at a time, two partial sums each (even / odd d) to hide FMA latency.
    int64_t r = 0;
    for (; r + 4 <= nq; r += 4) {
      if (n[r] <= j0 && n[r + 1] <= j0 && n[r + 2] <= j0 && n[r + 3] <= j0) continue;
      V a[4][2];
      for (int i = 0; i < 4; ++i) a[i][0] = a[i][1] = S::zero();
      int64_t d = 0;
      for (; d + 2 <= hs; d += 2) {
        const V k0 = S::load(kt + d * W), k1 = S::load(kt + (d + 1) * W);
        for (int i = 0; i < 4; ++i) {
          a[i][0] = S::fma(S::set1(q[r + i][d]), k0, a[i][0]);
          a[i][1] = S::fma(S::set1(q[r + i][d + 1]), k1, a[i][1]);
        }
      }
      for (; d < hs; ++d)
        for (int i = 0; i < 4; ++i) a[i][0] = S::fma(S::set1(q[r + i][d]), S::load(kt + d * W), a[i][0]);
      for (int i = 0; i < 4; ++i)
        S::store(sc + (r + i) * ld + j0, S::mul(S::add(a[i][0], a[i][1]), S::set1(scale)));
    }
    for (; r < nq; ++r) {
      if (n[r] <= j0) continue;
      V a0 = S::zero(), a1 = S::zero();
      int64_t d = 0;
      for (; d + 2 <= hs; d += 2) {
        a0 = S::fma(S::set1(q[r][d]), S::load(kt + d * W), a0);
        a1 = S::fma(S::set1(q[r][d + 1]), S::load(kt + (d + 1) * W), a1);
      }
      for (; d < hs; ++d) a0 = S::fma(S::set1(q[r][d]), S::load(kt + d * W), a0);
      S::store(sc + r * ld + j0, S::mul(S::add(a0, a1), S::set1(scale)));
    }
  }
  // Softmax over each query's own n positions; zeros after them (up to the block's longest
  // row, so the weighted sums below can run all four queries to the same length).
  for (int64_t r = 0; r < nq; ++r) {
    softmax_row<S>(sc + r * ld, n[r]);
    const int64_t r4 = r / 4 * 4, r4e = nq < r4 + 4 ? nq : r4 + 4;  // r's block of four
    int64_t nb = 0;
    for (int64_t i = r4; i < r4e; ++i) nb = n[i] > nb ? n[i] : nb;
    for (int64_t j = n[r]; j < nb; ++j) sc[r * ld + j] = 0.0f;
  }
  auto vload = [&](int64_t j, int64_t d) {
    return kv_f16 ? load_half<S>(reinterpret_cast<const f16*>(v) + j * hs + d)
                  : S::load(reinterpret_cast<const float*>(v) + j * hs + d);
  };
  for (int64_t r = 0; r < nq; r += 4) {
    const int64_t nr = nq - r < 4 ? nq - r : 4;
    int64_t nb = 0;
    for (int64_t i = 0; i < nr; ++i) nb = n[r + i] > nb ? n[r + i] : nb;
    int64_t d = 0;
    for (; d + 4 * W <= hs; d += 4 * W) {
      V a[4][4];
      for (int i = 0; i < 4; ++i)
        for (int c = 0; c < 4; ++c) a[i][c] = S::zero();
      for (int64_t j = 0; j < nb; ++j) {
        const V v0 = vload(j, d), v1 = vload(j, d + W), v2 = vload(j, d + 2 * W), v3 = vload(j, d + 3 * W);
        for (int64_t i = 0; i < nr; ++i) {
          const V p = S::set1(sc[(r + i) * ld + j]);
          a[i][0] = S::fma(p, v0, a[i][0]);
          a[i][1] = S::fma(p, v1, a[i][1]);
          a[i][2] = S::fma(p, v2, a[i][2]);
          a[i][3] = S::fma(p, v3, a[i][3]);
        }
      }
      for (int64_t i = 0; i < nr; ++i)
        for (int c = 0; c < 4; ++c) S::store(out[r + i] + d + c * W, a[i][c]);
    }
    for (; d + W <= hs; d += W) {
      V a[4];
      for (int i = 0; i < 4; ++i) a[i] = S::zero();
      for (int64_t j = 0; j < nb; ++j) {
        const V v0 = vload(j, d);
        for (int64_t i = 0; i < nr; ++i) a[i] = S::fma(S::set1(sc[(r + i) * ld + j]), v0, a[i]);
      }
      for (int64_t i = 0; i < nr; ++i) S::store(out[r + i] + d, a[i]);
    }
    for (; d < hs; ++d)
      for (int64_t i = 0; i < nr; ++i) {
        float acc = 0.0f;
        for (int64_t j = 0; j < nb; ++j)
          acc += sc[(r + i) * ld + j] *
                 (kv_f16 ? h2f(reinterpret_cast<const f16*>(v)[j * hs + d])
                         : reinterpret_cast<const float*>(v)[j * hs + d]);
        out[r + i][d] = acc;
      }
  }
}

// engine_kernels.h gemv_f32_segments: rows of w in blocks of four, each row read once
// from column k0 to k1, its sums stored and restarted at every segment's end.
template <class S, int M>
void gemv_seg_rows(float* y, int64_t ldy, int64_t lds, const float* x, int64_t ldx,
                   const float* w, int64_t ldw, int64_t k0, int64_t k1, int64_t seg,
                   int64_t n_rows) {
  using V = typename S::V;
  constexpr int R = M == 1 ? 8 : 4;
  int64_t r = 0;
  for (; r + R <= n_rows; r += R) {
    const float* w0 = w + r * ldw;
    for (int64_t s0 = k0; s0 < k1; s0 += seg) {
      V acc[R][M];
      for (int i = 0; i < R; ++i)
        for (int m = 0; m < M; ++m) acc[i][m] = S::zero();
      for (int64_t k = s0; k < s0 + seg; k += S::W) {
        V xv[M];
        for (int m = 0; m < M; ++m) xv[m] = S::load(x + m * ldx + k);
        for (int i = 0; i < R; ++i) {
          // The same columns R rows on: a thread reads only its own columns of each row, so
          // a prefetch further along the row would fetch another thread's columns.
          if (k % 16 == 0) __builtin_prefetch(w0 + (R + i) * ldw + k);
          const V wv = S::load(w0 + i * ldw + k);
          for (int m = 0; m < M; ++m) acc[i][m] = S::fma(wv, xv[m], acc[i][m]);
        }
      }
      float* ys = y + ((s0 - k0) / seg) * lds;
      for (int i = 0; i < R; ++i)
        for (int m = 0; m < M; ++m) ys[m * ldy + r + i] = S::reduce_add(acc[i][m]);
    }
  }
  for (; r < n_rows; ++r)
    for (int64_t s0 = k0; s0 < k1; s0 += seg)
      for (int m = 0; m < M; ++m) {
        V acc = S::zero();
        for (int64_t k = s0; k < s0 + seg; k += S::W)
          acc = S::fma(S::load(w + r * ldw + k), S::load(x + m * ldx + k), acc);
        y[((s0 - k0) / seg) * lds + m * ldy + r] = S::reduce_add(acc);
      }
}

template <class S>
void gemv_f32_segments_impl(float* y, int64_t ldy, int64_t lds, const float* x, int64_t M,
                            const float* w, int64_t K, int64_t k0, int64_t k1, int64_t seg,
                            int64_t n_rows) {
  switch (M) {
    case 1: gemv_seg_rows<S, 1>(y, ldy, lds, x, K, w, K, k0, k1, seg, n_rows); break;
    case 2: gemv_seg_rows<S, 2>(y, ldy, lds, x, K, w, K, k0, k1, seg, n_rows); break;
    default: gemv_seg_rows<S, 3>(y, ldy, lds, x, K, w, K, k0, k1, seg, n_rows); break;
  }
}
