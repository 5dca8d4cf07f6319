// lmkit's SentencePiece-style BPE trainer (tokenizer/spm_bpe_trainer.h) on a text file, for
// bench/tokenizer/train_run.sh to set beside spm_train --model_type=bpe. `lmkit
// train-tokenizer` offers byte-level BPE, Unigram and WordPiece; this is the SentencePiece
// BPE path: words are counted the way the Unigram path counts them (Metaspace "▁word"
// units, streamed on the thread pool), then trained with byte fallback and written as a
// SentencePiece .model (which `lmkit tokenize` and sentencepiece itself load).
// Usage: lmkit_spm_train_bench TEXT VOCAB_SIZE OUT.model [--threads N]
// Prints one JSON line: distinct words, pieces, count and training seconds.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "lmkit/core/error.h"
#include "lmkit/core/thread_pool.h"
#include "lmkit/io/atomic_file.h"
#include "lmkit/io/sentencepiece_model.h"
#include "lmkit/tokenizer/bpe_trainer.h"
#include "lmkit/tokenizer/pretokenizer.h"
#include "lmkit/tokenizer/spm_bpe_trainer.h"

using Clock = std::chrono::steady_clock;

static double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s TEXT VOCAB_SIZE OUT.model [--threads N]\n", argv[0]);
    return 2;
  }
  int threads = 0;
  for (int i = 4; i + 1 < argc; i += 2)
    if (std::string(argv[i]) == "--threads") threads = std::atoi(argv[i + 1]);
  if (threads > 0) lmkit::set_num_threads(threads);
  try {
    auto t0 = Clock::now();
    auto pre = lmkit::make_metaspace_pretokenizer("\xE2\x96\x81", "always", true);
    lmkit::WordCounter counter(nullptr, *pre);
    counter.add_file(argv[1]);
    const auto words = counter.counts();
    const double count_s = seconds_since(t0);
    lmkit::SpmBpeTrainerOptions o;
    o.vocab_size = std::atoi(argv[2]);
    o.special_tokens = {"<s>", "</s>"};  // spm_train's default bos / eos pieces
    const lmkit::SpmBpeVocab v = lmkit::train_spm_bpe(words, o);
    lmkit::write_file_atomic(argv[3],
                             lmkit::serialize_sentencepiece_model(lmkit::spm_bpe_model_spec(v)));
    std::printf("{\"words\": %zu, \"pieces\": %zu, \"count_s\": %.3f, \"total_s\": %.3f}\n",
                words.size(), v.pieces.size(), count_s, seconds_since(t0));
  } catch (const lmkit::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
