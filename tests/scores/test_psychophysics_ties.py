"""Psychophysics ties are decided by a tolerance, not by the last bit of a float reduction.

Another CPU (another reduction order) moves activations and similarities by an ulp or two.
Planted near-ties, nudged by one ulp either way, must give the same trials and scores.
"""

import jax.numpy as jnp
import numpy as np
import pytest

from jaxinterp.scores.psychophysics import (
    psychophysics,
    psychophysics_scores,
    tie_ranks,
    trial_indices,
    unit_discrimination,
)

T, R = 2, 3  # needs > 4·T·(R+1) = 32 kept images


def pw(a, b):
    return -jnp.sqrt(jnp.sum((a[:, None] - b[None]) ** 2, -1))


def nudge(x, rng):
    """Each value moved by one ulp up, one ulp down, or left alone, at random."""
    x = np.asarray(x, np.float32)
    step = rng.integers(-1, 2, x.shape)
    return np.where(step > 0, np.nextafter(x, np.float32(np.inf)),
                    np.where(step < 0, np.nextafter(x, np.float32(-np.inf)), x)).astype(np.float32)


@pytest.fixture
def tied(rng):
    """[160, 4] activations on 6 levels (many exact ties, also at the quantiles) and 2-D features."""
    acts = (1.0 + 0.37 * rng.integers(0, 6, (160, 4))).astype(np.float32)
    feats = rng.standard_normal((160, 2)).astype(np.float32)
    return acts, jnp.asarray(feats)


def test_tie_ranks_merge_values_one_ulp_apart():
    one = np.float32(1.0)
    f = np.array([one, np.nextafter(one, np.float32(2)), 0.5, np.nextafter(one, np.float32(0)), 2.0],
                 np.float32)
    np.testing.assert_array_equal(np.asarray(tie_ranks(jnp.asarray(f))), [1, 1, 0, 1, 2])


def test_tied_activations_rank_by_lowest_index(key):
    """All images tie (up to an ulp): the top and the bottom are both the lowest indices."""
    f = nudge(np.ones(40, np.float32), np.random.default_rng(1))
    q_top, q_bot, r_top, r_bot = (np.asarray(x) for x in trial_indices(key, jnp.asarray(f), 0.0, T, R))
    used = np.arange(T * (R + 1))
    np.testing.assert_array_equal(np.sort(np.r_[q_top, r_top.ravel()]), used)
    np.testing.assert_array_equal(np.sort(np.r_[q_bot, r_bot.ravel()]), used)


@pytest.mark.parametrize("quantile", [0.0, 0.25])
def test_one_ulp_nudges_of_tied_activations_change_nothing(key, rng, tied, quantile):
    acts, feats = tied
    runs = [psychophysics(key, jnp.asarray(a), pw, feats, quantile, trials=T, refs=R)
            for a in (acts, nudge(acts, rng), nudge(acts, rng), nudge(acts, rng))]
    for r in runs[1:]:
        np.testing.assert_array_equal(r.accuracy, runs[0].accuracy)
        np.testing.assert_array_equal(r.soft_accuracy, runs[0].soft_accuracy)
        np.testing.assert_array_equal(r.margin, runs[0].margin)
    both = [psychophysics_scores(key, jnp.asarray(a), pw, feats, quantile, trials=T, refs=R)
            for a in (acts, nudge(acts, rng))]
    np.testing.assert_array_equal(both[0].hard, both[1].hard)
    np.testing.assert_array_equal(both[0].soft_mean, both[1].soft_mean)


def test_evidence_equal_up_to_an_ulp_is_a_tie(key, rng):
    """Similarities all equal but for their last bits carry no evidence: every trial is a
    tie (margin exactly 0, 0.5 each), however z-scoring would blow the ulps up."""
    acts = jnp.asarray(rng.standard_normal((60, 3)).astype(np.float32))

    def product(a, b):  # [a, 1], [b, 1] -> [a, b]: 1 up to a few ulps for features 1 ± ulp
        return a[:, None, 0] * b[None, :, 0]

    for pool in ("max", "mean"):
        for variant in ("two_sided", "eq2"):
            feats = jnp.asarray(nudge(np.ones((60, 1), np.float32), rng))
            res = psychophysics(key, acts, product, feats, trials=T, refs=R, pool=pool, variant=variant)
            np.testing.assert_array_equal(res.margin, 0.0)
            np.testing.assert_array_equal(res.accuracy, 0.5)


def test_unit_discrimination_ignores_one_ulp_nudges(key, rng, tied):
    acts, feats = tied
    runs = [unit_discrimination(key, jnp.asarray(a), pw, feats, m=3, n_queries=3, pairings=4)
            for a in (acts, nudge(acts, rng), nudge(acts, rng))]
    for r in runs[1:]:
        np.testing.assert_array_equal(r, runs[0])
    # features equal up to an ulp: every query ties, and ties go to the first unit of the pair
    flat = jnp.asarray(nudge(np.ones((160, 1), np.float32), rng))
    same = unit_discrimination(key, jnp.asarray(acts), lambda a, b: a[:, None, 0] * b[None, :, 0],
                               flat, m=3, n_queries=3, pairings=1)
    np.testing.assert_array_equal(same, 0.5)
