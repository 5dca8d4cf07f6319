// The SIMD flash attention kernels, one template over a vector type V (attention_avx2.cpp
// and attention_avx512.cpp define V and instantiate it). Include only from those files:
// everything here sits in an anonymous namespace, so each ISA gets a private copy and no
// function compiled with AVX flags can be shared with a caller built for another ISA.
//
// Algorithms: forward = FlashAttention (Dao et al. 2022, Algorithm 1) with FlashAttention-2's
// loop order (query tiles outer, key tiles inner, one rescale of the accumulator per key
// tile) and the online softmax of Milakov & Gimelshein 2018; backward = FlashAttention-2
// (Dao 2023, Algorithm 2): key tiles outer, query tiles inner, P recomputed from the saved
// log-sum-exp, D_i = rowsum(dO_i * O_i),
//   dV_j += P^T dO_i,  dP = dO_i V_j^T,  dS = P * (dP - D_i),
//   dQ_i += scale dS K_j,  dK_j += scale dS^T Q_i.
// attention_scalar.cpp states the same recurrences one row at a time.
//
// Tile products are register-blocked micro-kernels:
//   scores_kernel: C (MR x NV*W) = A (MR x K) . Bt (K x NV*W); A broadcast from any rows,
//                  Bt a packed transposed tile loaded as vectors.
//   accum_kernel:  C (MR x NV*W) += A (MR x K) . X (K x NV*W); A read through two strides,
//                  so it also takes A^T.
// Forward: S^T = K Q^T (keys x queries, Q^T packed per query tile), so the softmax of W
// query rows at once is plain vertical SIMD (no horizontal reductions); O += P V.
// Backward: S = Q K^T and dP = dO V^T (K^T, V^T packed per key tile), then dV += P^T dO,
// dK += dS^T Q, dQ += dS K.
// The causal mask is used at vector granularity: a block only computes the vectors its
// last row can see, and tiles above the diagonal are skipped.
//
// Softmax runs in base 2: the packed Q^T (forward) or K^T (backward) carries the factor
// scale * log2(e), so scores come out as s * log2(e) and e^(s - m) = 2^(s2 - m2) (the
// FlashAttention-2 CUDA kernels' softmax_scale_log2 trick); lse is stored in natural log.
//
// Memory per thread: one (b, kv head)'s packed K^T, V^T (backward) or V (forward, only if
// hs is not whole vectors), one query tile's state, and zero-padded copies of one head's
// rows when hs is not whole vectors: O(T hs). Nothing T x T is ever stored.
#pragma once
#include <cstddef>
#include <cstdint>

#include "lmkit/core/attention_isa.h"

