// libFuzzer target for the llama2.c checkpoint reader: any input must load or throw
// lmkit::Error, never crash or read out of bounds (build with clang
// -fsanitize=fuzzer,address,undefined; CMake: -DLMKIT_FUZZ=ON). The reader maps files, so
// each input is written to a private temporary file first. Loaded checkpoints have every
// weight converted to f32, which touches every byte the reader accepted.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

#include "lmkit/core/error.h"
#include "lmkit/io/llama2c.h"

namespace {

// The private input file, named once per process and removed at exit.
struct InputFile {
  std::string path;
  InputFile() {
    const char* dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    path = std::string(dir) + "/lmkit_llama2c_fuzz_" + std::to_string(getpid()) + ".bin";
  }
  ~InputFile() { std::remove(path.c_str()); }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const InputFile input;
  const std::string& path = input.path;
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return 0;
  const bool ok = std::fwrite(data, 1, size, f) == size;
  std::fclose(f);
  if (!ok) return 0;
  try {
    lmkit::llama2c::Checkpoint c = lmkit::llama2c::Checkpoint::open(path);
    double sink = 0;
    for (const std::string& name : c.names()) {
      lmkit::Tensor t = c.weight_f32(name);
      for (float v : t.to_vector()) sink += double(v);
    }
    if (sink == 1.2345) std::fputs("", stderr);  // keeps the walk from being optimised away
  } catch (const lmkit::Error&) {
  }
  return 0;
}
