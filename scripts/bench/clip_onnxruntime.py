#!/usr/bin/env python3
"""Python baseline for the CLIP embedding benchmark: the way a Python user embeds a
folder with the ONNX export: PIL decoding and Hugging Face-style preprocessing
(shortest edge 224 bicubic, centre crop, normalise) with numpy, onnxruntime with the
same batch size and thread count. Prints the median images/s over RUNS runs as JSON.

    clip_onnxruntime.py MODEL_DIR IMAGE_DIR BATCH THREADS RUNS
"""
import json
import os
import statistics
import sys
import time

import numpy as np
import onnxruntime as ort
from PIL import Image


def preprocess(path, config):
    img = Image.open(path).convert("RGB")
    size, crop = config["size"], config["crop_size"]
    w, h = img.size
    short, long = min(w, h), max(w, h)
    new_long = int(size * long / short)
    img = img.resize((size, new_long) if w <= h else (new_long, size), Image.BICUBIC)
    left, top = (img.size[0] - crop) // 2, (img.size[1] - crop) // 2
    x = np.asarray(img.crop((left, top, left + crop, top + crop)), np.float32) / 255.0
    x = (x - np.array(config["image_mean"], np.float32)) / np.array(config["image_std"], np.float32)
    return x.transpose(2, 0, 1)


def main():
    model_dir, image_dir = sys.argv[1], sys.argv[2]
    batch, threads, runs = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    with open(os.path.join(model_dir, "preprocessor_config.json")) as f:
        config = json.load(f)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(os.path.join(model_dir, "vision_model.onnx"), options)
    files = sorted(os.path.join(image_dir, n) for n in os.listdir(image_dir))
    rates = []
    for run in range(runs):
        started = time.perf_counter()
        for i in range(0, len(files), batch):
            x = np.stack([preprocess(p, config) for p in files[i:i + batch]])
            e = session.run(["image_embeds"], {"pixel_values": x})[0]
            e /= np.linalg.norm(e, axis=1, keepdims=True)
        rates.append(len(files) / (time.perf_counter() - started))
        print(f"Python run {run + 1}: {rates[-1]:.1f} images/s", file=sys.stderr)
    json.dump({"images_per_second": statistics.median(rates), "runs": rates}, sys.stdout)


if __name__ == "__main__":
    main()
