#!/usr/bin/env python3
"""Build the small handwriting subset that ships inside the ThawData module.

Reads the full MNIST-with-writers set (IDX files, some gzipped) and writes, in the same layout and
file names but every file gzipped with mtime 0 (so reruns are byte-identical):

  train-*  a general-model training set: every sample of TRAIN_WRITERS training writers, half from
           NIST HSF series 0 (employees, ids < 2100) and half from series 4 (students), chosen with
           a fixed seed;
  t10k-*   the "users": every sample of the HSF-0 test writers (about 100 digits each).

Python 3 standard library only. Usage:
  python3 scripts/make-default-data.py [--src /work/shared/handwriting/mnist-writers] [--out DIR]
"""
import argparse
import gzip
import os
import random
import shutil
import struct

TRAIN_WRITERS = 60
USER_WRITERS = 48
SEED = 20261202
HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.join(HERE, "..", "Sources", "ThawData", "Resources", "handwriting")


def read_idx(src, name):
    """Return (type_code, dims, payload bytes) of `name` or `name.gz` in src."""
    path = os.path.join(src, name)
    if os.path.exists(path):
        with open(path, "rb") as f:
            data = f.read()
    else:
        with gzip.open(path + ".gz", "rb") as f:
            data = f.read()
    if data[0] != 0 or data[1] != 0:
        raise SystemExit(f"{name}: bad magic")
    code, ndim = data[2], data[3]
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return code, dims, data[4 + 4 * ndim:]


def write_idx(out, name, code, dims, payload):
    header = bytes([0, 0, code, len(dims)]) + struct.pack(">" + "I" * len(dims), *dims)
    with open(os.path.join(out, name + ".gz"), "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as f:
            f.write(header + payload)


def load_split(src, prefix):
    _, idims, images = read_idx(src, f"{prefix}-images-idx3-ubyte")
    _, ldims, labels = read_idx(src, f"{prefix}-labels-idx1-ubyte")
    _, wdims, writers = read_idx(src, f"{prefix}-writers-idx1-uint16")
    n = idims[0]
    if ldims[0] != n or wdims[0] != n:
        raise SystemExit(f"{prefix}: counts differ")
    wids = struct.unpack(">" + "H" * n, writers)
    return n, images, labels, wids


def write_split(out, prefix, indices, images, labels, wids):
    px = 28 * 28
    img = b"".join(images[i * px:(i + 1) * px] for i in indices)
    lab = bytes(labels[i] for i in indices)
    wr = struct.pack(">" + "H" * len(indices), *(wids[i] for i in indices))
    n = len(indices)
    write_idx(out, f"{prefix}-images-idx3-ubyte", 0x08, (n, 28, 28), img)
    write_idx(out, f"{prefix}-labels-idx1-ubyte", 0x08, (n,), lab)
    write_idx(out, f"{prefix}-writers-idx1-uint16", 0x0B, (n,), wr)
    return n


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--src", default="/work/shared/handwriting/mnist-writers")
    p.add_argument("--out", default=DEFAULT_OUT)
    a = p.parse_args()
    os.makedirs(a.out, exist_ok=True)
    rng = random.Random(SEED)

    n, images, labels, wids = load_split(a.src, "train")
    writers = sorted(set(wids))
    employees = [w for w in writers if w < 2100]
    students = [w for w in writers if w >= 2100]
    chosen = set(rng.sample(employees, TRAIN_WRITERS // 2) + rng.sample(students, TRAIN_WRITERS // 2))
    train_idx = [i for i in range(n) if wids[i] in chosen]
    nt = write_split(a.out, "train", train_idx, images, labels, wids)

    n, images, labels, wids = load_split(a.src, "t10k")
    test_employees = sorted(w for w in set(wids) if w < 2100)
    users = set(sorted(rng.sample(test_employees, min(USER_WRITERS, len(test_employees)))))
    test_idx = [i for i in range(n) if wids[i] in users]
    nu = write_split(a.out, "t10k", test_idx, images, labels, wids)

    print(f"train: {nt} images from {len(chosen)} writers; users: {nu} images from {len(users)} writers")


if __name__ == "__main__":
    main()
