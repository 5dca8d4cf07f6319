#include "lmkit/core/quant.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <fstream>
#include <random>

#include "lmkit/core/error.h"
#include "lmkit/core/test_support.h"
#include "lmkit/core/thread_pool.h"

namespace lmkit {
namespace {

// tests/fixtures/quant/: made by ggml itself (make_quant_fixtures.py documents the files).
constexpr int64_t kRows = 24, kCols = 256;

std::vector<uint8_t> read_fixture(const std::string& name) {
  std::string path = std::string(LMKIT_SOURCE_DIR) + "/tests/fixtures/quant/" + name;
  std::ifstream f(path, std::ios::binary);
  EXPECT_TRUE(f.good()) << "missing fixture " << path;
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(f), {});
}

std::vector<float> read_floats(const std::string& name) {
  std::vector<uint8_t> b = read_fixture(name);
  std::vector<float> v(b.size() / 4);
  std::memcpy(v.data(), b.data(), v.size() * 4);
  return v;
}

// Equal bit patterns, or both NaN.
bool same_float(float a, float b) {
  return std::bit_cast<uint32_t>(a) == std::bit_cast<uint32_t>(b) || (std::isnan(a) && std::isnan(b));
}

std::vector<Isa> isas() {
  std::vector<Isa> out = {Isa::Scalar};
  if (int(detect_isa()) >= int(Isa::Avx2)) out.push_back(Isa::Avx2);
  if (int(detect_isa()) >= int(Isa::Avx512)) out.push_back(Isa::Avx512);
  return out;
}

using test::random_floats;

TEST(QuantTypes, TraitsMatchGgml) {
  EXPECT_EQ(ggml_traits(GgmlType::Q8_0).type_size, sizeof(block_q8_0));
  EXPECT_EQ(ggml_traits(GgmlType::Q4_0).type_size, sizeof(block_q4_0));
  EXPECT_EQ(ggml_traits(GgmlType::Q4_K).type_size, sizeof(block_q4_K));
  EXPECT_EQ(ggml_traits(GgmlType::Q6_K).type_size, sizeof(block_q6_K));
  EXPECT_STREQ(ggml_type_name(GgmlType::Q4_K), "q4_K");
  EXPECT_STREQ(ggml_type_name(GgmlType::BF16), "bf16");
  EXPECT_EQ(ggml_row_size(GgmlType::Q8_0, 4096), 4096u / 32 * 34);
  EXPECT_EQ(ggml_row_size(GgmlType::F16, 7), 14u);
  EXPECT_THROW(ggml_row_size(GgmlType::Q4_0, 48), Error);
  EXPECT_EQ(ggml_type_traits(4), nullptr);   // q4_2: removed from ggml
  EXPECT_EQ(ggml_type_traits(31), nullptr);  // q4_0_4_4: removed from GGUF
  EXPECT_EQ(ggml_type_traits(1000), nullptr);
  EXPECT_THROW(ggml_traits(GgmlType(5)), Error);
}

TEST(QuantRef, Q8_0AndQ4_0AreBitIdenticalToGgml) {
  std::vector<float> x = read_floats("inputs.f32");
  std::vector<uint8_t> q8 = read_fixture("q8_0.bin"), q4 = read_fixture("q4_0.bin");
  ASSERT_EQ(x.size(), size_t(kRows * kCols));
  ASSERT_EQ(q8.size(), size_t(kRows * kCols / 32 * 34));
  ASSERT_EQ(q4.size(), size_t(kRows * kCols / 32 * 18));
  for (int64_t r = 0; r < kRows; ++r) {
    std::vector<block_q8_0> b8(kCols / 32);
    std::vector<block_q4_0> b4(kCols / 32);
    quantize_row_q8_0(x.data() + r * kCols, b8.data(), kCols);
    quantize_row_q4_0(x.data() + r * kCols, b4.data(), kCols);
    EXPECT_EQ(std::memcmp(b8.data(), q8.data() + r * (kCols / 32 * 34), kCols / 32 * 34), 0)
        << "q8_0 row " << r;
    EXPECT_EQ(std::memcmp(b4.data(), q4.data() + r * (kCols / 32 * 18), kCols / 32 * 18), 0)
        << "q4_0 row " << r;
    // The activation quantizer of every ISA gives the same blocks.
    for (Isa isa : isas()) {
      std::vector<block_q8_0> s(kCols / 32);
      quantize_row_q8_0(x.data() + r * kCols, s.data(), kCols, isa);
      EXPECT_EQ(std::memcmp(s.data(), q8.data() + r * (kCols / 32 * 34), kCols / 32 * 34), 0)
          << "q8_0 row " << r << " on " << isa_name(isa);
    }
  }
}

TEST(QuantRef, SimdQuantizerMatchesScalarOnRandomData) {
  // Many scales, including exact .5 products, on every ISA.
  for (uint32_t seed = 0; seed < 20; ++seed) {
    std::vector<float> x = random_floats(32 * 64, seed, std::pow(10.0f, float(seed % 9) - 4));
    for (size_t i = 0; i < x.size(); i += 7) x[i] = std::round(x[i] * 4) / 4;
    std::vector<block_q8_0> ref(64);
    quantize_row_q8_0(x.data(), ref.data(), int64_t(x.size()));
    for (Isa isa : isas()) {
      std::vector<block_q8_0> got(64);
      quantize_row_q8_0(x.data(), got.data(), int64_t(x.size()), isa);
      EXPECT_EQ(std::memcmp(got.data(), ref.data(), sizeof(block_q8_0) * 64), 0)
          << "seed " << seed << " " << isa_name(isa);
    }
  }
}

TEST(QuantRef, KQuantDequantizationMatchesGgml) {
  for (const char* t : {"q4_K", "q6_K"}) {
    std::vector<uint8_t> blocks = read_fixture(std::string(t) + ".bin");
    std::vector<float> want = read_floats(std::string(t) + "_dequant.f32");
    ASSERT_EQ(want.size(), size_t(kRows * kCols));
    GgmlType type = std::string(t) == "q4_K" ? GgmlType::Q4_K : GgmlType::Q6_K;
    ASSERT_EQ(blocks.size(), kRows * ggml_row_size(type, kCols));
    std::vector<float> got(kRows * kCols);
    for (int64_t r = 0; r < kRows; ++r)
      dequantize_row(type, blocks.data() + r * ggml_row_size(type, kCols), got.data() + r * kCols,
                     kCols);
    int bad = 0;
    for (size_t i = 0; i < got.size(); ++i)
      if (!same_float(got[i], want[i]) && bad++ < 5)
        ADD_FAILURE() << t << " element " << i << ": " << got[i] << " vs ggml " << want[i];
  }
}

TEST(QuantRef, ScalarDotsAreBitIdenticalToGgmlGeneric) {
  std::vector<uint8_t> q8 = read_fixture("q8_0.bin"), q4 = read_fixture("q4_0.bin");
  std::vector<float> dots = read_floats("dots.f32");
  ASSERT_EQ(dots.size(), size_t(2 * kRows));
  const size_t r8 = kCols / 32 * 34, r4 = kCols / 32 * 18;
  for (int64_t r = 0; r < kRows; ++r) {
    const auto* act = reinterpret_cast<const block_q8_0*>(q8.data() + ((r + 1) % kRows) * r8);
    const auto* w8 = reinterpret_cast<const block_q8_0*>(q8.data() + r * r8);
    const auto* w4 = reinterpret_cast<const block_q4_0*>(q4.data() + r * r4);
    float s8 = vec_dot_q8_0_q8_0(kCols, w8, act, Isa::Scalar);
    float s4 = vec_dot_q4_0_q8_0(kCols, w4, act, Isa::Scalar);
    EXPECT_TRUE(same_float(s8, dots[r])) << "row " << r << ": " << s8 << " vs " << dots[r];
    EXPECT_TRUE(same_float(s4, dots[kRows + r])) << "row " << r << ": " << s4 << " vs "
                                                 << dots[kRows + r];
    // SIMD: the same exact int32 block sums, another float summation order: equal up to
    // float rounding, relative to the sum of |terms| (the results may cancel).
    if (!std::isfinite(dots[r]) || !std::isfinite(dots[kRows + r])) continue;
    std::vector<float> a(kCols), b8(kCols), b4(kCols);
    dequantize_row_q8_0(act, a.data(), kCols);
    dequantize_row_q8_0(w8, b8.data(), kCols);
    dequantize_row_q4_0(w4, b4.data(), kCols);
    double mag8 = 0, mag4 = 0;
    for (int64_t i = 0; i < kCols; ++i) {
      mag8 += std::fabs(double(a[size_t(i)]) * b8[size_t(i)]);
      mag4 += std::fabs(double(a[size_t(i)]) * b4[size_t(i)]);
    }
    for (Isa isa : isas()) {
      EXPECT_NEAR(vec_dot_q8_0_q8_0(kCols, w8, act, isa), dots[r], 1e-6 * mag8)
          << isa_name(isa) << " " << r;
      EXPECT_NEAR(vec_dot_q4_0_q8_0(kCols, w4, act, isa), dots[kRows + r], 1e-6 * mag4)
          << isa_name(isa) << " " << r;
    }
  }
}

// Exact dot of dequantized blocks, in double: sum_b d_w d_x sum_j qw qx.
double exact_dot(const float* w_deq, const float* x_deq, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += double(w_deq[i]) * double(x_deq[i]);
  return s;
}

TEST(QuantDot, SimdMatchesScalarForEveryLength) {
  for (int64_t nb : {1, 2, 3, 5, 8, 17, 128}) {
    const int64_t n = nb * 32;
    std::vector<float> w = random_floats(size_t(n), uint32_t(nb)), x = random_floats(size_t(n), uint32_t(nb + 100));
    std::vector<block_q8_0> w8(static_cast<size_t>(nb)), x8(static_cast<size_t>(nb));
    std::vector<block_q4_0> w4(static_cast<size_t>(nb));
    quantize_row_q8_0(w.data(), w8.data(), n);
    quantize_row_q4_0(w.data(), w4.data(), n);
    quantize_row_q8_0(x.data(), x8.data(), n);
    // Include the extreme int8 weight -128 (legal in a Q8_0 file, never made by quantizing).
    w8[0].qs[3] = -128;
    std::vector<float> wd8(static_cast<size_t>(n)), wd4(static_cast<size_t>(n)), xd(static_cast<size_t>(n));
    dequantize_row_q8_0(w8.data(), wd8.data(), n);
    dequantize_row_q4_0(w4.data(), wd4.data(), n);
    dequantize_row_q8_0(x8.data(), xd.data(), n);
    const double e8 = exact_dot(wd8.data(), xd.data(), n), e4 = exact_dot(wd4.data(), xd.data(), n);
    double mag8 = 0, mag4 = 0;
    for (int64_t i = 0; i < n; ++i) {
      mag8 += std::fabs(double(wd8[size_t(i)]) * xd[size_t(i)]);
      mag4 += std::fabs(double(wd4[size_t(i)]) * xd[size_t(i)]);
    }
    for (Isa isa : isas()) {
      EXPECT_NEAR(vec_dot_q8_0_q8_0(n, w8.data(), x8.data(), isa), e8, 1e-6 * mag8)
          << isa_name(isa) << " n=" << n;
      EXPECT_NEAR(vec_dot_q4_0_q8_0(n, w4.data(), x8.data(), isa), e4, 1e-6 * mag4)
          << isa_name(isa) << " n=" << n;
    }
  }
}

TEST(QuantRef, RoundTripErrorIsWithinHalfAStep) {
  std::vector<float> x = random_floats(32 * 32, 7);
  std::vector<block_q8_0> b8(32);
  std::vector<block_q4_0> b4(32);
  quantize_row_q8_0(x.data(), b8.data(), int64_t(x.size()));
  quantize_row_q4_0(x.data(), b4.data(), int64_t(x.size()));
  std::vector<float> y8(x.size()), y4(x.size());
  dequantize_row_q8_0(b8.data(), y8.data(), int64_t(x.size()));
  dequantize_row_q4_0(b4.data(), y4.data(), int64_t(x.size()));
  for (size_t i = 0; i < x.size(); ++i) {
    const float d8 = f16_to_f32(b8[i / 32].d), d4 = std::fabs(f16_to_f32(b4[i / 32].d));
    // Half a step, plus |q| <= 127 times the f16 rounding of d (relative 2^-11).
    EXPECT_LE(std::fabs(y8[i] - x[i]), d8 * (0.5f + 127.0f / 2048.0f) + 1e-7f) << i;
    // q4_0 uses 16 levels for [-8d, 7d]: values near +8|d| clamp to 7, one step away.
    EXPECT_LE(std::fabs(y4[i] - x[i]), d4 * 1.01f + 1e-7f) << i;
  }
}

TEST(QuantTensor, QuantizeDequantizeAndValidate) {
  std::vector<float> v = random_floats(3 * 64, 3);
  Tensor w = Tensor::from(v, {3, 64});
  QTensor q = quantize(w, GgmlType::Q8_0);
  EXPECT_EQ(q.rows(), 3);
  EXPECT_EQ(q.cols(), 64);
  EXPECT_EQ(q.bytes, 3u * 2 * 34);
  q.validate();
  Tensor back = dequantize(q);
  EXPECT_EQ(back.shape(), (Tensor::Shape{3, 64}));
  std::vector<block_q8_0> ref(6);
  quantize_row_q8_0(v.data(), ref.data(), 3 * 64);
  EXPECT_EQ(std::memcmp(q.data, ref.data(), q.bytes), 0);
  std::vector<float> deq(3 * 64);
  dequantize_row_q8_0(ref.data(), deq.data(), 3 * 64);
  EXPECT_EQ(back.to_vector(), deq);

  QTensor h = quantize(w, GgmlType::F16);
  EXPECT_EQ(h.bytes, 3u * 64 * 2);
  EXPECT_EQ(dequantize(h).to_vector(), w.to(DType::F16).to_vector());

  EXPECT_THROW(quantize(Tensor::from(std::vector<float>(48), {48}), GgmlType::Q4_0), Error);
  EXPECT_THROW(quantize(w, GgmlType::Q4_K), Error);
  QTensor bad = q;
  bad.bytes -= 1;
  EXPECT_THROW(bad.validate(), Error);
  bad = q;
  bad.shape = {3, 60};
  EXPECT_THROW(bad.validate(), Error);
  QTensor unk = q;
  unk.type = GgmlType::IQ2_XXS;
  EXPECT_THROW(dequantize(unk), Error);
}

// y_ref (M,N) in double from dequantized weights and (for int8 types) dequantized Q8_0
// activations: what the quantized product computes up to float summation order.
// mag gets sum_k |w x| per output (the scale of float rounding errors).
std::vector<double> reference_matmul(const std::vector<float>& x, const QTensor& w, int64_t M,
                                     bool quantize_x, std::vector<double>& mag) {
  const int64_t N = w.rows(), K = w.cols();
  Tensor wd = dequantize(w);
  std::vector<float> wf = wd.to_vector();
  std::vector<float> xa = x;
  if (quantize_x) {
    std::vector<block_q8_0> b(size_t(K / 32));
    for (int64_t m = 0; m < M; ++m) {
      quantize_row_q8_0(x.data() + m * K, b.data(), K);
      dequantize_row_q8_0(b.data(), xa.data() + m * K, K);
    }
  }
  std::vector<double> y(size_t(M * N));
  mag.assign(size_t(M * N), 0.0);
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n) {
      y[size_t(m * N + n)] = exact_dot(wf.data() + n * K, xa.data() + m * K, K);
      for (int64_t k = 0; k < K; ++k)
        mag[size_t(m * N + n)] += std::fabs(double(wf[size_t(n * K + k)]) * xa[size_t(m * K + k)]);
    }
  return y;
}

