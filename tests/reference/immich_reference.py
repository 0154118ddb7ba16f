#!/usr/bin/env python3
"""An independent reference for picseek's reading of Immich's model folders, written as
Immich's machine-learning service runs them (immich_ml/models/clip/visual.py, textual.py
and models/transforms.py): PIL, numpy, onnxruntime and tokenizers, one image or text
per run, the text class chosen by the model's name as Immich chooses it.

    immich_reference.py pixels MODEL_DIR FILE                  -> {"pixel_values": [...]} (C, H, W)
    immich_reference.py images MODEL_DIR FILE...               -> {"embeddings": [[...], ...]}
    immich_reference.py tokens MODEL_DIR [--language CODE] TEXT... -> {"tokens": [[...], ...]}
    immich_reference.py texts MODEL_DIR [--language CODE] TEXT...  -> {"embeddings": [[...], ...]}

`--language` takes a FLORES-200 code (`vie_Latn`), which NLLB models put in front of the
text.
"""
import json
import os
import string
import sys

import numpy as np
import onnxruntime as ort
from PIL import Image
from tokenizers import Tokenizer

# Immich's list of M-CLIP models: their text encoder takes input_ids and attention_mask.
MCLIP_MODELS = {"LABSE-Vit-L-14", "XLM-Roberta-Large-Vit-B-16Plus", "XLM-Roberta-Large-Vit-B-32",
                "XLM-Roberta-Large-Vit-L-14"}


def load_json(*parts):
    with open(os.path.join(*parts), encoding="utf-8") as f:
        return json.load(f)


def resize_shortest(img, size, resample):
    if img.width < img.height:
        return img.resize((size, int((img.height / img.width) * size)), resample=resample)
    return img.resize((int((img.width / img.height) * size), size), resample=resample)


def crop_centre(img, size):
    left = int((img.size[0] / 2) - (size / 2))
    upper = int((img.size[1] / 2) - (size / 2))
    return img.crop((left, upper, left + size, upper + size))


def pixel_values(model_dir, path):
    cfg = load_json(model_dir, "visual", "preprocess_cfg.json")
    size = cfg["size"][0] if isinstance(cfg["size"], list) else cfg["size"]
    resample = {r.name.lower(): r for r in Image.Resampling}[cfg["interpolation"].lower()]
    img = Image.open(path)
    img.load()
    if img.mode != "RGB":
        img = img.convert("RGB")
    mode = cfg.get("resize_mode", "shortest")
    if mode == "squash":
        img = img.resize((size, size), resample=resample)
    elif mode == "shortest":
        img = crop_centre(resize_shortest(img, size, resample), size)
    else:
        raise ValueError(mode)
    x = np.asarray(img, dtype=np.float32) / 255.0
    mean, std = np.array(cfg["mean"], np.float32), np.array(cfg["std"], np.float32)
    x *= 1.0 / std
    x -= mean / std
    return x.transpose(2, 0, 1)


def image_embeddings(model_dir, files):
    session = ort.InferenceSession(os.path.join(model_dir, "visual", "model.onnx"))
    rows = [session.run(None, {"image": pixel_values(model_dir, f)[None]})[0][0] for f in files]
    return [(r / np.linalg.norm(r)).tolist() for r in rows]


class TextSide:
    def __init__(self, model_dir):
        self.name = os.path.basename(os.path.normpath(model_dir))
        text_cfg = load_json(model_dir, "config.json")["text_cfg"]
        context_length = text_cfg.get("context_length", 77)
        pad_token = load_json(model_dir, "textual", "tokenizer_config.json")["pad_token"]
        if isinstance(pad_token, dict):
            pad_token = pad_token["content"]
        self.tokenizer = Tokenizer.from_file(os.path.join(model_dir, "textual", "tokenizer.json"))
        self.tokenizer.enable_padding(length=context_length, pad_token=pad_token,
                                      pad_id=self.tokenizer.token_to_id(pad_token))
        self.tokenizer.enable_truncation(max_length=context_length)
        kwargs = text_cfg.get("tokenizer_kwargs")
        self.canonicalize = kwargs is not None and kwargs.get("clean") == "canonicalize"
        self.is_nllb = self.name.startswith("nllb")
        self.is_mclip = self.name in MCLIP_MODELS
        self.session = ort.InferenceSession(os.path.join(model_dir, "textual", "model.onnx"))

    def clean(self, text):
        text = " ".join(text.split())
        if self.canonicalize:
            text = text.translate(str.maketrans("", "", string.punctuation)).lower()
        return text

    def encode(self, text, language):
        text = self.clean(text)
        if self.is_nllb and language is not None:
            text = f"{language}{text}"
        return self.tokenizer.encode(text)

    def inputs(self, text, language):
        tokens = self.encode(text, language)
        if self.is_mclip:
            return {"input_ids": np.array([tokens.ids], dtype=np.int32),
                    "attention_mask": np.array([tokens.attention_mask], dtype=np.int32)}
        return {"text": np.array([tokens.ids], dtype=np.int32)}

    def embed(self, text, language):
        row = self.session.run(None, self.inputs(text, language))[0][0]
        return (row / np.linalg.norm(row)).tolist()


def main():
    command, model_dir, args = sys.argv[1], sys.argv[2], sys.argv[3:]
    language = None
    if args[:1] == ["--language"]:
        language, args = args[1], args[2:]
    if command == "pixels":
        out = {"pixel_values": pixel_values(model_dir, args[0]).ravel().tolist()}
    elif command == "images":
        out = {"embeddings": image_embeddings(model_dir, args)}
    elif command == "tokens":
        side = TextSide(model_dir)
        out = {"tokens": [side.encode(t, language).ids for t in args]}
    elif command == "texts":
        side = TextSide(model_dir)
        out = {"embeddings": [side.embed(t, language) for t in args]}
    else:
        sys.exit(f"unknown command {command}")
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
