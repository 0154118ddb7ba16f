#!/usr/bin/env python3
"""Writes tiny models laid out like Immich's model folders on the Hugging Face hub
(immich-app/<name>: OpenCLIP models exported to ONNX by Immich's exporter), for tests
where no weights can be downloaded. One folder per layout picseek reads:

    make_immich_test_models.py OUT_DIR --clip-tokenizer TOKENIZER_JSON

- ViT-B-32__openai: OpenCLIP CLIP. visual/model.onnx `image` f32 [1,3,224,224] ->
  `embedding`; textual/model.onnx `text` i32 [1,77] -> `embedding`; CLIP's BPE tokenizer
  (the one make_test_model.py builds, passed in), padded with <|endoftext|>; bicubic,
  shortest side then centre crop.
- ViT-B-16-SigLIP__webli: SigLIP. 256 px squashed, mean and std 0.5, a SentencePiece-style
  unigram tokenizer ending texts with </s>, context 64, `clean: canonicalize`, and the
  `init_logit_bias` of sigmoid training.
- nllb-clip-base-siglip__v1: NLLB-SigLIP. 192 px squashed with bilinear resampling, an
  NLLB-style multilingual tokenizer with FLORES-200 language codes as special tokens.
- XLM-Roberta-Large-Vit-B-16Plus: M-CLIP. 240 px, textual/model.onnx `input_ids` and
  `attention_mask` i32 [1,77] -> `embedding` (mean pooling and a projection inside the
  graph, as Immich's export wraps them), an XLM-R-style multilingual tokenizer.
- ViT-B-32__mismatched: the CLIP one with a 32-wide text encoder beside a 64-wide image
  encoder, which picseek must refuse.

Every file has the name, inputs, outputs and configuration Immich's loader reads
(immich_ml/models/clip/visual.py and textual.py): config.json, visual/preprocess_cfg.json,
textual/tokenizer.json and textual/tokenizer_config.json. Weights come from fixed seeds;
the tokenizers are trained on a fixed corpus (the trainer may pick other pieces on
another run, which is why the tests compare picseek with the reference on the same files).
"""
import argparse
import json
import os
import shutil

import numpy as np
from onnx import TensorProto, helper
import onnx
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

from make_test_model import Graph

OPENAI_MEAN = [0.48145466, 0.4578275, 0.40821073]
OPENAI_STD = [0.26862954, 0.26130258, 0.27577711]
DIM = 64

# Text the multilingual tokenizers learn their pieces from: captions of the kind people
# search for, in the languages the tests query in and a few more.
CORPUS = [
    "a photo of a cat sleeping on a chair", "a dog running across the street", "a red tulip in a garden",
    "two birds sitting on a branch", "a black and white cat", "a field of yellow flowers at sunset",
    "ein Foto einer Katze, die auf einem Stuhl schläft", "ein Hund läuft über die Straße",
    "eine rote Tulpe im Garten", "zwei Vögel sitzen auf einem Ast", "eine schwarze und weiße Katze",
    "ein Feld gelber Blumen bei Sonnenuntergang", "Grüße aus München, die Bäume blühen",
    "một bức ảnh con mèo đang ngủ trên ghế", "một con chó chạy qua đường", "một bông hoa tulip đỏ trong vườn",
    "hai con chim đậu trên cành cây", "một con mèo đen và trắng", "cánh đồng hoa vàng lúc hoàng hôn",
    "chú mèo con đáng yêu", "những chú chó đang chơi đùa", "cây xanh và hoa đẹp",
    "une photo d'un chat qui dort sur une chaise", "un chien qui traverse la rue",
    "una foto de un gato durmiendo en una silla", "un perro corriendo por la calle",
]

LANGUAGE_CODES = ["eng_Latn", "deu_Latn", "vie_Latn", "fra_Latn", "spa_Latn"]


def unigram_tokenizer(specials, template, extra_specials=(), vocab_size=420):
    """A SentencePiece-style unigram tokenizer (NFKC, metaspace) trained on CORPUS."""
    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    trainer = trainers.UnigramTrainer(vocab_size=vocab_size, special_tokens=list(specials), unk_token="<unk>",
                                      shrinking_factor=0.75, max_piece_length=12, show_progress=False)
    tok.train_from_iterator(CORPUS * 4, trainer)
    if extra_specials:
        tok.add_special_tokens(list(extra_specials))
    ids = [(t, tok.token_to_id(t)) for t in specials if t in template.split()]
    tok.post_processor = processors.TemplateProcessing(single=template, special_tokens=ids)
    return tok


