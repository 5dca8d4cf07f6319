// Block quantization in ggml's formats, and matrix products with quantized weights.
//
// The type numbering and block layouts are ggml's (ggml/include/ggml.h `enum ggml_type`,
// ggml/src/ggml-common.h `block_q8_0` ...), so quantized tensors from GGUF files are used
// in place and what lmkit writes is read by llama.cpp. The reference quantizers are
// bit-identical to ggml's quantize_row_q8_0_ref / quantize_row_q4_0_ref (ggml-quants.c;
// pinned by tests/fixtures/quant/, made by ggml itself), and the dot products compute
// ggml's vec_dot_q8_0_q8_0 / vec_dot_q4_0_q8_0 (ggml-cpu/quants.c): per block an exact
// int32 dot product of the int8 quants, scaled by d_w * d_x.
//
// Q4_K and Q6_K (the "k-quants", 256-element super-blocks) can be dequantized; their
// products run on dequantized rows.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "lmkit/core/cpu.h"
#include "lmkit/core/half.h"
#include "lmkit/core/tensor.h"

namespace lmkit {

// ggml's tensor types, numbered as in GGUF files (ggml.h). Missing numbers (4, 5, 31-33,
// 36-38) are types ggml removed.
enum class GgmlType : uint32_t {
  F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3, Q5_0 = 6, Q5_1 = 7, Q8_0 = 8, Q8_1 = 9,
  Q2_K = 10, Q3_K = 11, Q4_K = 12, Q5_K = 13, Q6_K = 14, Q8_K = 15,
  IQ2_XXS = 16, IQ2_XS = 17, IQ3_XXS = 18, IQ1_S = 19, IQ4_NL = 20, IQ3_S = 21, IQ2_S = 22,
  IQ4_XS = 23, I8 = 24, I16 = 25, I32 = 26, I64 = 27, F64 = 28, IQ1_M = 29, BF16 = 30,
  TQ1_0 = 34, TQ2_0 = 35, MXFP4 = 39, NVFP4 = 40, Q1_0 = 41, Q2_0 = 42,
};

// Block size (elements) and block byte size of a type (ggml's type_traits table).
struct GgmlTypeTraits {
  const char* name;      // ggml_type_name(): "f32", "q8_0", "q4_K" ...
  int64_t block_size;    // elements per block (1 for plain types)
  size_t type_size;      // bytes per block
};
// The traits of raw type number `type`, or nullptr when ggml defines no such type.
const GgmlTypeTraits* ggml_type_traits(uint32_t type);
// Traits of a known type (throws lmkit::Error for a number outside the enum's values).
const GgmlTypeTraits& ggml_traits(GgmlType type);
const char* ggml_type_name(GgmlType type);
// Bytes of a row of n elements; throws unless n is a multiple of the block size.
size_t ggml_row_size(GgmlType type, int64_t n);
// True for the types lmkit can dequantize (F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K).
bool ggml_type_dequantizable(GgmlType type);

constexpr int64_t QK8_0 = 32;
constexpr int64_t QK4_0 = 32;
constexpr int64_t QK_K = 256;

// Q8_0: 32 weights w[j] = d * qs[j] (ggml-common.h block_q8_0).
struct block_q8_0 {
  f16 d;
  int8_t qs[QK8_0];
};
static_assert(sizeof(block_q8_0) == 34, "block_q8_0 must be 34 bytes (ggml layout)");

// Q4_0: 32 weights w[j] = d * (nibble_j - 8); byte j holds element j in its low nibble
// and element j + 16 in its high nibble (ggml-common.h block_q4_0).
struct block_q4_0 {
  f16 d;
  uint8_t qs[QK4_0 / 2];
};
static_assert(sizeof(block_q4_0) == 18, "block_q4_0 must be 18 bytes (ggml layout)");

// Q4_K: 256 weights in 8 sub-blocks of 32; each sub-block has a 6-bit scale and min
// (packed in `scales`), w = d * sc * q - dmin * m (ggml-common.h block_q4_K).
struct block_q4_K {
  f16 d;
  f16 dmin;
  uint8_t scales[12];
  uint8_t qs[QK_K / 2];
};
static_assert(sizeof(block_q4_K) == 144, "block_q4_K must be 144 bytes (ggml layout)");

// Q6_K: 256 weights in 16 sub-blocks of 16 with int8 scales, 6-bit quants split in 4 low
// bits (ql) and 2 high bits (qh): w = d * scale * (q - 32) (ggml-common.h block_q6_K).
struct block_q6_K {
  uint8_t ql[QK_K / 2];
  uint8_t qh[QK_K / 4];
  int8_t scales[QK_K / 16];
  f16 d;
};
static_assert(sizeof(block_q6_K) == 210, "block_q6_K must be 210 bytes (ggml layout)");

// A matrix (or any tensor) stored in a ggml type: rows of blocks, row-major. It views
// bytes it does not own (a mapped GGUF file, or a buffer of quantize()); `owner` keeps
// them alive.
struct QTensor {
  GgmlType type = GgmlType::F32;
  Tensor::Shape shape;               // outermost first; shape.back() is the row length K
  const uint8_t* data = nullptr;
  size_t bytes = 0;
  std::shared_ptr<const void> owner;

