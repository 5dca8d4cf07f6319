// TokenData: a read-only stream of token ids for training and evaluation.
//
// Formats:
//   llm.c     (karpathy/llm.c dev/data/data_common.py write_datafile; llmc/dataloader.h):
//             a header of 256 little-endian int32: [0] magic, [1] version, [2] token count,
//             then the tokens. magic 20240520 / version 1: uint16 tokens (GPT-2);
//             magic 20240801 / version 7: uint32 tokens (Llama 3). The file size must be
//             exactly 1024 + count * token size.
//   raw u16   (karpathy/nanoGPT data/*/prepare.py: np.uint16 ids, tofile): no header.
//   text      any other file, tokenized in memory by a Tokenizer.
// The binary formats are memory-mapped and never read whole into RAM; text is read,
// tokenized once and held as int32.
//
// Auto-detection (TokenFormat::Auto), in this order:
//   1. the first 4 bytes are an llm.c magic          -> llm.c (then validated strictly);
//   2. the extension is ".bin"                        -> raw uint16;
//   3. the extension is ".txt" / ".text" / ".md"      -> text;
//   4. otherwise: the bytes are valid UTF-8 without NUL bytes -> text, else raw uint16.
// (Raw uint16 ids below 256 have zero high bytes, so rule 4 never mistakes them for text.)
// Pass an explicit format to override.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace lmkit {

class Tokenizer;

enum class TokenFormat { Auto, LlmC, RawU16, Text };

// "auto" | "llmc" | "u16" | "text" (for CLI flags); throws lmkit::Error otherwise.
TokenFormat parse_token_format(const std::string& name);
const char* token_format_name(TokenFormat f);

class TokenData {
 public:
  TokenData() = default;

  // Opens `path`. `tokenizer` is needed (and only used) for text files.
  static TokenData open(const std::string& path, const Tokenizer* tokenizer = nullptr,
                        TokenFormat format = TokenFormat::Auto);
  // In-memory ids (tests, generated data).
  static TokenData from_ids(std::vector<int32_t> ids, std::string name = "<memory>");

  size_t size() const { return end_ - begin_; }
  bool empty() const { return size() == 0; }
  // Token i (bounds-checked: lmkit::Error when i >= size()).
  int32_t operator[](size_t i) const;
  // out[0..n) = tokens [begin, begin + n) (bounds-checked).
  void copy(size_t begin, size_t n, int32_t* out) const;
  // The largest id in this range (-1 when empty); computed on first call and cached, so a
  // trainer can check ids < vocab_size before it starts.
  int64_t max_id() const;

  // {head, tail}: the last round(val_fraction * size()) tokens become the tail (held-out
  // validation), the rest the head. 0 <= val_fraction < 1; with val_fraction > 0 both parts
  // must be non-empty. Both share this data (no copy).
  std::pair<TokenData, TokenData> split(double val_fraction) const;
  // Tokens [begin, end) of this range as a TokenData sharing the data.
  TokenData slice(size_t begin, size_t end) const;

  TokenFormat format() const;
  // The file (or name) the tokens came from, for messages.
  const std::string& name() const;

 private:
  struct Source;
  std::shared_ptr<const Source> src_;
  size_t begin_ = 0, end_ = 0;
  std::shared_ptr<int64_t> max_cache_;  // -2: not yet computed
};

// Writes `ids` as an llm.c token file, atomically: GPT-2 layout (uint16, magic 20240520,
// version 1) when every id fits in 16 bits, else (or with force_u32) the Llama-3 layout
// (uint32, magic 20240801, version 7). Negative ids are an error.
void write_llmc_tokens(const std::string& path, std::span<const int32_t> ids,
                       bool force_u32 = false);

}  // namespace lmkit
