#!/usr/bin/env bash
# Runs every libFuzzer target (src/lmkit/*/*_fuzz.cpp) for FUZZ_SECONDS each. CI calls this
# after scripts/test.sh.
#
# Builds the fuzz targets alone with clang in build-fuzz/ (Release, -DLMKIT_FUZZ=ON: the
# libraries get -fsanitize=fuzzer-no-link,address,undefined, the targets link
# -fsanitize=fuzzer), seeds a scratch corpus per target under build-fuzz/fuzz/<target>/
# (small files, or their first SEED_MAX_BYTES, from tests/fixtures and ../shared/assets when
# present; never written into the repository), adds <name>_fuzz.dict from beside the fuzzer's
# source when one exists, and runs FUZZ_JOBS targets at a time. Prints one line per target
# (executions, coverage, corpus); exits non-zero naming the target and its crash / leak /
# timeout file when any target finds one. A failing input replays with
#   build-fuzz/<target> build-fuzz/fuzz/<target>/crash-...
#
# Env: FUZZ_SECONDS (60), FUZZ_JOBS (2), FUZZ_TARGETS (space-separated subset, default all),
#      LMKIT_FUZZ_BUILD_DIR (build-fuzz), LMKIT_ASSETS (../shared/assets), SEED_MAX_BYTES (65536).
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH="${FUZZ_SECONDS:-60}"
JOBS="${FUZZ_JOBS:-2}"
BUILD="${LMKIT_FUZZ_BUILD_DIR:-build-fuzz}"
ASSETS="${LMKIT_ASSETS:-$(pwd)/../shared/assets}"
SEED_MAX="${SEED_MAX_BYTES:-65536}"
for tool in clang clang++; do
  command -v "$tool" > /dev/null || { echo "fuzz: $tool not found (scripts/setup.sh installs clang)" >&2; exit 1; }
done

# ---------------------------------------------------------------------------------- build
t_build=$(date +%s)
EXTRA=()
[ "${CI:-}" = "true" ] && EXTRA+=(-DLMKIT_WERROR=ON)
# -Wno-unknown-warning-option: the project's flags name GCC-only warnings (-Wno-restrict).
# Configured every time (seconds): a new *_fuzz.cpp becomes a target at once.
mkdir -p "$BUILD"
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_COMPILER=clang \
  -DCMAKE_CXX_COMPILER=clang++ -DLMKIT_FUZZ=ON "${EXTRA[@]}" \
  -DCMAKE_CXX_FLAGS=-Wno-unknown-warning-option > "$BUILD/configure.log" 2>&1 \
  || { cat "$BUILD/configure.log"; exit 1; }
# src/lmkit/<component>/<name>_fuzz.cpp -> target lmkit_<component>_<name>_fuzz (CMakeLists.txt).
declare -A SOURCE
ALL=()
while read -r f; do
  t="lmkit_$(cut -d/ -f3 <<< "$f")_$(basename "$f" .cpp)"
  SOURCE[$t]="$f"
  ALL+=("$t")
done < <(find src/lmkit -name '*_fuzz.cpp' | sort)
TARGETS=(${FUZZ_TARGETS:-${ALL[@]}})
[ ${#TARGETS[@]} -gt 0 ] || { echo "fuzz: no fuzz targets found" >&2; exit 1; }
cmake --build "$BUILD" --target "${TARGETS[@]}" -j"$(nproc)" > "$BUILD/build.log" 2>&1 \
  || { tail -n 80 "$BUILD/build.log"; echo "fuzz: build failed (log: $BUILD/build.log)" >&2; exit 1; }
echo "fuzz: built ${#TARGETS[@]} targets in $(($(date +%s) - t_build)) s ($BUILD)"

# ------------------------------------------------------------------------------ seeds
# Seed sources per target: a small file is copied whole, a larger one as its first
# SEED_MAX bytes (header, metadata and the start of the tables: where the parsing is).
seed_sources() {
  local a="$ASSETS" f="tests/fixtures"
  case "$1" in
    lmkit_io_gguf_fuzz) echo "$a/models/llama-2-tiny-random.gguf $a/tokenizers/llamacpp-vocab/*.gguf" ;;
    lmkit_io_hf_tokenizer_json_fuzz)
      echo "$f/tokenizer/bpe_trained/tokenizer.json $a/tokenizers/*-hf/tokenizer_config.json" ;;
    lmkit_io_llama2c_fuzz) echo "$a/models/stories260K.bin $a/models/stories260K-q8_v2.bin" ;;
    lmkit_io_llama2c_tokenizer_file_fuzz) echo "$a/models/tok512.bin $a/models/tokenizer.bin" ;;
    lmkit_io_safetensors_fuzz) echo "$f/infer/hf/*/*.safetensors $f/model/*.safetensors" ;;
    lmkit_io_sentencepiece_model_fuzz) echo "$f/tokenizer/*.model $a/tokenizers/llama2-sp/tokenizer.model" ;;
    lmkit_io_tiktoken_file_fuzz) echo "$a/tokenizers/tiktoken/r50k_base.tiktoken $a/tokenizers/tiktoken/cl100k_base.tiktoken" ;;
    lmkit_io_tokenizer_loader_fuzz)  # one small file (or the head of one) per format
      echo "$f/tokenizer/bpe_trained/tokenizer.json $f/tokenizer/spm_char.model $a/models/tok512.bin" \
        "$a/tokenizers/tiktoken/r50k_base.tiktoken $a/tokenizers/bert-base-uncased/vocab.txt" \
        "$a/tokenizers/qwen2.5-derived/merges.txt $a/tokenizers/gpt2/encoder.json $a/models/llama-2-tiny-random.gguf" ;;
    lmkit_io_token_data_fuzz) ;;  # no llm.c token file ships; the magic is found by comparison tracing
    lmkit_tokenizer_bpe_encode_fuzz | lmkit_tokenizer_sentencepiece_fuzz)
      echo "$f/tokenizer/bpe_stress.txt $f/tokenizer/spm_stress.txt $a/tokenizers/llamacpp-vocab/ggml-vocab-llama-bpe.gguf.inp" ;;
  esac
}

