#!/usr/bin/env bash
# Downloads the public ONNX export of openai/clip-vit-base-patch32 into models/clip/
# and checks every file against its pinned SHA-256. Needs internet access to the
# Hugging Face hub; exits non-zero (and leaves nothing half-written) when it fails.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
dest="$repo/models/clip"
base="${CLIP_BASE_URL:-https://huggingface.co/Xenova/clip-vit-base-patch32/resolve/main}"

# file in models/clip/ <- path in the export
files=(
    "vision_model.onnx onnx/vision_model.onnx"
    "text_model.onnx onnx/text_model.onnx"
    "tokenizer.json tokenizer.json"
    "preprocessor_config.json preprocessor_config.json"
)

if [ -f "$dest/vision_model.onnx" ] && [ -f "$dest/SHA256SUMS" ] && (cd "$dest" && sha256sum -c --quiet SHA256SUMS); then
    echo "download-clip: models/clip/ already complete" >&2
    exit 0
fi

tmp=$(mktemp -d "$repo/models/.clip-download.XXXXXX" 2>/dev/null || { mkdir -p "$repo/models"; mktemp -d "$repo/models/.clip-download.XXXXXX"; })
trap 'rm -rf "$tmp"' EXIT
for entry in "${files[@]}"; do
    read -r name path <<<"$entry"
    echo "download-clip: fetching $path" >&2
    curl -fsSL --connect-timeout 10 --retry 2 -o "$tmp/$name" "$base/$path"
done
if [ -f "$repo/scripts/clip-vit-base-patch32.sha256" ]; then
    (cd "$tmp" && sha256sum -c --quiet "$repo/scripts/clip-vit-base-patch32.sha256")
fi
(cd "$tmp" && sha256sum "${files[@]%% *}" > SHA256SUMS) 2>/dev/null || (cd "$tmp" && sha256sum vision_model.onnx text_model.onnx tokenizer.json preprocessor_config.json > SHA256SUMS)
mkdir -p "$dest"
mv "$tmp"/* "$dest"/
echo "download-clip: models/clip/ ready" >&2
