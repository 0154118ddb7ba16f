"""FAISS HNSW on the scale benchmark's vectors, for the side-by-side rows.

Builds faiss.IndexHNSWFlat (inner product on unit vectors: cosine) with the same links
per node and build width as picseek's graph, on the same number of threads, then
searches wider until its recall@k reaches picseek's (matched recall) and times single
queries there. Prints one JSON object on stdout; progress on stderr.

Usage: scale_faiss.py VECTORS QUERIES TRUTH DIM K M EF_CONSTRUCTION TARGET_RECALL THREADS OUT_DIR
(VECTORS and QUERIES: raw little-endian f32 rows; TRUTH: raw u64, K exact neighbours
per query, for the first len(TRUTH) / K queries.)
"""

import json
import os
import resource
import sys
import time

import faiss
import numpy as np


def main():
    vectors, queries, truth, dim, k, m, ef_construction, target, threads, out_dir = sys.argv[1:]
    dim, k, m, ef_construction, threads = int(dim), int(k), int(m), int(ef_construction), int(threads)
    target = float(target)
    rows = np.memmap(vectors, dtype=np.float32, mode="r").reshape(-1, dim)
    queries = np.fromfile(queries, dtype=np.float32).reshape(-1, dim)
    truth = np.fromfile(truth, dtype=np.uint64).reshape(-1, k)
    recall_queries = queries[: len(truth)]

    faiss.omp_set_num_threads(threads)
    index = faiss.IndexHNSWFlat(dim, m, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = ef_construction
    started = time.perf_counter()
    index.add(rows)
    build_seconds = time.perf_counter() - started
    print(f"faiss: built in {build_seconds:.0f} s", file=sys.stderr)
    path = os.path.join(out_dir, "faiss.index")
    faiss.write_index(index, path)
    # The index file holds the vectors too: it is all FAISS needs on disk.
    disk_bytes = os.path.getsize(path)
    os.remove(path)

    def recall_at(ef):
        index.hnsw.efSearch = ef
        _, found = index.search(recall_queries, k)
        return sum(len(set(f.tolist()) & set(t.tolist())) for f, t in zip(found, truth)) / truth.size

    sweep = []
    for ef in [16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024]:
        sweep.append((ef, recall_at(ef)))
        print(f"faiss: efSearch {ef}: recall@{k} {sweep[-1][1]:.3f}", file=sys.stderr)
        if sweep[-1][1] >= target:
            break
    ef, recall = sweep[-1]
    index.hnsw.efSearch = ef
    # One query at a time, on one thread, as picseek answers a search.
    faiss.omp_set_num_threads(1)
    for q in queries:
        index.search(q[None, :], k)
    latencies = []
    for q in queries:
        started = time.perf_counter()
        index.search(q[None, :], k)
        latencies.append((time.perf_counter() - started) * 1000)
    latencies.sort()
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({
        "build_seconds": build_seconds,
        "peak_gib": peak_kib / (1 << 20),
        "disk_gib": disk_bytes / (1 << 30),
        "ef_search": ef,
        "median_ms": latencies[len(latencies) // 2],
        "p99_ms": latencies[len(latencies) * 99 // 100],
        "recall": recall,
        "sweep": sweep,
    }))


if __name__ == "__main__":
    main()
