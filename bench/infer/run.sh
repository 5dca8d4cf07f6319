#!/usr/bin/env bash
# Inference speed: lmkit vs llama.cpp (and llama2.c's run.c for stories260K), side by side in
# one run, 2 threads. Models: stories260K (../shared/assets, converted by `lmkit convert`)
# and a random-weight Llama of stories110M's shape (bench/infer/llama110m.config.json, with
# the Llama-2 vocabulary of ../shared/assets/models/tokenizer.bin, seed 1), each as GGUF F32, Q8_0
# and Q4_0, all written by `lmkit convert`.
#
#   peer:  llama.cpp's prebuilt CPU libraries from npm node-llama-cpp (pinned below), driven
#          by bench/infer/llamacpp_bench.cpp, which measures as llama-bench does (persistent
#          ggml threadpool attached to the context, llama-bench's context defaults);
#   lmkit: `lmkit bench` (the same pp / tg definitions), with the same f16 KV cache;
#   run.c: karpathy/llama2.c (pinned commit below) built -O3 -march=native -fopenmp,
#          OMP_NUM_THREADS=2 and =1, greedy generation of 128 tokens, its own "achieved tok/s";
#   bandwidth: `lmkit bench --mem-bw` (streaming read of 1 GiB with the same 2 threads, by
#          glibc's vectorised memchr), measured right before and right after every model run
#          (this machine's memory bandwidth moves by 1.5x within minutes, so a bound taken at
#          another moment says little); the bound of a run is the mean of its two readings
#          divided by the bytes of weights one generated token reads
#          (`weights_read_per_token_mb`), and a row shows the median of its runs' fractions.
#
# Runs are interleaved (peer, lmkit, peer, lmkit, ...; REPEATS rounds) because this
# machine's 2 vCPUs are sometimes throttled for minutes; the table shows medians over the
# rounds of each process's mean over its REPS repetitions.
#
# Usage: bench/infer/run.sh
# Env:   REPEATS (rounds, default 3), REPS (repetitions inside each process, default 3),
#        THREADS (default 2), BUILD (build folder, default build), NPM_REF (where
#        node-llama-cpp is installed, default ../npm-ref/llamacpp beside the repository),
#        LLAMA2C (a karpathy/llama2.c checkout, default ../llama2.c; its row is skipped when
#        absent: nothing is downloaded),
#        BENCH_LOCK (a file: each timed process runs under `flock` on it), ASSETS.
# OPENBLAS_CORETYPE is UNSET for every process (the machine's environment sets Haswell).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
CORETYPE_WAS="${OPENBLAS_CORETYPE:-<unset>}"
unset OPENBLAS_CORETYPE
REPEATS="${REPEATS:-3}"
REPS="${REPS:-3}"
THREADS="${THREADS:-2}"
BUILD="${BUILD:-build}"
NPM_REF="${NPM_REF:-$ROOT/../npm-ref/llamacpp}"
LLAMA2C="${LLAMA2C:-$ROOT/../llama2.c}"
ASSETS="${ASSETS:-${LMKIT_ASSETS:-$ROOT/../shared/assets}}"
NLC_VERSION=3.22.1                                   # as tests/fixtures/infer/make_llamacpp_fixtures.mjs
LLAMA2C_COMMIT=350e04fe35433e6d2941dce5a1f53308f87058eb
PY=/usr/bin/python3
OUT="$(realpath -m "$BUILD")/bench-infer"
mkdir -p "$OUT/models"
LOCK=()
[ -n "${BENCH_LOCK:-}" ] && LOCK=(flock "$BENCH_LOCK")

for f in models/stories260K.bin models/tok512.bin models/tokenizer.bin; do
  [ -f "$ASSETS/$f" ] || { echo "missing $ASSETS/$f (set ASSETS)"; exit 1; }
done

# --- lmkit -------------------------------------------------------------------------------
bash scripts/setup.sh > /dev/null
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release > /dev/null
cmake --build "$BUILD" --target lmkit -j"$(nproc)" > /dev/null
LMKIT="$BUILD/lmkit"

# --- llama.cpp: node-llama-cpp's prebuilt libraries + headers of the same release ----------
if [ ! -f "$NPM_REF/node_modules/node-llama-cpp/package.json" ]; then
  mkdir -p "$NPM_REF"
  npm install --prefix "$NPM_REF" --no-audit --no-fund "node-llama-cpp@$NLC_VERSION" > /dev/null
fi
LIBDIR=$(ls -d "$NPM_REF"/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64 2>/dev/null || true)
[ -n "$LIBDIR" ] && [ -f "$LIBDIR/libllama.v0.5.0.so" ] || {
  echo "node-llama-cpp's linux-x64 CPU binaries are missing under $NPM_REF"; exit 1; }
