// libFuzzer target for the GGUF reader: any input must parse or throw lmkit::Error, never
// crash, hang or read out of bounds (build with clang -fsanitize=fuzzer,address,undefined;
// CMake: -DLMKIT_FUZZ=ON). Parsed files are walked fully (every value printed, every
// tensor extent touched) so that what the reader accepted is also safe to use.
#include <cstddef>
#include <cstdint>
#include <span>

#include "lmkit/core/error.h"
#include "lmkit/io/gguf.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    lmkit::gguf::File f = lmkit::gguf::File::parse(std::span<const uint8_t>(data, size), "fuzz");
    size_t sink = 0;
    for (const auto& [key, value] : f.metadata().entries()) sink += value.to_string(64).size();
    for (const lmkit::gguf::TensorInfo& ti : f.tensors()) {
      // Accepted extents lie inside the input: read their first and last bytes.
      if (ti.bytes > 0) sink += data[ti.offset] + data[ti.offset + ti.bytes - 1];
    }
    if (sink == 1) return 1;  // keeps the walk from being optimised away
  } catch (const lmkit::Error&) {
  }
  return 0;
}
