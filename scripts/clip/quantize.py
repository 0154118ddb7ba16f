#!/usr/bin/env python3
"""Writes int8 copies of a CLIP model folder's ONNX encoders beside them, as the Hugging
Face export names its own: vision_model_quantized.onnx and text_model_quantized.onnx, or
in an Immich folder visual/model_quantized.onnx and textual/model_quantized.onnx.

Dynamic quantization (onnxruntime.quantization.quantize_dynamic): weights stored as
signed 8-bit integers, activations quantized at run time; no calibration data needed.
On CPUs with AVX-512 VNNI the image encoder runs about twice as fast.

    .venv/bin/python scripts/clip/quantize.py models/clip
"""

import argparse
import pathlib
import sys

from onnxruntime.quantization import QuantType, quantize_dynamic


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model_dir", type=pathlib.Path,
                        help="a folder with vision_model.onnx (and text_model.onnx), or visual/ and textual/")
    parser.add_argument("--force", action="store_true", help="quantize again even if the int8 files are newer")
    args = parser.parse_args()
    done = 0
    for name in ("vision_model", "text_model", "visual/model", "textual/model"):
        source = args.model_dir / f"{name}.onnx"
        target = args.model_dir / f"{name}_quantized.onnx"
        if not source.is_file():
            continue
        if target.is_file() and target.stat().st_mtime >= source.stat().st_mtime and not args.force:
            print(f"{target} is up to date")
            done += 1
            continue
        partial = target.with_name(f".{target.name}.partial")
        quantize_dynamic(str(source), str(partial), weight_type=QuantType.QInt8)
        partial.replace(target)
        print(f"wrote {target} ({target.stat().st_size / 1e6:.1f} MB, from {source.stat().st_size / 1e6:.1f} MB)")
        done += 1
    if done == 0:
        print(f"{args.model_dir}: no vision_model.onnx, text_model.onnx, visual/model.onnx or textual/model.onnx "
              "to quantize", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
