#include "lmkit/io/atomic_file.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "lmkit/core/error.h"
#include "lmkit/core/test_support.h"

namespace lmkit {
namespace {

namespace fs = std::filesystem;

// A fresh scratch directory per test, removed afterwards.
class AtomicFileTest : public test::ScratchDirTest {
 protected:
  // Names in the scratch dir other than `keep` (leftover temporaries).
  std::vector<std::string> others(const std::string& keep) const {
    std::vector<std::string> out;
    for (auto& e : fs::directory_iterator(dir_))
      if (e.path().filename() != keep) out.push_back(e.path().filename().string());
    return out;
  }
};

TEST_F(AtomicFileTest, WritesAndReplaces) {
  std::string p = (dir_ / "a.bin").string();
  write_file_atomic(p, std::string_view("first"));
  EXPECT_EQ(test::read_file(p), "first");
  write_file_atomic(p, std::string_view("second, longer"));
  EXPECT_EQ(test::read_file(p), "second, longer");
  EXPECT_TRUE(others("a.bin").empty());
}

TEST_F(AtomicFileTest, LargeStreamedWrite) {
  std::string p = (dir_ / "big.bin").string();
  std::string block(3 << 20, 'x');  // larger than the sink buffer: written directly
  for (size_t i = 0; i < block.size(); ++i) block[i] = char(i * 7 + 3);
  write_file_atomic(p, [&](FileSink& s) {
    s.write("hdr", 3);
    s.write(block.data(), block.size());
    s.write("tail", 4);
    EXPECT_EQ(s.written(), block.size() + 7);
  });
  EXPECT_EQ(test::read_file(p), "hdr" + block + "tail");
}

TEST_F(AtomicFileTest, ThrowingWriterLeavesOldFileIntact) {
  std::string p = (dir_ / "ckpt.bin").string();
  write_file_atomic(p, std::string_view("old content"));
  EXPECT_THROW(write_file_atomic(p,
                                 [](FileSink& s) {
                                   s.write(std::string(2 << 20, 'n'));  // partly on disk
                                   throw Error("simulated failure mid-write");
                                 }),
               Error);
  EXPECT_EQ(test::read_file(p), "old content");
  EXPECT_TRUE(others("ckpt.bin").empty()) << "temporary file left behind";
}

TEST_F(AtomicFileTest, MissingDirectoryIsAnErrorNamingThePath) {
  std::string p = (dir_ / "no" / "such" / "x.bin").string();
  try {
    write_file_atomic(p, std::string_view("data"));
    FAIL() << "expected lmkit::Error";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find(p), std::string::npos) << msg;
    EXPECT_NE(msg.find("No such file or directory"), std::string::npos) << msg;
  }
}

TEST_F(AtomicFileTest, ReadOnlyDirectoryLeavesOldFileIntact) {
  if (::geteuid() == 0) GTEST_SKIP() << "running as root: directory permissions do not apply";
  std::string p = (dir_ / "f.txt").string();
  write_file_atomic(p, std::string_view("keep me"));
  fs::permissions(dir_, fs::perms::owner_write | fs::perms::group_write | fs::perms::others_write,
                  fs::perm_options::remove);
  EXPECT_THROW(write_file_atomic(p, std::string_view("new")), Error);
  fs::permissions(dir_, fs::perms::owner_write, fs::perm_options::add);
  EXPECT_EQ(test::read_file(p), "keep me");
}

TEST_F(AtomicFileTest, RenameFailureRemovesTemporary) {
  // The target is a non-empty directory: rename(file, dir) fails with EISDIR.
  fs::create_directories(dir_ / "target" / "inner");
  std::string p = (dir_ / "target").string();
  EXPECT_THROW(write_file_atomic(p, std::string_view("x")), Error);
  EXPECT_TRUE(fs::is_directory(dir_ / "target" / "inner"));
  EXPECT_TRUE(others("target").empty()) << "temporary file left behind";
}

TEST_F(AtomicFileTest, KeepsModeOfReplacedFile) {
  std::string p = (dir_ / "m.txt").string();
  write_file_atomic(p, std::string_view("a"));
  ::chmod(p.c_str(), 0640);
  write_file_atomic(p, std::string_view("b"));
  struct stat st {};
  ASSERT_EQ(::stat(p.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);
}

TEST_F(AtomicFileTest, ReplaceDirCreatesAndSwaps) {
  std::string d = (dir_ / "ckpt").string();
  replace_dir_atomic(d, [](const std::string& tmp) {
    write_file_atomic(tmp + "/model.safetensors", std::string_view("v1"));
    write_file_atomic(tmp + "/old_only.txt", std::string_view("gone later"));
  });
  EXPECT_EQ(test::read_file(dir_ / "ckpt" / "model.safetensors"), "v1");
  replace_dir_atomic(d + "/", [](const std::string& tmp) {
    fs::create_directories(tmp + "/sub");
    write_file_atomic(tmp + "/model.safetensors", std::string_view("v2"));
    write_file_atomic(tmp + "/sub/x", std::string_view("y"));
  });
  EXPECT_EQ(test::read_file(dir_ / "ckpt" / "model.safetensors"), "v2");
  EXPECT_EQ(test::read_file(dir_ / "ckpt" / "sub" / "x"), "y");
  EXPECT_FALSE(fs::exists(dir_ / "ckpt" / "old_only.txt"));
  EXPECT_TRUE(others("ckpt").empty()) << "temporary or old directory left behind";
}

TEST_F(AtomicFileTest, ReplaceDirFailureKeepsOldDirectory) {
  std::string d = (dir_ / "ckpt").string();
  replace_dir_atomic(
      d, [](const std::string& tmp) { write_file_atomic(tmp + "/w", std::string_view("good")); });
  EXPECT_THROW(replace_dir_atomic(d,
                                  [](const std::string& tmp) {
                                    write_file_atomic(tmp + "/w", std::string_view("partial"));
                                    throw Error("simulated failure while saving");
                                  }),
               Error);
  EXPECT_EQ(test::read_file(dir_ / "ckpt" / "w"), "good");
  EXPECT_TRUE(others("ckpt").empty()) << "temporary directory left behind";
}

TEST_F(AtomicFileTest, ReplaceDirRefusesToReplaceAFile) {
  std::string p = (dir_ / "plain").string();
  write_file_atomic(p, std::string_view("file"));
  EXPECT_THROW(replace_dir_atomic(p, [](const std::string&) {}), Error);
  EXPECT_EQ(test::read_file(p), "file");
  EXPECT_TRUE(others("plain").empty());
}

}  // namespace
}  // namespace lmkit
