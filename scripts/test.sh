#!/usr/bin/env bash
# Runs the whole test suite (after the idempotent setup + build). CI calls this.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cd "${LMKIT_BUILD_DIR:-build}"
ctest --output-on-failure -j"$(nproc)" --timeout 900
