"""Mutual k-NN alignment against a brute-force numpy reference."""

from __future__ import annotations

import numpy as np
import pytest

from jaxinterp.universality import mutual_knn, mutual_knn_all_pairs, neighbours
from tests.universality import _refs


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_mutual_knn_matches_brute_force(rng, metric):
    x = rng.standard_normal((70, 6)).astype(np.float32)
    y = (x[:, :4] + 0.7 * rng.standard_normal((70, 4))).astype(np.float32)
    got = float(mutual_knn(x, y, 5, metric))
    assert got == pytest.approx(_refs.mutual_knn(x, y, 5, metric), abs=1e-6)
    assert 0.1 < got < 0.9  # partly shared neighbourhoods: the comparison is not trivially 0 or 1


def test_neighbours_exclude_self_and_match_numpy(rng):
    x = rng.standard_normal((33, 4)).astype(np.float32)
    nb = np.asarray(neighbours(x, 3, "euclidean", block=8))  # 33 rows in blocks of 8: a padded tail
    assert nb.shape == (33, 3) and not np.any(nb == np.arange(33)[:, None])
    assert [set(r) for r in nb] == _refs.knn_sets(x, 3, "euclidean")


def test_alignment_is_one_for_rotations_and_chance_for_noise(rng):
    x = rng.standard_normal((200, 5)).astype(np.float32)
    q, _ = np.linalg.qr(rng.standard_normal((5, 5)))
    assert float(mutual_knn(x, (x @ q * 3).astype(np.float32), 10, "euclidean")) == pytest.approx(1.0)
    chance = float(mutual_knn(x, rng.standard_normal((200, 5)).astype(np.float32), 10))
    assert chance < 0.15  # about k / (n - 1) = 0.05


def test_all_pairs_equal_a_loop(rng):
    a, b = _refs.layers(rng, n=50)
    got = np.asarray(mutual_knn_all_pairs(a, b, k=4))
    ref = np.array([[_refs.mutual_knn(x, y, 4) for y in b.values()] for x in a.values()])
    np.testing.assert_allclose(got, ref, atol=1e-6)


def test_bad_input_is_refused(rng):
    x = rng.standard_normal((20, 3)).astype(np.float32)
    with pytest.raises(ValueError, match="k must be an int in 1..n-1"):
        mutual_knn(x, x, 20)
    with pytest.raises(ValueError, match="covers 20 images but y covers 19"):
        mutual_knn(x, x[:19], 3)
    with pytest.raises(ValueError, match="metric must be one of"):
        mutual_knn(x, x, 3, "manhattan")
    with pytest.raises(ValueError, match="acts_a covers 20 images but acts_b covers 10"):
        mutual_knn_all_pairs({"a": x}, {"b": x[:10]}, 3)
