// Peer side of the tokenizer benchmark: npm tiktoken (WASM) or npm tokenizers (HF
// tokenizers' native binding), single thread. Prints one JSON line like the lmkit side.
// Usage: node node_bench.mjs (tiktoken ENCODING | hf TOKENIZER_JSON) TEXT REPEATS
// Env: LMKIT_NPM_REF = folder with node_modules/{tiktoken,tokenizers} (npm install
//      tiktoken@1.0.22 tokenizers@0.23.2 there).
import { createRequire } from "node:module";
import fs from "node:fs";
import path from "node:path";

process.env.RAYON_NUM_THREADS = "1";
process.env.TOKENIZERS_PARALLELISM = "false";
const [kind, spec, textPath, repeatsArg] = process.argv.slice(2);
const repeats = Number(repeatsArg || 5);
const require = createRequire(path.join(process.env.LMKIT_NPM_REF || "/work/npm-ref", "package.json"));
const text = fs.readFileSync(textPath, "utf8");
const bytes = Buffer.byteLength(text, "utf8");
const median = (v) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
const now = () => Number(process.hrtime.bigint()) / 1e9;

let load = [], enc = [], dec = [], ids, back;
if (kind === "tiktoken") {
  const { get_encoding } = require("tiktoken");
  let e;
  for (let r = 0; r < 3; r++) {
    if (e) e.free();
    const t0 = now();
    e = get_encoding(spec);
    load.push(now() - t0);
  }
  for (let r = 0; r < repeats; r++) {
    const t0 = now();
    ids = e.encode_ordinary(text);
    enc.push(now() - t0);
  }
  for (let r = 0; r < repeats; r++) {
    const t0 = now();
    back = new TextDecoder().decode(e.decode(ids));
    dec.push(now() - t0);
  }
} else {
  const { Tokenizer } = require("tokenizers");
  let tok;
  for (let r = 0; r < 3; r++) {
    const t0 = now();
    tok = Tokenizer.fromFile(spec);
    load.push(now() - t0);
  }
  for (let r = 0; r < repeats; r++) {
    const t0 = now();
    const e = await tok.encode(text, null, { addSpecialTokens: false });
    ids = e.getIds();
    enc.push(now() - t0);
  }
  for (let r = 0; r < repeats; r++) {
    const t0 = now();
    back = await tok.decode(Array.from(ids), false);
    dec.push(now() - t0);
  }
}
console.log(JSON.stringify({
  tool: kind, bytes, tokens: ids.length, load_ms: +(median(load) * 1e3).toFixed(1),
  encode_mb_s: +(bytes / 1e6 / median(enc)).toFixed(2), decode_mb_s: +(bytes / 1e6 / median(dec)).toFixed(1),
  round_trip: back === text,
}));