TEST(QuantMatmul, MatchesDequantizedReferenceOnEveryIsaAndType) {
  const int64_t M = 5, N = 37, K = 512;
  std::vector<float> wv = random_floats(size_t(N * K), 11, 0.05f);
  std::vector<float> x = random_floats(size_t(M * K), 12);
  Tensor w = Tensor::from(wv, {N, K});
  // k-quant weights come from the fixture blocks (ggml-made), tiled to N rows.
  auto kquant = [&](GgmlType t, const char* file) {
    std::vector<uint8_t> blocks = read_fixture(file);
    const size_t rb = ggml_row_size(t, K);  // 2 super-blocks per row
    auto buf = std::make_shared<std::vector<uint8_t>>(size_t(N) * rb);
    for (int64_t n = 0; n < N; ++n)
      for (size_t j = 0; j < rb; ++j)
        (*buf)[size_t(n) * rb + j] =
            blocks[(size_t(n) * rb + j) % (12 * ggml_row_size(t, kCols))];  // rows 0..11: finite
    QTensor q;
    q.type = t;
    q.shape = {N, K};
    q.data = buf->data();
    q.bytes = buf->size();
    q.owner = buf;
    return q;
  };
  std::vector<QTensor> weights = {quantize(w, GgmlType::Q8_0), quantize(w, GgmlType::Q4_0),
                                  quantize(w, GgmlType::F32),  quantize(w, GgmlType::F16),
                                  quantize(w, GgmlType::BF16), kquant(GgmlType::Q4_K, "q4_K.bin"),
                                  kquant(GgmlType::Q6_K, "q6_K.bin")};
  for (const QTensor& q : weights) {
    const bool int8 = q.type == GgmlType::Q8_0 || q.type == GgmlType::Q4_0;
    std::vector<double> mag;
    std::vector<double> ref = reference_matmul(x, q, M, int8, mag);
    for (Isa isa : isas()) {
      std::vector<float> y(size_t(M * N), -1.0f);
      matmul_q(y.data(), x.data(), q, M, isa);
      for (size_t i = 0; i < y.size(); ++i)
        ASSERT_NEAR(y[i], ref[i], 1e-6 * mag[i] + 1e-30)
            << ggml_type_name(q.type) << " " << isa_name(isa) << " output " << i;
    }
  }
}

