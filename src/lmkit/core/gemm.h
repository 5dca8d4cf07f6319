// Linear layers on OpenBLAS sgemm (the only place lmkit multiplies f32 matrices).
//
// OpenBLAS runs single-threaded; we split each GEMM into contiguous row (or column) panels
// over lmkit's thread pool, so OpenBLAS and our kernels never run threads at the same time
// and the machine is not oversubscribed. Panels are static: results are bit-identical for a
// given thread count.
//
// Weights are stored (N, K) as PyTorch's nn.Linear: y = x W^T + b.
#pragma once
#include <cstdint>

namespace lmkit {

// out (M,N) = x (M,K) @ w (N,K)^T + bias (N, may be null). accumulate: out += instead.
void linear_forward(float* out, const float* x, const float* w, const float* bias, int64_t M,
                    int64_t K, int64_t N, bool accumulate = false);

// Backward of linear_forward. dx (M,K) = dout @ w (+= if accumulate_dx; skipped if dx is
// null); dw (N,K) += dout^T @ x; db (N) += column sums of dout (if db).
void linear_backward(float* dx, float* dw, float* db, const float* dout, const float* x,
                     const float* w, int64_t M, int64_t K, int64_t N, bool accumulate_dx);

// General row-major sgemm C (M,N) = alpha * op(A) op(B) + beta * C on the calling thread
// (OpenBLAS, single-threaded). For kernels that tile their own work (attention).
void sgemm_serial(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                  const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
                  int64_t ldc);

// Measured fp32 GEMM throughput of this machine with the current thread count, in GFLOP/s
// (square 1024 products through linear_forward for about `seconds`): the peak that MFU is
// reported against.
double measure_sgemm_gflops(double seconds = 0.3);

// Floating-point operations performed by linear_forward/backward and attention since the
// last reset, counting a multiply-add as 2 (for the FLOP cross-check and MFU).
struct FlopCount {
  double matmul = 0;
  double attention = 0;
};
FlopCount flop_count();
void reset_flop_count();
void add_attention_flops(double flops);

}  // namespace lmkit
