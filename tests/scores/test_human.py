"""Agreement with human data: ROC-AUC vs scikit-learn, the evidence margin vs a loop, the table filter."""

import csv

import jax.numpy as jnp
import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from jaxinterp.scores.human import (
    REQUIRED_COLUMNS,
    agreement,
    evidence_margin,
    load_responses,
    roc_auc,
)


@pytest.mark.parametrize("ties", [False, True])
def test_roc_auc_matches_sklearn(rng, ties):
    y = rng.random(300) < 0.4
    s = rng.standard_normal(300) + y
    if ties:
        s = np.round(s * 2) / 2  # many tied scores
    assert roc_auc(y, s) == pytest.approx(roc_auc_score(y, s), abs=1e-12)


def test_roc_auc_needs_two_classes():
    with pytest.raises(ValueError, match="only one class"):
        roc_auc(np.ones(5, bool), np.arange(5.0))


def test_evidence_margin_matches_loop(rng, unchecked):
    S = rng.standard_normal((7, 20, 20, 3)).astype(np.float32)
    got = np.asarray(evidence_margin(jnp.asarray(S)))
    X = S.mean(-1)
    for i in range(7):
        log0 = max(X[i, k, 9] for k in range(9)) + max(X[i, k, 19] for k in range(10, 19))
        log1 = max(X[i, k, 19] for k in range(9)) + max(X[i, k, 9] for k in range(10, 19))
        assert got[i] == pytest.approx(log0 - log1, rel=1e-5, abs=1e-5)
    np.testing.assert_allclose(np.asarray(evidence_margin(jnp.asarray(S), layer=1)),
                               np.asarray(evidence_margin(jnp.asarray(S[..., 1]))), rtol=1e-6)
    with pytest.raises(ValueError, match=r"\[n, 20, 20\]"):
        evidence_margin(jnp.zeros((3, 18, 18)))


def write_table(path, rows, columns=REQUIRED_COLUMNS):
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(columns), extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)


def test_filter_and_agreement(tmp_path, rng):
    rows = []
    margins = {}
    for i in range(120):
        layer = f"layer{1 + i % 2}.0.conv1"
        key = (layer, i % 10, i % 3)
        margins.setdefault(key, float(rng.standard_normal()))
        correct = bool(margins[key] + 0.5 * rng.standard_normal() > 0)
        rows.append(dict(model="resnet50", layer=layer, channel=i % 10, batch=i % 3,
                         task_id=f"natural_{i}", correct=correct, confidence=1 + i % 3,
                         catch_trial=False, is_demo=False))
    # rows the filter must drop
    rows.append(dict(rows[0], catch_trial=True))
    rows.append(dict(rows[0], is_demo="True"))
    rows.append(dict(rows[0], task_id="optimized_1"))
    rows.append(dict(rows[0], model="googlenet"))
    path = tmp_path / "responses_main.csv"
    write_table(path, rows)
    table = load_responses(path)
    assert table["correct"].size == 120
    assert set(table["stage"]) == {"layer1", "layer2"}
    res = agreement(table, margins)
    for stage in ("layer1", "layer2"):
        sel = [r for r in rows[:120] if r["layer"].startswith(stage)]
        y = [r["correct"] for r in sel]
        s = [margins[(r["layer"], r["channel"], r["batch"])] for r in sel]
        assert res[stage] == pytest.approx(roc_auc_score(y, s))
    assert load_responses(path, confidence=3)["confidence"].tolist() == [3] * 40


def test_missing_columns_are_named(tmp_path):
    path = tmp_path / "r.csv"
    write_table(path, [], columns=[c for c in REQUIRED_COLUMNS if c not in ("is_demo", "batch")])
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['batch', 'is_demo'\]"):
        load_responses(path)
