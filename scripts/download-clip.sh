#!/usr/bin/env bash
# Downloads the public ONNX export of openai/clip-vit-base-patch32 into models/clip/
# (vision_model.onnx, text_model.onnx, tokenizer.json, preprocessor_config.json).
# Needs internet access to the Hugging Face hub; exits non-zero and leaves models/clip/
# untouched when it fails. Files go to a temporary folder first and are moved in only
# when all arrived; their SHA-256 sums are written to models/clip/SHA256SUMS, and a
# later run checks the files against it and does nothing when they are intact.
# Checksums published with the export are not pinned here yet (they could not be
# fetched where this script was written): pin them in CLIP_SHA256SUMS when you can.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
dest="$repo/models/clip"
base="${CLIP_BASE_URL:-https://huggingface.co/Xenova/clip-vit-base-patch32/resolve/main}"
names=(vision_model.onnx text_model.onnx tokenizer.json preprocessor_config.json)
remote_paths=(onnx/vision_model.onnx onnx/text_model.onnx tokenizer.json preprocessor_config.json)

if [ -f "$dest/SHA256SUMS" ] && (cd "$dest" && sha256sum --check --quiet SHA256SUMS 2>/dev/null); then
    echo "download-clip: models/clip/ is already complete" >&2
    exit 0
fi

mkdir -p "$repo/models"
tmp=$(mktemp -d "$repo/models/.clip-download.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
for i in "${!names[@]}"; do
    echo "download-clip: fetching ${remote_paths[$i]}" >&2
    curl -fsSL --connect-timeout 10 --retry 2 -o "$tmp/${names[$i]}" "$base/${remote_paths[$i]}"
done
if [ -n "${CLIP_SHA256SUMS:-}" ]; then
    (cd "$tmp" && sha256sum --check --quiet "$CLIP_SHA256SUMS")
fi
(cd "$tmp" && sha256sum "${names[@]}" > SHA256SUMS)
mkdir -p "$dest"
mv "$tmp"/* "$dest"/
echo "download-clip: models/clip/ is ready" >&2
