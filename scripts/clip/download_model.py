#!/usr/bin/env python3
"""Downloads the public ONNX export of openai/clip-vit-base-patch32 (Xenova's) into
models/clip/, checking every file against checksums before it is installed.

Checksums: the Hugging Face hub publishes, for each file of a revision, its SHA-256
(files kept in LFS) or its git blob id (small files); both are checked. For the default
revision, pinned here, the SHA-256 of the model file as the hub's page shows it is
checked too, so a changed upstream file is refused. Files are fetched into a temporary
folder beside the destination and moved in only when all four are verified; the SHA-256
sums are written to SHA256SUMS, and a later run that finds the files intact does
nothing. Standard library only, so it runs before any venv exists.

With --int8, the export's int8 copies of the two encoders (vision_model_quantized.onnx,
text_model_quantized.onnx) come too, checked against the hub's published SHA-256 like
the rest (picseek runs them with --precision int8).

Environment: CLIP_HUB_URL (default https://huggingface.co), CLIP_REPO, CLIP_REVISION,
CLIP_DEST (default models/clip in this repository).
"""

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
REPO = os.environ.get("CLIP_REPO", "Xenova/clip-vit-base-patch32")
# A commit, not a branch, so that what is downloaded cannot change under the pins.
DEFAULT_REVISION = "4c1807b705b1d015fb032789cc4d221b23025a6f"
REVISION = os.environ.get("CLIP_REVISION", DEFAULT_REVISION)
DEST = os.environ.get(
    "CLIP_DEST", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "models", "clip")
)
# installed name -> path in the hub repository
FILES = {
    "vision_model.onnx": "onnx/vision_model.onnx",
    "text_model.onnx": "onnx/text_model.onnx",
    "tokenizer.json": "tokenizer.json",
    "preprocessor_config.json": "preprocessor_config.json",
}
# The int8 copies (--int8).
INT8_FILES = {
    "vision_model_quantized.onnx": "onnx/vision_model_quantized.onnx",
    "text_model_quantized.onnx": "onnx/text_model_quantized.onnx",
}
if "--int8" in sys.argv[1:]:
    FILES.update(INT8_FILES)
# SHA-256 sums pinned for DEFAULT_REVISION, as the hub's file pages show them.
PINNED_SHA256 = {
    DEFAULT_REVISION: {
        "onnx/vision_model.onnx": "fd6e1402a588279d1723c7534d4bcba5bc0b14b47dfab0e46f8c47b8270d7d40",
    }
}
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
            with open(path, "wb") as out:
                fetch(url, out)
            digests = file_digests(path)
            verify(remote_path, digests, published)
            sums.append(f"{digests['sha256']}  {name}\n")
        with open(os.path.join(tmp, "SHA256SUMS"), "w") as f:
            f.writelines(sums)
        os.makedirs(DEST, exist_ok=True)
        # SHA256SUMS marks the folder complete: drop the old one first, write it last.
        if os.path.exists(os.path.join(DEST, "SHA256SUMS")):
            os.remove(os.path.join(DEST, "SHA256SUMS"))
        for name in [*FILES, "SHA256SUMS"]:
            os.replace(os.path.join(tmp, name), os.path.join(DEST, name))
    say(f"{DEST} is ready ({REPO}@{REVISION})")


if __name__ == "__main__":
    unknown = [a for a in sys.argv[1:] if a != "--int8"]
    if unknown:
        say(f"unknown argument {unknown[0]!r}: the only one is --int8 (also fetch the int8 encoders)")
        sys.exit(2)
    try:
        download()
    except DownloadError as e:
        say(f"failed, nothing installed: {e}")
        sys.exit(1)
