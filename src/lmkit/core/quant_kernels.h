// Internal: the per-ISA kernels behind core/quant.h. quant.cpp holds the scalar
// reference; quant_avx2.cpp and quant_avx512.cpp (compiled for those ISAs) the SIMD
// versions, entered only after a CPUID check (quant.cpp picks the table).
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "lmkit/core/quant.h"

namespace lmkit::quant_detail {

struct QuantKernels {
  // Activations -> Q8_0, bit-identical to quantize_row_q8_0_ref. x (k), y (k/32).
  void (*quantize_q8_0)(const float* x, block_q8_0* y, int64_t k);
  // y[m * ystride + r] = dot(w row r, x row m) for r < nrows, m < mrows: w rows are
  // `stride` bytes apart, x rows n/32 consecutive blocks; n % 32 == 0. w: weights (any
  // int8 quants), x: activations (quants in [-127, 127]). Each output's arithmetic is the
  // same whatever nrows / mrows (results do not depend on how work is split).
  void (*gemm_q8_0)(int64_t n, const uint8_t* w, size_t stride, int64_t nrows,
                    const block_q8_0* x, int64_t mrows, float* y, size_t ystride);
  void (*gemm_q4_0)(int64_t n, const uint8_t* w, size_t stride, int64_t nrows,
                    const block_q8_0* x, int64_t mrows, float* y, size_t ystride);
  // out[r] = dot(w row r, x) for f32 / f16 / bf16 weight rows and f32 activations x (n).
  void (*dot_rows_f32)(int64_t n, const uint8_t* w, size_t stride, int64_t nrows,
                       const float* x, float* out);
  void (*dot_rows_f16)(int64_t n, const uint8_t* w, size_t stride, int64_t nrows,
                       const float* x, float* out);
  void (*dot_rows_bf16)(int64_t n, const uint8_t* w, size_t stride, int64_t nrows,
                        const float* x, float* out);
  // Q4_K / Q6_K rows -> f32 (the reference loops, compiled for the ISA). x (k/256 blocks).
  void (*dequant_q4_K)(const block_q4_K* x, float* y, int64_t k);
  void (*dequant_q6_K)(const block_q6_K* x, float* y, int64_t k);

  // Optional (null where an ISA has none; then gemm_q8_0 / gemm_q4_0 are used): the
  // prepared-activation path. prep_x lays out the Q8_0 activations x (mrows rows of n/32
  // blocks) for weights of type wt (Q8_0 or Q4_0) in `prep` (prep_bytes(n, mrows) bytes,
  // 64-byte aligned), once per product; gemm_prepped then computes
  // y[m * ystride + r] = dot(w row r, x row m) for r < nrows, m < mrows (w rows `stride`
  // bytes apart), with `scratch` (gemm_scratch_bytes(n) bytes, 64-byte aligned) as its
  // workspace. Every output is computed with the same arithmetic whatever nrows, mrows and
  // the split of the work: per block b in order, acc = fma(float(S_b), d_w * d_x, acc),
  // S_b the exact int32 block sum.
  size_t (*prep_bytes)(int64_t n, int64_t mrows);
  void (*prep_x)(GgmlType wt, int64_t n, const block_q8_0* x, int64_t mrows, void* prep);
  size_t (*gemm_scratch_bytes)(int64_t n);
  void (*gemm_prepped)(GgmlType wt, int64_t n, const uint8_t* w, size_t stride, int64_t nrows,
                       const void* prep, int64_t mrows, float* y, size_t ystride, void* scratch);
  // The same for mrows < 4 as partial products over column segments of seg_blocks blocks
  // (even): y[s * lds + m * ystride + r] for segment s, each computed as gemm_prepped
  // computes a product over that segment's columns alone.
  void (*gemv_segments)(GgmlType wt, int64_t n, const uint8_t* w, size_t stride, int64_t nrows,
                        const void* prep, int64_t mrows, float* y, size_t ystride,
                        int64_t seg_blocks, size_t lds);
  // Optional: the same products with weights in the packed layout (core/packed_quant.h).
  // w: the first block pair (of the n/32 blocks) in the first of the groups, which are
  // group_stride bytes apart; nrows rows in all (the last group's extra lanes are not
  // stored); x prepared by prep_x for those n columns. y[m * ystride + r], or with
  // seg_blocks > 0 (mrows < 4) the partial products per segment at y + s * lds, each bit
  // for bit what gemm_prepped / gemv_segments compute on the same rows unpacked.
  void (*gemm_packed)(GgmlType wt, int64_t n, const uint8_t* w, size_t group_stride, int64_t nrows,
                      const void* prep, int64_t mrows, float* y, size_t ystride, int64_t seg_blocks,
                      size_t lds);
};

// The kernel table of an ISA (checked against the CPU; AVX-512 without VNNI: AVX2's).
const QuantKernels& kernels_for(Isa isa);
// A 64-byte aligned region of at least `bytes` bytes inside v (grown as needed).
void* aligned_scratch(std::vector<uint8_t>& v, size_t bytes);

const QuantKernels& quant_kernels_scalar();
const QuantKernels& quant_kernels_avx2();
const QuantKernels& quant_kernels_avx512_vnni();  // needs AVX-512 F/BW/VL/DQ + VNNI

}  // namespace lmkit::quant_detail
