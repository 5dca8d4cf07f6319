// Test support (included by *_test.cpp only): where tests find the shared assets
// (../shared/assets beside the checkout, or $LMKIT_ASSETS) and the committed fixtures
// (tests/fixtures), and the one way a test skips when an asset is absent.
#pragma once
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

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

}  // namespace lmkit::test

// Skips the current test (GoogleTest) with a clear message when `path` does not exist.
#define LMKIT_SKIP_IF_ABSENT(path)                                      \
  do {                                                                  \
    const std::string lmkit_asset_path_ = (path);                       \
    if (!std::filesystem::exists(lmkit_asset_path_))                    \
      GTEST_SKIP() << ::lmkit::test::absent_message(lmkit_asset_path_); \
  } while (0)
