// Test support (included by *_test.cpp only): where tests find the shared assets
// (../shared/assets beside the checkout, or $LMKIT_ASSETS) and the committed fixtures
// (tests/fixtures), the one way a test skips when an asset is absent, scratch files and
// directories, whole-file reads and writes, and seeded random data.
#pragma once
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#ifndef LMKIT_SOURCE_DIR
#error "test_assets.h needs LMKIT_SOURCE_DIR (set for test targets by CMakeLists.txt)"
#endif

namespace lmkit::test {

// $LMKIT_ASSETS when set, else <source>/../shared/assets (which may not exist).
inline std::string assets_dir() {
  if (const char* e = std::getenv("LMKIT_ASSETS"); e && *e) return e;
  return std::string(LMKIT_SOURCE_DIR) + "/../shared/assets";
}
inline std::string asset(const std::string& rel) {
  return assets_dir() + "/" + rel;
}
// asset(rel) when it exists, else "" (for tests that check several assets at once).
inline std::string existing_asset(const std::string& rel) {
  const std::string p = asset(rel);
  return std::filesystem::exists(p) ? p : "";
}
// A committed fixture: <source>/tests/fixtures/<rel>.
inline std::string fixture(const std::string& rel) {
  return std::string(LMKIT_SOURCE_DIR) + "/tests/fixtures/" + rel;
}
inline std::string absent_message(const std::string& path) {
  return "asset " + path + " is absent (shared assets not found; set LMKIT_ASSETS)";
}
// The whole file as bytes ("" when unreadable: tests compare against expected content).
inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// "48656c6c6f" -> "Hello" (fixtures store texts that are not valid UTF-8 as hex).
inline std::string from_hex(const std::string& hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2)
    out.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  return out;
}
inline std::vector<uint8_t> read_bytes(const std::string& path) {
  const std::string s = read_file(path);
  return std::vector<uint8_t>(s.begin(), s.end());
}
inline void write_file(const std::string& path, std::string_view bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc)
      .write(bytes.data(), std::streamsize(bytes.size()));
}
inline void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  write_file(path, std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

// A path in the test temp directory unique to this process and call ("lmkit_<pid>_<n>_name").
inline std::string temp_path(const std::string& name) {
  static int counter = 0;
  return ::testing::TempDir() + "lmkit_" + std::to_string(getpid()) + "_" +
         std::to_string(counter++) + "_" + name;
}

// A fixture with a fresh scratch directory per test (named after the pid and the test),
// removed with its contents afterwards (permissions restored first, for tests that make it
// read-only).
class ScratchDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("lmkit_" + std::to_string(getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::permissions(dir_, std::filesystem::perms::owner_all,
                                 std::filesystem::perm_options::add, ec);
    std::filesystem::remove_all(dir_, ec);
  }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  // Writes `bytes` to the scratch file `name`; returns its path.
  std::string write(const std::string& name, std::string_view bytes) const {
    write_file(path(name), bytes);
    return path(name);
  }
  std::filesystem::path dir_;
};

// n values from N(0, scale^2), the same for the same seed (std::mt19937).
inline std::vector<float> random_floats(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

}  // namespace lmkit::test

// Skips the current test (GoogleTest) with a clear message when `path` does not exist.
#define LMKIT_SKIP_IF_ABSENT(path)                                      \
  do {                                                                  \
    const std::string lmkit_asset_path_ = (path);                       \
    if (!std::filesystem::exists(lmkit_asset_path_))                    \
      GTEST_SKIP() << ::lmkit::test::absent_message(lmkit_asset_path_); \
  } while (0)
