#!/usr/bin/env python3
"""Writes a model directory laid out like models/clip/ (the public ONNX export of
openai/clip-vit-base-patch32), for tests and benchmarks where no CLIP weights can be
downloaded.

    make_test_model.py OUT_DIR [--vit-b32]

- vision_model.onnx: `pixel_values` f32 [N,3,224,224] -> `image_embeds` f32 [N,D].
  Default: a tiny encoder (32 px patch convolution, ReLU, projection to 64-d), whose
  vectors are a random projection of the downsampled image, so alike images get alike
  vectors. With --vit-b32: the real ViT-B/32 image-encoder architecture (12 layers,
  768 wide, 512-d projection) with random weights, for speed measurements.
- text_model.onnx: `input_ids` and `attention_mask` i64 [N,L] -> `text_embeds` f32 [N,D]:
  the masked sum of a token embedding table (indexed by id modulo its size).
- tokenizer.json: CLIP's real BPE tokenizer, converted by `transformers` from the
  vocabulary that ships in the PyPI wheel open-clip-torch.
- preprocessor_config.json: CLIP ViT-B/32's preprocessing.
- bpe_simple_vocab_16e6.txt.gz: the vocabulary tokenizer.json was made from.

Weights come from a fixed seed, so the output is the same on every run.
"""
import argparse
import glob
import gzip
import json
import os
import subprocess
import sys
import tempfile
import zipfile

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
OPEN_CLIP_WHEEL = "open_clip_torch==3.3.0"
PREPROCESSOR_CONFIG = {
    "crop_size": 224,
    "do_center_crop": True,
    "do_normalize": True,
    "do_resize": True,
    "feature_extractor_type": "CLIPFeatureExtractor",
    "image_mean": [0.48145466, 0.4578275, 0.40821073],
    "image_std": [0.26862954, 0.26130258, 0.27577711],
    "resample": 3,
    "size": 224,
}


class Graph:
    """Collects nodes and initialisers; names are generated."""

    def __init__(self, seed):
        self.nodes, self.inits, self.count = [], [], 0
        self.rng = np.random.default_rng(seed)

    def name(self, stem):
        self.count += 1
        return f"{stem}_{self.count}"

    def const(self, array, stem="w"):
        name = self.name(stem)
        self.inits.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def weight(self, *shape, scale=None):
        scale = scale if scale is not None else 1.0 / np.sqrt(shape[0])
        return self.const((self.rng.standard_normal(shape) * scale).astype(np.float32))

    def op(self, op_type, *inputs, **attrs):
        out = self.name(op_type.lower())
        self.nodes.append(helper.make_node(op_type, list(inputs), [out], **attrs))
        return out

    def model(self, name, inputs, output, output_shape):
        self.nodes.append(helper.make_node("Identity", [output], [name]))
        graph = helper.make_graph(
            self.nodes,
            f"{name}_graph",
            inputs,
            [helper.make_tensor_value_info(name, TensorProto.FLOAT, output_shape)],
            self.inits,
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
        model.ir_version = 8
        onnx.checker.check_model(model)
        return model


def pixel_input(size):
    return helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT, ["batch", 3, size, size])


def tiny_vision(size=224, patch=32, channels=16, dim=64):
    g = Graph(seed=1)
    x = g.op("Conv", "pixel_values", g.weight(channels, 3, patch, patch, scale=1.0 / patch), strides=[patch, patch])
    x = g.op("Relu", x)
    grid = size // patch
    x = g.op("Reshape", x, g.const(np.array([0, channels * grid * grid], dtype=np.int64)))
    x = g.op("MatMul", x, g.weight(channels * grid * grid, dim))
    return g.model("image_embeds", [pixel_input(size)], x, ["batch", dim])


