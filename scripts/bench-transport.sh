#!/usr/bin/env bash
# Transport benchmark: Thaw PUSH/PULL between two processes against libzmq's own C pair
# (scripts/bench/zmq_thr.c, compiled by the command with `cc -O2 ... -lzmq`).
# Writes bench-results/transport.json and prints the Thaw/libzmq ratio per size and transport.
# Extra arguments go to the command, e.g. `scripts/bench-transport.sh --runs 3 --scale 0.5`.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product thaw
exec .build/release/thaw bench transport --output bench-results/transport.json "$@"
