"""II per layer and cross-II against plain numpy loops."""

import jax.numpy as jnp
import numpy as np
import pytest

from jaxinterp.scores import ii
from jaxinterp.scores.ii import (
    cross_interpretability_index,
    interpretability_index_all,
    interpretability_index_from_matrix,
)
from tests._jit import new_compilations


def per_layer_pairwise(a, b):
    """A per-layer similarity: -|a_l - b_l| for each of 3 feature 'layers' -> [a, b, 3]."""
    return -jnp.abs(a[:, None, :] - b[None, :, :])


def np_top(f, m):
    return np.argsort(f)[-m:]


def test_ii_per_layer_matches_numpy_loop(rng):
    n, k, m = 40, 6, 5
    acts = rng.standard_normal((n, k)).astype(np.float32)
    feats = rng.standard_normal((n, 3)).astype(np.float32)
    got = np.asarray(interpretability_index_all(jnp.asarray(acts), per_layer_pairwise, jnp.asarray(feats), m=m))
    assert got.shape == (k, 3)
    for u in range(k):
        t = np_top(acts[:, u], m)
        for layer in range(3):
            S = -np.abs(feats[t, layer][:, None] - feats[t, layer][None, :])
            np.testing.assert_allclose(got[u, layer], S.mean(), rtol=1e-5, atol=1e-6)
    off = np.asarray(interpretability_index_all(jnp.asarray(acts), per_layer_pairwise, jnp.asarray(feats), m=m,
                                                off_diagonal=True))
    np.testing.assert_allclose(off, got * m / (m - 1), rtol=1e-5, atol=1e-6)
    sim = np.asarray(per_layer_pairwise(jnp.asarray(feats), jnp.asarray(feats)))
    from_matrix = np.asarray(interpretability_index_from_matrix(jnp.asarray(acts), jnp.asarray(sim), m=m))
    np.testing.assert_allclose(from_matrix, got, rtol=1e-5, atol=1e-6)


def test_cross_ii_matches_numpy_loop(rng):
    n, k, m = 30, 5, 4
    acts = rng.standard_normal((n, k)).astype(np.float32)
    feats = rng.standard_normal((n, 2)).astype(np.float32)
    pairs = np.array([[0, 1], [2, 2], [4, 3], [1, 0]])

    def pw(a, b):
        return -jnp.sqrt(jnp.sum((a[:, None] - b[None]) ** 2, -1))

    got = np.asarray(cross_interpretability_index(jnp.asarray(acts), pw, jnp.asarray(feats), pairs, m=m))
    for p, (a, b) in enumerate(pairs):
        ta, tb = np_top(acts[:, a], m), np_top(acts[:, b], m)
        ref = -np.sqrt(((feats[ta][:, None] - feats[tb][None]) ** 2).sum(-1)).mean()
        np.testing.assert_allclose(got[p], ref, rtol=1e-5)
    diag = np.asarray(interpretability_index_all(jnp.asarray(acts), pw, jnp.asarray(feats), m=m))
    np.testing.assert_allclose(got[1], diag[2], rtol=1e-5)


def test_cross_ii_rejects_bad_pairs(rng, unchecked):
    acts = jnp.asarray(rng.standard_normal((20, 3)).astype(np.float32))
    feats = jnp.zeros((20, 2))
    with pytest.raises(ValueError, match=r"\[p, 2\]"):
        cross_interpretability_index(acts, per_layer_pairwise, feats, np.array([0, 1]))
    with pytest.raises(ValueError, match="index directions 0..2"):
        cross_interpretability_index(acts, per_layer_pairwise, feats, np.array([[0, 3]]))


def test_ties_numpy_picks_the_papers_exemplars(rng):
    """Post-ReLU activations tie at 0: ties='numpy' takes np.argsort(f)[-M:] (the paper's code),
    the default the lowest indices; on a planted tie the two differ and each equals its reference."""
    from jaxinterp.scores.ii import interpretability_index_all, top_exemplars_all

    n, k, m = 40, 6, 5
    acts = np.zeros((n, k), np.float32)
    for u in range(k):  # 2 positive images per direction, the rest tie at 0
        acts[rng.choice(n, 2, replace=False), u] = rng.uniform(1, 2, 2)
    feats = rng.normal(size=(n, 3)).astype(np.float32)
    pairwise = lambda a, b: -jnp.sqrt(jnp.maximum(((a[:, None] - b[None]) ** 2).sum(-1), 0.0))
    d = -np.sqrt(((feats[:, None] - feats[None]) ** 2).sum(-1))
    paper = [d[np.ix_(np.argsort(acts[:, u])[-m:], np.argsort(acts[:, u])[-m:])].mean() for u in range(k)]
    ours = np.asarray(interpretability_index_all(acts, pairwise, feats, m=m, ties="numpy"))
    np.testing.assert_allclose(ours, paper, rtol=1e-5)
    idx = np.asarray(top_exemplars_all(acts, m, "numpy"))
    for u in range(k):
        assert set(idx[u]) == set(np.argsort(acts[:, u])[-m:])
    lowest = np.asarray(top_exemplars_all(acts, m))
    for u in range(k):  # the positives, then the lowest-index zeros
        pos = set(np.flatnonzero(acts[:, u]))
        assert set(lowest[u]) == pos | set([i for i in range(n) if i not in pos][: m - 2])
    assert any(set(idx[u]) != set(lowest[u]) for u in range(k))  # the planted ties do differ
    with pytest.raises(ValueError, match="ties must be one of"):
        top_exemplars_all(acts, m, "stable")


def test_a_second_call_with_the_same_shapes_does_not_recompile(rng):
    acts, feats = (jnp.asarray(rng.standard_normal((30, 4)), jnp.float32) for _ in range(2))

    def run(a):
        return lambda: interpretability_index_all(a, per_layer_pairwise, feats, m=3)

    run(acts)()
    assert new_compilations(ii._ii_all, run(-acts)) == 0
    assert new_compilations(ii._top_k_all, run(-acts)) == 0
    # and the check can fail: another m is another program
    assert new_compilations(ii._top_k_all, lambda: interpretability_index_all(
        acts, per_layer_pairwise, feats, m=4)) == 1
