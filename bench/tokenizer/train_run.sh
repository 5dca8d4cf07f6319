#!/usr/bin/env bash
# BPE training speed and quality: lmkit vs spm_train (Debian sentencepiece 0.1.97) and vs HF
# tokenizers' BpeTrainer (npm tokenizers@0.23.2, native), 2 threads each, on a ~10 MB corpus.
#
# Corpus (assembled in a scratch folder, never in the repository): the first 90% of Tiny
# Shakespeare (../shared/assets/text), the first 90% of the King James Bible (Debian
# bible-kjv, which scripts/setup.sh installs for the demo; verse numbers dropped as
# scripts/demo.sh does) and Python standard-library sources (files in sorted order, tests
# left out) to 10,000,000 bytes. Held out for bytes/token (~1 MB, never trained on): the last
# 10% of Shakespeare and of the Bible and the next ~0.5 MB of Python files.
#
# Pairs, run interleaved (peer, lmkit, peer, lmkit, ...), each a whole process timed by
# /usr/bin/time (wall seconds, peak RSS):
#   spm-bpe:  spm_train --model_type=bpe --vocab_size=32000, lossless settings (identity
#             normalization, whitespace kept, whitespace-only pieces, byte fallback,
#             character coverage 0.9995, every sentence) vs `lmkit train-tokenizer
#             --algorithm bpe --vocab-size 32000` (byte-level, cl100k pattern: also lossless);
#   spm-spm:  spm_train with identity normalization and its default whitespace handling vs
#             `lmkit train-tokenizer --algorithm spm-bpe` (the same model type, "▁word"
#             units, byte fallback, .model output), both 32000;
#   hf:       HF BpeTrainer (byte-level, the same cl100k pattern; the npm binding trains
#             with BpeTrainer::default(), vocab 30000, the only size it offers) vs lmkit
#             --vocab-size 30000. RAYON_NUM_THREADS=2.
# Bytes/token: held-out bytes / tokens when each tool encodes the whole held-out text with
# the tokenizer it trained (spm: python3-sentencepiece on the text as one string; HF: npm
# tokenizers; lmkit: `lmkit tokenize`).
#
# Usage: bench/tokenizer/train_run.sh      Env: RUNS (3), THREADS (2), LMKIT_ASSETS,
#        LMKIT_NPM_REF (node_modules with tokenizers@0.23.2; installed when missing),
#        LMKIT_BUILD_DIR (a build holding lmkit; default build/,
#        built when missing), PAIRS (default "spm-bpe spm-spm hf").
set -euo pipefail
cd "$(dirname "$0")/../.."
ASSETS="${LMKIT_ASSETS:-$(pwd)/../shared/assets}"
RUNS="${RUNS:-3}"
THREADS="${THREADS:-2}"
PAIRS="${PAIRS:-spm-bpe spm-spm hf}"
BUILD="${LMKIT_BUILD_DIR:-build}"
source bench/tokenizer/npm_peers.sh
command -v spm_train > /dev/null || { echo "spm_train not found: apt-get install sentencepiece" >&2; exit 1; }
/usr/bin/python3 -c "import sentencepiece" 2> /dev/null || { echo "apt-get install python3-sentencepiece" >&2; exit 1; }
command -v bible > /dev/null || { echo "bible not found: apt-get install bible-kjv" >&2; exit 1; }
if [ ! -x "$BUILD/lmkit" ]; then
  [ -f "$BUILD/CMakeCache.txt" ] || LMKIT_BUILD_DIR="$BUILD" bash scripts/setup.sh > /dev/null
  cmake --build "$BUILD" --target lmkit -j"$(nproc)" > /dev/null
fi
LMKIT="$BUILD/lmkit"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

/usr/bin/python3 - "$ASSETS/text/tinyshakespeare.txt" "$WORK/train.txt" "$WORK/heldout.txt" <<'PY'
import os, re, subprocess, sys, sysconfig
shakes, train_out, held_out = sys.argv[1:4]
TRAIN_BYTES, PY_HELD_BYTES = 10_000_000, 500_000
def cut(data, frac):  # at the first newline after frac of the text
    i = data.index(b"\n", int(len(data) * frac)) + 1
    return data[:i], data[i:]
s_train, s_held = cut(open(shakes, "rb").read(), 0.9)
kjv = subprocess.run(["bible", "Gen1:1-Rev22:21"], stdin=subprocess.DEVNULL, capture_output=True, check=True).stdout
kjv = re.sub(rb"(?m)^ +[0-9]+ ", b"", kjv)
k_train, k_held = cut(kjv, 0.9)
files = []
for root, dirs, names in os.walk(sysconfig.get_paths()["stdlib"]):
    dirs[:] = sorted(d for d in dirs if d not in ("test", "tests", "idle_test", "site-packages", "dist-packages", "__pycache__"))
    files += [os.path.join(root, n) for n in sorted(names) if n.endswith(".py")]
need, p_train, p_held = TRAIN_BYTES - len(s_train) - len(k_train), [], []
for f in files:
    data = open(f, "rb").read()
    if need > 0:
        p_train.append(data[:need]); need -= len(data)
    elif sum(map(len, p_held)) < PY_HELD_BYTES:
        p_held.append(data)
open(train_out, "wb").write(s_train + k_train + b"".join(p_train))
open(held_out, "wb").write(s_held + k_held + b"".join(p_held))
print(f"corpus: {os.path.getsize(train_out)} bytes (Shakespeare {len(s_train)}, KJV {len(k_train)}, "
      f"Python {sum(map(len, p_train))}); held out: {os.path.getsize(held_out)} bytes")