namespace lmkit::kernels::attention_isa {
namespace {

constexpr float kLog2e = 1.44269504088896341f;
constexpr float kLn2 = 0.693147180559945309f;

int64_t min64(int64_t a, int64_t b) {
  return a < b ? a : b;
}
int64_t max64(int64_t a, int64_t b) {
  return a > b ? a : b;
}
int64_t round_up(int64_t x, int64_t m) {
  return (x + m - 1) / m * m;
}
int64_t ceil_div(int64_t x, int64_t m) {
  return (x + m - 1) / m;
}

// ---------------------------------------------------------------------------------------
// The polynomial parts of exp2 and log, shared by every ISA (V supplies set1 / fma / mul /
// add; the range reduction that needs exponent bits stays in each ISA's struct).

// Cephes logf (S. L. Moshier, Cephes Math Library 2.x, logf.c): for x = 2^e m with m in
// [sqrt(1/2), sqrt(2)) and f = m - 1, log x = f - f^2/2 + f^3 P(f) + e ln 2 (ln 2 in two
// parts, 0.693359375 - 2.12194440e-4). About 1 ulp.
template <class V>
typename V::R cephes_log_tail(typename V::R f, typename V::R e) {
  using R = typename V::R;
  const R z = V::mul(f, f);
  R y = V::set1(7.0376836292e-2f);
  y = V::fma(y, f, V::set1(-1.1514610310e-1f));
  y = V::fma(y, f, V::set1(1.1676998740e-1f));
  y = V::fma(y, f, V::set1(-1.2420140846e-1f));
  y = V::fma(y, f, V::set1(1.4249322787e-1f));
  y = V::fma(y, f, V::set1(-1.6668057665e-1f));
  y = V::fma(y, f, V::set1(2.0000714765e-1f));
  y = V::fma(y, f, V::set1(-2.4999993993e-1f));
  y = V::fma(y, f, V::set1(3.3333331174e-1f));
  y = V::mul(V::mul(y, f), z);
  y = V::fma(e, V::set1(-2.12194440e-4f), y);
  y = V::fma(z, V::set1(-0.5f), y);
  return V::fma(e, V::set1(0.693359375f), V::add(f, y));
}

// Cephes exp2f (S. L. Moshier, Cephes Math Library 2.x, exp2f.c): 2^f = 1 + f P(f) for
// |f| <= 1/2, P of degree 5 (about 2 ulp); the caller scales by 2^n.
template <class V>
typename V::R cephes_exp2_poly(typename V::R f) {
  using R = typename V::R;
  R p = V::set1(1.535336188319500e-4f);
  p = V::fma(p, f, V::set1(1.339887440266574e-3f));
  p = V::fma(p, f, V::set1(9.618437357674640e-3f));
  p = V::fma(p, f, V::set1(5.550332471162809e-2f));
  p = V::fma(p, f, V::set1(2.402264791363012e-1f));
  p = V::fma(p, f, V::set1(6.931472028550421e-1f));
  return V::fma(p, f, V::set1(1.f));
}

// ---------------------------------------------------------------------------------------
// Micro-kernels.

// c[i][v*W..] = sum_d a[i*lda + d] * bt[d*ldb + v*W..]   (i < MR, v < NV, d < K)
template <class V, int MR, int NV>
void scores_kernel(const float* a, int64_t lda, const float* bt, int64_t ldb, int64_t K, float* c,
                   int64_t ldc) {
  using R = typename V::R;
  R acc[MR][NV];
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 16
    for (int v = 0; v < NV; ++v) acc[i][v] = V::zero();
  for (int64_t d = 0; d < K; ++d) {
    R b[NV];
#pragma GCC unroll 16
    for (int v = 0; v < NV; ++v) b[v] = V::load(bt + d * ldb + v * V::W);
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      const R ai = V::set1(a[i * lda + d]);
#pragma GCC unroll 16
      for (int v = 0; v < NV; ++v) acc[i][v] = V::fma(ai, b[v], acc[i][v]);
    }
  }
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 16
    for (int v = 0; v < NV; ++v) V::store(c + i * ldc + v * V::W, acc[i][v]);
}

// c[i][v*W..] += sum_k a[i*rs + k*ks] * x[k*ldx + v*W..]   (i < MR, v < NV, k < K)
template <class V, int MR, int NV>
void accum_kernel(const float* a, int64_t rs, int64_t ks, const float* x, int64_t ldx, int64_t K,
                  float* c, int64_t ldc) {
  using R = typename V::R;
  R acc[MR][NV];
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 16
    for (int v = 0; v < NV; ++v) acc[i][v] = V::load(c + i * ldc + v * V::W);
  for (int64_t k = 0; k < K; ++k) {
    R xv[NV];
#pragma GCC unroll 16
    for (int v = 0; v < NV; ++v) xv[v] = V::load(x + k * ldx + v * V::W);
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      const R ai = V::set1(a[i * rs + k * ks]);
#pragma GCC unroll 16
      for (int v = 0; v < NV; ++v) acc[i][v] = V::fma(ai, xv[v], acc[i][v]);
    }
  }
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 16
    for (int v = 0; v < NV; ++v) V::store(c + i * ldc + v * V::W, acc[i][v]);
}

// Run-time (mr, nv) -> the compile-time instantiation, 1 <= mr <= MR, 1 <= nv <= NV.
template <class V, int MR, int NV>
void scores_nv(int nv, const float* a, int64_t lda, const float* bt, int64_t ldb, int64_t K,
               float* c, int64_t ldc) {
  if constexpr (NV > 1)
    if (nv < NV) return scores_nv<V, MR, NV - 1>(nv, a, lda, bt, ldb, K, c, ldc);
  scores_kernel<V, MR, NV>(a, lda, bt, ldb, K, c, ldc);
}
template <class V, int MR, int NV>
void scores_any(int mr, int nv, const float* a, int64_t lda, const float* bt, int64_t ldb,
                int64_t K, float* c, int64_t ldc) {
  if constexpr (MR > 1)
    if (mr < MR) return scores_any<V, MR - 1, NV>(mr, nv, a, lda, bt, ldb, K, c, ldc);
  scores_nv<V, MR, NV>(nv, a, lda, bt, ldb, K, c, ldc);
}
template <class V, int MR, int NV>
void accum_nv(int nv, const float* a, int64_t rs, int64_t ks, const float* x, int64_t ldx,
              int64_t K, float* c, int64_t ldc) {
  if constexpr (NV > 1)
    if (nv < NV) return accum_nv<V, MR, NV - 1>(nv, a, rs, ks, x, ldx, K, c, ldc);
  accum_kernel<V, MR, NV>(a, rs, ks, x, ldx, K, c, ldc);
}
template <class V, int MR, int NV>
void accum_any(int mr, int nv, const float* a, int64_t rs, int64_t ks, const float* x, int64_t ldx,
               int64_t K, float* c, int64_t ldc) {
  if constexpr (MR > 1)
    if (mr < MR) return accum_any<V, MR - 1, NV>(mr, nv, a, rs, ks, x, ldx, K, c, ldc);
  accum_nv<V, MR, NV>(nv, a, rs, ks, x, ldx, K, c, ldc);
}

