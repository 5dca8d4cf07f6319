// HF tokenizers' tokenizer.json (tokenizers/src/tokenizer/serialization.rs and the serde
// forms of each component): "added_tokens", "normalizer", "pre_tokenizer", "model" (BPE,
// WordPiece, Unigram), "post_processor", "decoder". Unknown component types are an error
// naming the file and the type. tokenizer_config.json beside it, when present, gives
// bos_token / eos_token.
#pragma once
#include <memory>
#include <string>
#include <string_view>

#include "lmkit/io/tokenizer_loader.h"
#include "lmkit/tokenizer/hf_tokenizer.h"

namespace lmkit {

// `config_json`: the text of tokenizer_config.json, or empty.
std::unique_ptr<PipelineTokenizer> parse_hf_tokenizer_json(std::string_view json,
                                                           const std::string& source,
                                                           const TokenizerOptions& options = {},
                                                           std::string_view config_json = {});
std::unique_ptr<PipelineTokenizer> load_hf_tokenizer_json(const std::string& path,
                                                          const TokenizerOptions& options = {});

}  // namespace lmkit
