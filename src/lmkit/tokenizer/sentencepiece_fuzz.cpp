// libFuzzer target for the SentencePiece-family encoders on arbitrary text, and for the
// precompiled-charsmap reader on arbitrary blobs. The first byte picks the case:
//   0: SentencePiece BPE, 1: SentencePiece Unigram, 2: Char model - fixed vocabularies,
//      byte fallback, user-defined pieces; the rest of the input is the text;
//   3: the rest is a precompiled charsmap blob, used to normalize a fixed text;
//   4: WordPiece (BERT basic tokenizer) on the text; 5: llama2.c encode on the text.
// Must never crash, hang or read out of bounds; decode(encode(x)) must not throw.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include "lmkit/core/error.h"
#include "lmkit/tokenizer/llama2c_tokenizer.h"
#include "lmkit/tokenizer/sentencepiece.h"
#include "lmkit/tokenizer/sentencepiece_vocab.h"
#include "lmkit/tokenizer/wordpiece.h"

namespace {

lmkit::SpmModelSpec small_spec(lmkit::SpmModelType type) {
  using lmkit::SpmPieceType;
  lmkit::SpmModelSpec s;
  s.model_type = type;
  s.byte_fallback = true;
  s.pieces = {{"<unk>", 0, SpmPieceType::kUnknown}, {"<s>", 0, SpmPieceType::kControl},
              {"</s>", 0, SpmPieceType::kControl}, {"<sep>", 0, SpmPieceType::kUserDefined}};
  for (int b = 0; b < 256; ++b) s.pieces.push_back({lmkit::spm_byte_piece(static_cast<uint8_t>(b)), 0, SpmPieceType::kByte});
  float score = -1;
  for (const char* p : {"\xe2\x96\x81", "a", "b", "c", "\xe2\x96\x81" "a", "ab", "abc", "bc", "\xc3\xa9", "\xe2\x96\x81\xe2\x96\x81", "x"})
    s.pieces.push_back({p, score -= 0.5f, SpmPieceType::kNormal});
  s.pieces.push_back({"ca", -20, SpmPieceType::kUnused});
  return s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  static const lmkit::SentencePieceTokenizer bpe(small_spec(lmkit::SpmModelType::kBpe), "fuzz");
  static const lmkit::SentencePieceTokenizer uni(small_spec(lmkit::SpmModelType::kUnigram), "fuzz");
  static const lmkit::SentencePieceTokenizer chr(small_spec(lmkit::SpmModelType::kChar), "fuzz");
  try {
    switch (data[0] % 6) {
      case 0: (void)bpe.decode(bpe.encode(text, true)); break;
      case 1: (void)uni.decode(uni.encode(text, true)); break;
      case 2: (void)chr.decode(chr.encode(text, true)); break;
      case 3: {
        lmkit::SpmModelSpec s = small_spec(lmkit::SpmModelType::kUnigram);
        s.normalizer.precompiled_charsmap = std::string(text);
        lmkit::SentencePieceTokenizer t(std::move(s), "fuzz");
        (void)t.decode(t.encode("abc \xef\xbc\xa1\xe2\x91\xa0 \xc3\xa9\x00z", false));
        break;
      }
      case 4: {
        static const lmkit::WordPieceTokenizer wp({"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "##b", "ab", "##c", ",", "é"},
                                                  lmkit::BertTokenizerOptions{});
        (void)wp.decode(wp.encode(text, true));
        break;
      }
      case 5: {
        static const std::unique_ptr<lmkit::Llama2cTokenizer> l2 = [] {
          std::vector<std::string> v = {"<unk>", "\n<s>\n", "\n</s>\n"};
          for (int b = 0; b < 256; ++b) v.push_back(lmkit::spm_byte_piece(static_cast<uint8_t>(b)));
          for (const char* p : {" ", "a", "b", " a", "ab", " ab"}) v.push_back(p);
          std::vector<float> sc(v.size(), 0.0f);
          for (size_t i = 259; i < v.size(); ++i) sc[i] = -static_cast<float>(i);
          return std::make_unique<lmkit::Llama2cTokenizer>(std::move(v), std::move(sc), 8);
        }();
        (void)l2->decode(l2->encode(text, true));
        break;
      }
    }
  } catch (const lmkit::Error&) {
  }
  return 0;
}