// ---------------------------------------------------------------------------------------
// Tile-level drivers.

// S rows [r_begin, r_end) of a (query tile x key tile) block: row i of the block sees key
// columns < cols(i_last) where cols(r) = min(bk, r + 1 + diag) (diag = q0 - j0, the offset
// of query row 0 from key column 0); columns are computed in whole vectors.
// a (rows, lda), bt (K, ldb = bk) the packed key tile, s (rows, lds).
template <class V>
void scores_rows(int64_t r_begin, int64_t r_end, int64_t diag, int64_t bk, const float* a,
                 int64_t lda, const float* bt, int64_t K, float* s, int64_t lds) {
  for (int64_t r0 = r_begin; r0 < r_end; r0 += V::kMrScores) {
    const int mr = static_cast<int>(min64(V::kMrScores, r_end - r0));
    const int64_t ncols = min64(bk, r0 + mr + diag);
    const int64_t nvec = ceil_div(ncols, V::W);
    for (int64_t v0 = 0; v0 < nvec; v0 += V::kNvScores) {
      const int nv = static_cast<int>(min64(V::kNvScores, nvec - v0));
      scores_any<V, V::kMrScores, V::kNvScores>(mr, nv, a + r0 * lda, lda, bt + v0 * V::W, bk, K,
                                                s + r0 * lds + v0 * V::W, lds);
    }
  }
}

// Rows (or columns, through the strides) of an accumulation c += A . X over vector
// columns [0, nvec): the k range of the rows [i0, i0 + mr) is krange(i0, mr).
struct KRange {
  int64_t begin, end;
};
template <class V, class F>
void accum_rows(int64_t i_begin, int64_t i_end, int64_t nvec, const float* a, int64_t rs,
                int64_t ks, const float* x, int64_t ldx, float* c, int64_t ldc, F krange) {
  for (int64_t v0 = 0; v0 < nvec; v0 += V::kNvAccum) {
    const int nv = static_cast<int>(min64(V::kNvAccum, nvec - v0));
    const int mr_max = V::mr_accum(nv);
    for (int64_t i0 = i_begin; i0 < i_end; i0 += mr_max) {
      const int mr = static_cast<int>(min64(mr_max, i_end - i0));
      const KRange kr = krange(i0, mr);
      if (kr.end <= kr.begin) continue;
      accum_any<V, V::kMrAccumMax, V::kNvAccum>(mr, nv, a + i0 * rs + kr.begin * ks, rs, ks,
                                                x + kr.begin * ldx + v0 * V::W, ldx,
                                                kr.end - kr.begin, c + i0 * ldc + v0 * V::W, ldc);
    }
  }
}

// Row passes over (T, hs) data, vectorised with a masked tail: at T = 256 one scalar pass
// would cost as much as several percent of the whole kernel.

// dst (n, ldd) = src (n rows, stride row_stride, hs used), zero in columns hs..ldd.
template <class V>
void pack_rows(float* dst, int64_t ldd, const float* src, int64_t row_stride, int64_t hs,
               int64_t n) {
  for (int64_t r = 0; r < n; ++r) {
    const float* s = src + r * row_stride;
    float* d = dst + r * ldd;
    int64_t i = 0;
    for (; i + V::W <= hs; i += V::W) V::store(d + i, V::load(s + i));
    if (i < hs) {
      V::store(d + i, V::load_first(s + i, hs - i));
      i += V::W;
    }
    for (; i < ldd; i += V::W) V::store(d + i, V::zero());
  }
}

