#!/usr/bin/env bash
# Tokenizer speed: lmkit vs npm tiktoken (WASM) on cl100k / o200k and vs npm tokenizers
# (HF tokenizers, native) on the Llama-3 and Qwen3 tokenizer.json files; single thread,
# an English text (Tiny Shakespeare x4, 4.5 MB) and a multilingual one (the fixture stress
# text: CJK, Arabic, Cyrillic, emoji, code, whitespace; repeated to ~2 MB). Runs are
# interleaved (peer, lmkit, peer, lmkit, ...); each process reports the median of its
# repeats, the table the median over runs. Prints encode/decode MB/s, load ms and ratios.
#
# Usage: bench/tokenizer/run.sh        Env: RUNS (default 3), REPEATS (default 5),
#        LMKIT_NPM_REF (node_modules with tiktoken@1.0.22 tokenizers@0.23.2; installed
#        there when missing), LMKIT_ASSETS (default ../shared/assets),
#        LMKIT_TOKENIZER_BENCH (a built lmkit_tokenizer_bench; default: build it in build/).
set -euo pipefail
cd "$(dirname "$0")/../.."
ASSETS="${LMKIT_ASSETS:-$(pwd)/../shared/assets}"
RUNS="${RUNS:-3}"
REPEATS="${REPEATS:-5}"
source bench/tokenizer/npm_peers.sh
BENCH="${LMKIT_TOKENIZER_BENCH:-}"  # a prebuilt lmkit_tokenizer_bench skips the build
if [ -z "$BENCH" ]; then
  bash scripts/setup.sh > /dev/null
  cmake --build build --target lmkit_tokenizer_bench -j"$(nproc)" > /dev/null
  BENCH=./build/bench/tokenizer/lmkit_tokenizer_bench
fi
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
for i in 1 2 3 4; do cat "$ASSETS/text/tinyshakespeare.txt"; done > "$WORK/english.txt"
python3 - "$WORK/multilingual.txt" tests/fixtures/tokenizer/bpe_stress.txt <<'PY'
import sys
src = open(sys.argv[2], encoding="utf-8").read()
out, i = [], 0
while sum(map(len, out)) < 700_000:  # characters; about 2 MB of UTF-8
    out.append(src.replace("1234567890", str(1234567890 + i)))
    i += 1
open(sys.argv[1], "w", encoding="utf-8").write("".join(out))
PY

field() { python3 -c "import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])" "$1" "$2"; }
median() { printf "%s\n" "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

printf "%-8s %-13s %10s %10s %7s %10s %10s %9s %9s\n" tokenizer text "peer MB/s" "lmkit MB/s" ratio \
  "peer dec" "lmkit dec" "peer load" "lmkit load"
for case in "cl100k tiktoken cl100k_base $ASSETS/tokenizers/tiktoken/cl100k_base.tiktoken" \
            "o200k tiktoken o200k_base $ASSETS/tokenizers/tiktoken/o200k_base.tiktoken" \
            "llama3 hf $ASSETS/tokenizers/llama3-hf/tokenizer.json $ASSETS/tokenizers/llama3-hf/tokenizer.json" \
            "qwen3 hf $ASSETS/tokenizers/qwen3-hf/tokenizer.json $ASSETS/tokenizers/qwen3-hf/tokenizer.json"; do
  read -r name kind peer_spec lmkit_spec <<< "$case"
  for text in english multilingual; do
    pe=(); le=(); pd=(); ld=(); pl=(); ll=()
    for ((r = 0; r < RUNS; r++)); do
      p=$(node bench/tokenizer/node_bench.mjs "$kind" "$peer_spec" "$WORK/$text.txt" "$REPEATS")
      l=$("$BENCH" "$lmkit_spec" "$WORK/$text.txt" --repeats "$REPEATS" --threads 1)
      [ "$(field "$p" tokens)" = "$(field "$l" tokens)" ] || echo "warning: token counts differ: $p / $l" >&2
      pe+=("$(field "$p" encode_mb_s)"); le+=("$(field "$l" encode_mb_s)")
      pd+=("$(field "$p" decode_mb_s)"); ld+=("$(field "$l" decode_mb_s)")
      pl+=("$(field "$p" load_ms)"); ll+=("$(field "$l" load_ms)")
    done
    P=$(median "${pe[@]}"); L=$(median "${le[@]}")
    printf "%-8s %-13s %10s %10s %6.1fx %10s %10s %7sms %7sms\n" "$name" "$text" "$P" "$L" \
      "$(python3 -c "print($L/$P)")" "$(median "${pd[@]}")" "$(median "${ld[@]}")" \
      "$(median "${pl[@]}")" "$(median "${ll[@]}")"
  done
done
