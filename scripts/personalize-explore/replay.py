#!/usr/bin/env python3
"""Replays gate rules offline over `personalize-explore dump` output (per-writer class probabilities).

    python3 scripts/personalize-explore/replay.py DUMP.jsonl ... [--only VARIANT,VARIANT,...]

Variants: `s3_*` heads are trained on the training share of the default validation share 0.3, `s5_*` of
share 0.5; `plain_wNN` is the plain head interpolated NN % of the way from the general head (`s3_plain_w50`
is `thaw personalize`'s `interp`), `plain10` trained 10 epochs instead of 20 (early stopping), `worker` with
the workers' recipe (SGD lr 0.05, no momentum, 5 epochs, batch 32), `l2sp1` L2-SP with lambda 1;
`gatedZ:x` is HeadSwapGate with tie-break z = Z judging x on its share, `counted:x` the gate without
tie-break; `bysize_x` uses share 0.5 for writers with >= 60 samples and 0.3 below; `knnL` is the kNN-Per
mixture with weight L over all adaptation samples, `gated1:knnL_s3` judged on the 0.3 share with a store of
the training share, `*_loo` judged on every adaptation sample with leave-one-out neighbour votes;
`largest_w` takes the largest interpolation weight the gate accepts, `bestll_w` the weight with the best
validation likelihood if the gate accepts it. The validation choice is HeadSwapGate.isValidation's hash.
"""
import json, math, sys, glob

M = (1 << 64) - 1

def is_validation(sample_id, share, seed=0):
    if share <= 0: return False
    z = (sample_id + seed + 0x9E3779B97F4A7C15) & M
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M
    z ^= z >> 31
    return (z >> 11) / float(1 << 53) < share

def argmax(row):
    best = 0
    for i, v in enumerate(row):
        if v > row[best]: best = i
    return best

def lp(row, y): return math.log(max(row[y], 1e-12))

def gate(ys, cur, cand, margin=1, z=1.0, require_no_loss=True):
    """HeadSwapGate.decide: True to swap."""
    n = len(ys)
    if n == 0: return False
    wins = losses = 0
    for y, c, d in zip(ys, cur, cand):
        a, b = argmax(c) == y, argmax(d) == y
        if a != b:
            if b: wins += 1
            else: losses += 1
    if wins - losses >= margin: return True
    if z is None or (require_no_loss and losses > 0) or n < 2: return False
    g = [lp(d, y) - lp(c, y) for y, c, d in zip(ys, cur, cand)]
    mean = sum(g) / n
    var = sum((x - mean) ** 2 for x in g) / (n - 1)
    return mean - z * math.sqrt(var) / math.sqrt(n) > 0

def acc(ys, probs):
    if not ys: return 0.0
    return sum(1 for y, r in zip(ys, probs) if argmax(r) == y) / len(ys)

def mixture(a, b, w):
    return [[(1 - w) * x + w * y for x, y in zip(ra, rb)] for ra, rb in zip(a, b)]

def load(paths):
    rows = []
    for p in paths:
        for line in open(p):
            rows.append(json.loads(line))
    rows.sort(key=lambda r: r["w"])
    return rows

def summarize(name, results, writers):
    # results: writer -> (acc, swapped)
    def group(sel):
        ws = [w for w in writers if sel(w)]
        if not ws: return None
        base = sum(1 - writers[w]["gen"] for w in ws) / len(ws)
        mean_acc = sum(results[w][0] for w in ws) / len(ws)
        err = 1 - mean_acc
        better = sum(1 for w in ws if results[w][0] > writers[w]["gen"] + 1e-12)
        worse = sum(1 for w in ws if results[w][0] < writers[w]["gen"] - 1e-12)
        swaps = sum(1 for w in ws if results[w][1])
        bad = sum(1 for w in ws if results[w][1] and results[w][0] < writers[w]["gen"] - 1e-12)
        cut = (base - err) / base if base > 0 else 0.0
        return mean_acc, err, 0.0 if abs(cut) < 1e-12 else cut, better, worse, swaps, bad
    a = group(lambda w: True); s = group(lambda w: writers[w]["n"] < 60); l = group(lambda w: writers[w]["n"] >= 60)
    return (f"| {name} | {a[0]*100:.2f} % | {a[1]*100:.2f} % | {a[2]*100:.1f} % | {a[3]} / {a[4]} | "
            f"{s[2]*100:.1f} % | {s[3]} / {s[4]} | {l[2]*100:.1f} % | {l[3]} / {l[4]} | {a[5]} ({a[6]}) |")

