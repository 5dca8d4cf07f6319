#!/usr/bin/env bash
# The main job: train a small GPT-2-style byte-level model on the King James Bible (public
# domain, shipped by Debian's bible-kjv-text) and print samples from it. About 5 minutes on 2
# cores: many small steps (a 0.8M-parameter 4-layer model, 2048 tokens per step) learn
# spelling faster in a fixed time than fewer steps of a bigger model.
# Everything lands in runs/kjv/: checkpoints/, log.jsonl, summary.json, loss.png.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
LMKIT=./build/lmkit

mkdir -p build/data
if [ ! -s build/data/kjv.txt ]; then
  # The `bible` program decompresses the whole text; drop the verse numbers.
  bible "Gen1:1-Rev22:21" < /dev/null | sed -E 's/^ +[0-9]+ //' > build/data/kjv.txt.tmp
  mv build/data/kjv.txt.tmp build/data/kjv.txt
fi
echo "corpus: build/data/kjv.txt ($(wc -c < build/data/kjv.txt) bytes, King James Bible)"

rm -rf runs/kjv
"$LMKIT" train --arch gpt2 --layers 4 --heads 4 --dim 128 --vocab-size 256 \
  --seq-len 128 --batch-size 16 --steps "${LMKIT_DEMO_STEPS:-3000}" \
  --lr 2e-3 --min-lr 2e-4 --warmup-steps 100 --weight-decay 0.1 --grad-clip 1.0 \
  --eval-every 250 --data build/data/kjv.txt --out runs/kjv

echo
echo "loss curve: runs/kjv/loss.png"
for prompt in "And God said" "In the beginning" "Blessed are"; do
  echo "=== sample: \"$prompt\" ==="
  "$LMKIT" sample --checkpoint runs/kjv --prompt "$prompt" --max-tokens 240 \
    --temperature 0.8 --top-k 40 --seed 1
done