PY
HELD_BYTES=$(wc -c < "$WORK/heldout.txt")

# timed NAME CMD...: runs CMD, appends "wall_s peak_rss_kb" to $WORK/NAME.times.
timed() {
  local name="$1"
  shift
  /usr/bin/time -o "$WORK/time.txt" -f "%e %M" "$@" > "$WORK/$name.log" 2>&1 \
    || { cat "$WORK/$name.log" >&2; echo "$name failed" >&2; exit 1; }
  cat "$WORK/time.txt" >> "$WORK/$name.times"
}
spm_lossless() {
  timed spm_lossless spm_train --input="$WORK/train.txt" --model_prefix="$WORK/spm_lossless" \
    --model_type=bpe --vocab_size=32000 --num_threads="$THREADS" --input_sentence_size=0 \
    --character_coverage=0.9995 --byte_fallback=true --normalization_rule_name=identity \
    --remove_extra_whitespaces=false --allow_whitespace_only_pieces=true
}
spm_default_ws() {
  timed spm_default_ws spm_train --input="$WORK/train.txt" --model_prefix="$WORK/spm_default_ws" \
    --model_type=bpe --vocab_size=32000 --num_threads="$THREADS" --input_sentence_size=0 \
    --character_coverage=0.9995 --byte_fallback=true --normalization_rule_name=identity
}
lmkit_bpe() {  # lmkit_bpe VOCAB
  timed "lmkit_bpe$1" "$LMKIT" train-tokenizer --input "$WORK/train.txt" --algorithm bpe \
    --pattern cl100k --vocab-size "$1" --threads "$THREADS" --out "$WORK/lmkit_bpe$1"
}
lmkit_spm() {
  timed lmkit_spm "$LMKIT" train-tokenizer --input "$WORK/train.txt" --algorithm spm-bpe \
    --vocab-size 32000 --threads "$THREADS" --out "$WORK/lmkit_spm"
}
hf() {
  timed hf env RAYON_NUM_THREADS="$THREADS" node bench/tokenizer/node_train.mjs train "$WORK/train.txt" "$WORK/hf.json"
}

for ((r = 0; r < RUNS; r++)); do
  for pair in $PAIRS; do
    case "$pair" in
      spm-bpe) spm_lossless; lmkit_bpe 32000 ;;
      spm-spm) spm_default_ws; lmkit_spm ;;
      hf) hf; lmkit_bpe 30000 ;;
      *) echo "unknown pair $pair" >&2; exit 2 ;;
    esac
  done
  echo "run $((r + 1))/$RUNS done (load average $(cut -d' ' -f1-3 /proc/loadavg))"
done

# Token counts of the held-out text with each trained tokenizer.
spm_tokens() {
  /usr/bin/python3 -c "
import sentencepiece, sys
sp = sentencepiece.SentencePieceProcessor(model_file=sys.argv[1])
print(len(sp.encode(open(sys.argv[2], encoding='utf-8').read())))" "$1" "$WORK/heldout.txt"
}
lmkit_tokens() { "$LMKIT" tokenize --tokenizer "$1" --input "$WORK/heldout.txt" | wc -w; }
tokens_of() {
  case "$1" in
    spm_lossless | spm_default_ws) spm_tokens "$WORK/$1.model" ;;
    lmkit_bpe*) lmkit_tokens "$WORK/$1/tokenizer.json" ;;
    lmkit_spm) lmkit_tokens "$WORK/lmkit_spm/tokenizer.model" ;;
    hf) node bench/tokenizer/node_train.mjs count "$WORK/hf.json" "$WORK/heldout.txt" |
          /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin)['tokens'])" ;;
  esac
}
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
wall() { cut -d' ' -f1 "$WORK/$1.times" | median; }
rss_mb() { cut -d' ' -f2 "$WORK/$1.times" | sort -g | tail -n 1 | awk '{printf "%.0f", $1/1024}'; }
bpt() { awk -v b="$HELD_BYTES" -v t="$1" 'BEGIN {printf "%.3f", b/t}'; }

echo
echo "| peer | lmkit | vocab | peer s | lmkit s | speed-up | peer RSS MB | lmkit RSS MB | peer bytes/token | lmkit bytes/token |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for pair in $PAIRS; do
  case "$pair" in
    spm-bpe) p=spm_lossless; l=lmkit_bpe32000; v=32000; label="spm_train BPE, lossless | lmkit byte-level BPE" ;;
    spm-spm) p=spm_default_ws; l=lmkit_spm; v=32000; label="spm_train BPE, spm whitespace | lmkit SentencePiece-style BPE" ;;
    hf) p=hf; l=lmkit_bpe30000; v=30000; label="HF BpeTrainer (npm) | lmkit byte-level BPE" ;;
  esac
  P=$(wall $p); L=$(wall $l)
  printf "| %s | %s | %s | %s | %s | %.1f× | %s | %s | %s | %s |\n" "${label% | *}" "${label#* | }" "$v" "$P" "$L" \
    "$(awk -v p="$P" -v l="$L" 'BEGIN {print p/l}')" "$(rss_mb $p)" "$(rss_mb $l)" \
    "$(bpt "$(tokens_of $p)")" "$(bpt "$(tokens_of $l)")"
done
echo "(medians of $RUNS interleaved runs, $THREADS threads; load average at the end: $(cut -d' ' -f1-3 /proc/loadavg))"
