#include "lmkit/core/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>

#include "lmkit/core/error.h"

namespace lmkit {

namespace {
// The live maps, start -> size, for release().
std::mutex& maps_mutex() {
  static std::mutex m;
  return m;
}
std::map<const uint8_t*, size_t>& live_maps() {
  static std::map<const uint8_t*, size_t> m;
  return m;
}
}  // namespace

std::shared_ptr<MappedFile> MappedFile::open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail("cannot open '{}': {}", path, std::strerror(errno));
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    fail("'{}' is not a regular file", path);
  }
  std::shared_ptr<MappedFile> m(new MappedFile());
  m->path_ = path;
  m->size_ = static_cast<size_t>(st.st_size);
  if (m->size_ > 0) {
    void* p = mmap(nullptr, m->size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      int e = errno;
      ::close(fd);
      fail("cannot mmap '{}': {}", path, std::strerror(e));
    }
    m->data_ = static_cast<const uint8_t*>(p);
    std::lock_guard<std::mutex> lock(maps_mutex());
    live_maps()[m->data_] = m->size_;
  }
  ::close(fd);
  return m;
}

MappedFile::~MappedFile() {
  if (!data_) return;
  {
    std::lock_guard<std::mutex> lock(maps_mutex());
    live_maps().erase(data_);
  }
  munmap(const_cast<uint8_t*>(data_), size_);
}

bool MappedFile::release(const void* p, size_t n) {
  const auto* b = static_cast<const uint8_t*>(p);
  std::lock_guard<std::mutex> lock(maps_mutex());
  auto it = live_maps().upper_bound(b);
  if (it == live_maps().begin()) return false;
  --it;
  if (b < it->first || n > it->second || size_t(b - it->first) > it->second - n) return false;
  const uintptr_t page = uintptr_t(sysconf(_SC_PAGESIZE));
  const uintptr_t lo = (reinterpret_cast<uintptr_t>(b) + page - 1) & ~(page - 1),
                  hi = (reinterpret_cast<uintptr_t>(b) + n) & ~(page - 1);
  // Read-only private file pages: dropping them loses nothing (never written).
  if (lo < hi) madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_DONTNEED);
  return true;
}

}  // namespace lmkit
