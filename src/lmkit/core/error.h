// lmkit::Error: the one exception type for bad input (files, flags, data). The CLI
// catches it at the top, prints "error: <what>" and exits 1; nothing in lmkit aborts on
// user input.
#pragma once
#include <fmt/format.h>

#include <stdexcept>
#include <string>

namespace lmkit {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

// fail("bad {} in {}", what, path): throws lmkit::Error with a formatted message.
template <typename... Args>
[[noreturn]] void fail(fmt::format_string<Args...> f, Args&&... args) {
  throw Error(fmt::format(f, std::forward<Args>(args)...));
}

// check(cond, ...) is fail() when cond is false: for validating input, not for asserts.
template <typename... Args>
void check(bool cond, fmt::format_string<Args...> f, Args&&... args) {
  if (!cond) throw Error(fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace lmkit
