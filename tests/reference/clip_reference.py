#!/usr/bin/env python3
"""An independent reference for picseek's CLIP code path, written the way a Python user
would: PIL + numpy preprocessing, onnxruntime inference, OpenAI's own CLIP tokenizer.

    clip_reference.py images MODEL_DIR FILE...   -> {"embeddings": [[...], ...]}
    clip_reference.py pixels MODEL_DIR FILE      -> {"pixel_values": [...]} (C, H, W flattened)
    clip_reference.py tokens MODEL_DIR TEXT...             -> {"tokens": [[...77 ids], ...]}
    clip_reference.py texts MODEL_DIR TEXT...    -> {"embeddings": [[...], ...]}

The tokenizer is OpenAI's `simple_tokenizer.py` (MIT licence, Copyright (c) 2021 OpenAI),
shortened, reading the BPE vocabulary of the open-clip-torch wheel that
make_test_model.py leaves in the model directory (its
`ftfy` clean-up is left out: the test phrases need none).
"""
import gzip
import html
import json
import os
import sys

import numpy as np
import onnxruntime as ort
import regex as re
from PIL import Image, ImageOps

# OpenAI's byte-to-character table, shared with the script that builds the vocabulary.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts", "clip"))
from make_test_model import bytes_to_unicode  # noqa: E402

CONTEXT_LENGTH = 77


def load_image(path):
    img = ImageOps.exif_transpose(Image.open(path))
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = np.asarray(img.convert("RGBA")).astype(np.float64)
        alpha = rgba[..., 3:4] / 255.0
        rgb = rgba[..., :3] * alpha + 255.0 * (1.0 - alpha)
        return Image.fromarray(np.rint(rgb).astype(np.uint8), "RGB")
    return img.convert("RGB")


def pixel_values(path, config):
    img = load_image(path)
    size, crop = config["size"], config["crop_size"]
    w, h = img.size
    short, long = min(w, h), max(w, h)
    new_long = int(size * long / short)
    img = img.resize((size, new_long) if w <= h else (new_long, size), Image.BICUBIC)
    arr = np.asarray(img)
    top, left = (arr.shape[0] - crop) // 2, (arr.shape[1] - crop) // 2
    out = np.zeros((crop, crop, 3), np.uint8)
    for y in range(crop):
        sy = y + top
        if 0 <= sy < arr.shape[0]:
            x0, x1 = max(0, -left), min(crop, arr.shape[1] - left)
            out[y, x0:x1] = arr[sy, x0 + left:x1 + left]
    x = out.astype(np.float32) / np.float32(255.0)
    x = (x - np.array(config["image_mean"], np.float32)) / np.array(config["image_std"], np.float32)
    return x.transpose(2, 0, 1)


def normalised(rows):
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def image_embeddings(model_dir, files):
    with open(os.path.join(model_dir, "preprocessor_config.json")) as f:
        config = json.load(f)
    batch = np.stack([pixel_values(p, config) for p in files]).astype(np.float32)
    session = ort.InferenceSession(os.path.join(model_dir, "vision_model.onnx"))
    return normalised(session.run(["image_embeds"], {"pixel_values": batch})[0])


def bpe_merges(model_dir):
    # The vocabulary make_test_model.py built tokenizer.json from, as open-clip-torch ships it.
    with gzip.open(os.path.join(model_dir, "bpe_simple_vocab_16e6.txt.gz")) as f:
        text = f.read().decode("utf-8")
    return [tuple(m.split()) for m in text.split("\n")[1:49152 - 256 - 2 + 1]]


class SimpleTokenizer:
    def __init__(self, model_dir):
        self.byte_encoder = bytes_to_unicode()
        merges = bpe_merges(model_dir)
        vocab = list(self.byte_encoder.values())
        vocab = vocab + [v + "</w>" for v in vocab] + ["".join(m) for m in merges]
        vocab += ["<|startoftext|>", "<|endoftext|>"]
        self.encoder = dict(zip(vocab, range(len(vocab))))
        self.bpe_ranks = dict(zip(merges, range(len(merges))))
        self.pat = re.compile(r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+""",
                              re.IGNORECASE)

    def bpe(self, token):
        word = tuple(token[:-1]) + (token[-1] + "</w>",)
        while len(word) > 1:
            pairs = set(zip(word, word[1:]))
            bigram = min(pairs, key=lambda p: self.bpe_ranks.get(p, float("inf")))
            if bigram not in self.bpe_ranks:
                break
            first, second = bigram
            new_word, i = [], 0
            while i < len(word):
                try:
                    j = word.index(first, i)
                except ValueError:
                    new_word.extend(word[i:])
                    break
                new_word.extend(word[i:j])
                i = j
                if word[i] == first and i < len(word) - 1 and word[i + 1] == second:
                    new_word.append(first + second)
                    i += 2
                else:
                    new_word.append(word[i])
                    i += 1
            word = tuple(new_word)
        return word

    def encode(self, text):
        text = re.sub(r"\s+", " ", html.unescape(html.unescape(text)).strip()).lower()
        ids = []
        for token in re.findall(self.pat, text):
            token = "".join(self.byte_encoder[b] for b in token.encode("utf-8"))
            ids.extend(self.encoder[t] for t in self.bpe(token))
        return ids

    def __call__(self, text):
        sot, eot = self.encoder["<|startoftext|>"], self.encoder["<|endoftext|>"]
        ids = [sot] + self.encode(text)[:CONTEXT_LENGTH - 2] + [eot]
        return ids + [eot] * (CONTEXT_LENGTH - len(ids)), [1] * len(ids) + [0] * (CONTEXT_LENGTH - len(ids))


def text_embeddings(model_dir, texts):
    tokenizer = SimpleTokenizer(model_dir)
    encoded = [tokenizer(t) for t in texts]
    ids = np.array([e[0] for e in encoded], np.int64)
    mask = np.array([e[1] for e in encoded], np.int64)
    session = ort.InferenceSession(os.path.join(model_dir, "text_model.onnx"))
    return normalised(session.run(["text_embeds"], {"input_ids": ids, "attention_mask": mask})[0])


def main():
    command, args = sys.argv[1], sys.argv[2:]
    if command == "images":
        out = {"embeddings": image_embeddings(args[0], args[1:]).tolist()}
    elif command == "pixels":
        with open(os.path.join(args[0], "preprocessor_config.json")) as f:
            out = {"pixel_values": pixel_values(args[1], json.load(f)).ravel().tolist()}
    elif command == "tokens":
        tokenizer = SimpleTokenizer(args[0])
        out = {"tokens": [tokenizer(t)[0] for t in args[1:]]}
    elif command == "texts":
        out = {"embeddings": text_embeddings(args[0], args[1:]).tolist()}
    else:
        sys.exit(f"unknown command {command}")
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
