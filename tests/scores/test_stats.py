"""The package's one Spearman (scores._stats) against scipy.stats.spearmanr, ties included; its
matrix form, Pearson beside it, and the Holm / Benjamini-Hochberg adjustments."""

import numpy as np
import pytest
from scipy import stats

from jaxinterp.scores._stats import adjusted_p, correlations, mean_sem, ranks, spearman, spearman_matrix


def test_ranks_average_ties():
    np.testing.assert_array_equal(ranks([3.0, 1.0, 3.0, 2.0, 3.0]), [4.0, 1.0, 4.0, 2.0, 4.0])
    x = np.random.default_rng(0).integers(0, 5, 40).astype(float)
    np.testing.assert_array_equal(ranks(x), stats.rankdata(x))


@pytest.mark.parametrize("case", ["continuous", "ties", "heavy ties", "nan", "perfect"])
def test_spearman_equals_scipy(case):
    rng = np.random.default_rng(3)
    x = rng.normal(size=30)
    y = 0.6 * x + rng.normal(size=30)
    if case == "ties":
        x, y = np.round(x, 1), np.round(y, 1)
    elif case == "heavy ties":
        x, y = rng.integers(0, 3, 30).astype(float), np.round(y)
    elif case == "nan":
        x[[2, 7]], y[11] = np.nan, np.inf
    elif case == "perfect":
        y = -np.exp(x)
    got = spearman(x, y)
    ok = np.isfinite(x) & np.isfinite(y)
    want = stats.spearmanr(x[ok], y[ok])
    assert got["n"] == ok.sum()
    np.testing.assert_allclose(got["rho"], want[0], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(got["p"], want[1], rtol=1e-9, atol=1e-300)


def test_spearman_undefined():
    assert spearman([1.0, 2.0], [2.0, 1.0]) is None  # fewer than 3 pairs
    assert spearman([0.1] * 5, [1.0, 2.0, 3.0, 4.0, 5.0]) is None  # constant
    assert spearman([1.0, np.nan, 3.0, np.nan], [1.0, 2.0, 3.0, 4.0]) is None  # 2 finite pairs
    with pytest.raises(ValueError, match="two vectors of one length"):
        spearman([1.0, 2.0, 3.0], [1.0, 2.0])


def test_spearman_matrix_is_every_pair():
    rng = np.random.default_rng(1)
    cols = np.round(rng.normal(size=(25, 4)), 1)
    cols[3, 1] = np.nan
    cols[:, 3] = 2.0  # constant: undefined against everything
    m = spearman_matrix(cols)
    for i in range(3):
        for j in range(3):
            ok = np.isfinite(cols[:, i]) & np.isfinite(cols[:, j])
            np.testing.assert_allclose(m[i, j], stats.spearmanr(cols[ok, i], cols[ok, j])[0], atol=1e-12)
    assert np.isnan(m[3]).all() and np.isnan(m[:, 3]).all()


def test_correlations_carry_the_same_spearman():
    rng = np.random.default_rng(2)
    x, y = np.round(rng.normal(size=20), 1), rng.normal(size=20)
    c, s = correlations(x, y), spearman(x, y)
    assert (c["spearman"], c["spearman_p"], c["n"]) == (s["rho"], s["p"], s["n"])
    np.testing.assert_allclose(c["pearson"], stats.pearsonr(x, y)[0], rtol=1e-12)
    assert np.isnan(correlations([1.0, 1.0, 1.0], [1.0, 2.0, 3.0])["spearman"])


def _holm_by_definition(p):
    """Holm-Bonferroni written out: step down through the sorted p values."""
    p = np.asarray(p, float)
    m = len(p)
    order = np.argsort(p, kind="stable")
    out = np.empty(m)
    running = 0.0
    for i, j in enumerate(order):
        running = max(running, min(1.0, (m - i) * p[j]))
        out[j] = running
    return out


def test_adjusted_p_equals_holm_by_definition_and_scipy_bh():
    p = np.random.default_rng(1).uniform(0, 0.2, 40) ** 2
    p[[3, 9]] = p[5]  # ties
    holm, bh = adjusted_p(p)
    np.testing.assert_allclose(holm, _holm_by_definition(p), rtol=1e-12)
    np.testing.assert_allclose(bh, stats.false_discovery_control(p, method="bh"), rtol=1e-12)
    with_nan = np.concatenate([p, [np.nan]])
    h2, b2 = adjusted_p(with_nan)
    assert np.isnan(h2[-1]) and np.isnan(b2[-1])
    np.testing.assert_allclose(h2[:-1], holm)


def test_mean_sem_over_finite_values():
    x = np.array([[1.0, 2.0, np.nan, 4.0], [np.nan, np.nan, np.nan, np.nan], [3.0, np.nan, np.nan, np.nan]])
    mean, sem = mean_sem(x, axis=1)
    np.testing.assert_allclose(mean[0], 7 / 3)
    np.testing.assert_allclose(sem[0], np.std([1.0, 2.0, 4.0], ddof=1) / np.sqrt(3))
    assert np.isnan(mean[1]) and np.isnan(sem[1])  # nothing finite
    assert mean[2] == 3.0 and np.isnan(sem[2])  # one value: no spread to estimate
    m, s = mean_sem([2.0, 4.0])
    assert m == 3.0 and s == pytest.approx(1.0)
