#!/usr/bin/env python3
"""Downloads a CLIP model folder from the Hugging Face hub, checking every file against
checksums before it is installed: by default the public ONNX export of
openai/clip-vit-base-patch32 (Xenova's) into models/clip/; with --immich NAME, one of
Immich's model folders (immich-app/NAME: OpenCLIP, SigLIP, NLLB-SigLIP and M-CLIP
models exported to ONNX) into models/NAME/.

Checksums: the Hugging Face hub publishes, for each file of a revision, its SHA-256
(files kept in LFS) or its git blob id (small files); both are checked. For the default
model's default revision, pinned here, the SHA-256 of the model file as the hub's page
shows it is checked too, so a changed upstream file is refused. An Immich model is
pinned to the commit its `main` branch is at when the download starts (every file comes
from that one commit, recorded in SOURCE.json beside them); their files' sums are not
pinned here, as they could not be seen from where this was written. Files are fetched
into a temporary folder beside the destination and moved in only when all are
verified; the SHA-256 sums are written to SHA256SUMS, and a later run that finds the
files intact does nothing. Standard library only, so it runs before any venv exists.

With --int8, the export's int8 copies of the two encoders (vision_model_quantized.onnx,
text_model_quantized.onnx) come too, checked against the hub's published SHA-256 like
the rest (picseek runs them with --precision int8). Immich publishes none: make them
with scripts/clip/quantize.py.

Environment: CLIP_HUB_URL (default https://huggingface.co), CLIP_REPO, CLIP_REVISION,
CLIP_DEST (default models/clip, or models/NAME, in this repository).
"""

import difflib
import hashlib
import json
import os
import shutil
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request

HUB = os.environ.get("CLIP_HUB_URL", "https://huggingface.co").rstrip("/")
MODELS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "models")
# A commit, not a branch, so that what is downloaded cannot change under the pins.
DEFAULT_REVISION = "4c1807b705b1d015fb032789cc4d221b23025a6f"
# SHA-256 sums pinned for DEFAULT_REVISION, as the hub's file pages show them.
PINNED_SHA256 = {
    DEFAULT_REVISION: {
        "onnx/vision_model.onnx": "fd6e1402a588279d1723c7534d4bcba5bc0b14b47dfab0e46f8c47b8270d7d40",
    }
}
# The Hugging Face export: installed name -> path in the hub repository.
EXPORT_FILES = {
    "vision_model.onnx": "onnx/vision_model.onnx",
    "text_model.onnx": "onnx/text_model.onnx",
    "tokenizer.json": "tokenizer.json",
    "preprocessor_config.json": "preprocessor_config.json",
}
EXPORT_INT8_FILES = {
    "vision_model_quantized.onnx": "onnx/vision_model_quantized.onnx",
    "text_model_quantized.onnx": "onnx/text_model_quantized.onnx",
}
# An Immich folder: the files its loader reads, at the same paths as in the repository.
IMMICH_FILES = {p: p for p in ("config.json", "visual/model.onnx", "visual/preprocess_cfg.json",
                               "textual/model.onnx", "textual/tokenizer.json", "textual/tokenizer_config.json")}
