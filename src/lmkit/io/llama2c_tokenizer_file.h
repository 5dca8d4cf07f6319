// llama2.c's tokenizer.bin (karpathy/llama2.c tokenizer.py export / run.c build_tokenizer):
// i32 max_token_length, then for every token: f32 score, i32 byte length, the bytes
// (little-endian). The vocabulary size is not stored: tokens are read to the end of file.
#pragma once
#include <memory>
#include <string>
#include <string_view>

#include "lmkit/tokenizer/llama2c_tokenizer.h"

namespace lmkit {

std::unique_ptr<Llama2cTokenizer> parse_llama2c_tokenizer(std::string_view bytes,
                                                          const std::string& source);
std::unique_ptr<Llama2cTokenizer> load_llama2c_tokenizer(const std::string& path);
// Writes `tok` in the same format (atomically).
void save_llama2c_tokenizer(const Llama2cTokenizer& tok, const std::string& path);

}  // namespace lmkit
