#!/usr/bin/env bash
# Reruns the seeded mutation fuzzers over the committed corpus (scripts/fuzz/corpus) with the numbers
# stated in docs/RELIABILITY.md. Exits non-zero on a crash (trap), a broken round-trip property, or a
# peak RSS above --max-memory-mib.
#
#   scripts/fuzz.sh                 # the recorded run: 1,000,000 wire inputs, 200,000 for each other target
#   RUNS_SCALE=0.01 scripts/fuzz.sh # a quick smoke run (1% of the inputs)
#   SEED=7 scripts/fuzz.sh          # another seed
#   scripts/fuzz.sh --write-corpus scripts/fuzz/corpus   # also refresh the corpus with new discoveries
#   THAW_BIN=.build/debug/thaw scripts/fuzz.sh          # use an existing binary (no build)
set -euo pipefail
cd "$(dirname "$0")/.."
SEED="${SEED:-1}"
SCALE="${RUNS_SCALE:-1}"
if [[ -n "${THAW_BIN:-}" ]]; then
    THAW="$THAW_BIN"
else
    swift build --product thaw >/dev/null
    THAW="$(swift build --show-bin-path)/thaw"
fi
runs() { python3 -c "print(max(1, int($1 * $SCALE)))"; }
for spec in wire:1000000 published:200000 model:200000 device-cache:200000; do
    target="${spec%%:*}"
    count="$(runs "${spec##*:}")"
    "$THAW" fuzz "$target" --runs "$count" --seed "$SEED" --corpus scripts/fuzz/corpus "$@"
done
