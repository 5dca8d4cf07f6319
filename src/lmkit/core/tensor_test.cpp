#include "lmkit/core/tensor.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "lmkit/core/error.h"
#include "lmkit/core/mapped_file.h"
#include "lmkit/core/thread_pool.h"

namespace lmkit {
namespace {

TEST(Tensor, ZerosAreAlignedAndContiguous) {
  Tensor t = Tensor::zeros({3, 5, 7});
  EXPECT_EQ(reinterpret_cast<uintptr_t>(t.raw()) % 64, 0u);
  EXPECT_TRUE(t.is_contiguous());
  EXPECT_EQ(t.numel(), 105);
  EXPECT_EQ(t.stride_bytes(0), 5 * 7 * 4);
  for (float v : t.f32()) EXPECT_EQ(v, 0.0f);
}

TEST(Tensor, ViewsShareStorage) {
  std::vector<float> v(24);
  for (int i = 0; i < 24; ++i) v[i] = float(i);
  Tensor t = Tensor::from(v, {2, 3, 4});
  Tensor s = t.slice(1, 1, 3);  // (2,2,4)
  EXPECT_EQ(s.shape(), (Tensor::Shape{2, 2, 4}));
  EXPECT_FALSE(s.is_contiguous());
  EXPECT_EQ(s.to_vector()[0], 4.0f);
  EXPECT_EQ(s.to_vector()[8], 16.0f);
  Tensor tr = t.transpose(1, 2);  // (2,4,3): tr[0][1][2] = t[0][2][1] = 9
  EXPECT_EQ(tr.to_vector()[1 * 3 + 2], 9.0f);
  Tensor r = t.reshape({6, -1});
  EXPECT_EQ(r.shape(), (Tensor::Shape{6, 4}));
  r.data<float>()[5] = 100;  // writes through to t
  EXPECT_EQ(t.to_vector()[5], 100.0f);
  EXPECT_EQ(t.select(0, 1).to_vector()[0], 12.0f);
  EXPECT_THROW(tr.reshape({24}), Error);
  EXPECT_THROW(t.slice(0, 1, 3), Error);
}

TEST(Tensor, DtypeConversions) {
  Tensor t = Tensor::from({1.0f, -2.5f, 65504.0f, 1e-8f}, {4});
  Tensor h = t.to(DType::F16);
  EXPECT_EQ(h.nbytes(), 8u);
  auto back = h.to_vector();
  EXPECT_EQ(back[0], 1.0f);
  EXPECT_EQ(back[1], -2.5f);
  EXPECT_EQ(back[2], 65504.0f);
  Tensor b = t.to(DType::BF16);
  EXPECT_EQ(b.to_vector()[1], -2.5f);
}

TEST(Tensor, MappedViewIsReadOnlyAndBoundsChecked) {
  std::string path = ::testing::TempDir() + "/lmkit_tensor_map.bin";
  {
    std::ofstream f(path, std::ios::binary);
    float vals[4] = {1, 2, 3, 4};
    f.write(reinterpret_cast<char*>(vals), sizeof vals);
  }
  auto file = MappedFile::open(path);
  Tensor t = Tensor::view_of(file, 4, {3}, DType::F32);
  EXPECT_EQ(t.to_vector(), (std::vector<float>{2, 3, 4}));
  EXPECT_TRUE(t.read_only());
  EXPECT_THROW(t.raw(), Error);
  EXPECT_THROW(Tensor::view_of(file, 8, {3}, DType::F32), Error);
  EXPECT_THROW(Tensor::view_of(file, 0, {int64_t(1) << 40, int64_t(1) << 40}, DType::F32), Error);
  EXPECT_THROW(MappedFile::open(path + ".missing"), Error);
  std::remove(path.c_str());
}

TEST(ThreadPool, StaticPartitionCoversRangeOnce) {
  ThreadPool pool(3);
  std::vector<int> hits(1000, 0);
  for (int rep = 0; rep < 50; ++rep)
    pool.parallel_for(hits.size(), [&](size_t b, size_t e) {
      for (size_t i = b; i < e; ++i) hits[i]++;
    });
  for (int h : hits) EXPECT_EQ(h, 50);
  std::atomic<int> calls{0};
  pool.run([&](int tid, int n) {
    EXPECT_EQ(n, 3);
    calls++;
    // Nested run is serial on the calling thread.
    pool.run([&](int t2, int n2) { EXPECT_EQ(n2, 1); });
  });
  EXPECT_EQ(calls.load(), 3);
}

}  // namespace
}  // namespace lmkit