def vit_b32(size=224, patch=32, width=768, layers=12, heads=12, dim=512):
    """The image encoder of CLIP ViT-B/32 (pre-norm transformer, quick-GELU)."""
    g = Graph(seed=2)
    tokens = (size // patch) ** 2 + 1
    head = width // heads

    def layer_norm(x):
        return g.op("LayerNormalization", x, g.const(np.ones(width, np.float32)),
                    g.const(np.zeros(width, np.float32)), axis=-1, epsilon=1e-5)

    def linear(x, n_in, n_out):
        return g.op("Add", g.op("MatMul", x, g.weight(n_in, n_out)), g.const(np.zeros(n_out, np.float32)))

    x = g.op("Conv", "pixel_values", g.weight(width, 3, patch, patch, scale=0.02), strides=[patch, patch])
    x = g.op("Reshape", x, g.const(np.array([0, width, tokens - 1], dtype=np.int64)))
    x = g.op("Transpose", x, perm=[0, 2, 1])
    # The class token: a zero row in front, plus the class embedding added with the positions.
    x = g.op("Pad", x, g.const(np.array([0, 1, 0, 0, 0, 0], dtype=np.int64)))
    positions = (g.rng.standard_normal((1, tokens, width)) * 0.02).astype(np.float32)
    positions[0, 0] += (g.rng.standard_normal(width) * 0.02).astype(np.float32)
    x = layer_norm(g.op("Add", x, g.const(positions)))
    split_heads = g.const(np.array([0, tokens, heads, head], dtype=np.int64))
    merge_heads = g.const(np.array([0, tokens, width], dtype=np.int64))
    for _ in range(layers):
        h = layer_norm(x)
        q, k, v = (g.op("Transpose", g.op("Reshape", linear(h, width, width), split_heads), perm=[0, 2, 1, 3])
                   for _ in range(3))
        scores = g.op("Mul", g.op("MatMul", q, g.op("Transpose", k, perm=[0, 1, 3, 2])),
                      g.const(np.array(head ** -0.5, np.float32)))
        attended = g.op("MatMul", g.op("Softmax", scores, axis=-1), v)
        attended = g.op("Reshape", g.op("Transpose", attended, perm=[0, 2, 1, 3]), merge_heads)
        x = g.op("Add", x, linear(attended, width, width))
        h = linear(layer_norm(x), width, 4 * width)
        h = g.op("Mul", h, g.op("Sigmoid", g.op("Mul", h, g.const(np.array(1.702, np.float32)))))
        x = g.op("Add", x, linear(h, 4 * width, width))
    cls = g.op("Gather", x, g.const(np.array(0, dtype=np.int64)), axis=1)
    x = g.op("MatMul", layer_norm(cls), g.weight(width, dim))
    return g.model("image_embeds", [pixel_input(size)], x, ["batch", dim])


def tiny_text(table=1024, dim=64):
    g = Graph(seed=3)
    ids = helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "sequence"])
    mask = helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "sequence"])
    rows = g.op("Mod", "input_ids", g.const(np.array(table, dtype=np.int64)))
    embedded = g.op("Gather", g.weight(table, dim, scale=1.0), rows, axis=0)
    weights = g.op("Unsqueeze", g.op("Cast", "attention_mask", to=TensorProto.FLOAT), g.const(np.array([2], np.int64)))
    x = g.op("ReduceSum", g.op("Mul", embedded, weights), g.const(np.array([1], np.int64)), keepdims=0)
    return g.model("text_embeds", [ids, mask], x, ["batch", dim])


def clip_vocabulary(work, out_dir):
    """vocab.json and merges.txt built from open_clip's BPE file as OpenAI's CLIP does.
    The BPE file is also left in `out_dir`, for the tests' reference tokenizer."""
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check", "--no-deps",
                    "-d", work, OPEN_CLIP_WHEEL], check=True)
    wheel = glob.glob(os.path.join(work, "open_clip_torch-*.whl"))[0]
    with zipfile.ZipFile(wheel) as zf:
        packed = zf.read("open_clip/bpe_simple_vocab_16e6.txt.gz")
    with open(os.path.join(out_dir, "bpe_simple_vocab_16e6.txt.gz"), "wb") as f:
        f.write(packed)
    bpe = gzip.decompress(packed).decode("utf-8")
    merges = bpe.split("\n")[1:49152 - 256 - 2 + 1]
    byte_chars = list(bytes_to_unicode().values())
    vocab = byte_chars + [c + "</w>" for c in byte_chars] + ["".join(m.split()) for m in merges]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    vocab_path, merges_path = os.path.join(work, "vocab.json"), os.path.join(work, "merges.txt")
    with open(vocab_path, "w", encoding="utf-8") as f:
        json.dump({token: i for i, token in enumerate(vocab)}, f)
    with open(merges_path, "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n" + "\n".join(merges) + "\n")
    return vocab_path, merges_path


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def write_tokenizer(out_dir):
    from transformers import CLIPTokenizerFast

    with tempfile.TemporaryDirectory() as work:
        vocab_path, merges_path = clip_vocabulary(work, out_dir)
        CLIPTokenizerFast(vocab_path, merges_path).backend_tokenizer.save(os.path.join(out_dir, "tokenizer.json"))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir")
    parser.add_argument("--vit-b32", action="store_true", help="the real ViT-B/32 architecture, random weights")
    args = parser.parse_args()
    os.makedirs(args.out_dir, exist_ok=True)
    vision = vit_b32() if args.vit_b32 else tiny_vision()
    onnx.save(vision, os.path.join(args.out_dir, "vision_model.onnx"))
    # Text and image embeddings share one space, so the text model gets the vision one's width.
    dimension = vision.graph.output[0].type.tensor_type.shape.dim[1].dim_value
    onnx.save(tiny_text(dim=dimension), os.path.join(args.out_dir, "text_model.onnx"))
    with open(os.path.join(args.out_dir, "preprocessor_config.json"), "w") as f:
        json.dump(PREPROCESSOR_CONFIG, f, indent=2)
    write_tokenizer(args.out_dir)


if __name__ == "__main__":
    main()