TEST(QuantMatmul, PlainFloatWeightsOfAnyRowLength) {
  // f32 / f16 / bf16 rows need no blocks: odd lengths exercise the vector tails.
  for (int64_t K : {1, 7, 37, 100}) {
    const int64_t M = 3, N = 9;
    std::vector<float> wv = random_floats(size_t(N * K), uint32_t(K)), x = random_floats(size_t(M * K), 99);
    for (GgmlType t : {GgmlType::F32, GgmlType::F16, GgmlType::BF16}) {
      QTensor q = quantize(Tensor::from(wv, {N, K}), t);
      std::vector<double> mag;
      std::vector<double> ref = reference_matmul(x, q, M, false, mag);
      for (Isa isa : isas()) {
        std::vector<float> y(static_cast<size_t>(M * N));
        matmul_q(y.data(), x.data(), q, M, isa);
        for (size_t i = 0; i < y.size(); ++i)
          ASSERT_NEAR(y[i], ref[i], 1e-6 * mag[i] + 1e-30)
              << ggml_type_name(t) << " " << isa_name(isa) << " K=" << K << " output " << i;
      }
    }
  }
}

TEST(QuantMatmul, ApproximatesTheUnquantizedProduct) {
  const int64_t M = 3, N = 16, K = 1024;
  std::vector<float> wv = random_floats(size_t(N * K), 21), x = random_floats(size_t(M * K), 22);
  Tensor w = Tensor::from(wv, {N, K});
  for (GgmlType t : {GgmlType::Q8_0, GgmlType::Q4_0}) {
    std::vector<float> y(size_t(M * N));
    matmul_q(y.data(), x.data(), quantize(w, t), M);
    double err = 0, norm = 0;
    for (int64_t m = 0; m < M; ++m)
      for (int64_t n = 0; n < N; ++n) {
        double e = exact_dot(wv.data() + n * K, x.data() + m * K, K);
        err += (y[size_t(m * N + n)] - e) * (y[size_t(m * N + n)] - e);
        norm += e * e + K;  // + K: the typical squared magnitude of a random-sign sum
      }
    // Relative RMS error of the product: ~0.5% for q8_0, ~10% for q4_0 on Gaussian data.
    EXPECT_LT(std::sqrt(err / norm), t == GgmlType::Q8_0 ? 0.01 : 0.15) << ggml_type_name(t);
  }
}