def vision(size, patch, dim=DIM, seed=11):
    """Immich's image encoder interface: `image` [1,3,S,S] -> unit `embedding` [1,D]."""
    g = Graph(seed=seed)
    x = g.op("Conv", "image", g.weight(16, 3, patch, patch, scale=1.0 / patch), strides=[patch, patch])
    x = g.op("Relu", x)
    grid = size // patch
    x = g.op("Reshape", x, g.const(np.array([1, 16 * grid * grid], dtype=np.int64)))
    x = g.op("LpNormalization", g.op("MatMul", x, g.weight(16 * grid * grid, dim)), axis=-1, p=2)
    inputs = [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, size, size])]
    return g.model("embedding", inputs, x, [1, dim])


def token_rows(g, ids, table, dim):
    rows = g.op("Mod", g.op("Cast", ids, to=TensorProto.INT64), g.const(np.array(table, dtype=np.int64)))
    return g.op("Gather", g.weight(table, dim, scale=1.0), rows, axis=0)


def open_clip_text(context, pad_id, dim=DIM, table=512, seed=12):
    """OpenCLIP's text encoder interface: `text` i32 [1,L] -> unit `embedding` [1,D]; the
    sum of the rows of every token but padding."""
    g = Graph(seed=seed)
    embedded = token_rows(g, "text", table, dim)
    real = g.op("Not", g.op("Equal", "text", g.const(np.array(pad_id, dtype=np.int32))))
    weights = g.op("Unsqueeze", g.op("Cast", real, to=TensorProto.FLOAT), g.const(np.array([2], np.int64)))
    x = g.op("ReduceSum", g.op("Mul", embedded, weights), g.const(np.array([1], np.int64)), keepdims=0)
    x = g.op("LpNormalization", x, axis=-1, p=2)
    inputs = [helper.make_tensor_value_info("text", TensorProto.INT32, [1, context])]
    return g.model("embedding", inputs, x, [1, dim])


def mclip_text(context=77, hidden=48, dim=DIM, table=512, seed=13):
    """M-CLIP's text encoder as Immich exports it: `input_ids` and `attention_mask` i32
    [1,L] -> the masked mean of the token rows, projected, unit length."""
    g = Graph(seed=seed)
    embedded = token_rows(g, "input_ids", table, hidden)
    mask = g.op("Cast", "attention_mask", to=TensorProto.FLOAT)
    weights = g.op("Unsqueeze", mask, g.const(np.array([2], np.int64)))
    total = g.op("ReduceSum", g.op("Mul", embedded, weights), g.const(np.array([1], np.int64)), keepdims=0)
    count = g.op("ReduceSum", mask, g.const(np.array([1], np.int64)), keepdims=1)
    x = g.op("MatMul", g.op("Div", total, count), g.weight(hidden, dim))
    x = g.op("LpNormalization", x, axis=-1, p=2)
    inputs = [helper.make_tensor_value_info(n, TensorProto.INT32, [1, context]) for n in ("input_ids", "attention_mask")]
    return g.model("embedding", inputs, x, [1, dim])


def preprocess_cfg(size, mean, std, interpolation, resize_mode):
    return {"size": [size, size] if resize_mode == "squash" else size, "mode": "RGB", "mean": mean, "std": std,
            "interpolation": interpolation, "resize_mode": resize_mode, "fill_color": 0}


