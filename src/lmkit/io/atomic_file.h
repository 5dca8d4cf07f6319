// Atomic file and directory replacement: a reader (or a crash) sees either the old content
// or the complete new content, never a torn file.
//
// Method (POSIX rename(2) is atomic within one file system): the new bytes are written to a
// temporary "<path>.tmp.<pid>.<n>" in the same directory, fsync'ed, then renamed over
// <path>; the directory is fsync'ed so the rename itself is durable. On any failure the
// temporary is removed, an lmkit::Error naming the path and the errno text is thrown, and
// the previous file stays exactly as it was.
#pragma once
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace lmkit {

// The sink a writer callback fills. Writes are buffered; errors throw lmkit::Error.
class FileSink {
 public:
  void write(const void* data, size_t bytes);
  void write(std::string_view s) { write(s.data(), s.size()); }
  // Bytes written so far.
  size_t written() const { return written_; }

 private:
  friend void write_file_atomic(const std::string&, const std::function<void(FileSink&)>&);
  FileSink(int fd, std::string path);
  void flush();
  int fd_;
  std::string path_;  // the temporary being written (for messages)
  std::string buf_;
  size_t written_ = 0;
};

// Replaces `path` with whatever `writer` writes. If `writer` throws, the exception is
// rethrown after the temporary is removed (the old file is untouched).
void write_file_atomic(const std::string& path, const std::function<void(FileSink&)>& writer);
// Replaces `path` with `bytes`.
void write_file_atomic(const std::string& path, std::string_view bytes);

// Replaces the directory `dir` with one that `fill` populates: `fill` receives a fresh empty
// temporary directory "<dir>.tmp.<pid>.<n>" beside `dir`; when it returns, its files are
// fsync'ed and the temporary is swapped into place with renameat2(RENAME_EXCHANGE) (one
// atomic step on Linux), then the old content is deleted. Where the file system does not
// support the exchange, the old directory is first renamed aside ("<dir>.old.<pid>.<n>"),
// which leaves a short window in which `dir` does not exist. On failure the temporary is
// removed and `dir` is untouched.
void replace_dir_atomic(const std::string& dir,
                        const std::function<void(const std::string& tmp_dir)>& fill);

}  // namespace lmkit