// dst (n rows, stride ds, hs used) += src (n, ss).
template <class V>
void add_rows(float* dst, int64_t ds, const float* src, int64_t ss, int64_t hs, int64_t n) {
  for (int64_t r = 0; r < n; ++r) {
    const float* s = src + r * ss;
    float* d = dst + r * ds;
    int64_t i = 0;
    for (; i + V::W <= hs; i += V::W) V::store(d + i, V::add(V::load(d + i), V::load(s + i)));
    if (i < hs) V::store_first(d + i, V::add(V::load_first(d + i, hs - i), V::load(s + i)), hs - i);
  }
}

// out[r] = sum_i a[r][i] * b[r][i] over i < hs; a (n, lda) zero-padded to whole vectors.
template <class V>
void row_dots(float* out, const float* a, int64_t lda, const float* b, int64_t ldb, int64_t hs,
              int64_t n) {
  for (int64_t r = 0; r < n; ++r) {
    const float* x = a + r * lda;
    const float* y = b + r * ldb;
    typename V::R acc = V::zero();
    int64_t i = 0;
    for (; i + V::W <= hs; i += V::W) acc = V::fma(V::load(x + i), V::load(y + i), acc);
    if (i < hs) acc = V::fma(V::load(x + i), V::load_first(y + i, hs - i), acc);
    out[r] = V::reduce_add(acc);
  }
}

template <class V>
void zero_floats(float* p, int64_t n) {  // n a multiple of W
  for (int64_t i = 0; i < n; i += V::W) V::store(p + i, V::zero());
}

// Packs bk rows of one head, transposed and times mul: dst (hs, bk), dst[d][c] =
// src[c][d] * mul; rows c >= n_valid (beyond T) are zero. W x W register transposes.
template <class V>
void pack_tile_transposed(float* dst, int64_t bk, const float* src, int64_t row_stride, int64_t hs,
                          int64_t n_valid, float mul) {
  for (int64_t c0 = 0; c0 < bk; c0 += V::W) {
    const int64_t rows = max64(0, min64(V::W, n_valid - c0));
    const float* s = rows > 0 ? src + c0 * row_stride : src;
    for (int64_t d0 = 0; d0 < hs; d0 += V::W)
      V::transpose_block(s + d0, row_stride, rows, min64(V::W, hs - d0), dst + d0 * bk + c0, bk,
                         mul);
  }
}

// ---------------------------------------------------------------------------------------
// Forward.

template <class V>
struct Flash {
  static constexpr int64_t W = V::W;
  static constexpr int64_t BQ = V::kTileQ, BK = V::kTileK;
  static_assert(BK % W == 0 && BQ % W == 0, "tiles must be whole vectors");

  struct Dims {
    int64_t hsp;  // hs rounded up to whole vectors
    int64_t nkt;  // key tiles
    int64_t nqt;  // query tiles
  };
  static Dims dims(const Shape& s) {
    return {round_up(s.hs, W), ceil_div(s.T, BK), ceil_div(s.T, BQ)};
  }
  static size_t al(int64_t n) { return static_cast<size_t>(round_up(n, 16)); }

  // Rows of a (rows, ld) matrix from row r on.
  template <class P>
  struct RowsOf {
    P* p;
    int64_t ld;
    RowsOf at(int64_t r) const { return {p + r * ld, ld}; }
  };
  using Rows = RowsOf<const float>;
  using MutRows = RowsOf<float>;

  // --- forward -------------------------------------------------------------------------
  // The forward works on S^T (keys x queries): with queries in vector lanes, the softmax
  // bookkeeping of W query rows (running max, sum, rescale factor) is plain vertical SIMD,
  // with no horizontal reductions and no scalar exp per row. S^T = K Q^T takes K rows as
  // the broadcast operand (read in place) and Q^T packed per query tile.
  static size_t forward_scratch(const Shape& s) {
    const Dims d = dims(s);
    const size_t padded_v = s.hs == d.hsp ? 0 : al(d.nkt * BK * d.hsp);
    return padded_v + al(s.hs * BQ) + al(BK * BQ) + al(BQ * d.hsp) + 3 * al(BQ);
  }

