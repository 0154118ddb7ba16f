"""cleanvision's image-property issues for every image under a folder, as JSON:
{"<path relative to the folder>": {"<issue>": {"score": s, "issue": bool}}}.
The reference picseek's quality flags are compared with (tests/quality.rs)."""

import contextlib
import json
import sys
from pathlib import Path

from cleanvision import Imagelab

ISSUES = ["dark", "light", "blurry", "low_information", "grayscale", "odd_aspect_ratio", "odd_size"]

folder = Path(sys.argv[1])
# cleanvision prints progress on standard output, where the JSON goes.
with contextlib.redirect_stdout(sys.stderr):
    lab = Imagelab(data_path=str(folder))
    lab.find_issues({issue: {} for issue in ISSUES}, n_jobs=1, verbose=False)
out = {}
for path, row in lab.issues.iterrows():
    rel = str(Path(path).resolve().relative_to(folder.resolve()))
    out[rel] = {i: {"score": float(row[f"{i}_score"]), "issue": bool(row[f"is_{i}_issue"])} for i in ISSUES}
json.dump(out, sys.stdout)
