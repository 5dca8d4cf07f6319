// Peer side of the BPE-training benchmark (train_run.sh): HF tokenizers' BpeTrainer through
// npm `tokenizers` (the native Rust binding).
//   node node_train.mjs train CORPUS OUT_JSON   trains, saves OUT_JSON, prints {"vocab": N}
//   node node_train.mjs count TOKENIZER_JSON TEXT   prints {"bytes": B, "tokens": T}
// Env: LMKIT_NPM_REF = folder with node_modules/tokenizers (tokenizers@0.23.2);
//      RAYON_NUM_THREADS (set by the caller: HF parallelises the word counting with rayon).
//
// The binding's Tokenizer.train(files) uses the model's default trainer
// (tokenizers/src/models/bpe/model.rs: get_trainer() = BpeTrainer::default(), i.e.
// vocab_size 30000, min_frequency 0, no special tokens, alphabet = the byte symbols seen);
// the npm API has no way to pass another trainer, so the HF comparison runs at 30000.
// The pipeline is byte-level BPE with the cl100k split pattern, the same layout as
// Llama-3's tokenizer.json (Split regex, Isolated, then ByteLevel without its own regex),
// which is what `lmkit train-tokenizer --algorithm bpe --pattern cl100k` writes.
import { createRequire } from "node:module";
import fs from "node:fs";
import path from "node:path";

const require = createRequire(path.join(process.env.LMKIT_NPM_REF || "/work/npm-ref", "package.json"));
const { Tokenizer } = require("tokenizers");
const [mode, a, b] = process.argv.slice(2);

// tiktoken's cl100k_base pattern (= lmkit's "cl100k", src/lmkit/tokenizer/regex_split.cpp).
const CL100K = String.raw`(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`;

if (mode === "train") {
  const spec = {
    version: "1.0", truncation: null, padding: null, added_tokens: [], normalizer: null,
    pre_tokenizer: {
      type: "Sequence",
      pretokenizers: [
        { type: "Split", pattern: { Regex: CL100K }, behavior: "Isolated", invert: false },
        { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: false },
      ],
    },
    post_processor: null,
    decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: "BPE", dropout: null, unk_token: null, continuing_subword_prefix: null,
      end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, ignore_merges: false,
      vocab: {}, merges: [],
    },
  };
  const tok = Tokenizer.fromString(JSON.stringify(spec));
  tok.train([a]);
  tok.save(b, false);
  console.log(JSON.stringify({ vocab: tok.getVocabSize(true) }));
} else if (mode === "count") {
  const tok = Tokenizer.fromFile(a);
  const text = fs.readFileSync(b, "utf8");
  const e = await tok.encode(text, null, { addSpecialTokens: false });
  const back = await tok.decode(Array.from(e.getIds()), false);
  console.log(JSON.stringify({ bytes: Buffer.byteLength(text, "utf8"), tokens: e.getLength(), round_trip: back === text }));
} else {
  console.error("usage: node node_train.mjs train CORPUS OUT_JSON | count TOKENIZER_JSON TEXT");
  process.exit(2);
}