  static void forward(const ForwardArgs& a, int tid, int nt, float* scratch) {
    const auto [B, T, NH, NKV, hs, scale] = a.s;
    const Dims dm = dims(a.s);
    const int64_t hsp = dm.hsp, group = NH / NKV;
    float* qt = scratch;           // (hs, BQ): (Q * scale * log2 e)^T
    float* st = qt + al(hs * BQ);  // (BK, BQ): S^T, then P^T
    float* o = st + al(BK * BQ);   // (BQ, hsp): unnormalised output
    float* m = o + al(BQ * hsp);   // (BQ): running max (base 2)
    float* l = m + al(BQ);         // (BQ): running sum
    float* alpha = l + al(BQ);     // (BQ): this key tile's rescale factor
    float* vp = alpha + al(BQ);    // (T rounded to BK, hsp): V zero-padded if needed

    // Units (b, h, query tile); a tile's work grows with its index (causal), so units are
    // dealt to threads by cumulative work: unit u goes to the thread whose share holds the
    // middle of u's work. Static, contiguous, a function of the shape alone.
    const int64_t nqt = dm.nqt;
    const int64_t head_work = nqt * nqt;  // sum over tiles of (2 qt + 1)
    const int64_t total = B * NH * head_work;
    auto owner = [&](int64_t bh, int64_t t) {
      const int64_t mid2 = 2 * (bh * head_work + t * t) + 2 * t + 1;  // 2 x unit's middle
      return min64(nt - 1, mid2 * nt / (2 * total));
    };
    // V rows: in place when hs is whole vectors, else packed (zero-padded) per (b, kv head)
    // up to the last key tile the current query tile sees.
    const bool in_place = hs == hsp;
    int64_t packed_bkv = -1, packed_tiles = 0;
    for (int64_t bh = 0; bh < B * NH; ++bh) {
      if (owner(bh, 0) > tid) break;
      if (owner(bh, nqt - 1) < tid) continue;
      const int64_t b = bh / NH, h = bh % NH, kvh = h / group;
      const float* vb = a.v + (b * T * NKV + kvh) * hs;
      for (int64_t t = 0; t < nqt; ++t) {
        if (owner(bh, t) != tid) continue;
        const int64_t q0 = t * BQ, nrows = min64(BQ, T - q0);
        Rows v_rows{vb, NKV * hs};
        if (!in_place) {
          const int64_t need_tiles = ceil_div(q0 + nrows, BK);
          const int64_t bkv = b * NKV + kvh;
          if (bkv != packed_bkv) packed_bkv = bkv, packed_tiles = 0;
          for (; packed_tiles < need_tiles; ++packed_tiles) {
            const int64_t j0 = packed_tiles * BK, n_valid = min64(BK, T - j0);
            pack_rows<V>(vp + j0 * hsp, hsp, vb + j0 * NKV * hs, NKV * hs, hs, n_valid);
          }
          v_rows = {vp, hsp};
        }
        forward_query_tile(a, b, h, kvh, q0, nrows, hsp, v_rows, qt, st, o, m, l, alpha);
      }
    }
  }

