"""`roles` as a graph of tasks: the numbers of the monolithic command, reuse, and up-front checks."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from jaxinterp import cli
from tests.golden.fixtures import HERE, roles_fixture


@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    root = tmp_path_factory.mktemp("roles")
    args = roles_fixture(root)
    assert cli.main([*args, "--out", str(root / "out")]) == 0
    return root, args


def test_same_numbers_as_before_the_redesign(ran):
    root, _ = ran
    golden = np.load(HERE / "roles_tiny.npz")
    rows = list(csv.DictReader(open(root / "out" / "neurons.csv")))
    columns = [k[4:] for k in golden.files if k.startswith("col:")]
    assert len(columns) == 25 and list(rows[0])[:-1] == columns
    for c in columns:
        np.testing.assert_allclose([float(r[c]) for r in rows], golden[f"col:{c}"], rtol=1e-5, atol=1e-6,
                                   equal_nan=True, err_msg=c)
    assert [r["role"] for r in rows] == golden["roles"].tolist()
    old = json.loads(str(golden["correlations_json"]))["by_measure"]
    new = json.loads((root / "out" / "correlations.json").read_text())["by_measure"]
    assert old.keys() == new.keys()
    for measure in old:
        for sim, v in old[measure].items():
            if v is None:
                assert new[measure][sim] is None
            else:
                assert new[measure][sim]["rho"] == pytest.approx(v["rho"], abs=1e-6), measure


def test_a_rerun_only_redraws(ran, capsys):
    root, args = ran
    capsys.readouterr()
    assert cli.main([*args, "--out", str(root / "out")]) == 0
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["computed"] == 0 and line["reused"] == 8


def test_bad_levels_fail_before_any_work(ran, capsys, tmp_path):
    root, args = ran
    bad = [a if a != "pixels" else "pixels,bogus" for a in args]
    assert cli.main([*bad, "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "unknown level(s) ['bogus']" in err and "immediate, window, pixels" in err
    assert not (tmp_path / "o").exists()  # nothing was started
