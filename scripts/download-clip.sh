#!/usr/bin/env bash
# Downloads the public ONNX export of openai/clip-vit-base-patch32 into models/clip/
# (vision_model.onnx, text_model.onnx, tokenizer.json, preprocessor_config.json), each
# file checked against the hub's published checksums (and the model file against the
# SHA-256 pinned in scripts/clip/download_model.py) before anything is installed.
# Needs internet access to the Hugging Face hub; exits non-zero and leaves models/clip/
# untouched when it fails; does nothing when models/clip/ is already complete.
set -euo pipefail
exec python3 "$(dirname "$0")/clip/download_model.py" "$@"
