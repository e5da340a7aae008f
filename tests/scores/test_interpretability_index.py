"""Interpretability Index against a plain numpy loop, for every direction at once."""

import jax
import numpy as np
import pytest

from jaxinterp import similarity
from jaxinterp.scores import (
    interpretability_index,
    interpretability_index_all,
    interpretability_index_from_matrix,
    top_exemplars,
)


def numpy_ii(acts, sim_fn, m, off_diagonal=False):
    out = []
    for k in range(acts.shape[1]):
        top = np.argsort(acts[:, k], kind="stable")[-m:]
        S = np.array([[sim_fn(i, j) for j in top] for i in top])
        out.append((S.sum() - np.trace(S)) / (m * (m - 1)) if off_diagonal else S.mean())
    return np.array(out)


@pytest.fixture
def data(rng):
    images = rng.random((60, 5, 5, 3)).astype(np.float32)
    labels = rng.integers(0, 4, 60)
    acts = rng.normal(size=(60, 9)).astype(np.float32)
    return images, labels, acts


@pytest.mark.parametrize("off_diagonal", [False, True])
def test_colour_ii_matches_numpy(data, off_diagonal):
    images, labels, acts = data
    colours = images.mean((1, 2))
    ref = numpy_ii(acts, lambda i, j: -np.linalg.norm(colours[i] - colours[j]), 5, off_diagonal)
    feats = similarity.colour.featurize(images, labels)
    got = interpretability_index_all(acts, similarity.colour, feats, m=5, off_diagonal=off_diagonal, chunk=4)
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)
    assert np.all(np.asarray(got) <= 0)


def test_label_ii_matches_numpy(data):
    images, labels, acts = data
    ref = numpy_ii(acts, lambda i, j: float(labels[i] == labels[j]), 4)
    feats = similarity.label.featurize(images, labels)
    np.testing.assert_allclose(interpretability_index_all(acts, similarity.label, feats, m=4), ref, rtol=1e-6)


def test_single_direction_matrix_and_all_agree(data):
    images, labels, acts = data
    feats = similarity.colour.featurize(images, None)
    S = similarity.matrix(similarity.colour, feats)
    all_ = interpretability_index_all(acts, similarity.colour, feats)
    from_matrix = interpretability_index_from_matrix(acts, S)
    one = jax.vmap(lambda f: interpretability_index(f, feats, similarity.colour.pairwise), 1)(acts)
    np.testing.assert_allclose(all_, from_matrix, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(all_, one, rtol=1e-5, atol=1e-6)


def test_top_exemplars_are_highest_first():
    f = np.array([0.1, 5.0, -1.0, 3.0, 4.0], np.float32)
    np.testing.assert_array_equal(top_exemplars(f, 3), [1, 4, 3])


def test_planted_coherent_direction_scores_higher(rng):
    # direction 0 fires on red images, direction 1 on random ones
    images = rng.random((200, 4, 4, 3)).astype(np.float32) * 0.2
    images[:20, ..., 0] = 0.9
    acts = rng.normal(size=(200, 2)).astype(np.float32)
    acts[:20, 0] += 10.0
    ii = interpretability_index_all(acts, similarity.colour, similarity.colour.featurize(images, None))
    assert ii[0] > ii[1]


def test_bad_input(data):
    images, labels, acts = data
    feats = similarity.colour.featurize(images, None)
    with pytest.raises(ValueError, match="M=61 exemplars.*only 60 images"):
        interpretability_index_all(acts, similarity.colour, feats, m=61)
    with pytest.raises(ValueError, match="empty"):
        interpretability_index_all(acts[:0], similarity.colour, feats[:0])
    with pytest.raises(ValueError, match="cover 60 images but the similarity features cover 59"):
        interpretability_index_all(acts, similarity.colour, feats[:59])
    with pytest.raises(ValueError, match=r"must be \[60, 60\]"):
        interpretability_index_from_matrix(acts, np.zeros((5, 5)))
    with pytest.raises(ValueError, match="needs labels"):
        similarity.label.featurize(images, None)
