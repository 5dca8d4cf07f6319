#include "lmkit/io/json_file.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "lmkit/core/error.h"

namespace lmkit {
namespace {

namespace fs = std::filesystem;

std::string write_temp(const std::string& name, const std::string& text) {
  const fs::path p = fs::temp_directory_path() / ("lmkit_json_file_" + name);
  std::ofstream(p, std::ios::binary) << text;
  return p.string();
}

std::string error_of(const std::string& path, std::string_view what) {
  try {
    read_json_file(path, what);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(JsonFile, ReadsObject) {
  const std::string p = write_temp("ok.json", R"({"a": [1, 2], "b": "x"})");
  const nlohmann::json j = read_json_file(p);
  EXPECT_EQ(j["a"][1], 2);
  EXPECT_EQ(j["b"], "x");
}

TEST(JsonFile, MissingFileNamesRoleAndPath) {
  const std::string msg = error_of("/nonexistent/dir/x.json", "--config");
  EXPECT_NE(msg.find("cannot read --config '/nonexistent/dir/x.json'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("No such file"), std::string::npos) << msg;
}

TEST(JsonFile, SyntaxErrorNamesFile) {
  const std::string p = write_temp("bad.json", "{\"a\": }");
  const std::string msg = error_of(p, "model config");
  EXPECT_NE(msg.find("model config '" + p + "' is not valid JSON"), std::string::npos) << msg;
}

TEST(JsonFile, InvalidUtf8IsAnError) {
  const std::string p = write_temp("utf8.json", "{\"\xff\": 1}");
  EXPECT_NE(error_of(p, "x").find("is not valid JSON"), std::string::npos);
}

TEST(JsonFile, DirectoryIsAnError) {
  EXPECT_NE(error_of(fs::temp_directory_path().string(), "x").find("cannot read"),
            std::string::npos);
}

}  // namespace
}  // namespace lmkit
