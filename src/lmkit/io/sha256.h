// SHA-256 (FIPS 180-4). Used to recognize known vocabulary files by content, as tiktoken
// does with its expected_hash (tiktoken/load.py).
#pragma once
#include <string>
#include <string_view>

namespace lmkit {

// Lower-case hex digest of `data`.
std::string sha256_hex(std::string_view data);

}  // namespace lmkit
