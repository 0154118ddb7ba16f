#!/usr/bin/env bash
# One-command set-up for picseek on Debian (re-runnable: each step skips what is done).
# Installs: Chromium + ChromeDriver (crawler and browser tests), nginx (a rate-limiting
# photo host for the throttling tests), ONNX Runtime's shared
# library from the PyPI wheel into .local/onnxruntime/ (git-ignored), a Python venv in
# .venv/ with the packages the benchmarks and reference tests use, a tiny CLIP test
# model in .local/clip-test-model/ (and one per Immich layout in .local/clip-test-models/),
# and, where the
# network allows, the CLIP model into models/clip/.
# With --gpu, also ONNX Runtime's GPU build (onnxruntime-gpu, with its CUDA execution
# provider) into .local/onnxruntime-gpu/, for --device cuda; the machine must have an
# NVIDIA driver, CUDA 13 and cuDNN 9 (as onnxruntime-gpu 1.31 needs).
set -euo pipefail

gpu=false
for arg in "$@"; do
    case "$arg" in
        --gpu) gpu=true ;;
        *) echo "setup: unknown option '$arg' (known: --gpu)" >&2; exit 2 ;;
    esac
done

repo=$(cd "$(dirname "$0")/.." && pwd)
ort_version=1.31.1
ort_dir="$repo/.local/onnxruntime"

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
say() { printf 'setup: %s\n' "$*" >&2; }

install_debian_packages() {
    local missing=()
    command -v chromium >/dev/null || missing+=(chromium)
    command -v chromedriver >/dev/null || missing+=(chromium-driver)
    # nginx is the rate-limiting photo host of the throttling tests (started by them).
    [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
    if [ ${#missing[@]} -eq 0 ]; then
        say "chromium, chromedriver and nginx already installed"
        return
    fi
    say "installing Debian packages: ${missing[*]}"
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${missing[@]}" >/dev/null
    as_root apt-get clean # the downloaded packages are not needed once installed
}

install_python_env() {
    if [ ! -x "$repo/.venv/bin/python" ]; then
        say "creating Python venv in .venv/"
        python3 -m venv "$repo/.venv"
    fi
    say "installing Python packages for benchmarks and reference tests"
    "$repo/.venv/bin/pip" install -q --disable-pip-version-check -r "$repo/scripts/requirements.txt"
}

# Unpacks ONNX Runtime's shared libraries (libonnxruntime.so*, and for the GPU build its
# provider libraries) from the PyPI wheel of package $1 into $2/lib.
install_onnxruntime_wheel() {
    local package=$1 dir=$2
    if [ -f "$dir/lib/libonnxruntime.so.$ort_version" ]; then
        say "ONNX Runtime $ort_version ($package) already in ${dir#"$repo/"}/"
        return
    fi
    say "fetching ONNX Runtime $ort_version from the PyPI wheel $package"
    local tmp; tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' RETURN
    "$repo/.venv/bin/pip" download -q --disable-pip-version-check --no-deps -d "$tmp" "$package==$ort_version"
    mkdir -p "$dir/lib"
    "$repo/.venv/bin/python" - "$tmp" "$dir/lib" <<'PY'
import glob, os, sys, zipfile
wheel = glob.glob(os.path.join(sys.argv[1], "onnxruntime*.whl"))[0]
with zipfile.ZipFile(wheel) as zf:
    for name in zf.namelist():
        base = os.path.basename(name)
        if name.startswith("onnxruntime/capi/") and base.startswith("libonnxruntime") and ".so" in base:
            with zf.open(name) as src, open(os.path.join(sys.argv[2], base), "wb") as dst:
                dst.write(src.read())
PY
    ln -sf "libonnxruntime.so.$ort_version" "$dir/lib/libonnxruntime.so"
}

# A tiny model laid out like models/clip/ (same inputs, outputs and tokenizer), made
# here because no CLIP weights can be downloaded in CI: the tests run the real code
# path on it.
make_clip_test_model() {
    local out="$repo/.local/clip-test-model"
    if [ -f "$out/vision_model.onnx" ] && [ "$out/vision_model.onnx" -nt "$repo/scripts/clip/make_test_model.py" ]; then
        say "CLIP test model already in .local/clip-test-model/"
    else
        say "making the CLIP test model in .local/clip-test-model/"
        "$repo/.venv/bin/python" "$repo/scripts/clip/make_test_model.py" "$out"
    fi
    # Its int8 copy, as scripts/clip/quantize.py makes one of any export.
    "$repo/.venv/bin/python" "$repo/scripts/clip/quantize.py" "$out" >/dev/null 2>&1 \
        || { say "could not quantize the CLIP test model"; return 1; }
}

# Tiny models in each layout of Immich's model folders (CLIP, SigLIP, NLLB-SigLIP,
# M-CLIP, and one whose encoders disagree), for the tests of those layouts.
make_immich_test_models() {
    local out="$repo/.local/clip-test-models"
    local script="$repo/scripts/clip/make_immich_test_models.py"
    if [ -f "$out/ViT-B-32__openai/visual/model.onnx" ] \
        && [ "$out/ViT-B-32__openai/visual/model.onnx" -nt "$script" ]; then
        say "Immich-layout test models already in .local/clip-test-models/"
        return
    fi
    say "making the Immich-layout test models in .local/clip-test-models/"
    (cd "$repo/scripts/clip" && "$repo/.venv/bin/python" "$script" "$out" \
        --clip-tokenizer "$repo/.local/clip-test-model/tokenizer.json")
}

install_clip_model() {
    if "$repo/scripts/download-clip.sh"; then
        return
    fi
    say "CLIP model not downloaded (no network to its host?): the pixel embedder works without it;"
    say "run scripts/download-clip.sh later where the network allows"
}

install_debian_packages
install_python_env
install_onnxruntime_wheel onnxruntime "$ort_dir"
if $gpu; then
    install_onnxruntime_wheel onnxruntime-gpu "$repo/.local/onnxruntime-gpu"
fi
make_clip_test_model
make_immich_test_models
install_clip_model
say "done. ONNX Runtime: $ort_dir/lib/libonnxruntime.so"
