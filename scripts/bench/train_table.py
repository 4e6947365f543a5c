#!/usr/bin/env python3
"""Prints the Markdown tables of docs/LEARNING.md from a `thaw bench train` JSON file.

Usage: python3 scripts/bench/train_table.py bench-results/train.json
"""
import json
import sys

NAMES = {
    "headSmall": "head 3136→512→10, train, batch 64",
    "headLarge": "head 3136→2048→2048→100, train, batch 256",
    "backbone": "FedAvg CNN backbone (layers 0–6), forward, batch 64",
    "cnnTrain": "whole FedAvg CNN, train, batch 64",
}


def main(path):
    data = json.load(open(path))
    threads = sorted(int(k[len("threads"):]) for k in data if k.startswith("threads"))
    print("| case | threads | Thaw samples/s | Thaw GFLOP/s | sgemm peak GFLOP/s | PyTorch samples/s | PyTorch GFLOP/s | Thaw/PyTorch |")
    print("|---|---|---|---|---|---|---|---|")
    for case in NAMES:
        for t in threads:
            row = data[f"threads{t}"]
            f = row.get(case)
            if f is None:
                continue
            torch = f.get("torchSamplesPerSecond")
            print(f"| {NAMES[case]} | {t} | {f['samplesPerSecond']:.0f} | {f['GFLOPS']:.1f} | {row['sgemmPeakGFLOPS']:.1f} | "
                  + (f"{torch:.0f} | {f['torchGFLOPS']:.1f} | **{f['ratioThawOverTorch']:.2f}×** |" if torch else "unavailable | | |"))
    for t in threads:
        row = data[f"threads{t}"]
        for key, f in sorted(row.items()):
            if "_" not in key or not isinstance(f, dict):
                continue
            case, strategy = key.split("_", 1)
            first = row.get("convThreading", "the default")
            print(f"\n{case}, {t} threads, conv threading {strategy}: {f['samplesPerSecond']:.0f} samples/s, "
                  f"{f['GFLOPS']:.1f} GFLOP/s ({f.get('ratioOverFirstStrategy', 0):.2f}× the {first} figure above).")
    for t in threads:
        f = data[f"threads{t}"].get("headLarge")
        if f and "bareGEMMGFLOPS" in f:
            print(f"\nheadLarge, {t} thread(s): the same GEMMs called bare reach {f['bareGEMMGFLOPS']:.1f} GFLOP/s; "
                  f"the training step runs at {100 * f['fractionOfBareGEMM']:.1f} % of that.")
    alloc = data.get("allocationsPerStep", {})
    print("\nHeap allocations per steady-state step (malloc/calloc/realloc/aligned, counted by the preloaded shim): "
          + "; ".join(f"{k}: {v['perStep']} ({v['allocationsIn10Steps']} in 10 steps, {v['allocationsIn40Steps']} in 40)"
                      for k, v in sorted(alloc.items()) if isinstance(v, dict))
          + f"; control, ten fresh arrays: {alloc.get('controlTenArrays')}.")
    blas = data.get("blas", {})
    print(f"\nOpenBLAS kernel: {blas.get('coreName')} (OPENBLAS_CORETYPE {blas.get('OPENBLAS_CORETYPE')}, "
          f"OPENBLAS_L2_SIZE {blas.get('OPENBLAS_L2_SIZE')}); load average before {data.get('loadAverageBefore')}, "
          f"after {data.get('loadAverageAfter')}; peak RSS {data.get('peakMemoryKB')} kB; medians of {data.get('runs')} runs.")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "bench-results/train.json")
