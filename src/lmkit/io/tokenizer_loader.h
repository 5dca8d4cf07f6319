// load_tokenizer: one entry point for every tokenizer file format lmkit reads. SPEC is a
// file or a folder holding one; the format is recognized by content, not by name:
//   HF tokenizer.json                      io/hf_tokenizer_json.h
//   tiktoken rank files (+ Meta's Llama-3 tokenizer.model)   io/tiktoken_file.h
//   GPT-2 encoder.json + vocab.bpe, HF vocab.json + merges.txt   io/gpt2_vocab.h
//   SentencePiece .model (protobuf)        io/sentencepiece_model.h
//   BERT WordPiece vocab.txt               tokenizer/wordpiece.h
//   llama2.c tokenizer.bin                 io/llama2c_tokenizer_file.h
//   GGUF (tokenizer.ggml.*)                io/gguf_tokenizer.h
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "lmkit/tokenizer/tokenizer.h"

namespace lmkit {

struct TokenizerOptions {
  // Split pattern (a name from split_pattern_by_name or a regex) for files that do not
  // carry one: tiktoken files of unknown encodings, vocab.json + merges.txt. Overrides the
  // built-in pattern of a known encoding when set.
  std::string pattern;
  // Special tokens for files that do not carry them, "TEXT" (next free id) or "TEXT=ID".
  std::vector<std::string> special_tokens;
  // Whether special-token text in the input becomes the special id. Default: what the
  // format's reference tool does (HF tokenizers: yes; tiktoken encode_ordinary and GPT-2's
  // encoder.py: no).
  std::optional<bool> parse_special;
};

// Throws lmkit::Error naming the path and the problem when nothing loadable is found or
// the file is malformed.
std::unique_ptr<Tokenizer> load_tokenizer(const std::string& spec, const TokenizerOptions& options = {});

// Reads a whole file (lmkit::Error naming it on failure).
std::string read_file_bytes(const std::string& path);

}  // namespace lmkit
