"""cleanvision's exact and near duplicate sets for the images under a folder, as JSON:
{"exact_duplicates": [[path, ...], ...], "near_duplicates": [[path, ...], ...]}, paths
relative to the folder. The reference clean's duplicate decisions are compared with
(tests/duplicates.rs)."""

import contextlib
import json
import sys
from pathlib import Path

from cleanvision import Imagelab

folder = Path(sys.argv[1])
# cleanvision prints progress on standard output, where the JSON goes.
with contextlib.redirect_stdout(sys.stderr):
    lab = Imagelab(data_path=str(folder))
    lab.find_issues({"exact_duplicates": {}, "near_duplicates": {}}, n_jobs=1, verbose=False)
out = {}
for kind in ("exact_duplicates", "near_duplicates"):
    sets = lab.info[kind]["sets"]
    out[kind] = [sorted(str(Path(p).resolve().relative_to(folder.resolve())) for p in s) for s in sets]
json.dump(out, sys.stdout)
