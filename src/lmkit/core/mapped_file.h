// A read-only memory map of a whole file. Weights that a format stores in a usable layout
// are viewed in place (Tensor::view_of) instead of being copied into RAM.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace lmkit {

class MappedFile {
 public:
  // Maps `path` read-only; throws lmkit::Error naming the file if it cannot.
  static std::shared_ptr<MappedFile> open(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

  // Gives back this process's pages of [p, p + n) (the whole pages inside it) when that
  // range lies in a live MappedFile; they are read from the file again if touched. For
  // bytes a caller has copied elsewhere (the engine's packed weights), so that resident
  // memory holds them once. False, and nothing done, for memory that is not such a map
  // (madvise(MADV_DONTNEED) would zero anonymous memory).
  static bool release(const void* p, size_t n);

 private:
  MappedFile() = default;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  std::string path_;
};

}  // namespace lmkit
