// lmkit train-tokenizer: learn a vocabulary from text files and write DIR/tokenizer.json
// (HF tokenizers format; for BPE also DIR/tokenizer.tiktoken). The corpus is streamed:
// only word counts are kept, so it may be larger than RAM.
#include <fmt/core.h>

#include <algorithm>
#include <chrono>
#include <filesystem>

#include "cli/command.h"
#include "lmkit/core/error.h"
#include "lmkit/core/thread_pool.h"
#include "lmkit/io/atomic_file.h"
#include "lmkit/io/hf_tokenizer_json.h"
#include "lmkit/io/tiktoken_file.h"
#include "lmkit/tokenizer/bpe_trainer.h"
#include "lmkit/tokenizer/regex_split.h"
#include "lmkit/io/sentencepiece_model.h"
#include "lmkit/tokenizer/spm_bpe_trainer.h"
#include "lmkit/tokenizer/unigram_trainer.h"
#include "lmkit/tokenizer/wordpiece_trainer.h"

namespace lmkit::cli {

namespace {

const Command kTrainTokenizer{
    "train-tokenizer", "Train a BPE, Unigram, WordPiece or SentencePiece-BPE vocabulary and write tokenizer.json (tokenizer.model for spm-bpe)",
    [](CLI::App& app) -> Run {
      struct Opts {
        std::vector<std::string> inputs, specials;
        int32_t vocab_size = 0;
        std::string algorithm = "bpe", pattern = "cl100k", out;
        uint64_t min_frequency = 1;
      };
      auto o = std::make_shared<Opts>();
      app.add_option("--input", o->inputs, "training text files (streamed; any size)")->required()->check(CLI::ExistingFile);
      app.add_option("--vocab-size", o->vocab_size, "vocabulary size, special tokens included")
          ->required()
          ->check(CLI::Range(1, 1 << 24));
      app.add_option("--algorithm", o->algorithm,
                     "bpe (byte-level, GPT-2 style), unigram (SentencePiece style, byte fallback), "
                     "wordpiece (BERT style) or spm-bpe (SentencePiece's BPE with byte fallback: "
                     "writes tokenizer.model, which sentencepiece and lmkit load)")
          ->check(CLI::IsMember({"bpe", "unigram", "wordpiece", "spm-bpe"}));
      app.add_option("--pattern", o->pattern, "bpe split pattern: gpt2, cl100k (= gpt4), o200k, qwen2 or a regex");
      app.add_option("--special", o->specials, "special tokens to reserve (repeatable)");
      app.add_option("--min-frequency", o->min_frequency, "bpe: stop when the best pair is rarer than this");
      app.add_option("--out", o->out, "output folder (created): tokenizer.json [+ tokenizer.tiktoken], or tokenizer.model for spm-bpe")->required();
      auto threads = add_threads_option(app);
      return [o, threads]() -> int {
        threads();
        auto t0 = std::chrono::steady_clock::now();
        std::filesystem::create_directories(o->out);
        std::string json_path = (std::filesystem::path(o->out) / "tokenizer.json").string();
        std::unique_ptr<Normalizer> normalizer;
        std::unique_ptr<PreTokenizer> pre;
        std::string regex;
        if (o->algorithm == "bpe") {
          auto named = split_pattern_by_name(o->pattern);
          regex = named ? *named : o->pattern;
          pre = make_split_pretokenizer(regex, true, SplitBehavior::kIsolated, false);
        } else if (o->algorithm == "unigram" || o->algorithm == "spm-bpe") {
          pre = make_metaspace_pretokenizer("\xE2\x96\x81", "always", true);
        } else {
          normalizer = make_bert_normalizer(true, true, -1, true);
          pre = make_bert_pretokenizer();
        }
        WordCounter counter(normalizer.get(), *pre);
        for (const auto& f : o->inputs) counter.add_file(f);
        auto words = counter.counts();
        double count_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        int64_t vocab = 0;
        if (o->algorithm == "bpe") {
          BpeTrainerOptions bo;
          bo.vocab_size = o->vocab_size;
          bo.special_tokens = o->specials;
          bo.min_frequency = o->min_frequency;
          BpeTrainResult r = train_byte_level_bpe(words, bo);
          write_file_atomic(json_path, byte_level_bpe_tokenizer_json(r, regex));
          save_tiktoken(r.tokens, (std::filesystem::path(o->out) / "tokenizer.tiktoken").string());
          vocab = int64_t(r.tokens.size() + r.special_tokens.size());
        } else if (o->algorithm == "spm-bpe") {
          SpmBpeTrainerOptions so;
          so.vocab_size = o->vocab_size;
          // spm_train's default control pieces <s> / </s> after <unk>, then the user's.
          so.special_tokens = {"<s>", "</s>"};
          for (const auto& t : o->specials)
            if (std::find(so.special_tokens.begin(), so.special_tokens.end(), t) == so.special_tokens.end())
              so.special_tokens.push_back(t);
          const SpmBpeVocab v = train_spm_bpe(words, so);
          json_path = (std::filesystem::path(o->out) / "tokenizer.model").string();
          write_file_atomic(json_path, serialize_sentencepiece_model(spm_bpe_model_spec(v)));
          vocab = int64_t(v.pieces.size());
        } else if (o->algorithm == "unigram") {
          UnigramTrainerOptions uo;
          uo.vocab_size = o->vocab_size;
          uo.special_tokens = o->specials;
          uo.num_threads = num_threads();
          UnigramVocab v = train_unigram(words, uo);
          write_file_atomic(json_path, unigram_tokenizer_json(v));
          vocab = int64_t(v.pieces.size());
        } else {
          WordPieceTrainerOptions wo;
          wo.vocab_size = o->vocab_size;
          for (const auto& s : o->specials)
            if (std::find(wo.special_tokens.begin(), wo.special_tokens.end(), s) == wo.special_tokens.end())
              wo.special_tokens.push_back(s);
          wo.num_threads = num_threads();
          WordPieceVocab v = train_wordpiece(words, wo);
          write_file_atomic(json_path, wordpiece_tokenizer_json(v));
          vocab = int64_t(v.tokens.size());
        }
        double total_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        fmt::print(stderr, "train-tokenizer: {} bytes, {} distinct words ({:.2f} s), vocab {} in {:.2f} s -> {}\n",
                   counter.total_bytes(), words.size(), count_s, vocab, total_s, json_path);
        return 0;
      };
    }};

}  // namespace

}  // namespace lmkit::cli
