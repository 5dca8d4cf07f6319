#include "lmkit/tokenizer/gguf_vocab.h"

#include "lmkit/core/error.h"
#include "lmkit/tokenizer/hf_tokenizer.h"
#include "lmkit/tokenizer/sentencepiece.h"
#include "lmkit/tokenizer/wordpiece.h"

namespace lmkit {

namespace {

constexpr std::string_view kPhantomSpace = "\xe2\x96\x81";  // U+2581

// Split regexes of llama.cpp llm_tokenizer_bpe (src/llama-vocab.cpp, MIT) by
// tokenizer.ggml.pre; applied in turn, each match and each gap its own piece.
std::vector<std::string> bpe_pre_patterns(const std::string& pre, const std::string& source) {
  const std::string gpt2 = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)";
  const std::string llama3 =
      "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
      "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
  const std::string qwen2 =
      "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| "
      "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
  if (pre == "default" || pre.empty())
    return {"[\\p{P}\\$\\+<=>\\^~\\|]+", gpt2, "\\p{N}+", "[0-9][0-9][0-9]"};
  if (pre == "llama3" || pre == "llama-v3" || pre == "llama-bpe" || pre == "falcon3" || pre == "dbrx" ||
      pre == "smaug-bpe" || pre == "chatglm-bpe")
    return {llama3};
  if (pre == "qwen2" || pre == "deepseek-r1-qwen" || pre == "stablelm2") return {qwen2};
  if (pre == "falcon") return {"[\\p{P}\\$\\+<=>\\^~\\|`]+", gpt2, "[0-9][0-9][0-9]"};
  if (pre == "gpt-2" || pre == "phi-2" || pre == "jina-es" || pre == "jina-de" || pre == "gigachat" ||
      pre == "jina-v1-en" || pre == "jina-v2-es" || pre == "jina-v2-de" || pre == "jina-v2-code" ||
      pre == "roberta-bpe" || pre == "mpt" || pre == "olmo" || pre == "jais")
    return {gpt2};
  if (pre == "starcoder" || pre == "refact" || pre == "command-r" || pre == "smollm" || pre == "codeshell" ||
      pre == "exaone" || pre == "minerva-7b")
    return {"\\p{N}", gpt2};
  if (pre == "deepseek-coder") return {"[\r\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", "[一-龥ࠀ-一가-퟿]+", "\\p{N}"};
  if (pre == "poro-chat" || pre == "bloom" || pre == "gpt3-finnish") return {" ?[^(\\s|.,!?…。，、।۔،)]+"};
  if (pre == "viking") return {" ?[^(\\s|.,!?…。，、।۔،)]+", "\\p{N}"};
  fail("{}: unsupported tokenizer.ggml.pre \"{}\" for a gpt2 (BPE) vocabulary", source, pre);
}

bool ignore_merges_for(const std::string& pre) {
  return pre == "llama3" || pre == "llama-v3" || pre == "llama-bpe" || pre == "falcon3" || pre == "tekken";
}

int32_t type_of(const GgufVocab& v, size_t i) {
  return v.token_types.empty() ? static_cast<int32_t>(SpmPieceType::kNormal) : v.token_types[i];
}

void check_arrays(const GgufVocab& v) {
  check(!v.tokens.empty(), "{}: tokenizer.ggml.tokens is empty", v.source);
  check(v.scores.empty() || v.scores.size() == v.tokens.size(),
        "{}: tokenizer.ggml.scores has {} entries for {} tokens", v.source, v.scores.size(), v.tokens.size());
  check(v.token_types.empty() || v.token_types.size() == v.tokens.size(),
        "{}: tokenizer.ggml.token_type has {} entries for {} tokens", v.source, v.token_types.size(),
        v.tokens.size());
  const int64_t n = static_cast<int64_t>(v.tokens.size());
  for (const auto& [name, id] : {std::pair{"bos", v.bos_id}, std::pair{"eos", v.eos_id}, std::pair{"unknown", v.unk_id},
                                 std::pair{"separator", v.sep_id}, std::pair{"padding", v.pad_id}})
    check(!id || (*id >= 0 && *id < n), "{}: tokenizer.ggml.{} token id {} is outside the vocabulary ({})", v.source,
          name, id ? *id : 0, n);
}

// llama / t5: a SentencePiece model over the GGUF arrays.
std::unique_ptr<Tokenizer> make_spm(const GgufVocab& v, SpmModelType type) {
  SpmModelSpec spec;
  spec.model_type = type;
  spec.pieces.resize(v.tokens.size());
  bool has_unknown = false;
  for (size_t i = 0; i < v.tokens.size(); ++i) {
    SpmPiece& p = spec.pieces[i];
    p.piece = v.tokens[i];
    p.score = v.scores.empty() ? 0.0f : v.scores[i];
    const int32_t t = type_of(v, i);
    check(t >= 1 && t <= 6, "{}: token {} has unknown token_type {}", v.source, i, t);
    p.type = static_cast<SpmPieceType>(t);
    if (p.type == SpmPieceType::kByte) spec.byte_fallback = true;
    has_unknown = has_unknown || p.type == SpmPieceType::kUnknown;
  }
  if (!has_unknown && v.unk_id) spec.pieces[static_cast<size_t>(*v.unk_id)].type = SpmPieceType::kUnknown;
  // SentencePiece allows one UNKNOWN piece; GGUF files (Phi-3) mark extra placeholder
  // tokens UNKNOWN too. Keep the unknown_token_id one (else the first); the others become
  // control pieces: never matched in text, invisible when decoded.
  int32_t keep = -1;
  if (v.unk_id && spec.pieces[static_cast<size_t>(*v.unk_id)].type == SpmPieceType::kUnknown) keep = *v.unk_id;
  for (size_t i = 0; i < spec.pieces.size(); ++i) {
    if (spec.pieces[i].type != SpmPieceType::kUnknown) continue;
    if (keep < 0) keep = static_cast<int32_t>(i);
    if (static_cast<int32_t>(i) != keep) spec.pieces[i].type = SpmPieceType::kControl;
  }
  spec.unk_id = v.unk_id.value_or(0);
  spec.bos_id = v.bos_id.value_or(-1);
  spec.eos_id = v.eos_id.value_or(-1);
  spec.pad_id = v.pad_id.value_or(-1);
  spec.add_bos = v.add_bos.value_or(true);  // llama.cpp: SPM vocabularies default to a BOS
  spec.add_eos = v.add_eos.value_or(false);
  // llama.cpp: add_space_prefix defaults to true; whitespace is escaped as U+2581 and
  // kept as is (llama_escape_whitespace); t5 carries its charsmap and whitespace rule.
  spec.normalizer.name = v.precompiled_charsmap.empty() ? "identity" : "precompiled";
  spec.normalizer.add_dummy_prefix = v.add_space_prefix.value_or(true);
  spec.normalizer.escape_whitespaces = true;
  spec.normalizer.remove_extra_whitespaces =
      type == SpmModelType::kUnigram ? v.remove_extra_whitespaces.value_or(true) : false;
  spec.normalizer.precompiled_charsmap = v.precompiled_charsmap;
  return std::make_unique<SentencePieceTokenizer>(std::move(spec), v.source);
}

// bert: llama.cpp's converter writes BERT vocabularies in "phantom space" form (word-
// initial tokens get a leading U+2581, "##" continuations lose their prefix, [..] tokens
// stay); undo it and run HF-style BERT WordPiece.
std::unique_ptr<Tokenizer> make_bert(const GgufVocab& v) {
  std::vector<std::string> vocab;
  vocab.reserve(v.tokens.size());
  std::vector<std::string> specials;
  for (size_t i = 0; i < v.tokens.size(); ++i) {
    const std::string& t = v.tokens[i];
    const int32_t type = type_of(v, i);
    if (t.size() >= 2 && t.front() == '[' && t.back() == ']') {
      vocab.push_back(t);
      if (type == static_cast<int32_t>(SpmPieceType::kControl) || type == static_cast<int32_t>(SpmPieceType::kUnknown))
        specials.push_back(t);
    } else if (t.compare(0, kPhantomSpace.size(), kPhantomSpace) == 0) {
      vocab.push_back(t.substr(kPhantomSpace.size()));
    } else {
      vocab.push_back("##" + t);
    }
  }
  BertTokenizerOptions o;
  auto name_of = [&](const std::optional<int32_t>& id, const char* dflt) {
    return id ? vocab[static_cast<size_t>(*id)] : std::string(dflt);
  };
  o.wordpiece.unk_token = name_of(v.unk_id, "[UNK]");
  o.cls_token = name_of(v.cls_id ? v.cls_id : v.bos_id, "[CLS]");
  o.sep_token = name_of(v.sep_id ? v.sep_id : v.eos_id, "[SEP]");
  o.special_tokens = specials;
  return std::make_unique<WordPieceTokenizer>(std::move(vocab), std::move(o), v.source);
}

// gpt2: byte-level BPE from tokens + merges, split by the tokenizer.ggml.pre regexes.
std::unique_ptr<Tokenizer> make_gpt2(const GgufVocab& v) {
  check(!v.merges.empty(), "{}: tokenizer.ggml.merges is missing for a gpt2 (BPE) vocabulary", v.source);
  ByteLevelBpeSpec spec;
  spec.source = v.source;
  spec.tokens = v.tokens;
  spec.merges.reserve(v.merges.size());
  for (size_t i = 0; i < v.merges.size(); ++i) {
    const std::string& m = v.merges[i];
    const size_t sp = m.find(' ', 1);
    check(sp != std::string::npos && sp + 1 < m.size(), "{}: merge {} (\"{}\") is not \"left right\"", v.source, i, m);
    spec.merges.emplace_back(m.substr(0, sp), m.substr(sp + 1));
  }
  spec.patterns = bpe_pre_patterns(v.pre, v.source);
  spec.ignore_merges = ignore_merges_for(v.pre);
  // llama.cpp tokenizer_st_partition: user-defined tokens are always split out of the
  // text, control tokens only when parsing specials.
  for (size_t i = 0; i < v.tokens.size(); ++i) {
    const int32_t t = type_of(v, i);
    if (t != static_cast<int32_t>(SpmPieceType::kUserDefined) && t != static_cast<int32_t>(SpmPieceType::kControl))
      continue;
    AddedToken a;
    a.id = static_cast<int32_t>(i);
    a.content = v.tokens[i];
    a.special = t == static_cast<int32_t>(SpmPieceType::kControl);
    spec.added_tokens.push_back(std::move(a));
  }
  spec.match_special = false;
  spec.bos_id = v.bos_id;
  spec.eos_id = v.eos_id;
  spec.add_bos = v.add_bos.value_or(false);
  spec.add_eos = v.add_eos.value_or(false);
  return make_byte_level_bpe_tokenizer(std::move(spec));
}

}  // namespace

std::unique_ptr<Tokenizer> tokenizer_from_gguf_vocab(const GgufVocab& v) {
  check_arrays(v);
  if (v.model == "llama") return make_spm(v, SpmModelType::kBpe);
  if (v.model == "t5") return make_spm(v, SpmModelType::kUnigram);
  if (v.model == "bert") return make_bert(v);
  if (v.model == "gpt2") return make_gpt2(v);
  fail("{}: unsupported tokenizer.ggml.model \"{}\" (llama, gpt2, bert, t5 are)", v.source, v.model);
}

}  // namespace lmkit
