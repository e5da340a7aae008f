"""Unit matching recovers a planted permutation; Hungarian is the best one-to-one assignment."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from jaxinterp.universality import Matching, match_hungarian, match_max, mutual_best, unit_correlations


def test_correlations_match_numpy(rng):
    x = rng.standard_normal((80, 5)).astype(np.float32)
    y = (x[:, :3] @ rng.standard_normal((3, 4)) + rng.standard_normal((80, 4))).astype(np.float32)
    ref = np.corrcoef(x.T, y.T)[:5, 5:]
    np.testing.assert_allclose(np.asarray(unit_correlations(x, y)), ref, atol=1e-5)


def test_dead_unit_correlates_zero(rng):
    x = np.c_[rng.standard_normal((30, 2)), np.zeros(30)].astype(np.float32)
    c = np.asarray(unit_correlations(x, x))
    assert np.isfinite(c).all() and np.all(c[2] == 0)


@pytest.mark.parametrize("matcher", [match_max, match_hungarian])
def test_planted_permutation_is_recovered_exactly(rng, matcher):
    n, d = 300, 24
    # correlated units (a shared latent), so a unit's best match is not trivially unique
    z = rng.standard_normal((n, 6))
    x = np.maximum(z @ rng.standard_normal((6, d)) + rng.standard_normal((n, d)), 0)
    perm = rng.permutation(d)
    y = x[:, perm] * rng.uniform(0.5, 3, d) + 2.0 + 0.3 * rng.standard_normal((n, d))  # rescaled, noisy
    corr = np.asarray(unit_correlations(x.astype(np.float32), y.astype(np.float32)))
    m = matcher(corr)
    inverse = np.argsort(perm)  # unit i of x is column inverse[i] of y
    np.testing.assert_array_equal(m.partner, inverse)
    assert np.all(m.correlation > 0.8)
    assert mutual_best(corr).all()


def test_hungarian_is_the_best_one_to_one_assignment(rng):
    corr = rng.uniform(-1, 1, (5, 5))
    best = max(itertools.permutations(range(5)), key=lambda p: corr[np.arange(5), p].sum())
    m = match_hungarian(corr)
    assert isinstance(m, Matching)
    np.testing.assert_array_equal(m.partner, best)
    np.testing.assert_allclose(m.correlation, corr[np.arange(5), best])
    greedy = match_max(corr)
    assert corr[np.arange(5), m.partner].sum() <= greedy.correlation.sum() + 1e-12


def test_rectangular_hungarian_leaves_extra_units_unmatched(rng):
    corr = rng.uniform(-1, 1, (6, 4))
    m = match_hungarian(corr)
    assert (m.partner == -1).sum() == 2 and np.isnan(m.correlation[m.partner == -1]).all()
    assert len(set(m.partner[m.partner >= 0])) == 4


def test_mutual_best_marks_only_reciprocal_pairs():
    corr = np.array([[0.9, 0.1], [0.8, 0.2], [0.1, 0.7]])
    np.testing.assert_array_equal(mutual_best(corr), [True, False, True])


def test_bad_input_is_refused(rng):
    x = rng.standard_normal((10, 3)).astype(np.float32)
    with pytest.raises(ValueError, match="covers 10 images but y covers 9"):
        unit_correlations(x, x[:9])
    with pytest.raises(ValueError, match=r"\[dx, dy\] correlation matrix"):
        match_max(np.zeros(3))
    with pytest.raises(ValueError, match="NaN"):
        match_hungarian(np.array([[np.nan, 1.0]]))