  // Query rows q0..q0+nrows of head (b, h) against keys 0..q0+nrows-1.
  static void forward_query_tile(const ForwardArgs& a, int64_t b, int64_t h, int64_t kvh,
                                 int64_t q0, int64_t nrows, int64_t hsp, Rows v, float* qt,
                                 float* st, float* o, float* m, float* l, float* alpha) {
    using R = typename V::R;
    const auto [B, T, NH, NKV, hs, scale] = a.s;
    const int64_t q_stride = NH * hs, kv_stride = NKV * hs;
    const float* kb = a.k + (b * T * NKV + kvh) * hs;  // key rows of this (b, kv head)
    pack_tile_transposed<V>(qt, BQ, a.q + ((b * T + q0) * NH + h) * hs, q_stride, hs, nrows,
                            scale * kLog2e);
    const int64_t nqv = ceil_div(nrows, W);  // query vectors
    for (int64_t i = 0; i < nqv * W; i += W) {
      V::store(m + i, V::set1(-__builtin_inff()));
      V::store(l + i, V::zero());
    }
    zero_floats<V>(o, nrows * hsp);
    const int64_t nvh = hsp / W;
    const R neg_inf = V::set1(-__builtin_inff());

    for (int64_t j0 = 0; j0 < q0 + nrows; j0 += BK) {
      // Local query r sees local key c iff c <= r + diag.
      const int64_t diag = q0 - j0;
      const int64_t kc = min64(BK, nrows + diag);  // keys any query of the tile sees
      // S^T rows (keys) in blocks; a block skips the query vectors wholly before its
      // first key.
      for (int64_t c0 = 0; c0 < kc; c0 += V::kMrScores) {
        const int mr = static_cast<int>(min64(V::kMrScores, kc - c0));
        const int64_t v_begin = max64(0, c0 - diag) / W;
        for (int64_t v0 = v_begin; v0 < nqv; v0 += V::kNvScores) {
          const int nv = static_cast<int>(min64(V::kNvScores, nqv - v0));
          scores_any<V, V::kMrScores, V::kNvScores>(mr, nv, kb + (j0 + c0) * kv_stride, kv_stride,
                                                    qt + v0 * W, BQ, hs, st + c0 * BQ + v0 * W, BQ);
        }
      }
      // Online softmax (Milakov & Gimelshein 2018), W query rows per vector, base 2.
      for (int64_t v = 0; v < nqv; ++v) {
        const int64_t r0 = v * W;
        float* sv = st + r0;
        // Keys c < c_all are seen by all W rows, keys c_all..c_end by some (masked).
        const int64_t c_end = max64(0, min64(kc, r0 + W + diag));
        const int64_t c_all = max64(0, min64(c_end, r0 + 1 + diag));
        R vmax = neg_inf;
        for (int64_t c = 0; c < c_all; ++c) vmax = V::max(vmax, V::load(sv + c * BQ));
        for (int64_t c = c_all; c < c_end; ++c)
          vmax = V::max(vmax, V::keep_from(V::load(sv + c * BQ), c - diag - r0, -__builtin_inff()));
        const R m_old = V::load(m + r0);
        const R m_new = V::max(m_old, vmax);
        const R scale_old = V::exp2(V::sub(m_old, m_new));  // 0 on the first tile
        R sum = V::zero();
        for (int64_t c = 0; c < c_all; ++c) {
          const R p = V::exp2(V::sub(V::load(sv + c * BQ), m_new));
          V::store(sv + c * BQ, p);
          sum = V::add(sum, p);
        }
        for (int64_t c = c_all; c < c_end; ++c) {
          const R p = V::exp2(
              V::keep_from(V::sub(V::load(sv + c * BQ), m_new), c - diag - r0, -__builtin_inff()));
          V::store(sv + c * BQ, p);
          sum = V::add(sum, p);
        }
        for (int64_t c = c_end; c < kc; ++c) V::store(sv + c * BQ, V::zero());
        V::store(l + r0, V::fma(V::load(l + r0), scale_old, sum));
        V::store(m + r0, m_new);
        V::store(alpha + r0, scale_old);
      }
      // O = alpha O + P V over the keys each row block sees.
      for (int64_t r = 0; r < nrows; ++r) {
        if (alpha[r] == 1.f) continue;
        const R va = V::set1(alpha[r]);
        float* orow = o + r * hsp;
        for (int64_t i = 0; i < hsp; i += W) V::store(orow + i, V::mul(V::load(orow + i), va));
      }
      accum_rows<V>(0, nrows, nvh, st, 1, BQ, v.p + j0 * v.ld, v.ld, o, hsp,
                    [&](int64_t i0, int mr) {
                      return KRange{0, min64(kc, i0 + mr + diag)};
                    });
    }
    // out = O / l, lse = ln 2 * m + ln l.
    for (int64_t i = 0; i < nqv * W; i += W) {
      const R lv = V::load(l + i);
      V::store(alpha + i, V::div(V::set1(1.f), lv));  // alpha now holds 1 / l
      const R lse = V::fma(V::load(m + i), V::set1(kLn2), V::log(lv));
      float* dst = a.lse + (b * NH + h) * T + q0 + i;
      if (i + W <= nrows)
        V::store(dst, lse);
      else
        V::store_first(dst, lse, nrows - i);
    }
    for (int64_t r = 0; r < nrows; ++r) {
      float* dst = a.out + ((b * T + q0 + r) * NH + h) * hs;
      const R inv = V::set1(alpha[r]);
      const float* orow = o + r * hsp;
      int64_t i = 0;
      for (; i + W <= hs; i += W) V::store(dst + i, V::mul(V::load(orow + i), inv));
      if (i < hs) V::store_first(dst + i, V::mul(V::load(orow + i), inv), hs - i);
    }
  }

