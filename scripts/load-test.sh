#!/usr/bin/env bash
# Load test (issue 6, item 4): `thaw up Topologies/load.yaml --workers N` — one device process
# simulating 1,000 phones, N worker processes, registry, coordinator, monitor — for at most SECONDS.
#
# Prints and writes to bench-results/load.json:
#   - batches/s sustained: batches stored per second over the run, from the registry's own
#     `stored_at` column (mean over the active span, and the median and minimum of 10 s windows);
#   - peak RSS of every process (VmHWM from /proc/<pid>/status, sampled every second);
#   - lost batches: sent (the phones' own reports) vs durable (stored in the registry) vs trained
#     (in the user's latest head, by `thaw ctl audit`); lost = sent − trained, and must be 0 when
#     the goal was reached.
#
# Usage: scripts/load-test.sh [SECONDS=300] [WORKERS=4]   (THAW_BIN=... to use another binary)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-300}
workers=${2:-4}
if [[ -z "${THAW_BIN:-}" ]]; then
  swift build -c release --product thaw
  THAW_BIN=.build/release/thaw
fi
out=thaw-out/load
database=thaw-out/load-registry.sqlite   # from Topologies/load.yaml
rm -rf "$out"
mkdir -p "$out" bench-results

started=$(date +%s)
"$THAW_BIN" up Topologies/load.yaml --workers "$workers" --out "$out" --time-limit "$seconds" >"$out/up.txt" 2>&1 &
up=$!

# Peak RSS per node: every second, VmRSS/VmHWM of each `thaw <role> ... --node NAME` process.
python3 - "$up" "$out/rss.json" <<'PY' &
import json, os, sys, time
launcher, path = int(sys.argv[1]), sys.argv[2]
peaks, samples = {}, 0
def status(pid):
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            fields[key] = value.split()
    return fields
while os.path.exists(f"/proc/{launcher}"):
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            # Only this launcher and its children (other thaw processes may run on the machine).
            stat = open(f"/proc/{pid}/stat").read()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if int(pid) != launcher and ppid != launcher:
                continue
            argv = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
            args = [a.decode() for a in argv if a]
            if not args or not args[0].endswith("thaw"):
                continue
            name = args[args.index("--node") + 1] if "--node" in args else "launcher"
            fields = status(pid)
            rss, hwm = int(fields["VmRSS"][0]) * 1024, int(fields["VmHWM"][0]) * 1024
        except (OSError, ValueError, KeyError, IndexError):
            continue
        entry = peaks.setdefault(name, {"peak_rss_bytes": 0, "last_rss_bytes": 0})
        entry["peak_rss_bytes"] = max(entry["peak_rss_bytes"], hwm, rss)
        entry["last_rss_bytes"] = rss
    samples += 1
    with open(path, "w") as f:
        json.dump({"samples": samples, "processes": peaks}, f)
    time.sleep(1)
PY
sampler=$!
status=0
wait "$up" || status=$?
wait "$sampler" || true
ended=$(date +%s)

"$THAW_BIN" ctl audit --database "$database" >"$out/audit.json"

python3 scripts/load-test-report.py "$out" "$database" "$workers" "$seconds" "$status" "$((ended - started))"
