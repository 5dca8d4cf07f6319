#include "lmkit/io/atomic_file.h"

#include <fcntl.h>
#include <stdio.h>  // renameat2, RENAME_EXCHANGE (glibc >= 2.28)
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "lmkit/core/error.h"

namespace lmkit {

namespace fs = std::filesystem;

namespace {

constexpr size_t kSinkBuffer = size_t(1) << 20;

// A name beside `path` unique within this process and (by pid) across processes.
std::string temp_name(const std::string& path, const char* tag) {
  static std::atomic<uint64_t> counter{0};
  return fmt::format("{}.{}.{}.{}", path, tag, ::getpid(), counter.fetch_add(1));
}

// The directory holding `path` ("." for a bare file name).
std::string parent_dir(const std::string& path) {
  fs::path p(path);
  fs::path parent = p.parent_path();
  return parent.empty() ? std::string(".") : parent.string();
}

// fsync a directory so that a rename inside it is durable. File systems that cannot fsync
// a directory (EINVAL) are tolerated: the rename has already happened.
void fsync_dir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  if (::fsync(fd) != 0 && errno != EINVAL && errno != EROFS) {
    int e = errno;
    ::close(fd);
    fail("cannot fsync directory '{}': {}", dir, std::strerror(e));
  }
  ::close(fd);
}

void fsync_path(const std::string& path, bool directory) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | (directory ? O_DIRECTORY : 0));
  if (fd < 0) fail("cannot open '{}' to fsync it: {}", path, std::strerror(errno));
  if (::fsync(fd) != 0 && !(directory && errno == EINVAL)) {
    int e = errno;
    ::close(fd);
    fail("cannot fsync '{}': {}", path, std::strerror(e));
  }
  ::close(fd);
}

}  // namespace

FileSink::FileSink(int fd, std::string path) : fd_(fd), path_(std::move(path)) {
  buf_.reserve(kSinkBuffer);
}

void FileSink::flush() {
  const char* p = buf_.data();
  size_t left = buf_.size();
  while (left > 0) {
    ssize_t n = ::write(fd_, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail("cannot write '{}': {}", path_, std::strerror(errno));
    }
    p += n;
    left -= size_t(n);
  }
  buf_.clear();
}

void FileSink::write(const void* data, size_t bytes) {
  written_ += bytes;
  if (buf_.size() + bytes <= kSinkBuffer) {
    buf_.append(static_cast<const char*>(data), bytes);
    return;
  }
  flush();
  if (bytes <= kSinkBuffer) {
    buf_.append(static_cast<const char*>(data), bytes);
    return;
  }
  // Large blocks (tensors) go straight to the file.
  const char* p = static_cast<const char*>(data);
  while (bytes > 0) {
    ssize_t n = ::write(fd_, p, bytes);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail("cannot write '{}': {}", path_, std::strerror(errno));
    }
    p += n;
    bytes -= size_t(n);
  }
}

void write_file_atomic(const std::string& path, const std::function<void(FileSink&)>& writer) {
  check(!path.empty(), "cannot write a file with an empty path");
  const std::string tmp = temp_name(path, "tmp");
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  if (fd < 0) fail("cannot write '{}': cannot create '{}': {}", path, tmp, std::strerror(errno));
  // Keep the mode of the file being replaced (a user's chmod survives a checkpoint update).
  struct stat old {};
  if (::stat(path.c_str(), &old) == 0 && S_ISREG(old.st_mode)) ::fchmod(fd, old.st_mode & 07777);
  try {
    FileSink sink(fd, tmp);
    writer(sink);
    sink.flush();
    if (::fsync(fd) != 0) fail("cannot write '{}': fsync failed: {}", path, std::strerror(errno));
    int fd_copy = fd;
    fd = -1;
    if (::close(fd_copy) != 0)
      fail("cannot write '{}': close failed: {}", path, std::strerror(errno));
    if (::rename(tmp.c_str(), path.c_str()) != 0)
      fail("cannot write '{}': rename from '{}' failed: {}", path, tmp, std::strerror(errno));
  } catch (...) {
    if (fd >= 0) ::close(fd);
    ::unlink(tmp.c_str());
    throw;
  }
  fsync_dir(parent_dir(path));
}

void write_file_atomic(const std::string& path, std::string_view bytes) {
  write_file_atomic(path, [&](FileSink& s) { s.write(bytes); });
}

void replace_dir_atomic(const std::string& dir,
                        const std::function<void(const std::string& tmp_dir)>& fill) {
  check(!dir.empty(), "cannot replace a directory with an empty path");
  std::string target = dir;
  while (target.size() > 1 && target.back() == '/') target.pop_back();
  const std::string tmp = temp_name(target, "tmp");
  if (::mkdir(tmp.c_str(), 0777) != 0)
    fail("cannot write directory '{}': cannot create '{}': {}", target, tmp, std::strerror(errno));
  std::string old;  // where the previous content ends up, to delete afterwards
  try {
    fill(tmp);
    // Make every file durable before the directory becomes visible under its real name.
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(tmp, ec); !ec && it != fs::end(it);
         it.increment(ec)) {
      if (it->is_regular_file())
        fsync_path(it->path().string(), false);
      else if (it->is_directory())
        fsync_path(it->path().string(), true);
    }
    check(!ec, "cannot write directory '{}': cannot list '{}': {}", target, tmp, ec.message());
    fsync_path(tmp, true);

    struct stat st {};
    bool exists = ::lstat(target.c_str(), &st) == 0;
    if (exists) {
      check(S_ISDIR(st.st_mode), "cannot replace '{}': it exists and is not a directory", target);
      // One atomic swap: `target` now holds the new content, `tmp` the old.
      if (::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, target.c_str(), RENAME_EXCHANGE) == 0) {
        old = tmp;
      } else if (errno == EINVAL || errno == ENOSYS) {
        // No exchange on this file system: move the old one aside, then the new one in.
        old = temp_name(target, "old");
        if (::rename(target.c_str(), old.c_str()) != 0)
          fail("cannot replace directory '{}': rename to '{}' failed: {}", target, old,
               std::strerror(errno));
        if (::rename(tmp.c_str(), target.c_str()) != 0) {
          int e = errno;
          ::rename(old.c_str(), target.c_str());  // put the old one back
          old.clear();
          fail("cannot replace directory '{}': rename from '{}' failed: {}", target, tmp,
               std::strerror(e));
        }
      } else {
        fail("cannot replace directory '{}': exchange with '{}' failed: {}", target, tmp,
             std::strerror(errno));
      }
    } else if (::rename(tmp.c_str(), target.c_str()) != 0) {
      fail("cannot write directory '{}': rename from '{}' failed: {}", target, tmp,
           std::strerror(errno));
    }
  } catch (...) {
    if (old != tmp) {
      std::error_code ec;
      fs::remove_all(tmp, ec);
    }
    throw;
  }
  fsync_dir(parent_dir(target));
  if (!old.empty()) {
    std::error_code ec;
    fs::remove_all(old, ec);  // the new content is in place; a leftover is only clutter
  }
}

}  // namespace lmkit
