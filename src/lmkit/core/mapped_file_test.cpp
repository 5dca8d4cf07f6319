#include "lmkit/core/mapped_file.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

namespace lmkit {
namespace {

TEST(MappedFile, ReleaseDropsOnlyMappedPagesAndTheBytesReadBack) {
  const std::string path = ::testing::TempDir() + "/lmkit_release_" + std::to_string(getpid()) + ".bin";
  std::vector<uint32_t> vals(64 * 1024);  // 256 KB: whole pages in the middle
  for (size_t i = 0; i < vals.size(); ++i) vals[i] = uint32_t(i * 2654435761u);
  {
    std::ofstream f(path, std::ios::binary);
    f.write(reinterpret_cast<const char*>(vals.data()), std::streamsize(vals.size() * 4));
  }
  {
    auto file = MappedFile::open(path);
    const auto* w = reinterpret_cast<const uint32_t*>(file->data());
    uint64_t sum = 0;
    for (size_t i = 0; i < vals.size(); ++i) sum += w[i];  // fault every page in
    EXPECT_GT(sum, 0u);
    EXPECT_TRUE(MappedFile::release(file->data() + 100, file->size() - 200));
    EXPECT_TRUE(MappedFile::release(file->data(), file->size()));
    for (size_t i = 0; i < vals.size(); ++i) ASSERT_EQ(w[i], vals[i]) << "at " << i;
    EXPECT_FALSE(MappedFile::release(file->data() + 8, file->size()));  // runs past the map
    EXPECT_FALSE(MappedFile::release(file->data() - 4096, 100));       // before it
  }
  // Heap memory is not a map: untouched.
  std::vector<uint8_t> heap(1 << 20, 7);
  EXPECT_FALSE(MappedFile::release(heap.data(), heap.size()));
  for (uint8_t b : heap) ASSERT_EQ(b, 7);
  // A closed map is forgotten.
  const uint8_t* gone;
  {
    auto file = MappedFile::open(path);
    gone = file->data();
  }
  EXPECT_FALSE(MappedFile::release(gone, 4096));
  std::remove(path.c_str());
}

}  // namespace
}  // namespace lmkit
