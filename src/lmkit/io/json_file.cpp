#include "lmkit/io/json_file.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "lmkit/core/error.h"

namespace lmkit {

nlohmann::json read_json_file(const std::string& path, std::string_view what) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    fail("cannot read {} '{}': it is a directory", what, path);
  std::ifstream f(path, std::ios::binary);
  if (!f) fail("cannot read {} '{}': {}", what, path, std::strerror(errno));
  std::stringstream ss;
  ss << f.rdbuf();
  check(!f.bad(), "cannot read {} '{}': read error", what, path);
  try {
    return nlohmann::json::parse(ss.str());
  } catch (const nlohmann::json::parse_error& e) {
    fail("{} '{}' is not valid JSON: {}", what, path, e.what());
  }
}

}  // namespace lmkit
