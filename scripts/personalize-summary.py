#!/usr/bin/env python3
"""Summarises per-writer results of `thaw personalize --all-users --json` as the tables in docs/LEARNING.md.

Input: the JSON that `thaw personalize --json` prints (its `perUser` list), or JSON lines with one
`PersonalizationStudy.WriterResult` per line (what a long run streams), several files merged by writer.

Besides the table it prints what bounds the error cut: how many held-out digits the general model gets
wrong (all writers, and writers with >= 60 samples), and the cut of an oracle that picks, per writer and
with the held-out answers in hand, the best of the ungated candidates. No gate that chooses among these
candidates on the phone's own validation digits can do better than that oracle.

    python3 scripts/personalize-summary.py bench-results/personalize-study-full-issue14-9945.jsonl
"""
import json
import sys

UNGATED = ["head", "local-ft", "knn-per", "l2sp", "l2sp+replay", "interp"]


def load(paths):
    by_writer = {}
    for path in paths:
        text = open(path).read()
        try:
            document = json.loads(text)
            rows = document["perUser"] if isinstance(document, dict) else document
        except json.JSONDecodeError:
            rows = [json.loads(line) for line in text.splitlines() if line.strip()]
        for row in rows:
            by_writer[row["writer"]] = row
    return [by_writer[w] for w in sorted(by_writer)]


def errors(row, variant):
    """Held-out digits `variant` gets wrong for this writer."""
    return round((1 - row["accuracy"][variant]) * row["heldOut"])


def summary(rows, variant):
    base = sum(1 - r["accuracy"]["general"] for r in rows) / len(rows)
    mean_accuracy = sum(r["accuracy"][variant] for r in rows) / len(rows)
    cut = (base - (1 - mean_accuracy)) / base if base > 0 else 0.0
    cut = 0.0 if abs(cut) < 1e-12 else cut
    better = sum(1 for r in rows if r["accuracy"][variant] > r["accuracy"]["general"] + 1e-12)
    worse = sum(1 for r in rows if r["accuracy"][variant] < r["accuracy"]["general"] - 1e-12)
    swapped = [r for r in rows if r.get("swapped", {}).get(variant)]
    false_swaps = sum(1 for r in swapped if r["accuracy"][variant] < r["accuracy"]["general"] - 1e-12)
    return mean_accuracy, 1 - mean_accuracy, cut, better, worse, len(swapped), false_swaps


def main():
    rows = load(sys.argv[1:])
    if not rows:
        sys.exit("usage: personalize-summary.py RESULTS.json[l] ...")
    for r in rows:
        r["accuracy"]["oracle"] = max([r["accuracy"]["general"]] + [r["accuracy"][v] for v in UNGATED])
    small = [r for r in rows if r["samples"] < 60]
    large = [r for r in rows if r["samples"] >= 60]
    variants = [v for v in rows[0]["accuracy"] if v != "oracle"]
    order = ["general"] + UNGATED
    variants = order + sorted(v for v in variants if v not in order) + ["oracle"]
    print(f"{len(rows)} writers, {len(small)} with < 60 samples, {len(large)} with >= 60")
    print("| variant | all: mean acc | mean err | err cut | better / worse | < 60 samples: err cut | better / worse "
          "| ≥ 60 samples: err cut | better / worse | swaps (worse) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for v in variants:
        a, s, l = summary(rows, v), summary(small, v) if small else None, summary(large, v) if large else None
        gated = v.startswith("gated:") or v.startswith("counted:")
        cells = [f"{a[0] * 100:.2f} %", f"{a[1] * 100:.2f} %", "–" if v == "general" else f"{a[2] * 100:.1f} %",
                 "–" if v == "general" else f"{a[3]} / {a[4]}"]
        for g in (s, l):
            cells += ["–", "–"] if g is None or v == "general" else [f"{g[2] * 100:.1f} %", f"{g[3]} / {g[4]}"]
        cells.append(f"{a[5]} ({a[6]})" if gated else "–")
        print(f"| {v} | " + " | ".join(cells) + " |")
    print()
    for name, group in (("all", rows), ("< 60 samples", small), (">= 60 samples", large)):
        if not group:
            continue
        held_out = sum(r["heldOut"] for r in group)
        wrong = sum(errors(r, "general") for r in group)
        writers_wrong = sum(1 for r in group if errors(r, "general") > 0)
        print(f"{name}: {len(group)} writers, {held_out} held-out digits, the general model gets {wrong} wrong "
              f"({writers_wrong} writers with at least one error)")
        for v in UNGATED + ["oracle"]:
            fixed = sum(max(0, errors(r, "general") - errors(r, v)) for r in group)
            broken = sum(max(0, errors(r, v) - errors(r, "general")) for r in group)
            print(f"    {v}: {fixed} of them fixed, {broken} new errors (net per writer)")


main()
