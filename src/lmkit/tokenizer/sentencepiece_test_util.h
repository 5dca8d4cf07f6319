// Test helpers for the SentencePiece-family tests: where the shared assets and the
// committed fixtures are, and reading them.
#pragma once
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace lmkit::testing {

// $LMKIT_ASSETS, else <source>/../shared/assets; "" when absent.
inline std::string assets_dir() {
  if (const char* e = std::getenv("LMKIT_ASSETS"); e && *e && std::filesystem::is_directory(e)) return e;
  const std::string d = std::string(LMKIT_SOURCE_DIR) + "/../shared/assets";
  return std::filesystem::is_directory(d) ? d : "";
}
inline std::string asset(const std::string& rel) {
  const std::string d = assets_dir();
  if (d.empty()) return "";
  const std::string p = d + "/" + rel;
  return std::filesystem::exists(p) ? p : "";
}
inline std::string fixture(const std::string& rel) {
  return std::string(LMKIT_SOURCE_DIR) + "/tests/fixtures/tokenizer/" + rel;
}
inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
inline std::string from_hex(const std::string& hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) out.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  return out;
}

}  // namespace lmkit::testing
