#!/usr/bin/env bash
# Idempotent setup for a fresh Debian 12 machine: installs the Debian packages lmkit needs
# (only when one is missing) and builds it in build/ (incrementally).
# Usage: scripts/setup.sh            (Release build)
#        LMKIT_BUILD_DIR=... LMKIT_CMAKE_ARGS="..." scripts/setup.sh
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  build-essential cmake pkg-config git
  libopenblas-dev libopenblas0-pthread   # fp32 GEMM (pthread variant: threads we control)
  nlohmann-json3-dev libcli11-dev libfmt-dev libpcre2-dev libutf8proc-dev libcpp-httplib-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  gnuplot-nox                            # the one plotting path (io/plot.h)
  bible-kjv bible-kjv-text               # the public-domain demo corpus (KJV Bible)
  clang libclang-rt-14-dev llvm          # scripts/fuzz.sh: clang 14, libFuzzer/ASan/UBSan, llvm-symbolizer
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

BUILD_DIR="${LMKIT_BUILD_DIR:-build}"
EXTRA=()
[ "${CI:-}" = "true" ] && EXTRA+=(-DLMKIT_WERROR=ON)
# shellcheck disable=SC2206
EXTRA+=(${LMKIT_CMAKE_ARGS:-})
if [ ! -f "$BUILD_DIR/CMakeCache.txt" ] || [ ${#EXTRA[@]} -gt 0 ]; then
  cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release "${EXTRA[@]}" > "$BUILD_DIR.configure.log" 2>&1 \
    || { cat "$BUILD_DIR.configure.log"; exit 1; }
fi
cmake --build "$BUILD_DIR" -j"$(nproc)"