  // --- backward ------------------------------------------------------------------------
  // K^T and V^T are packed per key tile, K^T pre-multiplied by scale * log2 e so that
  // S = Q K^T is already in base 2, and dS carries the factor scale, so dQ += dS K and
  // dK += dS^T Q need no rescaling. When hs is a whole number of vectors, Q, dO, K and the
  // gradients are used in place (row strides NH hs / NKV hs) and the kernels accumulate
  // straight into dq, dk, dv; otherwise they go through zero-padded copies.
  static size_t backward_scratch(const Shape& s) {
    const Dims d = dims(s);
    const int64_t kv_rows = d.nkt * BK, q_rows = d.nqt * BQ;
    const size_t padded = s.hs == d.hsp ? 0 : 3 * al(kv_rows * d.hsp) + 3 * al(q_rows * d.hsp);
    return 2 * al(d.nkt * s.hs * BK) + padded + 2 * al(q_rows) + 2 * al(BQ * BK);
  }

  static void backward(const BackwardArgs& a, int tid, int nt, float* scratch) {
    const auto [B, T, NH, NKV, hs, scale] = a.s;
    const Dims dm = dims(a.s);
    const int64_t hsp = dm.hsp, group = NH / NKV, nkt = dm.nkt;
    const int64_t kv_rows = nkt * BK, q_rows = dm.nqt * BQ;
    const int64_t q_stride = NH * hs, kv_stride = NKV * hs;
    const bool in_place = hs == hsp;
    float* kt = scratch;                 // nkt x (hs, BK): (K * scale * log2 e)^T per tile
    float* vt = kt + al(nkt * hs * BK);  // nkt x (hs, BK): V^T per key tile
    float* dd = vt + al(nkt * hs * BK);  // (q_rows): D = rowsum(dO * O)
    float* lse2 = dd + al(q_rows);       // (q_rows): lse * log2 e
    float* pp = lse2 + al(q_rows);       // (BQ, BK): P
    float* ds = pp + al(BQ * BK);        // (BQ, BK): dP, then dS
    // Zero-padded copies (hs not a whole number of vectors), each (rows, hsp).
    float* kp = ds + al(BQ * BK);
    float* dkp = kp + al(kv_rows * hsp);
    float* dvp = dkp + al(kv_rows * hsp);
    float* qp = dvp + al(kv_rows * hsp);
    float* dop = qp + al(q_rows * hsp);
    float* dqp = dop + al(q_rows * hsp);
    const int64_t nvh = hsp / W;

    int64_t u0, u1;
    split_range(B * NKV, tid, nt, &u0, &u1);
    for (int64_t u = u0; u < u1; ++u) {
      const int64_t b = u / NKV, kvh = u % NKV;
      const int64_t kvoff = (b * T * NKV + kvh) * hs;
      const float* kb = a.k + kvoff;
      const float* vb = a.v + kvoff;
      for (int64_t jt = 0; jt < nkt; ++jt) {
        const int64_t j0 = jt * BK, n_valid = min64(BK, T - j0);
        pack_tile_transposed<V>(kt + jt * hs * BK, BK, kb + j0 * kv_stride, kv_stride, hs, n_valid,
                                scale * kLog2e);
        pack_tile_transposed<V>(vt + jt * hs * BK, BK, vb + j0 * kv_stride, kv_stride, hs, n_valid,
                                1.f);
      }
      // K (row-major) for dQ, and where dK, dV accumulate.
      Rows k_rows{kb, kv_stride};
      MutRows dk_rows{a.dk + kvoff, kv_stride}, dv_rows{a.dv + kvoff, kv_stride};
      if (!in_place) {
        pack_rows<V>(kp, hsp, kb, kv_stride, hs, T);
        zero_floats<V>(dkp, T * hsp);
        zero_floats<V>(dvp, T * hsp);
        k_rows = {kp, hsp}, dk_rows = {dkp, hsp}, dv_rows = {dvp, hsp};
      }

      for (int64_t h = kvh * group; h < (kvh + 1) * group; ++h) {
        const int64_t qoff = (b * T * NH + h) * hs;
        Rows q_rows_{a.q + qoff, q_stride}, do_rows{a.dout + qoff, q_stride};
        MutRows dq_rows{a.dq + qoff, q_stride};
        if (!in_place) {
          pack_rows<V>(qp, hsp, a.q + qoff, q_stride, hs, T);
          pack_rows<V>(dop, hsp, a.dout + qoff, q_stride, hs, T);
          zero_floats<V>(dqp, T * hsp);
          q_rows_ = {qp, hsp}, do_rows = {dop, hsp}, dq_rows = {dqp, hsp};
        }
        row_dots<V>(dd, do_rows.p, do_rows.ld, a.out + qoff, q_stride, hs, T);
        const float* lse_h = a.lse + (b * NH + h) * T;
        for (int64_t t = 0; t < T; ++t) lse2[t] = lse_h[t] * kLog2e;

        for (int64_t jt = 0; jt < nkt; ++jt) {
          const int64_t j0 = jt * BK;
          for (int64_t q0 = j0 / BQ * BQ; q0 < T; q0 += BQ)
            backward_tile(q0, min64(BQ, T - q0), j0, hs, nvh, scale, kt + jt * hs * BK,
                          vt + jt * hs * BK, k_rows.at(j0), dk_rows.at(j0), dv_rows.at(j0),
                          q_rows_.at(q0), do_rows.at(q0), dq_rows.at(q0), dd + q0, lse2 + q0, pp,
                          ds);
        }
        if (!in_place) add_rows<V>(a.dq + qoff, q_stride, dqp, hsp, hs, T);
      }
      if (!in_place) {
        add_rows<V>(a.dk + kvoff, kv_stride, dkp, hsp, hs, T);
        add_rows<V>(a.dv + kvoff, kv_stride, dvp, hsp, hs, T);
      }
    }
  }