# Immich's CLIP models (immich_ml/models/constants.py), to catch a mistyped name before
# asking the hub.
IMMICH_MODELS = {
    "RN101__openai", "RN101__yfcc15m", "RN50__cc12m", "RN50__openai", "RN50__yfcc15m", "RN50x16__openai",
    "RN50x4__openai", "RN50x64__openai", "ViT-B-16-SigLIP-256__webli", "ViT-B-16-SigLIP-384__webli",
    "ViT-B-16-SigLIP-512__webli", "ViT-B-16-SigLIP-i18n-256__webli", "ViT-B-16-SigLIP__webli",
    "ViT-B-16-plus-240__laion400m_e31", "ViT-B-16-plus-240__laion400m_e32", "ViT-B-16__laion400m_e31",
    "ViT-B-16__laion400m_e32", "ViT-B-16__openai", "ViT-B-32__laion2b-s34b-b79k", "ViT-B-32__laion2b_e16",
    "ViT-B-32__laion400m_e31", "ViT-B-32__laion400m_e32", "ViT-B-32__openai", "ViT-H-14-378-quickgelu__dfn5b",
    "ViT-H-14-quickgelu__dfn5b", "ViT-H-14__laion2b-s32b-b79k", "ViT-L-14-336__openai", "ViT-L-14-quickgelu__dfn2b",
    "ViT-L-14__laion2b-s32b-b82k", "ViT-L-14__laion400m_e31", "ViT-L-14__laion400m_e32", "ViT-L-14__openai",
    "ViT-L-16-SigLIP-256__webli", "ViT-L-16-SigLIP-384__webli", "ViT-SO400M-14-SigLIP-384__webli",
    "ViT-g-14__laion2b-s12b-b42k", "XLM-Roberta-Base-ViT-B-32__laion5b_s13b_b90k",
    "XLM-Roberta-Large-ViT-H-14__frozen_laion5b_s13b_b90k", "nllb-clip-base-siglip__mrl", "nllb-clip-base-siglip__v1",
    "nllb-clip-large-siglip__mrl", "nllb-clip-large-siglip__v1", "ViT-B-16-SigLIP2__webli",
    "ViT-B-32-SigLIP2-256__webli", "ViT-L-16-SigLIP2-256__webli", "ViT-L-16-SigLIP2-384__webli",
    "ViT-L-16-SigLIP2-512__webli", "ViT-SO400M-14-SigLIP2-378__webli", "ViT-SO400M-14-SigLIP2__webli",
    "ViT-SO400M-16-SigLIP2-256__webli", "ViT-SO400M-16-SigLIP2-384__webli", "ViT-SO400M-16-SigLIP2-512__webli",
    "ViT-gopt-16-SigLIP2-256__webli", "ViT-gopt-16-SigLIP2-384__webli", "LABSE-Vit-L-14",
    "XLM-Roberta-Large-Vit-B-16Plus", "XLM-Roberta-Large-Vit-B-32", "XLM-Roberta-Large-Vit-L-14",
}
# What this run downloads, set from the arguments by configure().
REPO = REVISION = DEST = None
FILES = {}
TIMEOUT = 30


class DownloadError(Exception):
    pass


def say(message):
    print(f"download-clip: {message}", file=sys.stderr)


def fetch(url, out=None):
    """GETs url into the open file out (or returns the body)."""
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT) as response:
            if out is None:
                return response.read()
            shutil.copyfileobj(response, out, 1 << 20)
            return None
    except (urllib.error.URLError, OSError) as e:
        raise DownloadError(f"{url}: {e}") from e


def published_checksums():
    """The hub's identity of each file: ('sha256', hex) for LFS files, ('git-blob', hex)
    for the others."""
    published = {}
    for folder in sorted({os.path.dirname(p) for p in FILES.values()}):
        url = f"{HUB}/api/models/{REPO}/tree/{urllib.parse.quote(REVISION, safe='')}"
        if folder:
            url += f"/{folder}"
        try:
            entries = json.loads(fetch(url))
        except json.JSONDecodeError as e:
            raise DownloadError(f"{url}: not the hub's JSON file listing ({e})") from e
        for entry in entries:
            if entry.get("lfs"):
                published[entry["path"]] = ("sha256", entry["lfs"]["oid"])
            elif "oid" in entry:
                published[entry["path"]] = ("git-blob", entry["oid"])
    return published


def file_digests(path):
    """SHA-256 and git blob id of a file, in one read."""
    sha256 = hashlib.sha256()
    blob = hashlib.sha1(f"blob {os.path.getsize(path)}\0".encode())
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            sha256.update(chunk)
            blob.update(chunk)
    return {"sha256": sha256.hexdigest(), "git-blob": blob.hexdigest()}


def verify(remote_path, digests, published):
    if remote_path not in published:
        raise DownloadError(f"{REPO}@{REVISION} publishes no checksum for {remote_path}")
    kind, expected = published[remote_path]
    if digests[kind] != expected:
        raise DownloadError(
            f"{remote_path}: {kind} is {digests[kind]}, but the hub publishes {expected} (corrupt download?)"
        )
    pinned = PINNED_SHA256.get(REVISION, {}).get(remote_path)
    if pinned and digests["sha256"] != pinned:
        raise DownloadError(
            f"{remote_path}: SHA-256 is {digests['sha256']}, not the pinned {pinned}: "
            "the upstream file changed; check it and update the pin in scripts/clip/download_model.py"
        )


def installed_and_intact():
    """Whether DEST holds every file with the SHA-256 its SHA256SUMS records."""
    try:
        with open(os.path.join(DEST, "SHA256SUMS")) as f:
            recorded = {name: digest for digest, name in (line.split() for line in f if line.strip())}
    except (OSError, ValueError):
        return False
    return all(
        os.path.isfile(os.path.join(DEST, name))
        and file_digests(os.path.join(DEST, name))["sha256"] == recorded.get(name)
        for name in FILES
    )


