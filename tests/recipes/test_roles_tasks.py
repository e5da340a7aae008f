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


def test_the_gathered_statistics_are_scipys_and_the_definitions():
    """What the report draws is computed here: Spearman ρ, p and the Holm / BH adjustments of every
    test (scipy), and the neurons at each end of a measure (NaN counted as the median)."""
    from scipy import stats

    from jaxinterp.recipes.roles import extreme_neurons, spearman_table

    rng = np.random.default_rng(4)
    ii = rng.normal(size=30)
    table = {"neuron": np.arange(30), "a.lf": np.round(ii + rng.normal(size=30), 1),
             "b.p0": rng.normal(size=30), "flat": np.ones(30), "ii_colour": ii}
    table["b.p0"][[1, 5]] = np.nan
    got = spearman_table(table, {"colour": "ii_colour"})
    assert set(got) == {"a.lf", "b.p0", "flat"} and got["flat"]["colour"] is None
    p = []
    for name in ("a.lf", "b.p0"):
        ok = np.isfinite(table[name])
        rho, pv = stats.spearmanr(table[name][ok], ii[ok])
        v = got[name]["colour"]
        assert v["n"] == ok.sum() and v["rho"] == pytest.approx(rho, abs=1e-12)
        assert v["p"] == pytest.approx(pv, rel=1e-9)
        p.append(pv)
    bh = stats.false_discovery_control(p, method="bh")
    holm = np.minimum(1, np.maximum.accumulate(np.sort(p) * [2, 1]))[np.argsort(np.argsort(p))]
    for name, h, q in zip(("a.lf", "b.p0"), holm, bh):
        assert got[name]["colour"]["p_holm"] == pytest.approx(h, rel=1e-12)
        assert got[name]["colour"]["q_bh"] == pytest.approx(q, rel=1e-12)

    values = np.array([3.0, np.nan, -1.0, 7.0, 0.5, 2.0])  # NaN sits at the median, 2.0
    np.testing.assert_array_equal(extreme_neurons(values), [[2, 4], [3, 0]])
