// Q8_0 / Q4_0 weights repacked for the int8 kernels: 16 rows interleaved, so that one
// 64-byte vector holds 4 quant bytes of each of 16 rows (lane j = row j).
//
// Why: in ggml's layout each row's blocks are consecutive, so a decode kernel that reads
// rows in place must sum each row's products across the lanes of a vector (16 rows per
// step, core/quant_avx512.cpp gemv16): on Q4_0 that reduction, the nibble permute and the
// scale gather are ~8 vector instructions per row and block pair, more than the memory bus
// leaves time for. In the packed layout the products of 16 rows land in 16 lanes directly
// (the usual int8 GEMM micro-kernel; llama.cpp repacks Q4_0 the same way,
// ggml-cpu/repack.cpp block_q4_0x8): ~2 instructions per row and block pair. Measured on a
// 74 MB Q4_0 matrix (32000 x 4096, one activation row): 27 -> 39 GB/s on one thread,
// 48 -> 73 GB/s on two; Q8_0 (70 MB) 50 -> 66 GB/s on two.
//
// Layout, per group of 16 rows (rows past the end of the matrix are zero), per block pair
// (two blocks of 32 columns, so K % 64 == 0):
//   64 bytes   the scales d of block 2p for rows 0..15, then of block 2p+1 (f16);
//   then for each of the two blocks, V vectors of 64 bytes, vector v lane j = bytes
//   4v..4v+3 of row j's quants: Q4_0 V = 4, the stored bytes (low nibble element i, high
//   nibble element i + 16); Q8_0 V = 8, each byte + 128 (unsigned, as vpdpbusd wants).
// So a group is K/64 consecutive pairs of 576 (Q4_0) or 1088 (Q8_0) bytes, 64-byte
// aligned, the same bytes per row as ggml's layout, and a thread's columns [k0, k1) of a
// group are one contiguous span.
//
// The products compute exactly what matmul_q computes on the original rows (bit for bit):
// the same exact int32 block sums, scaled and accumulated in the same order.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

#include "lmkit/core/quant.h"

namespace lmkit {

class PackedQ {
 public:
  static constexpr int64_t kGroupRows = 16;

  // Whether `w` can be packed and multiplied on this CPU: Q8_0 or Q4_0, K % 64 == 0, and
  // the active ISA has the packed kernels (AVX-512 VNNI).
  static bool supported(const QTensor& w);
  // Packs w (validated; throws lmkit::Error when !supported(w)), in chunks of rows in
  // order; after each, `packed` (if given) is called with the span of w's bytes just
  // packed, so that a caller can give back the source's pages as it goes (the engine:
  // MappedFile::release) and never hold both copies of a large matrix at once.
  explicit PackedQ(const QTensor& w,
                   const std::function<void(const uint8_t* p, size_t n)>& packed = nullptr);

  GgmlType type() const { return type_; }
  int64_t rows() const { return rows_; }
  int64_t cols() const { return cols_; }
  int64_t groups() const { return (rows_ + kGroupRows - 1) / kGroupRows; }
  // Bytes of one block pair of a group, of one group, and of everything.
  size_t pair_bytes() const;
  size_t group_bytes() const { return pair_bytes() * size_t(cols_ / 64); }
  size_t bytes() const { return group_bytes() * size_t(groups()); }
  const uint8_t* group(int64_t g) const { return data_.get() + size_t(g) * group_bytes(); }
  // Row r (< rows()) as f32, exactly as dequantize_row gives it from the unpacked matrix
  // (a model whose output head is its embedding table looks tokens up here).
  void dequantize_row(int64_t r, float* out) const;

 private:
  GgmlType type_;
  int64_t rows_, cols_;
  std::shared_ptr<uint8_t> data_;  // mapped memory (map_huge), unmapped with the last owner
};

// Rows [r0, r1) of out = x (M, K) @ w^T, on the calling thread (inside a pool job, as the
// engine calls it): y[m * ldy + (r - r0)] for r0 <= r < r1, m < M. r0 % 16 == 0. Equal bit
// for bit to matmul_q on the unpacked rows.
void matmul_packed(float* y, int64_t ldy, const float* x, const PackedQ& w, int64_t M,
                   int64_t r0, int64_t r1);

// Partial products over column segments, as matmul_q_segments (core/quant.h) computes them
// on the unpacked matrix, bit for bit: for each segment s of `seg` columns in [k0, k1),
//   y[s * lds + m * ldy + r] = sum over the segment's columns k of w[r, k] x[m, k]
// for all rows r of w and m < M <= 3. k0 and seg multiples of 64.
void matmul_packed_segments(float* y, int64_t ldy, int64_t lds, const float* x, const PackedQ& w,
                            int64_t M, int64_t k0, int64_t k1, int64_t seg);

}  // namespace lmkit
