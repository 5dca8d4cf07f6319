// tiktoken rank files: one "<base64 token bytes> <rank>" line per token, rank = id
// (tiktoken/load.py load_tiktoken_bpe). The four OpenAI encodings and Meta's Llama-3
// tokenizer.model are recognized by SHA-256 and get their split pattern and special tokens
// (tiktoken_ext/openai_public.py; meta-llama/llama3 llama/tokenizer.py); other files need
// a pattern from TokenizerOptions.
#pragma once
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "lmkit/io/tokenizer_loader.h"
#include "lmkit/tokenizer/hf_tokenizer.h"

namespace lmkit {

// Whether `head` (the first bytes of a file) reads as tiktoken lines.
bool looks_like_tiktoken(std::string_view head);

// tokens[rank] = bytes (ranks missing from the file are empty strings). Malformed lines,
// bad base64, repeated ranks or tokens: lmkit::Error naming `source` and the line.
std::vector<std::string> parse_tiktoken_ranks(std::string_view data, const std::string& source);
// The same, packed (what the tokenizer keeps; no per-token allocation).
PackedTokens parse_tiktoken_packed(std::string_view data, const std::string& source);

// The name of a known encoding ("r50k_base", "p50k_base", "cl100k_base", "o200k_base",
// "llama3") for a file's SHA-256, or "".
std::string known_tiktoken_encoding(const std::string& sha256);
// The known encoding a file's bytes are (by size and a fast content fingerprint whose table
// values were taken from the files with the SHA-256 above), or "".
std::string known_tiktoken_file(std::string_view data);
uint64_t tiktoken_content_fingerprint(std::string_view data);

std::unique_ptr<PipelineTokenizer> parse_tiktoken(std::string_view data, const std::string& source,
                                                  const TokenizerOptions& options);
std::unique_ptr<PipelineTokenizer> load_tiktoken(const std::string& path, const TokenizerOptions& options = {});

// Writes tokens (id = rank; empty entries skipped) in tiktoken format, atomically.
void save_tiktoken(const std::vector<std::string>& tokens, const std::string& path);

}  // namespace lmkit
