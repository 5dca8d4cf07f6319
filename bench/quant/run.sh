#!/usr/bin/env bash
# What quantization costs: file size and perplexity of stories260K (the real pretrained
# model in ../shared/assets) written by `lmkit convert` as F32, F16, BF16, Q8_0 and Q4_0.
#
# Two texts: "stories" = 60 stories sampled from the F32 model itself at temperature 1 (the
# model's own distribution, TinyStories-like: in-domain), and "shakespeare" = the first
# 200 kB of Tiny Shakespeare (out of domain). Perplexity as llama.cpp's `perplexity` tool
# (chunks of --ctx 256 tokens with BOS, second half of each scored), with its ± estimate.
# Not a speed benchmark: single run, deterministic.
#
# Usage: bench/quant/run.sh            (env LMKIT_ASSETS overrides ../shared/assets)
set -euo pipefail
cd "$(dirname "$0")/../.."
bash scripts/setup.sh > /dev/null
LMKIT=./build/lmkit
A="${LMKIT_ASSETS:-../shared/assets}"
[ -f "$A/models/stories260K.bin" ] || { echo "needs $A/models/stories260K.bin (set LMKIT_ASSETS)"; exit 1; }
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
MODEL=("$A/models/stories260K.bin" --tokenizer "$A/models/tok512.bin")

for seed in $(seq 1 60); do
  "$LMKIT" generate --model "${MODEL[@]}" --prompt "" --max-tokens 256 --temperature 1 \
    --seed "$seed" --threads 1 > "$WORK/s.txt" 2>/dev/null
  cat "$WORK/s.txt" >> "$WORK/stories.txt"; echo >> "$WORK/stories.txt"
done
head -c 200000 "$A/text/tinyshakespeare.txt" > "$WORK/shakespeare.txt"

printf "| type | file size | stories PPL | Δ vs F32 | shakespeare PPL | Δ vs F32 |\n|---|---|---|---|---|---|\n"
declare -A base
for type in f32 f16 bf16 q8_0 q4_0; do
  g="$WORK/stories260K-$type.gguf"
  "$LMKIT" convert "${MODEL[@]}" "$g" --type "$type" > /dev/null 2>&1
  size=$(stat -c %s "$g")
  row="| $type | $(echo "scale=1; $size / 1024" | bc) KiB"
  for text in stories shakespeare; do
    j=$("$LMKIT" perplexity --model "$g" --input "$WORK/$text.txt" --ctx 256 --json)
    ppl=$(echo "$j" | /usr/bin/python3 -c 'import json,sys; j=json.load(sys.stdin); print("%.4f ± %.4f" % (j["ppl"], j["ppl_std"]))')
    p=$(echo "$j" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["ppl"])')
    [ "$type" = f32 ] && base[$text]=$p
    delta=$(/usr/bin/python3 -c "import sys; print(f'{100*(float(sys.argv[1])/float(sys.argv[2])-1):+.2f}%')" "$p" "${base[$text]}")
    row="$row | $ppl | $delta"
  done
  echo "$row |"
done