  int64_t numel() const;
  int64_t cols() const { return shape.empty() ? 1 : shape.back(); }  // K
  int64_t rows() const;                                              // product of the rest
  size_t row_bytes() const { return ggml_row_size(type, cols()); }
  const uint8_t* row(int64_t i) const { return data + size_t(i) * row_bytes(); }
  // Throws lmkit::Error if bytes != the size the type and shape imply, or data is null.
  void validate() const;
};

// --- reference quantizers (bit-identical to ggml's *_ref) and dequantizers -------------
// x (k) -> y (k/32 blocks); k must be a multiple of 32 (checked by the callers below).

// Q8_0 (ggml quantize_row_q8_0_ref): d = max|x| / 127, qs = roundf(x / d).
void quantize_row_q8_0(const float* x, block_q8_0* y, int64_t k);
// Q4_0 (ggml quantize_row_q4_0_ref): m = the element of largest magnitude, signed;
// d = m / -8; q = min(15, (int8)(x / d + 8.5)).
void quantize_row_q4_0(const float* x, block_q4_0* y, int64_t k);
void dequantize_row_q8_0(const block_q8_0* x, float* y, int64_t k);
void dequantize_row_q4_0(const block_q4_0* x, float* y, int64_t k);
void dequantize_row_q4_K(const block_q4_K* x, float* y, int64_t k);  // k % 256 == 0
void dequantize_row_q6_K(const block_q6_K* x, float* y, int64_t k);  // k % 256 == 0
// Any dequantizable type (ggml_type_dequantizable): src holds k elements of `type`.
void dequantize_row(GgmlType type, const void* src, float* y, int64_t k);

// w (..., K) f32 (any float dtype, any strides) -> an owned QTensor of `type` (Q8_0 or
// Q4_0 with the reference quantizers; F32/F16/BF16 as plain conversions). K % 32 == 0.
QTensor quantize(const Tensor& w, GgmlType type);
// q -> a new contiguous F32 tensor of q.shape.
Tensor dequantize(const QTensor& q);

// --- dot products -----------------------------------------------------------------------
// sum_b d_x[b] d_y[b] * sum_j x[b].qs[j] * y[b].qs[j], over n/32 blocks (n % 32 == 0), as
// ggml's vec_dot_q8_0_q8_0 / vec_dot_q4_0_q8_0. The int32 block sums are exact on every
// ISA; the float accumulation order differs between ISAs (scalar: block by block).
float vec_dot_q8_0_q8_0(int64_t n, const block_q8_0* x, const block_q8_0* y);
float vec_dot_q4_0_q8_0(int64_t n, const block_q4_0* x, const block_q8_0* y);
// The same on a chosen ISA (tests compare them); throws if the CPU lacks it.
float vec_dot_q8_0_q8_0(int64_t n, const block_q8_0* x, const block_q8_0* y, Isa isa);
float vec_dot_q4_0_q8_0(int64_t n, const block_q4_0* x, const block_q8_0* y, Isa isa);
// quantize_row_q8_0 on a chosen ISA (all ISAs give bit-identical blocks).
void quantize_row_q8_0(const float* x, block_q8_0* y, int64_t k, Isa isa);

// --- matrix products --------------------------------------------------------------------
// y (M,N) = x (M,K) @ W^T, W = w (N,K) of any dequantizable type; row-major f32 x and y.
// Q8_0 / Q4_0 weights: each row of x is quantized to Q8_0 (as llama.cpp does with its
// activations) and every output is a quantized dot product (integer SIMD: AVX-512 VNNI
// vpdpbusd / AVX2 maddubs / scalar). F32 / F16 / BF16 weights are converted in registers
// (F16C); Q4_K / Q6_K rows are dequantized to f32 a tile at a time.
// Threads split the N rows of W (lmkit::thread_pool()); each thread takes its W rows in
// tiles that stay in cache while all M rows of x pass over them, so each weight row is
// read from memory once per call (decode, M = 1, streams W exactly once).
// Deterministic for a given ISA (independent of the thread count).
void matmul_q(float* y, const float* x, const QTensor& w, int64_t M);
// The same on a chosen ISA, for tests.
void matmul_q(float* y, const float* x, const QTensor& w, int64_t M, Isa isa);
// The same with output rows ldy >= N floats apart: y[m * ldy + n].
void matmul_q(float* y, int64_t ldy, const float* x, const QTensor& w, int64_t M);
void matmul_q(float* y, int64_t ldy, const float* x, const QTensor& w, int64_t M, Isa isa);

// Partial products over column segments, on the calling thread (decode with a matrix's
// columns split over threads, infer/engine.cpp): for each segment s of `seg` columns in
// [k0, k1),
//   y[s * lds + m * ldy + r] = sum over the segment's columns k of w[r, k] x[m, k]
// for rows r < N of w (N, K) and m < M <= 3 of x (M, K) (only columns [k0, k1) are read).
// Each segment's partial is computed exactly as matmul_q computes the product of x with
// the matrix made of those columns alone. Q8_0 / Q4_0 weights need k0 and seg multiples
// of 64 (whole block pairs); F32 / F16 / BF16 any.
void matmul_q_segments(float* y, int64_t ldy, int64_t lds, const float* x, const QTensor& w,
                       int64_t M, int64_t k0, int64_t k1, int64_t seg);
void matmul_q_segments(float* y, int64_t ldy, int64_t lds, const float* x, const QTensor& w,
                       int64_t M, int64_t k0, int64_t k1, int64_t seg, Isa isa);

}  // namespace lmkit
