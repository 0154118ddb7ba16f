"""Baseline for the pixel-search benchmark: the tutorial's four formulas in plain numpy,
with the database already in memory as float32 (values / 255).

Usage: pixel_numpy.py VECTORS QUERIES N DIM K REPEATS
Prints {"l1": median_seconds, ...} per query on stdout.
"""
import json
import statistics
import sys
import time

import numpy as np

EPS = 1e-8


def l1(db, q):
    return np.abs(db - q).sum(axis=1)


def l2(db, q):
    return ((db - q) ** 2).mean(axis=1)


def cosine(db, q):
    return (db @ q) / (np.linalg.norm(db, axis=1) * np.linalg.norm(q) + EPS)


def correlation(db, q):
    dc = db - db.mean(axis=1, keepdims=True)
    qc = q - q.mean()
    return (dc @ qc) / (np.linalg.norm(dc, axis=1) * np.linalg.norm(qc) + EPS)


def main():
    vectors, queries, n, dim, k, repeats = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:7])
    db = np.fromfile(vectors, dtype=np.uint8).reshape(n, dim).astype(np.float32) / np.float32(255)
    qs = np.fromfile(queries, dtype=np.uint8).reshape(-1, dim).astype(np.float32) / np.float32(255)
    medians = {}
    for name, score, larger_is_closer in [
        ("l1", l1, False),
        ("l2", l2, False),
        ("cosine", cosine, True),
        ("correlation", correlation, True),
    ]:
        times = []
        for r in range(repeats):
            q = qs[r % len(qs)]
            start = time.perf_counter()
            s = score(db, q)
            order = np.argsort(-s if larger_is_closer else s)[:k]
            times.append(time.perf_counter() - start)
            assert len(order) == k
        medians[name] = statistics.median(times)
    print(json.dumps(medians))


if __name__ == "__main__":
    main()