make_corpus() {
  local t="$1" dir="$BUILD/fuzz/$1/corpus" n=0 src
  mkdir -p "$dir"
  # shellcheck disable=SC2207
  local files=($(seed_sources "$t"))
  for src in "${files[@]}"; do
    [ -f "$src" ] || continue
    local name
    name="seed-$(basename "$(dirname "$src")")-$(basename "$src")"
    if [ "$t" = lmkit_tokenizer_sentencepiece_fuzz ]; then
      # The first byte picks the encoder (0-5, see the fuzzer); the text follows.
      for sel in 0 1 2 3 4 5; do
        { printf "\\x0$sel"; head -c "$SEED_MAX" "$src"; } > "$dir/$name.$sel"
        n=$((n + 1))
      done
    else
      head -c "$SEED_MAX" "$src" > "$dir/$name"
      n=$((n + 1))
    fi
  done
  echo "$n"
}

# ------------------------------------------------------------------------------- runs
# One target: prints "<status> <summary>" into $BUILD/fuzz/<t>/result.
run_one() {
  local t="$1" dir="$BUILD/fuzz/$1"
  local dict="" src="${SOURCE[$1]}"
  [ -f "${src%.cpp}.dict" ] && dict="-dict=${src%.cpp}.dict"
  rm -f "$dir"/crash-* "$dir"/leak-* "$dir"/timeout-* "$dir"/oom-* "$dir/result"
  local rc=0
  # -timeout: one input taking 25 s is a hang; -rss_limit_mb: 2 targets at a time fit in
  # the CI machine's memory with room for the test suite's leftovers.
  "$BUILD/$t" -max_total_time="$SECONDS_EACH" -timeout=25 -rss_limit_mb=2560 \
    -print_final_stats=1 -artifact_prefix="$dir/" $dict "$dir/corpus" > "$dir/log.txt" 2>&1 || rc=$?
  local last execs cov ft corp
  last=$(grep -E '^#[0-9]+' "$dir/log.txt" | tail -n 1 || true)
  execs=$(grep -oE 'stat::number_of_executed_units: [0-9]+' "$dir/log.txt" | grep -oE '[0-9]+$' || echo "?")
  cov=$(grep -oE 'cov: [0-9]+' <<< "$last" | grep -oE '[0-9]+' || echo "?")
  ft=$(grep -oE 'ft: [0-9]+' <<< "$last" | grep -oE '[0-9]+' || echo "?")
  corp=$(grep -oE 'corp: [0-9]+' <<< "$last" | grep -oE '[0-9]+' || echo "?")
  local summary="$execs execs in ${SECONDS_EACH} s, coverage $cov edges, $ft features, corpus $corp"
  if [ "$rc" -eq 0 ]; then
    echo "ok $summary" > "$dir/result"
  else
    local art
    art=$(grep -oE 'Test unit written to [^ ]+' "$dir/log.txt" | tail -n 1 | sed 's/Test unit written to //' || true)
    echo "FAIL exit $rc, input ${art:-(none written)}; $summary" > "$dir/result"
  fi
}

t_run=$(date +%s)
for t in "${TARGETS[@]}"; do
  [ -n "${SOURCE[$t]:-}" ] || { echo "fuzz: no fuzz target $t" >&2; exit 1; }
  [ -x "$BUILD/$t" ] || { echo "fuzz: $BUILD/$t was not built" >&2; exit 1; }
  seeds=$(make_corpus "$t")
  echo "fuzz: $t: $seeds seed files, $SECONDS_EACH s"
done
running=0
for t in "${TARGETS[@]}"; do
  if [ "$running" -ge "$JOBS" ]; then
    wait -n || true
    running=$((running - 1))
  fi
  run_one "$t" &
  running=$((running + 1))
done
wait

failed=()
for t in "${TARGETS[@]}"; do
  res=$(cat "$BUILD/fuzz/$t/result" 2>/dev/null || echo "FAIL no result (the run died)")
  printf "fuzz: %-40s %s\n" "$t" "$res"
  [[ "$res" == ok* ]] || failed+=("$t")
done
echo "fuzz: ran ${#TARGETS[@]} targets in $(($(date +%s) - t_run)) s"
if [ ${#failed[@]} -gt 0 ]; then
  for t in "${failed[@]}"; do
    echo "===== $t: the end of $BUILD/fuzz/$t/log.txt"
    grep -vE '^#[0-9]+' "$BUILD/fuzz/$t/log.txt" | tail -n 60
  done
  echo "fuzz: FAILED: ${failed[*]} (replay: $BUILD/<target> <input file>)" >&2
  echo "fuzz: $((${#TARGETS[@]} - ${#failed[@]})) passed, ${#failed[@]} failed"
  exit 1
fi
echo "fuzz: ${#TARGETS[@]} passed, 0 failed"