  // One (query tile, key tile) step of FlashAttention-2's backward: query rows
  // q0..q0+nrows (q, dout, dq, dd, lse2 start at row q0), keys j0..j0+BK (kt, vt tiles;
  // k, dk, dv start at key j0).
  static void backward_tile(int64_t q0, int64_t nrows, int64_t j0, int64_t hs, int64_t nvh,
                            float scale, const float* kt, const float* vt, Rows k, MutRows dk,
                            MutRows dv, Rows q, Rows dout, MutRows dq, const float* dd,
                            const float* lse2, float* pp, float* ds) {
    using R = typename V::R;
    const int64_t diag = q0 - j0;  // local query r sees local key c iff c <= r + diag
    const int64_t rs = max64(0, -diag);
    if (rs >= nrows) return;
    const int64_t kc = min64(BK, nrows + diag);
    const int64_t kcp = round_up(kc, W);
    // S = Q (K scale log2 e)^T (base-2 scores) and dP = dO V^T.
    scores_rows<V>(rs, nrows, diag, BK, q.p, q.ld, kt, hs, pp, BK);
    scores_rows<V>(rs, nrows, diag, BK, dout.p, dout.ld, vt, hs, ds, BK);
    // P = 2^(S - lse2), dS = scale P (dP - D); zero beyond each row's last key.
    const R vscale = V::set1(scale);
    for (int64_t r = rs; r < nrows; ++r) {
      float* p = pp + r * BK;
      float* dsr = ds + r * BK;
      const int64_t nvalid = min64(BK, r + 1 + diag);
      const R vl = V::set1(lse2[r]), vd = V::set1(-scale * dd[r]);
      int64_t c = 0;
      for (; c + W <= nvalid; c += W) {
        const R pv = V::exp2(V::sub(V::load(p + c), vl));
        V::store(p + c, pv);
        V::store(dsr + c, V::mul(pv, V::fma(V::load(dsr + c), vscale, vd)));
      }
      if (c < nvalid) {
        const R pv =
            V::exp2(V::keep_first(V::sub(V::load(p + c), vl), nvalid - c, -__builtin_inff()));
        V::store(p + c, pv);
        V::store(dsr + c,
                 V::keep_first(V::mul(pv, V::fma(V::load(dsr + c), vscale, vd)), nvalid - c, 0.f));
        c += W;
      }
      for (; c < kcp; c += W) {
        V::store(p + c, V::zero());
        V::store(dsr + c, V::zero());
      }
    }
    // dV += P^T dO and dK += dS^T Q: key c is seen by query rows from c - diag on.
    auto key_rows = [&](int64_t c0, int) { return KRange{max64(rs, c0 - diag), nrows}; };
    accum_rows<V>(0, kc, nvh, pp, 1, BK, dout.p, dout.ld, dv.p, dv.ld, key_rows);
    accum_rows<V>(0, kc, nvh, ds, 1, BK, q.p, q.ld, dk.p, dk.ld, key_rows);
    // dQ += dS K.
    accum_rows<V>(rs, nrows, nvh, ds, BK, 1, k.p, k.ld, dq.p, dq.ld, [&](int64_t i0, int mr) {
      return KRange{0, min64(BK, i0 + mr + diag)};
    });
  }
};

}  // namespace
}  // namespace lmkit::kernels::attention_isa