def download():
    if installed_and_intact():
        say(f"{DEST} is already complete")
        return
    published = published_checksums()
    parent = os.path.dirname(os.path.abspath(DEST))
    os.makedirs(parent, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".clip-download.", dir=parent) as tmp:
        sums = []
        for name, remote_path in FILES.items():
            url = f"{HUB}/{REPO}/resolve/{urllib.parse.quote(REVISION, safe='')}/{remote_path}"
            say(f"fetching {url}")
            path = os.path.join(tmp, name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as out:
                fetch(url, out)
            digests = file_digests(path)
            verify(remote_path, digests, published)
            sums.append(f"{digests['sha256']}  {name}\n")
        with open(os.path.join(tmp, "SOURCE.json"), "w") as f:
            json.dump({"repo": REPO, "revision": REVISION, "hub": HUB}, f, indent=2)
        with open(os.path.join(tmp, "SHA256SUMS"), "w") as f:
            f.writelines(sums)
        os.makedirs(DEST, exist_ok=True)
        # SHA256SUMS marks the folder complete: drop the old one first, write it last.
        if os.path.exists(os.path.join(DEST, "SHA256SUMS")):
            os.remove(os.path.join(DEST, "SHA256SUMS"))
        for name in [*FILES, "SOURCE.json", "SHA256SUMS"]:
            os.makedirs(os.path.dirname(os.path.join(DEST, name)), exist_ok=True)
            os.replace(os.path.join(tmp, name), os.path.join(DEST, name))
    say(f"{DEST} is ready ({REPO}@{REVISION})")


def resolve_branch(branch):
    """The commit `branch` of REPO is at now."""
    url = f"{HUB}/api/models/{REPO}/revision/{urllib.parse.quote(branch, safe='')}"
    try:
        sha = json.loads(fetch(url)).get("sha")
    except (json.JSONDecodeError, AttributeError) as e:
        raise DownloadError(f"{url}: not the hub's JSON answer ({e})") from e
    if not isinstance(sha, str) or not sha:
        raise DownloadError(f"{url}: the hub names no commit for {branch}")
    return sha


USAGE = "usage: download-clip.sh [--int8] [--immich NAME]"


def configure(args):
    """Sets REPO, REVISION, DEST and FILES from the arguments; returns an error or None."""
    global REPO, REVISION, DEST, FILES
    int8, immich = False, None
    while args:
        arg, args = args[0], args[1:]
        if arg == "--int8":
            int8 = True
        elif arg == "--immich" and args:
            immich, args = args[0], args[1:]
        else:
            return f"unknown argument {arg!r}: {USAGE} (--int8: also the export's int8 encoders)"
    if immich is None:
        REPO = os.environ.get("CLIP_REPO", "Xenova/clip-vit-base-patch32")
        REVISION = os.environ.get("CLIP_REVISION", DEFAULT_REVISION)
        DEST = os.environ.get("CLIP_DEST", os.path.join(MODELS_DIR, "clip"))
        FILES = {**EXPORT_FILES, **(EXPORT_INT8_FILES if int8 else {})}
        return None
    if int8:
        return "Immich publishes no int8 files: download the model, then run scripts/clip/quantize.py on it"
    if immich not in IMMICH_MODELS:
        close = difflib.get_close_matches(immich, sorted(IMMICH_MODELS), n=3, cutoff=0.8)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        return f"{immich!r} is not one of Immich's CLIP models{hint}; see https://huggingface.co/immich-app"
    REPO = os.environ.get("CLIP_REPO", f"immich-app/{immich}")
    REVISION = os.environ.get("CLIP_REVISION")
    DEST = os.environ.get("CLIP_DEST", os.path.join(MODELS_DIR, immich))
    FILES = dict(IMMICH_FILES)
    return None


if __name__ == "__main__":
    problem = configure(sys.argv[1:])
    if problem:
        say(problem)
        sys.exit(2)
    try:
        if REVISION is None and not installed_and_intact():
            REVISION = resolve_branch("main")
            say(f"{REPO}: main is at {REVISION}; downloading that commit")
        download()
    except DownloadError as e:
        say(f"failed, nothing installed: {e}")
        sys.exit(1)
