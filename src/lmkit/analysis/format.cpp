#include "lmkit/analysis/format.h"

#include <fmt/format.h>

#include <cmath>

namespace lmkit::analysis {

std::string with_commas(int64_t v) {
  std::string digits = std::to_string(v < 0 ? -v : v), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return v < 0 ? "-" + out : out;
}

std::string si(double v, int significant) {
  if (!std::isfinite(v)) return fmt::format("{}", v);
  if (v == 0) return "0 ";
  static const char* prefixes[] = {"", "k", "M", "G", "T", "P", "E", "Z", "Y"};
  int exp3 = 0;
  double a = std::abs(v);
  while (a >= 1000 && exp3 < 8) a /= 1000, ++exp3;
  if (a < 1 && exp3 == 0) return fmt::format("{:.{}g} ", v, significant);
  int decimals = std::max(0, significant - 1 - int(std::floor(std::log10(a))));
  return fmt::format("{}{:.{}f} {}", v < 0 ? "-" : "", a, decimals, prefixes[exp3]);
}

std::string bytes(double b) {
  return si(b) + "B";
}

std::string duration(double s) {
  if (!std::isfinite(s)) return "inf";
  if (s < 1e-3) return fmt::format("{:.3g} us", s * 1e6);
  if (s < 1) return fmt::format("{:.3g} ms", s * 1e3);
  if (s < 120) return fmt::format("{:.3g} s", s);
  if (s < 7200) return fmt::format("{:.3g} min", s / 60);
  if (s < 3 * 86400) return fmt::format("{:.3g} h", s / 3600);
  if (s < 3 * 365.25 * 86400) return fmt::format("{:.3g} days", s / 86400);
  return fmt::format("{:.3g} years", s / (365.25 * 86400));
}

std::string percent(double f) {
  return fmt::format("{:.1f}%", 100 * f);
}

}  // namespace lmkit::analysis
