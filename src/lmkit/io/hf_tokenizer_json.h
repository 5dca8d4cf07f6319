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
#include "lmkit/tokenizer/bpe_trainer.h"
#include "lmkit/tokenizer/hf_tokenizer.h"
#include "lmkit/tokenizer/unigram_trainer.h"
#include "lmkit/tokenizer/wordpiece_trainer.h"

namespace lmkit {

// `config_json`: the text of tokenizer_config.json, or empty.
std::unique_ptr<PipelineTokenizer> parse_hf_tokenizer_json(std::string_view json,
                                                           const std::string& source,
                                                           const TokenizerOptions& options = {},
                                                           std::string_view config_json = {});
std::unique_ptr<PipelineTokenizer> load_hf_tokenizer_json(const std::string& path,
                                                          const TokenizerOptions& options = {});

// tokenizer.json text for trained vocabularies, in the form HF tokenizers writes:
// byte-level BPE: Split(pattern regex, Isolated) + ByteLevel pre-tokenizer, BPE model over
// GPT-2's byte alphabet, ByteLevel decoder, special tokens as added tokens;
std::string byte_level_bpe_tokenizer_json(const BpeTrainResult& result, const std::string& pattern_regex);
// Unigram: Metaspace pre-tokenizer, Unigram model with byte fallback, Llama-style decoder;
std::string unigram_tokenizer_json(const UnigramVocab& vocab);
// WordPiece: BertNormalizer + BertPreTokenizer, WordPiece model, [CLS] $A [SEP] template.
std::string wordpiece_tokenizer_json(const WordPieceVocab& vocab);

}  // namespace lmkit
