#!/usr/bin/env python3
"""Chroma baseline for the usearch benchmark: adds the same vectors to an in-memory
Chroma collection (cosine space), as the tutorial's vector-database step does, and
prints the median ingest rate over RUNS runs as JSON.

    ann_chroma.py VECTORS.f32 DIM RUNS
"""
import json
import statistics
import sys
import time

import chromadb
import numpy as np


def main():
    path, dim, runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    vectors = np.fromfile(path, dtype=np.float32).reshape(-1, dim)
    ids = [str(i) for i in range(len(vectors))]
    client = chromadb.EphemeralClient()
    batch = client.get_max_batch_size()
    rates = []
    for run in range(runs):
        name = f"bench{run}"
        collection = client.create_collection(name, metadata={"hnsw:space": "cosine"})
        started = time.perf_counter()
        for i in range(0, len(vectors), batch):
            collection.add(ids=ids[i:i + batch], embeddings=vectors[i:i + batch])
        rates.append(len(vectors) / (time.perf_counter() - started))
        print(f"Chroma ingest run {run + 1}: {rates[-1]:.0f} vectors/s", file=sys.stderr)
        client.delete_collection(name)
    json.dump({"ingest_per_second": statistics.median(rates), "runs": rates}, sys.stdout)


if __name__ == "__main__":
    main()
