// libFuzzer target for encoding: the input is text. Checks (abort on failure):
//  - the hand-written splitters match PCRE2 running the same pattern;
//  - a byte-level BPE vocabulary (trained once on a fixed text) round-trips any bytes, and
//    the array-scan and heap merge loops agree. (-DLMKIT_FUZZ=ON with clang.)
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string_view>

#include "lmkit/tokenizer/bpe.h"
#include "lmkit/tokenizer/bpe_trainer.h"
#include "lmkit/tokenizer/regex_split.h"

namespace {

struct State {
  std::unique_ptr<lmkit::RegexSplitter> fast[4], pcre[4];
  std::unique_ptr<lmkit::Bpe> bpe;
  State() {
    const char* names[4] = {"gpt2", "cl100k", "qwen2", "o200k"};
    for (int k = 0; k < 4; ++k) {
      auto p = *lmkit::split_pattern_by_name(names[k]);
      fast[k] = std::make_unique<lmkit::RegexSplitter>(p);
      pcre[k] = std::make_unique<lmkit::RegexSplitter>(p, lmkit::RegexSplitter::Engine::kPcre2);
    }
    auto pre = lmkit::make_split_pretokenizer(*lmkit::split_pattern_by_name("gpt2"), true,
                                              lmkit::SplitBehavior::kIsolated, false);
    lmkit::WordCounter wc(nullptr, *pre);
    std::string text;
    for (int i = 0; i < 50; ++i) text += "the quick brown fox jumps over the lazy dog; aaaa bbbb abab 1234\n";
    wc.add_text(text);
    lmkit::BpeTrainerOptions o;
    o.vocab_size = 320;
    auto r = lmkit::train_byte_level_bpe(wc.counts(), o);
    bpe = std::make_unique<lmkit::Bpe>(r.tokens, r.merges, lmkit::BpeOptions{}, "fuzz");
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static State s;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  std::vector<lmkit::Span> a, b;
  for (int k = 0; k < 4; ++k) {
    a.clear();
    b.clear();
    s.fast[k]->find_matches(text, a);
    s.pcre[k]->find_matches(text, b);
    if (a != b) std::abort();
  }
  std::vector<int32_t> x, y;
  s.bpe->encode_word(text, x);
  s.bpe->encode_word_heap(text, y);
  if (x != y) std::abort();
  std::string back;
  for (int32_t id : x) back += s.bpe->token(id);
  if (back != text) std::abort();
  return 0;
}
