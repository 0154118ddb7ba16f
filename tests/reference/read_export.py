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


if __name__ == "__main__":
    kind, path = sys.argv[1], sys.argv[2]
    print(json.dumps(imagefolder(path) if kind == "imagefolder" else webdataset_(path)))
