#!/usr/bin/env python3
"""Turns one scripts/load-test.sh run into bench-results/load.json and a short summary.

Usage: load-test-report.py OUT DATABASE WORKERS SECONDS LAUNCHER_STATUS WALL_SECONDS [PHONES]

Lost batches are counted from the phones' own persisted state (THAWDEV1 snapshots, format 1 or 2, see
Sources/ThawNodes/SimulatedDevice/DeviceCacheStore.swift), not from the end-of-run reports, so a
device process stopped the hard way still counts. Each device process keeps every phone's snapshot as
a row of `phone_state` in `state/<node>/fleet.sqlite` (DeviceFleetStore); older runs wrote one
`state/<node>/<device>.cache` file per phone, which are still read. A phone has sent batches 1 ... next_sequence-1. Each
of them must be stored in the registry or still be in the phone's outbox (persisted as in-flight
entries). Any other batch is lost.
"""
import glob
import json
import re
import sqlite3
import statistics
import struct
import sys
from datetime import datetime


def parse_snapshot(data):
    """(next_sequence, {annotated sample ids: the label index}, [(cached sample id, upload kind, seq)]) of one
    device snapshot's bytes.

    Upload kinds: 0 pending, 1 in flight, 2 durable (format 1 knows only 0 and 2)."""
    pos = 8
    def take(fmt):
        nonlocal pos
        values = struct.unpack_from("<" + fmt, data, pos)
        pos += struct.calcsize("<" + fmt)
        return values if len(values) > 1 else values[0]
    def skip_string():
        nonlocal pos
        length = take("H")  # read first: `pos += take(...)` would add to the position before the read
        pos += length
    def skip_activation():
        nonlocal pos
        rank = take("B")
        pos += 4 * rank
        count = take("I")
        pos += 4 * count
    version = take("H")
    take("I")  # total length
    next_sequence = take("Q")
    if take("B") == 1:
        take("Q"); skip_string(); take("I"); skip_string(); take("Q")
    labels = {take("Qq")[0] for _ in range(take("I"))}
    entries = []
    for _ in range(take("I")):
        sample = take("QqQI")[0]
        skip_string(); take("Q")
        if version == 1:
            seq = take("Q")
            kind = 2 if seq else 0
        else:
            kind, seq = take("BQ")
        skip_activation()
        for _ in range(take("H")):
            take("I"); skip_activation()
        entries.append((sample, kind, seq))
    return next_sequence, labels, entries


def read_snapshot(path, data=None):
    """(next_sequence, {in-flight seqs}, {durable seqs}) of one device snapshot (file or row bytes)."""
    if data is None:
        data = open(path, "rb").read()
    if data[:8] != b"THAWDEV1":
        raise ValueError(f"{path}: not a device cache file")
    next_sequence, _, entries = parse_snapshot(data)
    in_flight = {seq for _, kind, seq in entries if kind == 1}
    durable = {seq for _, kind, seq in entries if kind == 2}
    return next_sequence, in_flight, durable


def annotated_samples(data):
    """({annotated sample ids: the label index}, {cached annotated sample id: upload kind}) of a snapshot.

    Upload kinds: 0 pending, 1 in flight, 2 durable (format 1: 0 or 2)."""
    _, labels, entries = parse_snapshot(data)
    return labels, {sample: kind for sample, kind, _ in entries}


