"""Reads a picseek export back with the clients people train with, and prints what they
saw as JSON: `imagefolder DIR` through `datasets.load_dataset`, `webdataset DIR` through
`webdataset.WebDataset` (every sample's image bytes checked against its SHA-256)."""

import glob
import hashlib
import json
import os
import sys

os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


def imagefolder(path):
    import datasets

    ds = datasets.load_dataset("imagefolder", data_dir=path, cache_dir=os.path.join(path, "..", ".hf-cache"))
    out = {}
    for split in ds:
        rows = ds[split]
        out[split] = {
            "rows": len(rows),
            "columns": sorted(rows.column_names),
            "labels": sorted(set(rows["label"])),
            "licenses": sorted({l for l in rows["license"] if l}),
            "sizes_match": all(r["image"].size == (r["width"], r["height"]) for r in rows),
        }
    return out


def webdataset_(path):
    import webdataset

    out = {}
    for split in ("train", "test"):
        shards = sorted(glob.glob(os.path.join(path, f"{split}-*.tar")))
        if not shards:
            continue
        samples = 0
        for sample in webdataset.WebDataset(shards, shardshuffle=False):
            meta = json.loads(sample["json"])
            image = sample.get("jpg") or sample.get("png")
            assert hashlib.sha256(image).hexdigest() == meta["sha256"], sample["__key__"]
            assert int(sample["cls"]) >= 0
            samples += 1
        out[split] = {"shards": len(shards), "samples": samples}
    return out


def parquet(path):
    import pyarrow.parquet as pq

    out = {}
    for split in ("train", "test"):
        file = os.path.join(path, f"{split}.parquet")
        if not os.path.exists(file):
            continue
        table = pq.read_table(file)
        rows = table.to_pylist()
        out[split] = {
            "rows": table.num_rows,
            "row_groups": pq.ParquetFile(file).num_row_groups,
            "columns": table.column_names,
            "sha256_match": all(hashlib.sha256(r["image"]).hexdigest() == r["sha256"] for r in rows),
            "labels": sorted({r["label"] for r in rows}),
        }
    return out


def embeddings(path):
    import numpy
    import pyarrow.parquet as pq

    vectors = numpy.load(os.path.join(path, "img_emb", "img_emb_0.npy"))
    meta = pq.read_table(os.path.join(path, "metadata", "metadata_0.parquet")).to_pylist()
    norms = numpy.linalg.norm(vectors, axis=1)
    return {
        "shape": list(vectors.shape),
        "dtype": str(vectors.dtype),
        "unit_length": bool(numpy.allclose(norms, 1.0, atol=1e-4)),
        "metadata_rows": len(meta),
        "paths_exist": all(os.path.exists(m["image_path"]) for m in meta),
        "first": {k: meta[0][k] for k in ("class", "sha256")},
    }


if __name__ == "__main__":
    kind, path = sys.argv[1], sys.argv[2]
    readers = {"imagefolder": imagefolder, "webdataset": webdataset_, "parquet": parquet, "embeddings": embeddings}
    print(json.dumps(readers[kind](path)))