def write_folder(out, name, visual, textual, tokenizer, pad_token, config, preprocessing):
    root = os.path.join(out, name)
    if os.path.isdir(root):
        shutil.rmtree(root)
    os.makedirs(os.path.join(root, "visual"))
    os.makedirs(os.path.join(root, "textual"))
    onnx.save(visual, os.path.join(root, "visual", "model.onnx"))
    onnx.save(textual, os.path.join(root, "textual", "model.onnx"))
    if isinstance(tokenizer, str):
        shutil.copyfile(tokenizer, os.path.join(root, "textual", "tokenizer.json"))
    else:
        tokenizer.save(os.path.join(root, "textual", "tokenizer.json"))
    with open(os.path.join(root, "textual", "tokenizer_config.json"), "w") as f:
        json.dump({"pad_token": pad_token, "model_max_length": config["text_cfg"]["context_length"]}, f, indent=2)
    with open(os.path.join(root, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    with open(os.path.join(root, "visual", "preprocess_cfg.json"), "w") as f:
        json.dump(preprocessing, f, indent=2)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir")
    parser.add_argument("--clip-tokenizer", required=True, help="CLIP's tokenizer.json (make_test_model.py's)")
    args = parser.parse_args()
    os.makedirs(args.out_dir, exist_ok=True)

    clip_pad = Tokenizer.from_file(args.clip_tokenizer).token_to_id("<|endoftext|>")
    clip_config = {"embed_dim": DIM, "vision_cfg": {"image_size": 224, "layers": 12, "width": 768, "patch_size": 32},
                   "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 512, "heads": 8, "layers": 12}}
    clip_pre = preprocess_cfg(224, OPENAI_MEAN, OPENAI_STD, "bicubic", "shortest")
    write_folder(args.out_dir, "ViT-B-32__openai", vision(224, 32), open_clip_text(77, clip_pad),
                 args.clip_tokenizer, "<|endoftext|>", clip_config, clip_pre)
    write_folder(args.out_dir, "ViT-B-32__mismatched", vision(224, 32), open_clip_text(77, clip_pad, dim=32),
                 args.clip_tokenizer, "<|endoftext|>", clip_config, clip_pre)

    siglip_tok = unigram_tokenizer(["<pad>", "</s>", "<unk>"], "$A </s>")
    siglip_config = {"embed_dim": DIM, "init_logit_bias": -10, "custom_text": True,
                     "vision_cfg": {"image_size": 256, "timm_model_name": "vit_base_patch16_siglip_256"},
                     "text_cfg": {"context_length": 64, "vocab_size": 32000, "hf_tokenizer_name": "timm/ViT-B-16-SigLIP",
                                  "tokenizer_kwargs": {"clean": "canonicalize"}}}
    write_folder(args.out_dir, "ViT-B-16-SigLIP__webli", vision(256, 32, seed=21),
                 open_clip_text(64, siglip_tok.token_to_id("</s>"), seed=22), siglip_tok, "</s>", siglip_config,
                 preprocess_cfg(256, [0.5] * 3, [0.5] * 3, "bicubic", "squash"))

    nllb_tok = unigram_tokenizer(["<s>", "<pad>", "</s>", "<unk>"], "$A </s>", extra_specials=LANGUAGE_CODES)
    nllb_config = {"embed_dim": DIM, "init_logit_bias": -10, "custom_text": True,
                   "vision_cfg": {"image_size": 192, "timm_model_name": "vit_base_patch16_siglip_384"},
                   "text_cfg": {"context_length": 64, "hf_model_name": "facebook/nllb-200-distilled-600M",
                                "hf_tokenizer_name": "facebook/nllb-200-distilled-600M"}}
    write_folder(args.out_dir, "nllb-clip-base-siglip__v1", vision(192, 32, seed=31),
                 open_clip_text(64, nllb_tok.token_to_id("<pad>"), seed=32), nllb_tok, "<pad>", nllb_config,
                 preprocess_cfg(192, [0.5] * 3, [0.5] * 3, "bilinear", "squash"))

    xlmr_tok = unigram_tokenizer(["<s>", "<pad>", "</s>", "<unk>"], "<s> $A </s>")
    mclip_config = {"embed_dim": DIM, "vision_cfg": {"image_size": 240, "layers": 12, "width": 896, "patch_size": 16},
                    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 640, "heads": 10, "layers": 12}}
    write_folder(args.out_dir, "XLM-Roberta-Large-Vit-B-16Plus", vision(240, 40, seed=41), mclip_text(), xlmr_tok,
                 {"content": "<pad>", "lstrip": False, "normalized": True, "rstrip": False, "single_word": False},
                 mclip_config, preprocess_cfg(240, OPENAI_MEAN, OPENAI_STD, "bicubic", "shortest"))


if __name__ == "__main__":
    main()