def main():
    out, database, workers, limit, status, wall = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
    configured_phones = int(sys.argv[7]) if len(sys.argv) > 7 else None
    audit = json.load(open(f"{out}/audit.json"))
    rss = json.load(open(f"{out}/rss.json"))
    up = open(f"{out}/up.txt").read()
    ending = re.search(r"Thaw run report \(([^)]*)\)", up)
    ending = ending.group(1) if ending else "no report"
    unclean = re.search(r"nodes that did not exit cleanly: (.*)", up)

    stored = {device: set(seqs) for device, seqs in audit["sequencesByDevice"].items()}
    sent = in_outbox = lost = 0
    lost_examples = []
    snapshots = []
    for path in sorted(glob.glob(f"{out}/state/*/fleet.sqlite")):
        fleet = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        for device, blob in fleet.execute("SELECT device, snapshot FROM phone_state ORDER BY device"):
            snapshots.append((device, read_snapshot(f"{path}#{device}", bytes(blob))))
        fleet.close()
    for path in sorted(glob.glob(f"{out}/state/*/*.cache")):
        device = path.rsplit("/", 1)[1][: -len(".cache")]
        if not any(d == device for d, _ in snapshots):
            snapshots.append((device, read_snapshot(path)))
    files = snapshots
    # Sample level: every annotated sample a phone knows (its label index) is stored in the registry for
    # that device under some stamp, or still in the phone's cache waiting to upload. Batches abandoned at a
    # freeze move leave the outbox unstored (their samples go back to pending, under new sequence numbers),
    # so the sequence count `lost` below counts them; this count does not.
    stored_samples = {}
    registry = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    for device, sample in registry.execute("SELECT device, sample_id FROM features"):
        stored_samples.setdefault(device, set()).add(sample)
    registry.close()
    samples = {"annotated": 0, "stored": 0, "pending_in_cache": 0, "in_flight_in_cache": 0, "neither": 0}
    neither_examples = []
    for path in sorted(glob.glob(f"{out}/state/*/fleet.sqlite")):
        fleet = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        for device, blob in fleet.execute("SELECT device, snapshot FROM phone_state ORDER BY device"):
            labels, cache = annotated_samples(bytes(blob))
            for sample in labels:
                samples["annotated"] += 1
                if sample in stored_samples.get(device, set()):
                    samples["stored"] += 1
                elif cache.get(sample) == 0:
                    samples["pending_in_cache"] += 1
                elif cache.get(sample) == 1:
                    samples["in_flight_in_cache"] += 1
                else:
                    samples["neither"] += 1
                    neither_examples.append(f"{device}:{sample}")
        fleet.close()
    samples["neither_examples"] = neither_examples[:10]
    for device, (next_sequence, in_flight, _) in snapshots:
        mine = stored.get(device, set())
        sent += next_sequence - 1
        waiting = in_flight - mine
        in_outbox += len(waiting)
        missing = [seq for seq in range(1, next_sequence) if seq not in mine and seq not in in_flight]
        lost += len(missing)
        lost_examples += [f"{device}#{seq}" for seq in missing[:3]]

    db = sqlite3.connect(database)
    stamps = [
        datetime.strptime(row[0], "%Y-%m-%d %H:%M:%S.%f").timestamp()
        for row in db.execute("SELECT stored_at FROM device_batches ORDER BY stored_at")
    ]
    windows, span, mean_rate = [], 0.0, 0.0
    if len(stamps) >= 2:
        span = stamps[-1] - stamps[0]
        mean_rate = (len(stamps) - 1) / span if span > 0 else 0.0
        counts = {}
        for s in stamps:
            counts[int((s - stamps[0]) // 10)] = counts.get(int((s - stamps[0]) // 10), 0) + 1
        windows = [counts.get(i, 0) / 10 for i in range(int(span // 10))]  # complete 10 s windows only

    durable = audit["batches"]
    untrained = len(audit["untrained"])
    result = {
        "command": f"scripts/load-test.sh --phones {configured_phones or len(files)} --workers {workers} --seconds {limit}",
        "topology": "Topologies/load.yaml",
        "workers": workers,
        "phones": len(files),
        "ending": ending,
        "nodes_not_exiting_cleanly": unclean.group(1) if unclean else "",
        "launcher_exit_status": status,
        "wall_seconds": wall,
        "batches": {
            "sent": sent,
            "durable": durable,
            "trained": durable - untrained - audit["superseded"],
            "durable_not_yet_trained": untrained,
            "superseded": audit["superseded"],
            "in_outbox_not_durable": in_outbox,
            "duplicate_samples": len(audit["duplicateSamples"]),
            "lost": lost,
            "lost_examples": lost_examples[:10],
        },
        "samples": samples,
        "samples_note": "neither: in the phone's label index but neither stored nor cached; a sample whose backbone "
        "pass (or recomputation after a change) had not come back when the phone stopped is counted here and is "
        "recomputed from its raw input after a restart",
        "batches_note": "lost counts sequence numbers neither stored nor outstanding; batches abandoned at a freeze "
        "move (their samples re-sent under new numbers) are among them",
        "samples_stored": audit["featureRows"],
        "heads_committed": audit["heads"],
        "users_with_heads": audit["usersWithHeads"],
        "batches_per_second": {
            "active_span_seconds": round(span, 1),
            "mean": round(mean_rate, 2),
            "median_10s_window": round(statistics.median(windows), 2) if windows else None,
            "min_10s_window": round(min(windows), 2) if windows else None,
            "max_10s_window": round(max(windows), 2) if windows else None,
        },
        "peak_rss_mib": {name: round(v["peak_rss_bytes"] / 2**20, 1) for name, v in sorted(rss["processes"].items())},
        "rss_samples": rss["samples"],
        # CPU seconds (user + system) of each process over the run, and its share of the whole machine.
        "cpu_seconds": {name: round(v.get("cpu_seconds", 0.0), 1) for name, v in sorted(rss["processes"].items())},
        "cpu_share_of_machine": {
            name: round(v.get("cpu_seconds", 0.0) / (wall * (rss.get("cores") or 1)), 3)
            for name, v in sorted(rss["processes"].items())
        },
    }
    json.dump(result, open("bench-results/load.json", "w"), indent=2, sort_keys=True)
    b, r = result["batches"], result["batches_per_second"]
    print(f"load test: {workers} workers, {len(files)} phones, ended: {ending} after {wall} s (launcher exit {status})")
    if result["nodes_not_exiting_cleanly"]:
        print(f"not stopped cleanly: {result['nodes_not_exiting_cleanly']}")
    print(
        f"batches/s stored: mean {r['mean']} over {r['active_span_seconds']} s; 10 s windows median "
        f"{r['median_10s_window']}, min {r['min_10s_window']}, max {r['max_10s_window']}")
    print(
        f"batches: sent {b['sent']}, durable {b['durable']} (trained {b['trained']}, not yet trained "
        f"{b['durable_not_yet_trained']}), still in outboxes {b['in_outbox_not_durable']}, "
        f"samples stored twice {b['duplicate_samples']}, lost {b['lost']}")
    sm = result["samples"]
    print(
        f"annotated samples {sm['annotated']}: stored {sm['stored']}, pending {sm['pending_in_cache']}, "
        f"in flight {sm['in_flight_in_cache']}, neither {sm['neither']}")
    print("peak RSS (MiB): " + ", ".join(f"{k} {v}" for k, v in result["peak_rss_mib"].items()))
    print("CPU share of the machine: " + ", ".join(f"{k} {100 * v:.1f}%" for k, v in result["cpu_share_of_machine"].items()))
    print("written to bench-results/load.json")


if __name__ == "__main__":
    main()
