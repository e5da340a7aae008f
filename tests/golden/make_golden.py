"""Write paper_tiny.npz / roles_tiny.npz: the outputs of `paper` and `roles` before the task redesign.

These files were made once with the monolithic recipes at commit 6877996
(``git checkout 6877996 && python -m tests.golden.make_golden``). They pin the numbers the
task-based commands must keep reproducing; rerunning this script on newer code would only copy
the new code's numbers, so do that only on purpose, when a change of numbers is intended.
"""

from __future__ import annotations

import csv
import json
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from jaxinterp import cli
from tests.golden.fixtures import HERE, paper_fixture, roles_fixture


def main():
    commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "p").mkdir()
        assert cli.main([*paper_fixture(root / "p"), "--out", str(root / "p" / "out")]) == 0
        arrays = dict(np.load(root / "p" / "out" / "arrays.npz"))
        summary = (root / "p" / "out" / "summary.json").read_text()
        np.savez_compressed(HERE / "paper_tiny.npz", summary_json=np.asarray(summary),
                            commit=np.asarray(commit), **arrays)
        (root / "r").mkdir()
        assert cli.main([*roles_fixture(root / "r"), "--out", str(root / "r" / "out")]) == 0
        rows = list(csv.DictReader(open(root / "r" / "out" / "neurons.csv")))
        cols = {c: np.array([float(r[c]) for r in rows]) for c in rows[0] if c != "role"}
        corr = (root / "r" / "out" / "correlations.json").read_text()
        np.savez_compressed(HERE / "roles_tiny.npz", roles=np.array([r["role"] for r in rows]),
                            correlations_json=np.asarray(corr), commit=np.asarray(commit),
                            **{f"col:{c}": v for c, v in cols.items()})
    print(json.dumps({"commit": commit, "paper_arrays": len(arrays), "roles_columns": len(cols)}))


if __name__ == "__main__":
    main()
