#include "lmkit/io/gguf_tokenizer.h"

#include "lmkit/core/error.h"

namespace lmkit {

GgufVocab read_gguf_vocab(const gguf::Metadata& md, const std::string& source) {
  // Keys: ggml docs/gguf.md "Tokenizer" and llama.cpp src/llama-vocab.cpp load().
  GgufVocab v;
  v.source = source;
  check(md.has("tokenizer.ggml.model"), "{}: no tokenizer in this GGUF (tokenizer.ggml.model is missing)", source);
  v.model = md.get_string("tokenizer.ggml.model");
  v.pre = md.get_string("tokenizer.ggml.pre", "default");
  check(md.has("tokenizer.ggml.tokens"), "{}: tokenizer.ggml.tokens is missing", source);
  v.tokens = md.get_strings("tokenizer.ggml.tokens");
  if (md.has("tokenizer.ggml.scores")) v.scores = md.get_floats("tokenizer.ggml.scores");
  if (md.has("tokenizer.ggml.token_type")) {
    for (int64_t t : md.get_ints("tokenizer.ggml.token_type")) {
      check(t >= INT32_MIN && t <= INT32_MAX, "{}: tokenizer.ggml.token_type value {} is out of range", source, t);
      v.token_types.push_back(static_cast<int32_t>(t));
    }
  }
  if (md.has("tokenizer.ggml.merges")) v.merges = md.get_strings("tokenizer.ggml.merges");
  auto id = [&](const char* key) -> std::optional<int32_t> {
    if (!md.has(key)) return std::nullopt;
    const int64_t x = md.get_int(key);
    // llama.cpp treats ids outside the vocabulary as absent only for -1; anything else
    // out of range is checked when the tokenizer is built.
    if (x == -1) return std::nullopt;
    check(x >= 0 && x <= INT32_MAX, "{}: {} = {} is not a token id", source, key, x);
    return static_cast<int32_t>(x);
  };
  v.bos_id = id("tokenizer.ggml.bos_token_id");
  v.eos_id = id("tokenizer.ggml.eos_token_id");
  v.unk_id = id("tokenizer.ggml.unknown_token_id");
  v.sep_id = id("tokenizer.ggml.seperator_token_id");  // sic: the key as GGUF spells it
  if (!v.sep_id) v.sep_id = id("tokenizer.ggml.separator_token_id");
  v.pad_id = id("tokenizer.ggml.padding_token_id");
  v.cls_id = id("tokenizer.ggml.cls_token_id");
  v.mask_id = id("tokenizer.ggml.mask_token_id");
  auto flag = [&](const char* key) -> std::optional<bool> {
    if (!md.has(key)) return std::nullopt;
    return md.get_bool(key);
  };
  v.add_bos = flag("tokenizer.ggml.add_bos_token");
  v.add_eos = flag("tokenizer.ggml.add_eos_token");
  v.add_space_prefix = flag("tokenizer.ggml.add_space_prefix");
  v.remove_extra_whitespaces = flag("tokenizer.ggml.remove_extra_whitespaces");
  if (const gguf::Value* cm = md.find("tokenizer.ggml.precompiled_charsmap")) {
    check(cm->is_array(), "{}: tokenizer.ggml.precompiled_charsmap is not an array", source);
    const auto bytes = cm->array_bytes();
    v.precompiled_charsmap.assign(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  }
  return v;
}

std::unique_ptr<Tokenizer> tokenizer_from_gguf(const gguf::File& file) {
  return tokenizer_from_gguf_vocab(read_gguf_vocab(file.metadata(), file.path()));
}

std::unique_ptr<Tokenizer> load_gguf_tokenizer(const std::string& path) {
  return tokenizer_from_gguf(gguf::File::open_metadata(path));
}

}  // namespace lmkit