def main():
    only = None
    args = sys.argv[1:]
    if "--only" in args:
        i = args.index("--only"); only = set(args[i + 1].split(",")); del args[i:i + 2]
    paths = args
    rows = load(paths)
    sel = None
    writers = {}
    variants = {}
    def put(v, w, a, s): variants.setdefault(v, {})[w] = (a, s)
    for r in rows:
        w, A, yA, yH, P = r["w"], r["A"], r["yA"], r["yH"], r["p"]
        g = P["gen"]
        writers[w] = {"n": r["n"], "gen": acc(yH, g["H"])}
        idx = {0.3: [i for i, a in enumerate(A) if is_validation(a, 0.3)],
               0.5: [i for i, a in enumerate(A) if is_validation(a, 0.5)]}
        def val(share, key, cand_name):
            ii = idx[share]
            return [yA[i] for i in ii], [g["A"][i] for i in ii], [P[cand_name][key][i] for i in ii]
        def gated(vname, share, cand, z=1.0, margin=1, Hprobs=None, Aprobs=None):
            ii = idx[share]
            ys = [yA[i] for i in ii]
            cur = [g["A"][i] for i in ii]
            cd = [Aprobs[i] for i in ii]
            s = gate(ys, cur, cd, margin=margin, z=z)
            put(vname, w, acc(yH, Hprobs) if s else writers[w]["gen"], s)
            return s
        put("general", w, writers[w]["gen"], False)
        if "s3_plain_w50" not in P:
            # a `dump-knn` line: kNN-Per over the general head's penultimate activations only.
            for key in sorted(k for k in P if k.startswith("pen_knn")):
                for lam in [0.3, 0.5, 0.7]:
                    Hm = mixture(g["H"], P[key]["H"], lam)
                    Am = mixture(g["A"], P[key]["A"], lam)
                    put(f"{key}_{lam}", w, acc(yH, Hm), False)
                    s = gate(yA, g["A"], Am, z=None)
                    put(f"counted:{key}_{lam}_loo", w, acc(yH, Hm) if s else writers[w]["gen"], s)
                    s = gate(yA, g["A"], Am, z=1.0)
                    put(f"gated1:{key}_{lam}_loo", w, acc(yH, Hm) if s else writers[w]["gen"], s)
            continue
        share_of = lambda c: 0.3 if c.startswith("s3") else 0.5
        for c in ["s3_plain_w25", "s3_plain_w50", "s3_plain_w75", "s3_plain_w100", "s3_plain10_w50", "s3_worker_w50",
                  "s3_l2sp1", "s5_plain_w50", "s5_plain_w100"]:
            put(c, w, acc(yH, P[c]["H"]), False)
            for z in [0.0, 0.5, 1.0, 2.0]:
                gated(f"gated{z:g}:{c}", share_of(c), c, z=z, Hprobs=P[c]["H"], Aprobs=P[c]["A"])
            gated(f"counted:{c}", share_of(c), c, z=None, Hprobs=P[c]["H"], Aprobs=P[c]["A"])
        # size-dependent share: writers with >= 60 samples use the 0.5 share.
        for base in ["plain_w50", "plain_w100"]:
            c = ("s5_" if r["n"] >= 60 else "s3_") + base
            gated(f"gated1:bysize_{base}", share_of(c), c, Hprobs=P[c]["H"], Aprobs=P[c]["A"])
        # kNN-Per mixtures
        for lam in [0.1, 0.2, 0.3, 0.5]:
            Hall = mixture(g["H"], P["all_knn"]["H"], lam)
            put(f"knn{lam}", w, acc(yH, Hall), False)
            # gated on the 0.3 share with a store of the training share; deployed with the same store
            H3 = mixture(g["H"], P["s3_knn"]["H"], lam)
            A3 = mixture(g["A"], P["s3_knn"]["A"], lam)
            gated(f"gated1:knn{lam}_s3", 0.3, None, Hprobs=H3, Aprobs=A3)
            # gated with leave-one-out votes on every adaptation sample; deployed with the store of all of them
            ALOO = mixture(g["A"], P["all_knn"]["A"], lam)
            ys = yA
            for z in [1.0, 2.0]:
                s = gate(ys, g["A"], ALOO, z=z)
                put(f"gated{z:g}:knn{lam}_loo", w, acc(yH, Hall) if s else writers[w]["gen"], s)
            s = gate(ys, g["A"], ALOO, z=None)
            put(f"counted:knn{lam}_loo", w, acc(yH, Hall) if s else writers[w]["gen"], s)
        # per-writer interpolation weight: the largest weight that passes the gate (0.3 share)
        chosen = None
        for c in ["s3_plain_w100", "s3_plain_w75", "s3_plain_w50", "s3_plain_w25"]:
            ii = idx[0.3]
            if gate([yA[i] for i in ii], [g["A"][i] for i in ii], [P[c]["A"][i] for i in ii]):
                chosen = c; break
        put("gated1:largest_w", w, acc(yH, P[chosen]["H"]) if chosen else writers[w]["gen"], chosen is not None)
        # best validation log-likelihood among weights, then gate it
        ii = idx[0.3]
        def vll(c): return sum(lp(P[c]["A"][i], yA[i]) for i in ii)
        best = max(["s3_plain_w25", "s3_plain_w50", "s3_plain_w75", "s3_plain_w100"], key=vll) if ii else None
        s = best is not None and gate([yA[i] for i in ii], [g["A"][i] for i in ii], [P[best]["A"][i] for i in ii])
        put("gated1:bestll_w", w, acc(yH, P[best]["H"]) if s else writers[w]["gen"], s)
    print(f"{len(writers)} writers, {sum(1 for w in writers if writers[w]['n'] >= 60)} with >= 60 samples")
    # error bounds
    err_writers = [w for w in writers if writers[w]["gen"] < 1]
    big = [w for w in writers if writers[w]["n"] >= 60]
    print("writers with any held-out error:", len(err_writers), "of which >= 60:", sum(1 for w in err_writers if writers[w]["n"] >= 60))
    tot_err = sum(round((1 - writers[w]["gen"]) * len(next(r for r in rows if r["w"] == w)["yH"])) for w in writers)
    big_err = sum(round((1 - writers[w]["gen"]) * len(next(r for r in rows if r["w"] == w)["yH"])) for w in big)
    print("held-out errors of the general model: all", tot_err, ">=60:", big_err)
    # What bounds any rule over these candidates: per writer, the best candidate chosen with the held-out
    # answers in hand (an oracle no phone has), over the trained heads alone and with kNN-Per mixtures.
    for gname, sel in ([] if "s3_plain_w50" not in rows[0]["p"] else [("all", lambda r: True), ("< 60 samples", lambda r: r["n"] < 60), (">= 60 samples", lambda r: r["n"] >= 60)]):
        rs = [r for r in rows if sel(r)]
        if not rs: continue
        base = sum(1 - acc(r["yH"], r["p"]["gen"]["H"]) for r in rs) / len(rs)
        wrong = sum(sum(1 for y, q in zip(r["yH"], r["p"]["gen"]["H"]) if argmax(q) != y) for r in rs)
        for label, with_knn in (("trained heads", False), ("trained heads and kNN-Per mixtures 0.1-0.7", True)):
            mean_err = 0.0; left = 0
            for r in rs:
                P = r["p"]; g = P["gen"]; yH = r["yH"]
                cands = [g["H"]] + [P[c]["H"] for c in P if c != "gen" and "knn" not in c]
                if with_knn: cands += [mixture(g["H"], P["all_knn"]["H"], lam) for lam in (0.1, 0.2, 0.3, 0.4, 0.5, 0.7)]
                mean_err += 1 - max(acc(yH, c) for c in cands)
                left += min(sum(1 for y, q in zip(yH, c) if argmax(q) != y) for c in cands)
            mean_err /= len(rs)
            cut = (base - mean_err) / base if base > 0 else 0.0
            print(f"oracle over {label}, {gname} ({len(rs)} writers): {wrong - left} of the general model's {wrong} held-out errors fixed, "
                  f"mean per-writer error {base * 100:.2f} % -> {mean_err * 100:.2f} % (cut {cut * 100:.1f} %)")
    print("| variant | all: mean acc | mean err | err cut | better / worse | < 60: err cut | better / worse | ≥ 60: err cut | better / worse | swaps (worse) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for v in variants:
        if only is None or v in only:
            print(summarize(v, variants[v], writers))

main()
