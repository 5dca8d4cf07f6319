#!/usr/bin/env bash
# Training throughput: lmkit vs PyTorch 1.13, same GPT-2 config, same llm.c token file,
# 2 threads, runs interleaved (torch, lmkit, torch, lmkit, ...) because this machine's
# 2 vCPUs are sometimes throttled for minutes. Prints medians and ratios.
#
# Usage: bench/train/run.sh [tiny|small|gpt2-124M ...]   (default: tiny small gpt2-124M)
# Env:   REPEATS (default 3), STEPS (default per config), OPENBLAS_CORETYPE is UNSET for
#        both sides (OpenBLAS then picks its AVX-512 kernels; the machine's Haswell setting
#        halves sgemm).
set -euo pipefail
cd "$(dirname "$0")/../.."
unset OPENBLAS_CORETYPE
export OMP_WAIT_POLICY=PASSIVE
PY=/usr/bin/python3
$PY -c "import torch" 2>/dev/null || { echo "needs Debian python3-torch (apt-get install python3-torch libopenblas0-pthread)"; exit 1; }
bash scripts/setup.sh > /dev/null
LMKIT=./build/lmkit
REPEATS="${REPEATS:-3}"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

declare -A CFG=(
  [tiny]="6 6 288 512 256 8 30"
  [small]="6 6 384 8192 256 8 20"
  [gpt2-124M]="12 12 768 50257 256 4 10"
)
configs=("$@")
[ ${#configs[@]} -eq 0 ] && configs=(tiny small gpt2-124M)

printf "%-10s %12s %12s %7s %10s %10s %8s\n" config "torch tok/s" "lmkit tok/s" ratio "torch MB" "lmkit MB" "MFU"
for name in "${configs[@]}"; do
  read -r L H D V T B S <<< "${CFG[$name]}"
  S="${STEPS:-$S}"
  data="$WORK/$name.bin"
  $PY - "$data" "$V" <<'PY'
import sys, numpy as np
path, V = sys.argv[1], int(sys.argv[2])
ids = np.random.default_rng(0).integers(0, V, size=400_000, dtype=np.uint16)
h = np.zeros(256, dtype=np.int32); h[0], h[1], h[2] = 20240520, 1, len(ids)
with open(path, "wb") as f: f.write(h.tobytes()); f.write(ids.tobytes())
PY
  t_rates=(); l_rates=(); t_rss=(); l_rss=(); mfu=()
  for r in $(seq "$REPEATS"); do
    out=$($PY bench/train/torch_train.py --layers "$L" --heads "$H" --dim "$D" --vocab-size "$V" \
      --seq-len "$T" --batch-size "$B" --steps "$S" --threads 2 --data "$data")
    t_rates+=("$(echo "$out" | $PY -c 'import json,sys; print(json.load(sys.stdin)["tokens_per_sec_median"])')")
    t_rss+=("$(echo "$out" | $PY -c 'import json,sys; print(json.load(sys.stdin)["peak_rss_mb"])')")
    rm -rf "$WORK/run"
    $LMKIT train --arch gpt2 --layers "$L" --heads "$H" --dim "$D" --vocab-size "$V" --seq-len "$T" \
      --batch-size "$B" --steps "$S" --threads 2 --lr 3e-4 --warmup-steps 0 --val-fraction 0 \
      --data "$data" --out "$WORK/run" --no-progress > /dev/null
    sum="$WORK/run/summary.json"
    l_rates+=("$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["tokens_per_sec_median"])' "$sum")")
    l_rss+=("$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["peak_rss_mb"])' "$sum")")
    mfu+=("$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["mfu"])' "$sum")")
  done
  med() { printf "%s\n" "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
  tm=$(med "${t_rates[@]}"); lm=$(med "${l_rates[@]}")
  printf "%-10s %12.0f %12.0f %6.2fx %10.0f %10.0f %7.1f%%\n" "$name" "$tm" "$lm" \
    "$(echo "$lm / $tm" | bc -l)" "$(med "${t_rss[@]}")" "$(med "${l_rss[@]}")" "$(echo "$(med "${mfu[@]}") * 100" | bc -l)"
done