SRC="$OUT/llamacpp-src"
if [ ! -f "$SRC/include/llama.h" ]; then
  rm -rf "$SRC"
  git clone -q "$NPM_REF/node_modules/node-llama-cpp/llama/gitRelease.bundle" "$SRC" 2> /dev/null
fi
PEER="$OUT/llamacpp_bench"
if [ ! -x "$PEER" ] || [ bench/infer/llamacpp_bench.cpp -nt "$PEER" ]; then
  g++ -std=c++17 -O2 -I"$SRC/include" -I"$SRC/ggml/include" bench/infer/llamacpp_bench.cpp \
    -o "$PEER" -L"$LIBDIR" -l:libllama.v0.5.0.so -l:libggml.v0.5.0.so -l:libggml-base.so \
    -Wl,-rpath,"$LIBDIR"
fi

# --- llama2.c run.c (optional row) -------------------------------------------------------------
RUNC=""
# Nothing is downloaded at run time (house rule: apt and npm only): the row needs a checkout
# of karpathy/llama2.c at $LLAMA2C, provided by the user.
if [ -f "$LLAMA2C/run.c" ]; then
  (cd "$LLAMA2C" && git checkout -q "$LLAMA2C_COMMIT" 2> /dev/null || true)
  RUNC="$OUT/runc"
  [ -x "$RUNC" ] || gcc -O3 -march=native -fopenmp "$LLAMA2C/run.c" -o "$RUNC" -lm
else
  echo "no llama2.c checkout at $LLAMA2C (set LLAMA2C): the run.c row is skipped" >&2
fi

# --- models --------------------------------------------------------------------------------
MODELS=()
for t in f32 q8_0 q4_0; do
  f="$OUT/models/stories260K-$t.gguf"
  [ -f "$f" ] || "$LMKIT" convert "$ASSETS/models/stories260K.bin" --tokenizer "$ASSETS/models/tok512.bin" \
    --type "$t" "$f" 2> /dev/null
  MODELS+=("stories260K:$t:$f")
done
for t in f32 q8_0 q4_0; do
  f="$OUT/models/llama110m-$t.gguf"
  [ -f "$f" ] || "$LMKIT" convert --random-config bench/infer/llama110m.config.json --seed 1 \
    --tokenizer "$ASSETS/models/tokenizer.bin" --type "$t" "$f" 2> /dev/null
  MODELS+=("llama110m:$t:$f")
done

# --- interleaved runs ----------------------------------------------------------------------------
RES="$OUT/results.jsonl"
: > "$RES"
echo "OPENBLAS_CORETYPE was $CORETYPE_WAS (unset for the runs); load average at start: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
record() {  # record ROUND ENGINE NAME TYPE JSON
  $PY -c 'import json,sys; d=json.loads(sys.argv[5]); d.update(round=int(sys.argv[1]), engine=sys.argv[2], name=sys.argv[3], wtype=sys.argv[4]); print(json.dumps(d))' "$@" >> "$RES"
}
mem_bw() { "${LOCK[@]}" "$LMKIT" bench --mem-bw --threads "$THREADS" -r 3 --json; }
# Adds bw_before / bw_after (GB/s) to a run's JSON.
with_bw() { $PY -c 'import json,sys; d=json.loads(sys.argv[1]); d.update(bw_before=json.loads(sys.argv[2])["mem_bw_gb_s"], bw_after=json.loads(sys.argv[3])["mem_bw_gb_s"]); print(json.dumps(d))' "$@"; }
for r in $(seq "$REPEATS"); do
  for m in "${MODELS[@]}"; do
    IFS=: read -r name type file <<< "$m"
    echo "round $r/$REPEATS: $name $type (load $(cut -d' ' -f1 /proc/loadavg))" >&2
    b0=$(mem_bw)
    out=$("${LOCK[@]}" "$PEER" "$file" --libdir "$LIBDIR" -p 512 -n 128 -r "$REPS" -t "$THREADS")
    b1=$(mem_bw)
    record "$r" llama.cpp "$name" "$type" "$(with_bw "$out" "$b0" "$b1")"
    out=$("${LOCK[@]}" "$LMKIT" bench --model "$file" -p 512 -n 128 -r "$REPS" --threads "$THREADS" --kv-type f16 --json)
    b0=$(mem_bw)
    record "$r" lmkit "$name" "$type" "$(with_bw "$out" "$b1" "$b0")"
    if [ -n "$RUNC" ] && [ "$name" = stories260K ] && [ "$type" = f32 ]; then
      # run.c with OpenMP on THREADS threads (the brief's setting) and on one (its spinning
      # OpenMP workers can lose to a single thread on a tiny model): the better is its best.
      for omp in "$THREADS" 1; do
        tps=$(cd "$OUT" && OMP_NUM_THREADS="$omp" "${LOCK[@]}" "$RUNC" "$ASSETS/models/stories260K.bin" \
                -z "$ASSETS/models/tok512.bin" -t 0 -n 129 -i "" 2>&1 > /dev/null | sed -n 's/achieved tok\/s: //p')
        record "$r" "run.c-$omp" "$name" "$type" "{\"tg_tok_s\": ${tps:-0}}"
      done
    fi
  done
