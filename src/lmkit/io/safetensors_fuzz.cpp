// libFuzzer target for the safetensors reader (built with -DLMKIT_FUZZ=ON and clang):
//   lmkit_io_safetensors_fuzz -max_len=4096 corpus_dir/
// Each input is a whole file. It goes through the same path as a real file (a memfd
// mapped by MappedFile), and every tensor the header admits is read back and converted, so
// a header that passes validation but points outside the mapping shows up under ASan.
// The only allowed outcome besides success is lmkit::Error.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <string>

#include "lmkit/core/error.h"
#include "lmkit/io/safetensors.h"

namespace {

int memfd() {
  static int fd = [] {
    int f = memfd_create("lmkit_safetensors_fuzz", 0);
    if (f < 0) std::abort();
    return f;
  }();
  return fd;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // The parser alone, on the raw bytes.
  try {
    lmkit::SafetensorsHeader h =
        lmkit::parse_safetensors_header(std::span<const uint8_t>(data, size), "<fuzz>");
    for (const auto& e : h.entries)
      if (e.begin > e.end || h.data_start + e.end > size) std::abort();  // validation hole
  } catch (const lmkit::Error&) {
  }

  // The whole reader through a mapped file.
  int fd = memfd();
  if (ftruncate(fd, 0) != 0 || (size > 0 && pwrite(fd, data, size, 0) != ssize_t(size)))
    std::abort();
  try {
    auto f = lmkit::SafetensorsFile::open("/proc/self/fd/" + std::to_string(fd));
    for (const auto& name : f.names()) {
      try {
        lmkit::Tensor t = f.get_as(name, lmkit::DType::F32);
        volatile float sink = 0;
        for (float v : t.to_vector()) sink = sink + v;
      } catch (const lmkit::Error&) {
      }
    }
  } catch (const lmkit::Error&) {
  }
  return 0;
}
