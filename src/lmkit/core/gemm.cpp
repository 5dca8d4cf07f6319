#include "lmkit/core/gemm.h"

#include <cblas.h>

#include <atomic>
#include <chrono>
#include <vector>
#include <mutex>

#include "lmkit/core/thread_pool.h"

namespace lmkit {

namespace {

std::atomic<double> g_matmul_flops{0}, g_attention_flops{0};

void add_flops(std::atomic<double>& counter, double f) {
  double cur = counter.load(std::memory_order_relaxed);
  while (!counter.compare_exchange_weak(cur, cur + f, std::memory_order_relaxed)) {
  }
}

// OpenBLAS must not start its own threads inside our parallel jobs.
void ensure_openblas_serial() {
  static std::once_flag once;
  std::call_once(once, [] { openblas_set_num_threads(1); });
}

// Panel boundaries: split n into `parts` chunks aligned to `align` elements (keeps SIMD
// panels of the GEMM micro-kernels whole).
inline int64_t split_at(int64_t n, int tid, int parts, int64_t align) {
  int64_t units = (n + align - 1) / align;
  int64_t u = units * tid / parts;
  int64_t at = u * align;
  return at > n ? n : at;
}

}  // namespace

void sgemm_serial(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                  const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
                  int64_t ldc) {
  ensure_openblas_serial();
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
              trans_b ? CblasTrans : CblasNoTrans, int(M), int(N), int(K), alpha, A, int(lda), B,
              int(ldb), beta, C, int(ldc));
}

void linear_forward(float* out, const float* x, const float* w, const float* bias, int64_t M,
                    int64_t K, int64_t N, bool accumulate) {
  ensure_openblas_serial();
  add_flops(g_matmul_flops, 2.0 * double(M) * double(N) * double(K));
  thread_pool().run([&](int tid, int nt) {
    // Split the rows of x (tokens); with few rows (decode) split the output columns.
    bool by_rows = M >= 4 * nt;
    int64_t b = by_rows ? split_at(M, tid, nt, 1) : split_at(N, tid, nt, 16);
    int64_t e = by_rows ? split_at(M, tid + 1, nt, 1) : split_at(N, tid + 1, nt, 16);
    if (b >= e) return;
    int64_t m0 = by_rows ? b : 0, m1 = by_rows ? e : M;
    int64_t n0 = by_rows ? 0 : b, n1 = by_rows ? N : e;
    float* o = out + m0 * N + n0;
    float beta = accumulate ? 1.0f : 0.0f;
    if (bias && !accumulate) {
      for (int64_t m = m0; m < m1; ++m)
        for (int64_t n = n0; n < n1; ++n) out[m * N + n] = bias[n];
      beta = 1.0f;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(m1 - m0), int(n1 - n0), int(K), 1.0f,
                x + m0 * K, int(K), w + n0 * K, int(K), beta, o, int(N));
    if (bias && accumulate)
      for (int64_t m = m0; m < m1; ++m)
        for (int64_t n = n0; n < n1; ++n) out[m * N + n] += bias[n];
  });
}

void linear_backward(float* dx, float* dw, float* db, const float* dout, const float* x,
                     const float* w, int64_t M, int64_t K, int64_t N, bool accumulate_dx) {
  ensure_openblas_serial();
  add_flops(g_matmul_flops, (dx ? 2.0 : 0.0) * double(M) * double(N) * double(K) +
                                (dw ? 2.0 : 0.0) * double(M) * double(N) * double(K));
  thread_pool().run([&](int tid, int nt) {
    // dx (M,K) = dout (M,N) @ w (N,K): split rows of dx.
    if (dx) {
      int64_t m0 = split_at(M, tid, nt, 1), m1 = split_at(M, tid + 1, nt, 1);
      if (m0 < m1)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, int(m1 - m0), int(K), int(N), 1.0f,
                    dout + m0 * N, int(N), w, int(K), accumulate_dx ? 1.0f : 0.0f, dx + m0 * K,
                    int(K));
    }
    // dw (N,K) += dout^T (N,M) @ x (M,K): split rows of dw (output features).
    int64_t n0 = split_at(N, tid, nt, 16), n1 = split_at(N, tid + 1, nt, 16);
    if (n0 >= n1) return;
    if (dw)
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, int(n1 - n0), int(K), int(M), 1.0f,
                  dout + n0, int(N), x, int(K), 1.0f, dw + n0 * K, int(K));
    if (db) {
      // Column sums in row order: deterministic and vectorisable over n.
      for (int64_t m = 0; m < M; ++m) {
        const float* row = dout + m * N;
        for (int64_t n = n0; n < n1; ++n) db[n] += row[n];
      }
    }
  });
}

double measure_sgemm_gflops(double seconds) {
  const int64_t n = 1024;
  std::vector<float> a(size_t(n * n), 0.5f), b(size_t(n * n), 0.25f), c(size_t(n * n));
  linear_forward(c.data(), a.data(), b.data(), nullptr, n, n, n);  // warm up
  double flops = 0;
  auto t0 = std::chrono::steady_clock::now();
  double elapsed = 0;
  do {
    linear_forward(c.data(), a.data(), b.data(), nullptr, n, n, n);
    flops += 2.0 * double(n) * double(n) * double(n);
    elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  } while (elapsed < seconds);
  // The measurement must not count towards the model's FLOPs.
  add_flops(g_matmul_flops, -flops - 2.0 * double(n) * double(n) * double(n));
  return flops / elapsed / 1e9;
}

FlopCount flop_count() {
  return {g_matmul_flops.load(std::memory_order_relaxed),
          g_attention_flops.load(std::memory_order_relaxed)};
}

void reset_flop_count() {
  g_matmul_flops.store(0);
  g_attention_flops.store(0);
}

void add_attention_flops(double flops) { add_flops(g_attention_flops, flops); }

}  // namespace lmkit
