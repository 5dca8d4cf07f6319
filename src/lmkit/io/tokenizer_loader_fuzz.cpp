// libFuzzer target for load_tokenizer(), the one entry point that recognizes every tokenizer
// file format by content (io/tokenizer_loader.h): the input is written as a file and loaded,
// so the format sniffing and every loader behind it see it - tokenizer.json, tiktoken,
// GPT-2 / HF vocabulary pairs, SentencePiece .model, WordPiece vocab.txt, llama2.c
// tokenizer.bin, GGUF vocabularies. The file sits in a private folder beside a fixed small
// vocab.json + merges.txt, so an input that is one half of a vocabulary pair loads with the
// other half. Any input must load or throw lmkit::Error, never crash, hang or read out of
// bounds; what loads encodes and decodes a fixed text. (-DLMKIT_FUZZ=ON with clang.)
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <string_view>

#include "lmkit/core/error.h"
#include "lmkit/io/tokenizer_loader.h"

namespace {

bool write(const std::string& path, std::string_view bytes) {
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return false;
  const bool ok = std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size();
  return std::fclose(f) == 0 && ok;
}

// The private folder, made once per process and removed at exit.
struct Folder {
  std::string path;
  Folder() {
    const char* base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    path = std::string(base) + "/lmkit_tokenizer_loader_fuzz_" + std::to_string(getpid());
    std::filesystem::create_directories(path);
    // GPT-2's byte alphabet: "\u0120" (Ġ) is the space byte (openai/gpt-2 src/encoder.py).
    write(path + "/vocab.json", R"({"a":0,"b":1,"c":2,"ab":3,"\u0120":4,"\u0120a":5,"abc":6})");
    write(path + "/merges.txt", "#version: 0.2\na b\n\xC4\xA0 a\nab c\n");
  }
  ~Folder() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

const std::string& folder() {
  static const Folder f;
  return f.path;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = folder() + "/tokenizer";
  if (!write(path, std::string_view(reinterpret_cast<const char*>(data), size))) return 0;
  try {
    auto tok = lmkit::load_tokenizer(path);
    const std::string_view sample = "Hello world's 123 \xff\xfe \xe4\xb8\xad\n\n  x [UNK] <s>";
    (void)tok->decode(tok->encode(sample));
  } catch (const lmkit::Error&) {
  }
  return 0;
}
