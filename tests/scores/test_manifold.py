"""Sparse manifold: Eq. 4 activations and manifold sparsity against loops; t-SNE on distances."""

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


def test_eq4_matches_loop(rng):
    y = rng.standard_normal((30, 4)).astype(np.float32)
    y /= np.linalg.norm(y, axis=1, keepdims=True)
    mu = np.eye(4, dtype=np.float32)  # neurons: one-hot centroids
    got = np.asarray(manifold_activations(jnp.asarray(y), jnp.asarray(mu)))
    for i in range(4):
        d = ((y - mu[i]) ** 2).sum(1)
        ref = np.exp(-((d - d.mean()) / d.std()) / 2.0)
        np.testing.assert_allclose(got[:, i], ref, rtol=1e-4)
    # for unit-norm rows the neuron case is monotone in the activation (d = 2 - 2 â_i)
    assert np.all(np.diff(got[np.argsort(y[:, 0]), 0]) >= -1e-6)


def test_sparsity_matches_loop(rng):
    acts = rng.standard_normal((50, 3)).astype(np.float32)
    images = embedding_set(acts, acts[:, :1] * -1, m=4)
    emb = rng.standard_normal((images.size, 2)).astype(np.float32)
    pos = top_positions(acts, images, m=4)
    got = np.asarray(manifold_sparsity(jnp.asarray(emb), jnp.asarray(pos)))
    for u in range(3):
        pts = emb[pos[u]]
        d = [np.linalg.norm(pts[i] - pts[j]) for i in range(4) for j in range(4) if i != j]
        assert got[u] == pytest.approx(np.mean(d), rel=1e-5)
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
