#include "lmkit/core/packed_quant.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "lmkit/core/error.h"
#include "lmkit/core/test_support.h"
#include "lmkit/core/thread_pool.h"

namespace lmkit {
namespace {

using test::random_floats;

bool same_bits(float a, float b) { return std::memcmp(&a, &b, sizeof(float)) == 0; }

#define SKIP_WITHOUT_PACKED_KERNELS(q)                                                   \
  if (!PackedQ::supported(q)) GTEST_SKIP() << "no packed int8 kernels on this CPU (they " \
                                              "need AVX-512 VNNI)"

// Every row range (starting at a group) and every activation count, decode (1-3 rows,
// the 4- and 2-group tiles and the single-group tail) and prefill (4-row tiles plus a
// tail), against matmul_q on the unpacked rows: the same bits.
TEST(PackedQ, ProductsEqualMatmulQBitForBit) {
  for (GgmlType t : {GgmlType::Q4_0, GgmlType::Q8_0}) {
    for (auto [N, K] : {std::pair<int64_t, int64_t>{37, 64}, {100, 192}, {160, 768}}) {
      const std::vector<float> wv = random_floats(size_t(N * K), uint32_t(N + K), 0.05f);
      const QTensor q = quantize(Tensor::from(wv, {N, K}), t);
      SKIP_WITHOUT_PACKED_KERNELS(q);
      const PackedQ p(q);
      EXPECT_EQ(p.rows(), N);
      EXPECT_EQ(p.cols(), K);
      EXPECT_EQ(p.group_bytes(), size_t(PackedQ::kGroupRows) * q.row_bytes());
      for (int64_t M : {1, 2, 3, 4, 9}) {
        const std::vector<float> x = random_floats(size_t(M * K), uint32_t(7 * M + K));
        std::vector<float> want(size_t(M * N));
        matmul_q(want.data(), x.data(), q, M);
        for (auto [r0, r1] : {std::pair<int64_t, int64_t>{0, N}, {16, N}, {0, 16}, {32, N - 1}}) {
          if (r1 <= r0) continue;
          const int64_t ldy = r1 - r0 + 3;
          std::vector<float> y(size_t(M * ldy), -7.0f);
          matmul_packed(y.data(), ldy, x.data(), p, M, r0, r1);
          for (int64_t m = 0; m < M; ++m) {
            for (int64_t r = r0; r < r1; ++r)
              ASSERT_TRUE(same_bits(y[size_t(m * ldy + r - r0)], want[size_t(m * N + r)]))
                  << ggml_type_name(t) << " N=" << N << " K=" << K << " M=" << M << " rows [" << r0 << ", "
                  << r1 << ") row " << r << ": " << y[size_t(m * ldy + r - r0)] << " vs "
                  << want[size_t(m * N + r)];
            for (int64_t j = r1 - r0; j < ldy; ++j) EXPECT_EQ(y[size_t(m * ldy + j)], -7.0f) << "wrote past the rows";
          }
        }
      }
    }
  }
}

TEST(PackedQ, RowsDequantizeAsTheUnpackedOnes) {
  const int64_t N = 37, K = 192;
  for (GgmlType t : {GgmlType::Q4_0, GgmlType::Q8_0}) {
    const QTensor q = quantize(Tensor::from(random_floats(size_t(N * K), 2, 0.05f), {N, K}), t);
    SKIP_WITHOUT_PACKED_KERNELS(q);
    const PackedQ p(q);
    std::vector<float> want(static_cast<size_t>(K)), got(static_cast<size_t>(K));
    for (int64_t r : {int64_t(0), int64_t(15), int64_t(16), N - 1}) {
      dequantize_row(t, q.row(r), want.data(), K);
      p.dequantize_row(r, got.data());
      EXPECT_EQ(got, want) << ggml_type_name(t) << " row " << r;
    }
    EXPECT_THROW(p.dequantize_row(N, got.data()), Error);
  }
}

TEST(PackedQ, SegmentsEqualMatmulQSegmentsBitForBit) {
  const int64_t N = 53, K = 640, k0 = 128, k1 = 512, seg = 128, nseg = (k1 - k0) / seg;
  const std::vector<float> wv = random_floats(size_t(N * K), 5, 0.05f);
  for (GgmlType t : {GgmlType::Q4_0, GgmlType::Q8_0}) {
    const QTensor q = quantize(Tensor::from(wv, {N, K}), t);
    SKIP_WITHOUT_PACKED_KERNELS(q);
    const PackedQ p(q);
    for (int64_t M : {1, 2, 3}) {
      const std::vector<float> x = random_floats(size_t(M * K), uint32_t(11 + M));
      const int64_t ldy = N + 2, lds = M * ldy + 5;
      std::vector<float> want(size_t(nseg * lds), -7.0f), y(size_t(nseg * lds), -7.0f);
      matmul_q_segments(want.data(), ldy, lds, x.data(), q, M, k0, k1, seg);
      matmul_packed_segments(y.data(), ldy, lds, x.data(), p, M, k0, k1, seg);
      for (size_t i = 0; i < y.size(); ++i)
        ASSERT_TRUE(same_bits(y[i], want[i])) << ggml_type_name(t) << " M=" << M << " at " << i;
    }
  }
}

TEST(PackedQ, SameResultOnEveryThreadCount) {
  // Packing splits groups over the pool; the bytes must not depend on it.
  const int64_t N = 70, K = 256;
  const QTensor q = quantize(Tensor::from(random_floats(size_t(N * K), 3, 0.05f), {N, K}), GgmlType::Q4_0);
  SKIP_WITHOUT_PACKED_KERNELS(q);
  const int saved = num_threads();
  set_num_threads(1);
  const PackedQ one(q);
  set_num_threads(2);
  const PackedQ two(q);
  set_num_threads(saved);
  ASSERT_EQ(one.bytes(), two.bytes());
  EXPECT_EQ(std::memcmp(one.group(0), two.group(0), one.bytes()), 0);
}

TEST(PackedQ, RejectsWhatItCannotPack) {
  const QTensor q4 = quantize(Tensor::from(random_floats(4 * 96, 1), {4, 96}), GgmlType::Q4_0);  // K % 64
  const QTensor f = quantize(Tensor::from(random_floats(4 * 64, 1), {4, 64}), GgmlType::F32);
  EXPECT_FALSE(PackedQ::supported(q4));
  EXPECT_FALSE(PackedQ::supported(f));
  EXPECT_THROW(PackedQ{q4}, Error);
  EXPECT_THROW(PackedQ{f}, Error);
  const QTensor ok = quantize(Tensor::from(random_floats(20 * 128, 1), {20, 128}), GgmlType::Q8_0);
  SKIP_WITHOUT_PACKED_KERNELS(ok);
  const PackedQ p(ok);
  std::vector<float> x(2 * 128), y(64);
  EXPECT_THROW(matmul_packed(y.data(), 20, x.data(), p, 1, 8, 20), Error);   // not a group start
  EXPECT_THROW(matmul_packed(y.data(), 20, x.data(), p, 1, 0, 21), Error);   // past the rows
  EXPECT_THROW(matmul_packed(y.data(), 10, x.data(), p, 1, 0, 20), Error);   // ldy too small
  EXPECT_THROW(matmul_packed_segments(y.data(), 20, 20, x.data(), p, 1, 32, 96, 64), Error);  // not pairs
  EXPECT_THROW(matmul_packed_segments(y.data(), 20, 20, x.data(), p, 4, 0, 64, 64), Error);   // M > 3
}

}  // namespace
}  // namespace lmkit
