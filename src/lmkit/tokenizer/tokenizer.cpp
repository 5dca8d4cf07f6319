#include "lmkit/tokenizer/tokenizer.h"

#include "lmkit/core/error.h"

namespace lmkit {

std::vector<int32_t> ByteTokenizer::encode(std::string_view text, bool) const {
  std::vector<int32_t> ids(text.size());
  for (size_t i = 0; i < text.size(); ++i) ids[i] = static_cast<unsigned char>(text[i]);
  return ids;
}

std::string ByteTokenizer::decode(std::span<const int32_t> ids) const {
  std::string out(ids.size(), '\0');
  for (size_t i = 0; i < ids.size(); ++i) {
    check(ids[i] >= 0 && ids[i] < 256, "byte tokenizer: id {} is not a byte (0..255)", ids[i]);
    out[i] = static_cast<char>(ids[i]);
  }
  return out;
}

std::string ByteTokenizer::token_text(int32_t id) const {
  check(id >= 0 && id < 256, "byte tokenizer: id {} is not a byte (0..255)", id);
  return std::string(1, static_cast<char>(id));
}

}  // namespace lmkit
