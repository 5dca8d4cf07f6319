// ggml block quantization: type table, reference (de)quantizers, the scalar kernels and the
// threaded quantized matrix product. References are cited per function; the layouts are
// ggml/src/ggml-common.h, the quantizers ggml/src/ggml-quants.c, the dot products
// ggml/src/ggml-cpu/quants.c (generic versions).
#include "lmkit/core/quant.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "lmkit/core/error.h"
#include "lmkit/core/quant_kernels.h"
#include "lmkit/core/quant_kquants_impl.h"
#include "lmkit/core/thread_pool.h"

namespace lmkit {

// --- type table (ggml/src/ggml.c type_traits; sizes from ggml-common.h) ----------------

namespace {
constexpr uint32_t kNumTypes = 43;
// {name, block size, block bytes}; a null name marks a number ggml does not use.
constexpr GgmlTypeTraits kTraits[kNumTypes] = {
    {"f32", 1, 4},          // 0
    {"f16", 1, 2},          // 1
    {"q4_0", 32, 18},       // 2
    {"q4_1", 32, 20},       // 3
    {nullptr, 0, 0},        // 4  (q4_2, removed)
    {nullptr, 0, 0},        // 5  (q4_3, removed)
    {"q5_0", 32, 22},       // 6
    {"q5_1", 32, 24},       // 7
    {"q8_0", 32, 34},       // 8
    {"q8_1", 32, 36},       // 9
    {"q2_K", 256, 84},      // 10
    {"q3_K", 256, 110},     // 11
    {"q4_K", 256, 144},     // 12
    {"q5_K", 256, 176},     // 13
    {"q6_K", 256, 210},     // 14
    {"q8_K", 256, 292},     // 15
    {"iq2_xxs", 256, 66},   // 16
    {"iq2_xs", 256, 74},    // 17
    {"iq3_xxs", 256, 98},   // 18
    {"iq1_s", 256, 50},     // 19
    {"iq4_nl", 32, 18},     // 20
    {"iq3_s", 256, 110},    // 21
    {"iq2_s", 256, 82},     // 22
    {"iq4_xs", 256, 136},   // 23
    {"i8", 1, 1},           // 24
    {"i16", 1, 2},          // 25
    {"i32", 1, 4},          // 26
    {"i64", 1, 8},          // 27
    {"f64", 1, 8},          // 28
    {"iq1_m", 256, 56},     // 29
    {"bf16", 1, 2},         // 30
    {nullptr, 0, 0},        // 31 (q4_0_4_4, removed from GGUF)
    {nullptr, 0, 0},        // 32 (q4_0_4_8)
    {nullptr, 0, 0},        // 33 (q4_0_8_8)
    {"tq1_0", 256, 54},     // 34
    {"tq2_0", 256, 66},     // 35
    {nullptr, 0, 0},        // 36 (iq4_nl_4_4)
    {nullptr, 0, 0},        // 37 (iq4_nl_4_8)
    {nullptr, 0, 0},        // 38 (iq4_nl_8_8)
    {"mxfp4", 32, 17},      // 39
    {"nvfp4", 64, 36},      // 40
    {"q1_0", 128, 18},      // 41
    {"q2_0", 64, 18},       // 42
};
}  // namespace

const GgmlTypeTraits* ggml_type_traits(uint32_t type) {
  if (type >= kNumTypes || kTraits[type].name == nullptr) return nullptr;
  return &kTraits[type];
}

const GgmlTypeTraits& ggml_traits(GgmlType type) {
  const GgmlTypeTraits* t = ggml_type_traits(uint32_t(type));
  if (!t) fail("unknown ggml type {}", uint32_t(type));
  return *t;
}

const char* ggml_type_name(GgmlType type) {
  const GgmlTypeTraits* t = ggml_type_traits(uint32_t(type));
  return t ? t->name : "unknown";
}

size_t ggml_row_size(GgmlType type, int64_t n) {
  const GgmlTypeTraits& t = ggml_traits(type);
  check(n >= 0 && n % t.block_size == 0,
        "a {} row of {} elements is not a whole number of {}-element blocks", t.name, n,
        t.block_size);
  return size_t(n / t.block_size) * t.type_size;
}

bool ggml_type_dequantizable(GgmlType type) {
  switch (type) {
    case GgmlType::F32: case GgmlType::F16: case GgmlType::BF16: case GgmlType::Q8_0:
    case GgmlType::Q4_0: case GgmlType::Q4_K: case GgmlType::Q6_K:
      return true;
    default: return false;
  }
}

// --- QTensor ---------------------------------------------------------------------------

int64_t QTensor::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

int64_t QTensor::rows() const {
  int64_t n = 1;
  for (size_t i = 0; i + 1 < shape.size(); ++i) n *= shape[i];
  return n;
}

void QTensor::validate() const {
  const GgmlTypeTraits& t = ggml_traits(type);
  int64_t n = 1;
  for (int64_t d : shape) {
    check(d >= 0, "quantized tensor has a negative dimension {}", d);
    check(d == 0 || n <= std::numeric_limits<int64_t>::max() / d,
          "quantized tensor shape overflows");
    n *= d;
  }
  check(cols() % t.block_size == 0,
        "{} tensor rows of {} elements are not whole {}-element blocks", t.name, cols(),
        t.block_size);
  size_t want = size_t(n / t.block_size) * t.type_size;
  check(bytes == want, "{} tensor of {} elements needs {} bytes, has {}", t.name, n, want, bytes);
  check(bytes == 0 || data != nullptr, "{} tensor has no data", t.name);
}

// --- reference quantizers --------------------------------------------------------------

// ggml-quants.c quantize_row_q8_0_ref: d = amax/127 (stored as f16), id = 1/d computed from
// the f32 d, q = roundf(x * id) (round half away from zero).
void quantize_row_q8_0(const float* x, block_q8_0* y, int64_t k) {
  const int64_t nb = k / QK8_0;
  for (int64_t i = 0; i < nb; ++i) {
    float amax = 0.0f;
    for (int64_t j = 0; j < QK8_0; ++j) {
      float a = std::fabs(x[i * QK8_0 + j]);
      amax = amax > a ? amax : a;  // ggml's MAX(amax, fabsf(v))
    }
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[i].d = f32_to_f16(d);
    for (int64_t j = 0; j < QK8_0; ++j) y[i].qs[j] = int8_t(std::roundf(x[i * QK8_0 + j] * id));
  }
}

// ggml-quants.c quantize_row_q4_0_ref: m = the signed value of largest magnitude (the
// first one on ties), d = m / -8, q = min(15, (int8_t)(x/d + 8.5)) (truncation); element j
// goes in the low nibble of byte j, element j+16 in its high nibble.
void quantize_row_q4_0(const float* x, block_q4_0* y, int64_t k) {
  const int64_t nb = k / QK4_0;
  for (int64_t i = 0; i < nb; ++i) {
    float amax = 0.0f, max = 0.0f;
    for (int64_t j = 0; j < QK4_0; ++j) {
      const float v = x[i * QK4_0 + j];
      if (amax < std::fabs(v)) {
        amax = std::fabs(v);
        max = v;
      }
    }
    const float d = max / -8.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[i].d = f32_to_f16(d);
    for (int64_t j = 0; j < QK4_0 / 2; ++j) {
      const float x0 = x[i * QK4_0 + j] * id;
      const float x1 = x[i * QK4_0 + QK4_0 / 2 + j] * id;
      const uint8_t q0 = uint8_t(std::min<int>(15, int8_t(x0 + 8.5f)));
      const uint8_t q1 = uint8_t(std::min<int>(15, int8_t(x1 + 8.5f)));
      y[i].qs[j] = uint8_t(q0 | (q1 << 4));
    }
  }
}

// ggml-quants.c dequantize_row_q8_0: y = qs * d.
void dequantize_row_q8_0(const block_q8_0* x, float* y, int64_t k) {
  const int64_t nb = k / QK8_0;
  for (int64_t i = 0; i < nb; ++i) {
    const float d = f16_to_f32(x[i].d);
    for (int64_t j = 0; j < QK8_0; ++j) y[i * QK8_0 + j] = float(x[i].qs[j]) * d;
  }
}

// ggml-quants.c dequantize_row_q4_0: y = (nibble - 8) * d.
void dequantize_row_q4_0(const block_q4_0* x, float* y, int64_t k) {
  const int64_t nb = k / QK4_0;
  for (int64_t i = 0; i < nb; ++i) {
    const float d = f16_to_f32(x[i].d);
    for (int64_t j = 0; j < QK4_0 / 2; ++j) {
      y[i * QK4_0 + j] = float((x[i].qs[j] & 0x0f) - 8) * d;
      y[i * QK4_0 + QK4_0 / 2 + j] = float((x[i].qs[j] >> 4) - 8) * d;
    }
  }
}

// ggml-quants.c dequantize_row_q4_K / dequantize_row_q6_K (quant_kquants_impl.h).
void dequantize_row_q4_K(const block_q4_K* x, float* y, int64_t k) {
  quant_detail::dequant_q4_K<f16_to_f32>(x, y, k);
}

void dequantize_row_q6_K(const block_q6_K* x, float* y, int64_t k) {
  quant_detail::dequant_q6_K<f16_to_f32>(x, y, k);
}

void dequantize_row(GgmlType type, const void* src, float* y, int64_t k) {
  check(ggml_type_dequantizable(type), "cannot dequantize ggml type {}", ggml_type_name(type));
  ggml_row_size(type, k);  // checks k is whole blocks
  switch (type) {
    case GgmlType::F32: std::memcpy(y, src, size_t(k) * 4); return;
    case GgmlType::F16: {
      const auto* h = static_cast<const f16*>(src);
      for (int64_t i = 0; i < k; ++i) y[i] = f16_to_f32(h[i]);
      return;
    }
    case GgmlType::BF16: {
      const auto* h = static_cast<const bf16*>(src);
      for (int64_t i = 0; i < k; ++i) y[i] = bf16_to_f32(h[i]);
      return;
    }
    case GgmlType::Q8_0: dequantize_row_q8_0(static_cast<const block_q8_0*>(src), y, k); return;
    case GgmlType::Q4_0: dequantize_row_q4_0(static_cast<const block_q4_0*>(src), y, k); return;
    case GgmlType::Q4_K: dequantize_row_q4_K(static_cast<const block_q4_K*>(src), y, k); return;
    case GgmlType::Q6_K: dequantize_row_q6_K(static_cast<const block_q6_K*>(src), y, k); return;
    default: break;
  }
  fail("cannot dequantize ggml type {}", ggml_type_name(type));
}

QTensor quantize(const Tensor& w, GgmlType type) {
  check(type == GgmlType::Q8_0 || type == GgmlType::Q4_0 || type == GgmlType::F32 ||
            type == GgmlType::F16 || type == GgmlType::BF16,
        "quantize: lmkit quantizes to q8_0, q4_0, f32, f16 or bf16, not {}",
        ggml_type_name(type));
  check(w.defined() && w.ndim() >= 1, "quantize: needs a tensor of at least one dimension");
  QTensor q;
  q.type = type;
  q.shape = w.shape();
  const int64_t K = q.cols(), N = q.rows();
  const size_t rb = ggml_row_size(type, K);
  Tensor src = w.dtype() == DType::F32 ? w.contiguous() : w.to(DType::F32);
  auto buf = std::shared_ptr<uint8_t[]>(new uint8_t[std::max<size_t>(1, rb * size_t(N))]);
  const float* x = src.data<float>();
  uint8_t* out = buf.get();
  thread_pool().parallel_for(size_t(N), [&](size_t b, size_t e) {
    for (size_t r = b; r < e; ++r) {
      const float* xr = x + r * size_t(K);
      uint8_t* yr = out + r * rb;
      switch (type) {
        case GgmlType::Q8_0: quantize_row_q8_0(xr, reinterpret_cast<block_q8_0*>(yr), K); break;
        case GgmlType::Q4_0: quantize_row_q4_0(xr, reinterpret_cast<block_q4_0*>(yr), K); break;
        case GgmlType::F32: std::memcpy(yr, xr, rb); break;
        case GgmlType::F16:
          for (int64_t j = 0; j < K; ++j) reinterpret_cast<f16*>(yr)[j] = f32_to_f16(xr[j]);
          break;
        default:
          for (int64_t j = 0; j < K; ++j) reinterpret_cast<bf16*>(yr)[j] = f32_to_bf16(xr[j]);
          break;
      }
    }
  });
  q.data = buf.get();
  q.bytes = rb * size_t(N);
  q.owner = std::shared_ptr<const void>(buf, buf.get());
  return q;
}

Tensor dequantize(const QTensor& q) {
  q.validate();
  check(ggml_type_dequantizable(q.type), "cannot dequantize ggml type {}",
        ggml_type_name(q.type));
  Tensor out = Tensor::zeros(q.shape, DType::F32);
  const int64_t K = q.cols(), N = q.rows();
  const size_t rb = q.row_bytes();
  float* y = out.data<float>();
  thread_pool().parallel_for(size_t(N), [&](size_t b, size_t e) {
    for (size_t r = b; r < e; ++r) dequantize_row(q.type, q.data + r * rb, y + r * size_t(K), K);
  });
  return out;
}

// --- scalar kernels (ggml-cpu/quants.c *_generic) -----------------------------------------

namespace quant_detail {
namespace {

// ggml_vec_dot_q8_0_q8_0_generic: sumf += sumi * (d_x * d_y), block by block.
float dot_q8_0_scalar(int64_t n, const block_q8_0* x, const block_q8_0* y) {
  float sumf = 0.0f;
  for (int64_t ib = 0; ib < n / QK8_0; ++ib) {
    int sumi = 0;
    for (int j = 0; j < QK8_0; ++j) sumi += int(x[ib].qs[j]) * int(y[ib].qs[j]);
    sumf += float(sumi) * (f16_to_f32(x[ib].d) * f16_to_f32(y[ib].d));
  }
  return sumf;
}

// ggml_vec_dot_q4_0_q8_0_generic: low nibbles pair with y.qs[0..15], high with [16..31].
float dot_q4_0_scalar(int64_t n, const block_q4_0* x, const block_q8_0* y) {
  float sumf = 0.0f;
  for (int64_t ib = 0; ib < n / QK8_0; ++ib) {
    int sumi0 = 0, sumi1 = 0;
    for (int j = 0; j < QK8_0 / 2; ++j) {
      const int v0 = (x[ib].qs[j] & 0x0F) - 8;
      const int v1 = (x[ib].qs[j] >> 4) - 8;
      sumi0 += v0 * y[ib].qs[j];
      sumi1 += v1 * y[ib].qs[j + QK8_0 / 2];
    }
    sumf += float(sumi0 + sumi1) * f16_to_f32(x[ib].d) * f16_to_f32(y[ib].d);
  }
  return sumf;
}

void dot_rows_q8_0_scalar(int64_t n, const uint8_t* w, size_t stride, int64_t nrows,
                          const block_q8_0* x, float* out) {
  for (int64_t r = 0; r < nrows; ++r)
    out[r] = dot_q8_0_scalar(n, reinterpret_cast<const block_q8_0*>(w + size_t(r) * stride), x);
}

void dot_rows_q4_0_scalar(int64_t n, const uint8_t* w, size_t stride, int64_t nrows,
                          const block_q8_0* x, float* out) {
  for (int64_t r = 0; r < nrows; ++r)
    out[r] = dot_q4_0_scalar(n, reinterpret_cast<const block_q4_0*>(w + size_t(r) * stride), x);
}

// One activation row at a time (the int8 path's arithmetic does not depend on mrows).
template <void (*DotRows)(int64_t, const uint8_t*, size_t, int64_t, const block_q8_0*, float*)>
void gemm_rows_scalar(int64_t n, const uint8_t* w, size_t stride, int64_t nrows, const block_q8_0* x,
                int64_t mrows, float* y, size_t ystride) {
  for (int64_t m = 0; m < mrows; ++m)
    DotRows(n, w, stride, nrows, x + size_t(m) * size_t(n / QK8_0), y + size_t(m) * ystride);
}

// f32 / f16 / bf16 weight rows against f32 activations: eight interleaved partial sums
// (the association of the 8-lane SIMD versions, which use FMA and so differ in rounding).
template <typename T, float (*Load)(T)>
void dot_rows_float_scalar(int64_t n, const uint8_t* w, size_t stride, int64_t nrows,
                           const float* x, float* out) {
  for (int64_t r = 0; r < nrows; ++r) {
    const T* wr = reinterpret_cast<const T*>(w + size_t(r) * stride);
    float acc[8] = {};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
      for (int l = 0; l < 8; ++l) acc[l] += Load(wr[i + l]) * x[i + l];
    float s = ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
    for (; i < n; ++i) s += Load(wr[i]) * x[i];
    out[r] = s;
  }
}
float load_f32(float v) { return v; }
float load_f16(f16 v) { return f16_to_f32(v); }
float load_bf16(bf16 v) { return bf16_to_f32(v); }

void quantize_q8_0_scalar(const float* x, block_q8_0* y, int64_t k) { quantize_row_q8_0(x, y, k); }

}  // namespace

const QuantKernels& quant_kernels_scalar() {
  static const QuantKernels k{quantize_q8_0_scalar,
                              gemm_rows_scalar<dot_rows_q8_0_scalar>,
                              gemm_rows_scalar<dot_rows_q4_0_scalar>,
                              dot_rows_float_scalar<float, load_f32>,
                              dot_rows_float_scalar<f16, load_f16>,
                              dot_rows_float_scalar<bf16, load_bf16>,
                              dequant_q4_K<f16_to_f32>,
                              dequant_q6_K<f16_to_f32>,
                              nullptr, nullptr, nullptr, nullptr, nullptr, nullptr};
  return k;
}

}  // namespace quant_detail

// --- dispatch and the public dot products -------------------------------------------------

namespace quant_detail {
const QuantKernels& kernels_for(Isa isa) {
  check(int(isa) <= int(detect_isa()), "this CPU does not support {} (it has at most {})",
        isa_name(isa), isa_name(detect_isa()));
  switch (isa) {
    case Isa::Avx512:
      // The int8 kernels need VNNI (vpdpbusd); AVX-512 CPUs without it use the AVX2 ones.
      return cpu_has_avx512_vnni() ? quant_detail::quant_kernels_avx512_vnni()
                                   : quant_detail::quant_kernels_avx2();
    case Isa::Avx2: return quant_detail::quant_kernels_avx2();
    case Isa::Scalar: break;
  }
  return quant_detail::quant_kernels_scalar();
}

void* aligned_scratch(std::vector<uint8_t>& v, size_t bytes) {
  if (v.size() < bytes + 64) v.resize(bytes + 64);
  return reinterpret_cast<void*>((reinterpret_cast<uintptr_t>(v.data()) + 63) & ~uintptr_t(63));
}
}  // namespace quant_detail

namespace {
using quant_detail::aligned_scratch;
using quant_detail::kernels_for;

void check_blocks(int64_t n, const char* what) {
  check(n >= 0 && n % QK8_0 == 0, "{}: length {} is not a multiple of 32", what, n);
}

// y (mrows, nrows) = x (mrows rows of n/32 Q8_0 blocks) against nrows weight rows of type
// wt (Q8_0 / Q4_0) `stride` bytes apart, through the ISA's prepared path when it has one.
void gemm_int8(const quant_detail::QuantKernels& kr, GgmlType wt, int64_t n, const uint8_t* w,
               size_t stride, int64_t nrows, const block_q8_0* x, int64_t mrows, float* y,
               size_t ystride) {
  if (kr.gemm_prepped) {
    thread_local std::vector<uint8_t> prep, scratch;
    void* p = aligned_scratch(prep, kr.prep_bytes(n, mrows));
    void* sc = aligned_scratch(scratch, kr.gemm_scratch_bytes(n));
    kr.prep_x(wt, n, x, mrows, p);
    kr.gemm_prepped(wt, n, w, stride, nrows, p, mrows, y, ystride, sc);
    return;
  }
  (wt == GgmlType::Q8_0 ? kr.gemm_q8_0 : kr.gemm_q4_0)(n, w, stride, nrows, x, mrows, y, ystride);
}
}  // namespace

float vec_dot_q8_0_q8_0(int64_t n, const block_q8_0* x, const block_q8_0* y, Isa isa) {
  check_blocks(n, "vec_dot_q8_0_q8_0");
  float out;
  gemm_int8(kernels_for(isa), GgmlType::Q8_0, n, reinterpret_cast<const uint8_t*>(x), 0, 1, y, 1, &out, 1);
  return out;
}

float vec_dot_q4_0_q8_0(int64_t n, const block_q4_0* x, const block_q8_0* y, Isa isa) {
  check_blocks(n, "vec_dot_q4_0_q8_0");
  float out;
  gemm_int8(kernels_for(isa), GgmlType::Q4_0, n, reinterpret_cast<const uint8_t*>(x), 0, 1, y, 1, &out, 1);
  return out;
}

float vec_dot_q8_0_q8_0(int64_t n, const block_q8_0* x, const block_q8_0* y) {
  return vec_dot_q8_0_q8_0(n, x, y, active_isa());
}

float vec_dot_q4_0_q8_0(int64_t n, const block_q4_0* x, const block_q8_0* y) {
  return vec_dot_q4_0_q8_0(n, x, y, active_isa());
}

void quantize_row_q8_0(const float* x, block_q8_0* y, int64_t k, Isa isa) {
  check_blocks(k, "quantize_row_q8_0");
  kernels_for(isa).quantize_q8_0(x, y, k);
}

// --- matmul ----------------------------------------------------------------------------

namespace {
// Bytes of W a thread keeps hot while all rows of x pass over it (fits a typical L2).
constexpr size_t kTileBytes = 256 * 1024;
// Activation rows per pass over the weights in prefill (their Q8_0 rows stay in cache).
constexpr int64_t kRowBlock = 64;
}  // namespace

void matmul_q(float* y, int64_t ldy, const float* x, const QTensor& w, int64_t M, Isa isa) {
  w.validate();
  check(ggml_type_dequantizable(w.type), "matmul_q: weights of type {} are not supported",
        ggml_type_name(w.type));
  check(M >= 0, "matmul_q: negative row count {}", M);
  const int64_t N = w.rows(), K = w.cols();
  check(ldy >= N, "matmul_q: output row stride {} is below the {} outputs per row", ldy, N);
  if (M == 0 || N == 0) return;
  const quant_detail::QuantKernels& kr = kernels_for(isa);
  const size_t rb = w.row_bytes();
  const int64_t tile = std::max<int64_t>(1, std::min<int64_t>(N, int64_t(kTileBytes / std::max<size_t>(rb, 1))));
  ThreadPool& pool = thread_pool();

  if (w.type == GgmlType::Q8_0 || w.type == GgmlType::Q4_0) {
    // Activations to Q8_0, one row of K/32 blocks per row of x (llama.cpp's vec_dot_type).
    const int64_t nbk = K / QK8_0;
    // (thread_local: the buffers are named through plain pointers inside the pool's lambdas,
    // where the name would mean the worker's own instance.)
    thread_local std::vector<block_q8_0> xq_buf;
    if (xq_buf.size() < size_t(M * nbk)) xq_buf.resize(size_t(M * nbk));
    block_q8_0* xq = xq_buf.data();
    pool.parallel_for(size_t(M), [&](size_t b, size_t e) {
      for (size_t m = b; m < e; ++m) kr.quantize_q8_0(x + m * size_t(K), xq + m * size_t(nbk), K);
    });
    if (kr.gemm_prepped) {
      // The prepared path tiles and repacks the weights itself (quant_kernels.h): one call
      // per thread over its rows and all activation rows.
      thread_local std::vector<uint8_t> prep;
      void* p = aligned_scratch(prep, kr.prep_bytes(K, M));
      kr.prep_x(w.type, K, xq, M, p);
      pool.parallel_for(size_t(N), [&](size_t b, size_t e) {
        thread_local std::vector<uint8_t> scratch;
        kr.gemm_prepped(w.type, K, w.row(int64_t(b)), rb, int64_t(e - b), p, M, y + b, size_t(ldy),
                        aligned_scratch(scratch, kr.gemm_scratch_bytes(K)));
      });
      return;
    }
    auto gemm = w.type == GgmlType::Q8_0 ? kr.gemm_q8_0 : kr.gemm_q4_0;
    pool.parallel_for(size_t(N), [&](size_t b, size_t e) {
      // Blocks of kRowBlock activation rows; within one, each W tile is loaded once.
      for (int64_t m0 = 0; m0 < M; m0 += kRowBlock) {
        const int64_t mt = std::min<int64_t>(kRowBlock, M - m0);
        for (size_t n0 = b; n0 < e; n0 += size_t(tile)) {
          const int64_t nt = std::min<int64_t>(tile, int64_t(e - n0));
          gemm(K, w.row(int64_t(n0)), rb, nt, xq + size_t(m0 * nbk), mt,
               y + size_t(m0) * size_t(ldy) + n0, size_t(ldy));
        }
      }
    });
    return;
  }

  if (w.type == GgmlType::F32 || w.type == GgmlType::F16 || w.type == GgmlType::BF16) {
    // Plain float weights: converted in registers inside the dot products.
    auto dot_rows = w.type == GgmlType::F32   ? kr.dot_rows_f32
                    : w.type == GgmlType::F16 ? kr.dot_rows_f16
                                              : kr.dot_rows_bf16;
    pool.parallel_for(size_t(N), [&](size_t b, size_t e) {
      for (size_t n0 = b; n0 < e; n0 += size_t(tile)) {
        const int64_t nt = std::min<int64_t>(tile, int64_t(e - n0));
        for (int64_t m = 0; m < M; ++m)
          dot_rows(K, w.row(int64_t(n0)), rb, nt, x + size_t(m) * size_t(K),
                   y + size_t(m) * size_t(ldy) + n0);
      }
    });
    return;
  }

  // k-quants: dequantize a tile of W rows to f32 once, then dot it with every row of x.
  const int64_t ftile = std::max<int64_t>(1, std::min<int64_t>(N, int64_t(kTileBytes / (size_t(K) * 4 + 1))));
  pool.parallel_for(size_t(N), [&](size_t b, size_t e) {
    std::vector<float> wf(static_cast<size_t>(ftile * K));
    for (size_t n0 = b; n0 < e; n0 += size_t(ftile)) {
      const int64_t nt = std::min<int64_t>(ftile, int64_t(e - n0));
      for (int64_t r = 0; r < nt; ++r) {
        if (w.type == GgmlType::Q4_K)
          kr.dequant_q4_K(reinterpret_cast<const block_q4_K*>(w.row(int64_t(n0) + r)), wf.data() + r * K, K);
        else
          kr.dequant_q6_K(reinterpret_cast<const block_q6_K*>(w.row(int64_t(n0) + r)), wf.data() + r * K, K);
      }
      for (int64_t m = 0; m < M; ++m)
        kr.dot_rows_f32(K, reinterpret_cast<const uint8_t*>(wf.data()), size_t(K) * 4, nt,
                        x + size_t(m) * size_t(K), y + size_t(m) * size_t(ldy) + n0);
    }
  });
}

void matmul_q(float* y, const float* x, const QTensor& w, int64_t M, Isa isa) {
  matmul_q(y, w.rows(), x, w, M, isa);
}

void matmul_q_segments(float* y, int64_t ldy, int64_t lds, const float* x, const QTensor& w,
                       int64_t M, int64_t k0, int64_t k1, int64_t seg, Isa isa) {
  w.validate();
  const int64_t N = w.rows(), K = w.cols();
  check(M >= 0 && M <= 3, "matmul_q_segments: {} activation rows (at most 3)", M);
  check(k0 >= 0 && k0 <= k1 && k1 <= K && seg > 0 && (k1 - k0) % seg == 0,
        "matmul_q_segments: columns [{}, {}) of {} are not whole segments of {}", k0, k1, K, seg);
  check(ldy >= N, "matmul_q_segments: output row stride {} is below the {} outputs per row", ldy, N);
  const int64_t nseg = (k1 - k0) / seg;
  if (M == 0 || N == 0 || nseg == 0) return;
  const quant_detail::QuantKernels& kr = kernels_for(isa);
  const size_t rb = w.row_bytes();
  if (w.type == GgmlType::Q8_0 || w.type == GgmlType::Q4_0) {
    check(k0 % (2 * QK8_0) == 0 && seg % (2 * QK8_0) == 0,
          "matmul_q_segments: {} columns need segments of whole block pairs (64)", ggml_type_name(w.type));
    const int64_t n = k1 - k0, nbk = n / QK8_0, sb = seg / QK8_0;
    const size_t bsz = ggml_traits(w.type).type_size;
    thread_local std::vector<block_q8_0> xq_buf;
    if (xq_buf.size() < size_t(M * nbk)) xq_buf.resize(size_t(M * nbk));
    block_q8_0* xq = xq_buf.data();
    for (int64_t m = 0; m < M; ++m) kr.quantize_q8_0(x + m * K + k0, xq + m * nbk, n);
    const uint8_t* wk = w.data + size_t(k0 / QK8_0) * bsz;
    if (kr.gemv_segments) {
      thread_local std::vector<uint8_t> prep;
      void* p = aligned_scratch(prep, kr.prep_bytes(n, M));
      kr.prep_x(w.type, n, xq, M, p);
      kr.gemv_segments(w.type, n, wk, rb, N, p, M, y, size_t(ldy), sb, size_t(lds));
      return;
    }
    auto gemm = w.type == GgmlType::Q8_0 ? kr.gemm_q8_0 : kr.gemm_q4_0;
    for (int64_t s = 0; s < nseg; ++s)
      for (int64_t m = 0; m < M; ++m)
        gemm(seg, wk + size_t(s * sb) * bsz, rb, N, xq + m * nbk + s * sb, 1, y + s * lds + m * ldy, 1);
    return;
  }
  check(w.type == GgmlType::F32 || w.type == GgmlType::F16 || w.type == GgmlType::BF16,
        "matmul_q_segments: weights of type {} are not supported", ggml_type_name(w.type));
  auto dot_rows = w.type == GgmlType::F32   ? kr.dot_rows_f32
                  : w.type == GgmlType::F16 ? kr.dot_rows_f16
                                            : kr.dot_rows_bf16;
  const size_t elem = w.type == GgmlType::F32 ? 4 : 2;
  for (int64_t s = 0; s < nseg; ++s)
    for (int64_t m = 0; m < M; ++m)
      dot_rows(seg, w.data + size_t(k0 + s * seg) * elem, rb, N, x + m * K + k0 + s * seg,
               y + s * lds + m * ldy);
}

void matmul_q_segments(float* y, int64_t ldy, int64_t lds, const float* x, const QTensor& w,
                       int64_t M, int64_t k0, int64_t k1, int64_t seg) {
  matmul_q_segments(y, ldy, lds, x, w, M, k0, k1, seg, active_isa());
}

void matmul_q(float* y, int64_t ldy, const float* x, const QTensor& w, int64_t M) {
  matmul_q(y, ldy, x, w, M, active_isa());
}

void matmul_q(float* y, const float* x, const QTensor& w, int64_t M) {
  matmul_q(y, x, w, M, active_isa());
}

}  // namespace lmkit
