// Number formatting for the analysis reports (tables on the terminal).
#pragma once
#include <cstdint>
#include <string>

namespace lmkit::analysis {

// 8030261248 -> "8,030,261,248".
std::string with_commas(int64_t v);
// Engineering notation with SI prefixes: 8.03e9 -> "8.03 G" (then add the unit).
std::string si(double v, int significant = 3);
// Bytes in decimal units as the papers use them: 1.2e11 -> "120 GB" (GB = 1e9 bytes).
std::string bytes(double b);
// A duration in s / min / h / days / years.
std::string duration(double seconds);
// A fraction as a percentage: 0.1234 -> "12.3%".
std::string percent(double f);

}  // namespace lmkit::analysis
