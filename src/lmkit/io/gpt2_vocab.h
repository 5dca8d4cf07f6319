// GPT-2's original vocabulary pair encoder.json + vocab.bpe (openai/gpt-2 src/encoder.py)
// and HF's vocab.json + merges.txt (transformers GPT2Tokenizer / Qwen2Tokenizer): a JSON
// object token -> id in GPT-2's byte alphabet, and one "left right" merge per line in rank
// order after an optional "#version" line. Encoding is byte-level BPE by merge rank over
// the GPT-2 split pattern; Qwen2's vocabulary (recognized by its merges file, or by
// tokenizer_config.json's tokenizer_class beside it) uses Qwen2's pattern and NFC.
#pragma once
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "lmkit/io/tokenizer_loader.h"
#include "lmkit/tokenizer/hf_tokenizer.h"

namespace lmkit {

// Merges from vocab.bpe / merges.txt text (lmkit::Error naming `source` and the line).
std::vector<std::pair<std::string, std::string>> parse_bpe_merges(std::string_view text,
                                                                  const std::string& source);

std::unique_ptr<PipelineTokenizer> load_gpt2_vocab(const std::string& vocab_json_path,
                                                   const std::string& merges_path,
                                                   const TokenizerOptions& options = {});

}  // namespace lmkit