TEST(QuantMatmul, DeterministicAcrossThreadCountsAndRowBlocking) {
  const int64_t M = 7, N = 301, K = 256;
  std::vector<float> wv = random_floats(size_t(N * K), 31), x = random_floats(size_t(M * K), 32);
  QTensor q = quantize(Tensor::from(wv, {N, K}), GgmlType::Q4_0);
  const int saved = num_threads();
  for (Isa isa : isas()) {
    set_num_threads(1);
    std::vector<float> y1(size_t(M * N));
    matmul_q(y1.data(), x.data(), q, M, isa);
    set_num_threads(3);
    std::vector<float> y3(size_t(M * N));
    matmul_q(y3.data(), x.data(), q, M, isa);
    EXPECT_EQ(y1, y3) << isa_name(isa);
    // Row m of the batched product equals the single-row (decode) product.
    for (int64_t m = 0; m < M; ++m) {
      std::vector<float> row(static_cast<size_t>(N));
      matmul_q(row.data(), x.data() + m * K, q, 1, isa);
      EXPECT_TRUE(std::equal(row.begin(), row.end(), y3.begin() + m * N)) << isa_name(isa);
    }
  }
  set_num_threads(saved);
}

TEST(QuantMatmul, SegmentsEqualTheProductsOfTheirColumns) {
  // Column segments [64, 448) in three of 128: each partial must be exactly matmul_q of x
  // with the matrix of those columns alone (the engine's decode sums them in a fixed order).
  const int64_t N = 37, K = 512, k0 = 64, k1 = 448, seg = 128, nseg = (k1 - k0) / seg;
  std::vector<float> wv = random_floats(size_t(N * K), 41, 0.05f);
  for (int64_t M : {1, 3}) {
    std::vector<float> x = random_floats(size_t(M * K), 42 + uint32_t(M));
    for (GgmlType t : {GgmlType::Q8_0, GgmlType::Q4_0, GgmlType::F32, GgmlType::F16, GgmlType::BF16}) {
      const QTensor q = quantize(Tensor::from(wv, {N, K}), t);
      for (Isa isa : isas()) {
        const int64_t ldy = N + 3, lds = M * ldy + 5;
        std::vector<float> y(size_t(nseg * lds), -7.0f);
        matmul_q_segments(y.data(), ldy, lds, x.data(), q, M, k0, k1, seg, isa);
        for (int64_t s = 0; s < nseg; ++s) {
          std::vector<float> ws(size_t(N * seg)), xs(size_t(M * seg)), want(size_t(M * N));
          for (int64_t r = 0; r < N; ++r)
            for (int64_t k = 0; k < seg; ++k) ws[size_t(r * seg + k)] = wv[size_t(r * K + k0 + s * seg + k)];
          for (int64_t m = 0; m < M; ++m)
            for (int64_t k = 0; k < seg; ++k) xs[size_t(m * seg + k)] = x[size_t(m * K + k0 + s * seg + k)];
          matmul_q(want.data(), xs.data(), quantize(Tensor::from(ws, {N, seg}), t), M, isa);
          for (int64_t m = 0; m < M; ++m)
            for (int64_t r = 0; r < N; ++r)
              ASSERT_EQ(y[size_t(s * lds + m * ldy + r)], want[size_t(m * N + r)])
                  << ggml_type_name(t) << " " << isa_name(isa) << " M=" << M << " segment " << s << " row " << r;
        }
      }
    }
  }
  const QTensor q8 = quantize(Tensor::from(wv, {N, K}), GgmlType::Q8_0);
  std::vector<float> x(static_cast<size_t>(K)), y(static_cast<size_t>(4 * N));
  EXPECT_THROW(matmul_q_segments(y.data(), N, N, x.data(), q8, 1, 32, 160, 64), Error);  // not block pairs
  EXPECT_THROW(matmul_q_segments(y.data(), N, N, x.data(), q8, 1, 0, 600, 64), Error);   // past K
  EXPECT_THROW(matmul_q_segments(y.data(), N, N, x.data(), q8, 4, 0, 128, 64), Error);   // M > 3
}

TEST(QuantMatmul, RejectsBadWeights) {
  std::vector<float> x(64), y(4);
  QTensor q = quantize(Tensor::from(random_floats(2 * 64, 1), {2, 64}), GgmlType::Q8_0);
  q.type = GgmlType::Q5_K;
  EXPECT_THROW(matmul_q(y.data(), x.data(), q, 1), Error);
  q.type = GgmlType::Q8_0;
  q.bytes = 10;
  EXPECT_THROW(matmul_q(y.data(), x.data(), q, 1), Error);
}

}  // namespace
}  // namespace lmkit
