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
# Usage: scripts/load-test.sh [--phones N] [--workers W] [--seconds S]   (THAW_BIN=... to use another binary)
#        scripts/load-test.sh [SECONDS=300] [WORKERS=4]                  (the older positional form)
# --phones sets the device node's `count` (Topologies/load.yaml has 1,000); the topology actually run
# is written to thaw-out/load/topology.yaml.
#
# Also reported: each process's share of the machine's CPU over the run (user + system time from
# /proc/<pid>/stat, divided by wall time × cores), to show which process is the limit.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=300
workers=4
phones=""
positional=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --phones) phones="$2"; shift 2 ;;
    --workers) workers="$2"; shift 2 ;;
    --seconds) seconds="$2"; shift 2 ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) positional+=("$1"); shift ;;
  esac
done
if [[ ${#positional[@]} -ge 1 ]]; then seconds=${positional[0]}; fi
if [[ ${#positional[@]} -ge 2 ]]; then workers=${positional[1]}; fi
if [[ -z "${THAW_BIN:-}" ]]; then
  swift build -c release --product thaw
  THAW_BIN=.build/release/thaw
fi
out=thaw-out/load
database=thaw-out/load-registry.sqlite   # from Topologies/load.yaml
rm -rf "$out"
mkdir -p "$out" bench-results
topology=Topologies/load.yaml
if [[ -n "$phones" ]]; then
  # The device node (role: device) gets `count: $phones`; everything else as in load.yaml.
  python3 - "$phones" Topologies/load.yaml "$out/topology.yaml" <<'PY'
import re, sys
phones, source, target = sys.argv[1], sys.argv[2], sys.argv[3]
text = open(source).read()
text, n = re.subn(r"(role: device\n(?:[ \t]+#.*\n)*[ \t]+count: )\d+", r"\g<1>" + phones, text)
if n != 1:
    sys.exit("could not find the device node's count in " + source)
open(target, "w").write(text)
PY
  topology="$out/topology.yaml"
fi
phones=${phones:-1000}

started=$(date +%s)
"$THAW_BIN" up "$topology" --workers "$workers" --out "$out" --time-limit "$seconds" >"$out/up.txt" 2>&1 &
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
        fields_stat = stat.rsplit(")", 1)[1].split()
        cpu = (int(fields_stat[11]) + int(fields_stat[12])) / os.sysconf("SC_CLK_TCK")
        entry = peaks.setdefault(name, {"peak_rss_bytes": 0, "last_rss_bytes": 0, "cpu_seconds": 0.0})
        entry["peak_rss_bytes"] = max(entry["peak_rss_bytes"], hwm, rss)
        entry["last_rss_bytes"] = rss
        entry["cpu_seconds"] = max(entry["cpu_seconds"], cpu)
    samples += 1
    with open(path, "w") as f:
        json.dump({"samples": samples, "processes": peaks, "cores": os.cpu_count()}, f)
    time.sleep(1)
PY
sampler=$!
status=0
wait "$up" || status=$?
wait "$sampler" || true
ended=$(date +%s)

"$THAW_BIN" ctl audit --database "$database" >"$out/audit.json"

python3 scripts/load-test-report.py "$out" "$database" "$workers" "$seconds" "$status" "$((ended - started))" "$phones"
