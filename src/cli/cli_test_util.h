// Helpers for end-to-end tests of the lmkit binary (LMKIT_EXE): run a command line, capture
// its exit code, stdout and stderr. Shared by every src/cli/*_test.cpp.
#pragma once
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "lmkit/core/test_support.h"

namespace lmkit::cli_test {

struct Result {
  int code = -1;
  std::string out, err;
};

using ::lmkit::test::read_file;

// Runs `LMKIT_EXE args` through /bin/sh (args are shell words), stdin from `input`.
inline Result run(const std::string& args, const std::string& input = "") {
  static int counter = 0;
  std::string base = std::filesystem::temp_directory_path().string() + "/lmkit_cli_" +
                     std::to_string(getpid()) + "_" + std::to_string(counter++);
  std::ofstream(base + ".in", std::ios::binary) << input;
  std::string cmd = std::string(LMKIT_EXE) + " " + args + " < " + base + ".in > " + base +
                    ".out 2> " + base + ".err";
  int status = std::system(cmd.c_str());
  Result r;
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = read_file(base + ".out");
  r.err = read_file(base + ".err");
  for (const char* ext : {".in", ".out", ".err"}) std::remove((base + ext).c_str());
  return r;
}

// A fresh empty directory under the test temp dir.
inline std::string fresh_dir(const std::string& name) {
  auto d = std::filesystem::temp_directory_path() / ("lmkit_test_" + std::to_string(getpid()) + "_" + name);
  std::filesystem::remove_all(d);
  std::filesystem::create_directories(d);
  return d.string();
}

}  // namespace lmkit::cli_test
