// libFuzzer target for the token-file readers (io/token_data.h: llm.c token files with their
// 256-int32 header, raw uint16 files). The first input byte picks the format (even: llm.c,
// odd: raw uint16), the rest is the file, written to a private temporary file because the
// readers map files. Any input must open or throw lmkit::Error, never crash or read out of
// bounds; what opens is read whole (max_id, copy) and split as a trainer would.
// (-DLMKIT_FUZZ=ON with clang.)
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "lmkit/core/error.h"
#include "lmkit/io/token_data.h"

namespace {

// The private input file, named once per process and removed at exit.
struct InputFile {
  std::string path;
  InputFile() {
    const char* dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    path = std::string(dir) + "/lmkit_token_data_fuzz_" + std::to_string(getpid()) + ".tok";
  }
  ~InputFile() { std::remove(path.c_str()); }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static const InputFile input;
  FILE* f = std::fopen(input.path.c_str(), "wb");
  if (!f) return 0;
  const bool ok = std::fwrite(data + 1, 1, size - 1, f) == size - 1;
  std::fclose(f);
  if (!ok) return 0;
  const lmkit::TokenFormat format =
      data[0] % 2 == 0 ? lmkit::TokenFormat::LlmC : lmkit::TokenFormat::RawU16;
  try {
    const lmkit::TokenData d = lmkit::TokenData::open(input.path, nullptr, format);
    std::vector<int32_t> ids(d.size());
    if (!ids.empty()) d.copy(0, ids.size(), ids.data());
    if (d.max_id() >= 0 && d[d.size() - 1] > d.max_id()) std::abort();
    if (d.size() >= 2) {
      auto [head, tail] = d.split(0.5);
      if (head.size() + tail.size() != d.size()) std::abort();
    }
  } catch (const lmkit::Error&) {
  }
  return 0;
}
