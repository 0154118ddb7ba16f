"""Baseline for the clean benchmark: the tutorial's checks and conversion in a Pillow
loop (open, reject undecodable and smaller than 50 px, convert to RGB, save as JPEG).

Usage: clean_pillow.py RAW_DIR OUT_DIR   (prints the seconds taken)
"""
import os
import sys
import time

from PIL import Image


def main():
    raw, out = sys.argv[1], sys.argv[2]
    files = sorted(os.path.join(d, f) for d, _, fs in os.walk(raw) for f in fs)
    start = time.perf_counter()
    kept = 0
    for path in files:
        try:
            with Image.open(path) as img:
                img.load()
                if min(img.size) < 50:
                    continue
                rgb = img.convert("RGB")
        except Exception:
            continue
        target = os.path.join(out, os.path.basename(os.path.dirname(path)))
        os.makedirs(target, exist_ok=True)
        rgb.save(os.path.join(target, os.path.splitext(os.path.basename(path))[0] + ".jpg"), quality=95)
        kept += 1
    print(time.perf_counter() - start)
    print(kept, file=sys.stderr)


if __name__ == "__main__":
    main()
