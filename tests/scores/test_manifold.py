"""Sparse manifold: Eq. 4 activations and manifold sparsity on hand-computable configurations;
t-SNE on planted clusters."""

import jax.numpy as jnp
import numpy as np
import pytest

from jaxinterp.scores.manifold import (
    distances_from_similarity,
    embedding_set,
    manifold_activations,
    manifold_sparsity,
    top_positions,
    tsne,
)


def test_eq4_on_a_hand_computable_configuration():
    """Four unit rows, two on each of the first two axes. For μ = e_0 the squared distances are
    (0, 0, 2, 2): mean 1, std 1, so d' = (-1, -1, 1, 1) and f = exp(-d'/2) = (e^½, e^½, e^-½, e^-½);
    μ = e_1 mirrors it; μ = e_2 is equally far from all (d = 2, std 0): d' = 0, f = 1."""
    y = np.array([[1, 0, 0], [1, 0, 0], [0, 1, 0], [0, 1, 0]], np.float32)
    got = np.asarray(manifold_activations(jnp.asarray(y), jnp.eye(3, dtype=jnp.float32)))
    h, l = np.exp(0.5), np.exp(-0.5)
    np.testing.assert_allclose(got, [[h, l, 1], [h, l, 1], [l, h, 1], [l, h, 1]], rtol=1e-6)


def test_eq4_neuron_case_is_monotone_in_the_activation(rng):
    """For unit-norm rows and a one-hot μ, d = 2 - 2â_i: the colouring rises with the neuron."""
    y = rng.standard_normal((30, 4)).astype(np.float32)
    y /= np.linalg.norm(y, axis=1, keepdims=True)
    got = np.asarray(manifold_activations(jnp.asarray(y), jnp.eye(4, dtype=jnp.float32)))
    for i in range(4):
        assert np.all(np.diff(got[np.argsort(y[:, i]), i]) > 0)


def test_sparsity_of_hand_placed_exemplars():
    """Direction 0's top 4 images sit on the corners of a unit square: 4 sides of 1 and 2
    diagonals of √2, so the mean over ordered pairs j != k is (4 + 2√2) / 6. Direction 1's top 4
    share one point: 0. Images 4..7 are the square, 0..3 the point, 8..9 never top."""
    emb = np.array([[5, 5]] * 4 + [[0, 0], [1, 0], [1, 1], [0, 1]] + [[9, 9], [-9, 9]], np.float32)
    acts = np.zeros((10, 2), np.float32)
    acts[4:8, 0] = [4, 3, 2, 1]
    acts[0:4, 1] = [4, 3, 2, 1]
    images = embedding_set(acts, m=4)
    np.testing.assert_array_equal(images, np.arange(8))
    pos = top_positions(acts, images, m=4)
    np.testing.assert_array_equal(pos, [[4, 5, 6, 7], [0, 1, 2, 3]])
    got = np.asarray(manifold_sparsity(jnp.asarray(emb[images]), jnp.asarray(pos)))
    np.testing.assert_allclose(got, [(4 + 2 * np.sqrt(2)) / 6, 0.0], rtol=1e-6, atol=1e-7)
    with pytest.raises(ValueError, match="not in the embedded image set"):
        top_positions(acts, images[:3], m=4)


def test_tsne_keeps_planted_clusters(rng):
    centres = np.array([[0.0, 0.0], [20.0, 0.0]])
    pts = np.concatenate([c + rng.standard_normal((20, 2)) for c in centres])
    sim = -np.linalg.norm(pts[:, None] - pts[None], axis=-1)
    emb = tsne(distances_from_similarity(sim), perplexity=10, seed=0, max_iter=300)
    assert emb.shape == (40, 2)
    a, b = emb[:20].mean(0), emb[20:].mean(0)
    spread = max(emb[:20].std(0).max(), emb[20:].std(0).max())
    assert np.linalg.norm(a - b) > 2 * spread