done
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

# --- table ----------------------------------------------------------------------------------------
$PY - "$RES" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
med = lambda xs: statistics.median(xs) if xs else float("nan")
def runs(engine, name, wtype):
    return [r for r in rows if r["engine"] == engine and r["name"] == name and r["wtype"] == wtype]
def get(engine, name, wtype, key):
    return med([r[key] for r in runs(engine, name, wtype) if key in r])
def bw_of(r): return (r["bw_before"] + r["bw_after"]) / 2
per_tok_mb = {(r["name"], r["wtype"]): r["weights_read_per_token_mb"] for r in rows if r["engine"] == "lmkit"}
def frac(engine, name, wtype):
    # Per run: tokens/s over the bound of the bandwidth read right around that run.
    return med([r["tg_tok_s"] * per_tok_mb[(name, wtype)] / (bw_of(r) * 1e3)
                for r in runs(engine, name, wtype) if "bw_before" in r])
bws = [bw_of(r) for r in rows if "bw_before" in r]
print(f"memory bandwidth (streaming read, around each run): median {med(bws):.1f} GB/s, "
      f"range {min(bws):.1f}-{max(bws):.1f}\n")
print("| model | type | size MB | pp512 peer | pp512 lmkit | ratio | tg128 peer | tg128 lmkit | ratio "
      "| % of bw bound peer / lmkit | peak RSS MB peer / lmkit |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
seen, ratios = [], []
for r in rows:
    k = (r["name"], r["wtype"])
    if r["engine"] != "lmkit" or k in seen: continue
    seen.append(k)
    name, t = k
    size = get("lmkit", name, t, "weights_mb")
    ppp, ppl = get("llama.cpp", name, t, "pp_tok_s"), get("lmkit", name, t, "pp_tok_s")
    tgp, tgl = get("llama.cpp", name, t, "tg_tok_s"), get("lmkit", name, t, "tg_tok_s")
    rp, rl = get("llama.cpp", name, t, "peak_rss_mb"), get("lmkit", name, t, "peak_rss_mb")
    print(f"| {name} | {t} | {size:.2f} | {ppp:.0f} | {ppl:.0f} | {ppl / ppp:.2f}x | {tgp:.1f} | {tgl:.1f} "
          f"| {tgl / tgp:.2f}x | {100 * frac('llama.cpp', name, t):.0f}% / {100 * frac('lmkit', name, t):.0f}% | {rp:.1f} / {rl:.1f} |")
    paired = [l["tg_tok_s"] / q["tg_tok_s"] for l in rows for q in rows
              if l["engine"] == "lmkit" and q["engine"] == "llama.cpp" and l["round"] == q["round"]
              and (l["name"], l["wtype"]) == k and (q["name"], q["wtype"]) == k]
    ratios.append(f"{name} {t}: " + " ".join(f"{x:.2f}" for x in paired) + "   (lmkit's % of the bound: "
                  + " ".join(f"{100 * r['tg_tok_s'] * per_tok_mb[k] / (bw_of(r) * 1e3):.0f}" for r in runs("lmkit", name, t)) + ")")
    bound = med(bws) * 1e3 / per_tok_mb[k]  # run.c's runs have no readings of their own
    for eng in sorted({r["engine"] for r in rows if r["engine"].startswith("run.c-")}):
        runc = get(eng, name, t, "tg_tok_s")
        if runc == runc:
            omp = eng.split("-")[1]
            print(f"| {name} | {t} (llama2.c run.c, OMP {omp} thread{'s' if omp != '1' else ''}, as peer) | {size:.2f} "
                  f"| – | {ppl:.0f} | – | {runc:.1f} | {tgl:.1f} | {tgl / runc:.2f}x "
                  f"| {100 * runc / bound:.0f}% / {100 * tgl / bound:.0f}% | – / {rl:.1f} |")
print("\ntg128 lmkit / llama.cpp per round (the two run back to back):")
for line in ratios: print("  " + line)
PY
