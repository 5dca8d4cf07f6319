// SentencePiece (Kudo & Richardson 2018, https://arxiv.org/abs/1808.06226) reimplemented
// without libsentencepiece, following google/sentencepiece src/: model_interface.cc
// (piece table), normalizer.cc (normalizer), bpe_model.cc / unigram_model.cc /
// word_model.cc / char_model.cc (segmentation) and sentencepiece_processor.cc (byte
// fallback, unknown merging, decoding). The `.model` protobuf is read by
// io/sentencepiece_model.h, which fills an SpmModelSpec.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "lmkit/tokenizer/tokenizer.h"

namespace lmkit {

// ModelProto.SentencePiece.Type (sentencepiece_model.proto). GGUF's
// tokenizer.ggml.token_type uses the same numbers.
enum class SpmPieceType : uint8_t {
  kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kUnused = 5, kByte = 6,
};
// TrainerSpec.ModelType.
enum class SpmModelType : uint8_t { kUnigram = 1, kBpe = 2, kWord = 3, kChar = 4 };

struct SpmPiece {
  std::string piece;
  float score = 0.0f;
  SpmPieceType type = SpmPieceType::kNormal;
};

// NormalizerSpec (defaults as in sentencepiece_model.proto).
struct SpmNormalizerSpec {
  std::string name;                  // "identity", "nmt_nfkc", "nfkc_cf", ... (informative)
  std::string precompiled_charsmap;  // u32 trie size | darts-clone double array | strings
  bool add_dummy_prefix = true;
  bool remove_extra_whitespaces = true;
  bool escape_whitespaces = true;
};

// Everything in a ModelProto that encoding and decoding use.
struct SpmModelSpec {
  std::vector<SpmPiece> pieces;  // id = index
  SpmModelType model_type = SpmModelType::kUnigram;
  bool byte_fallback = false;
  bool treat_whitespace_as_suffix = false;
  bool allow_whitespace_only_pieces = false;
  int32_t unk_id = 0, bos_id = 1, eos_id = 2, pad_id = -1;  // TrainerSpec; -1 = none
  std::string unk_surface = " \xE2\x81\x87 ";                // decode of <unk>
  // What encode(text, add_special = true) adds (not in the .model file; GGUF's
  // tokenizer.ggml.add_bos_token / add_eos_token set them).
  bool add_bos = true, add_eos = false;
  SpmNormalizerSpec normalizer;
  std::optional<SpmNormalizerSpec> denormalizer;  // applied to decoded text when present
};

// A SentencePiece model (any of the four model types) behind the Tokenizer interface.
// encode(text) == sentencepiece's EncodeAsIds(text); encode(text, true) adds BOS / EOS
// as spec.add_bos / add_eos say (default: BOS only). decode(ids) == DecodeIds(ids).
class SentencePieceTokenizer final : public Tokenizer {
 public:
  // Validates like ModelInterface::InitializePieces (non-empty unique pieces, exactly one
  // unknown piece, byte pieces only with byte_fallback, ...) and prepares the lookup
  // tables; problems throw lmkit::Error prefixed with `source` (the file name).
  explicit SentencePieceTokenizer(SpmModelSpec spec, std::string source = "sentencepiece model");
  ~SentencePieceTokenizer() override;
  SentencePieceTokenizer(SentencePieceTokenizer&&) noexcept;

  std::vector<int32_t> encode(std::string_view text, bool add_special = false) const override;
  std::string decode(std::span<const int32_t> ids) const override;
  int64_t vocab_size() const override;
  std::string token_text(int32_t id) const override;  // the piece
  std::optional<int32_t> bos_id() const override;
  std::optional<int32_t> eos_id() const override;
  bool adds_bos() const override;
  // The id of a piece written as token_text() writes it (Tokenizer::token_to_id).
  std::optional<int32_t> token_to_id(std::string_view token) const override;

  // Normalizer output (sentencepiece's Normalize(): charsmap, whitespace rules, "▁").
  std::string normalize(std::string_view text) const;
  // Appends the ids of already-normalized text to `ids` (segmentation + byte fallback +
  // unknown merging, no normalizer).
  void encode_normalized(std::string_view normalized, std::vector<int32_t>& ids) const;
  // The pieces of encode(text) (byte pieces as "<0xNN>").
  std::vector<std::string> encode_pieces(std::string_view text) const;
  // PieceToId: the id of `piece`, or the unknown id.
  int32_t piece_to_id(std::string_view piece) const;
  const SpmModelSpec& spec() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace lmkit
