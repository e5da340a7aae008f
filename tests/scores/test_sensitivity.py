"""Sensitivity: Hungarian pairs, interpolation path II, gradient norms against loops."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxinterp.scores.sensitivity import (
    direction_activations,
    gradient_norms,
    hungarian_pairs,
    interpolate,
    path_gradient_norms,
    path_ii,
)
from jaxinterp.similarity import colour


def unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def test_hungarian_maximises_distance_without_self_pairs(rng):
    c = rng.standard_normal((6, 3))
    pairs = hungarian_pairs(c)
    assert (pairs[:, 0] != pairs[:, 1]).all()
    assert sorted(pairs[:, 1]) == list(range(6))
    dist = np.linalg.norm(c[:, None] - c[None], axis=-1)
    best = max(sum(dist[i, p[i]] for i in range(6))
               for p in itertools.permutations(range(6)) if all(p[i] != i for i in range(6)))
    assert dist[pairs[:, 0], pairs[:, 1]].sum() == pytest.approx(best)


def test_path_ii_matches_loop(rng):
    n, d, k, m = 80, 4, 3, 5
    feats = rng.random((n, 4, 4, 3)).astype(np.float32)
    col = np.asarray(colour.featurize(jnp.asarray(feats), None))
    y = unit(rng.standard_normal((n, d))).astype(np.float32)
    mu = unit(rng.standard_normal((k, d))).astype(np.float32)
    pairs = hungarian_pairs(mu)
    alphas = (-0.5, 0.0, 0.5, 1.0, 1.5)
    got = np.asarray(path_ii(jnp.asarray(y), jnp.asarray(mu), pairs, colour, jnp.asarray(col), alphas, m=m))
    assert got.shape == (k, len(alphas))
    for p, (a, b) in enumerate(pairs):
        for j, al in enumerate(alphas):
            v = unit(al * mu[a] + (1 - al) * mu[b])
            f = -np.linalg.norm(y - v, axis=1)
            t = np.argsort(f)[-m:]
            ref = -np.sqrt(((col[t][:, None] - col[t][None]) ** 2).sum(-1)).mean()
            assert got[p, j] == pytest.approx(ref, rel=1e-4, abs=1e-5)
    # α = 1 is μ_a itself and α = 0 is μ_b
    v = np.asarray(interpolate(jnp.asarray(mu[0]), jnp.asarray(mu[1]), (1.0, 0.0)))
    np.testing.assert_allclose(v, mu[[0, 1]], atol=1e-6)


def make_embed(w):
    def embed(x):
        h = jnp.tanh(x.reshape(x.shape[0], -1) @ w)
        return h / jnp.linalg.norm(h, axis=1, keepdims=True)

    return embed


def test_gradient_norms_match_per_example_grad(rng):
    n, d, k, m = 12, 5, 4, 3
    w = jnp.asarray(rng.standard_normal((4 * 4 * 3, d)).astype(np.float32) / 6)
    embed = make_embed(w)
    images = jnp.asarray(rng.standard_normal((n, 4, 4, 3)).astype(np.float32))
    dirs = jnp.asarray(unit(rng.standard_normal((k, d))).astype(np.float32))
    top = jnp.asarray(rng.integers(0, n, (k, m)))
    got = gradient_norms(embed, images, dirs, top, chunk=5)
    for i in range(k):
        for j in range(m):
            f = lambda x: -jnp.linalg.norm(embed(x[None])[0] - dirs[i])
            g = jax.grad(f)(images[top[i, j]])
            assert float(got.norms[i, j]) == pytest.approx(float(jnp.linalg.norm(g)), rel=1e-4)
    np.testing.assert_allclose(np.asarray(got.mean), np.asarray(got.norms).mean(1), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(got.min), np.asarray(got.norms).min(1), rtol=1e-6)

    y = embed(images)
    path = path_gradient_norms(embed, images, y, dirs, hungarian_pairs(dirs), (0.0, 1.0), m=m)
    assert path.mean.shape == (k, 2)
    # α = 0 is the partner centroid: the same as scoring that centroid directly
    partner = hungarian_pairs(dirs)[:, 1]
    top_b = jax.lax.top_k(direction_activations(y, dirs).T, m)[1][partner]
    np.testing.assert_allclose(np.asarray(path.mean[:, 0]),
                               np.asarray(gradient_norms(embed, images, dirs[partner], top_b).mean),
                               rtol=1e-5)


def test_width_mismatch_is_a_clear_error(rng, unchecked):
    y = jnp.zeros((10, 4))
    with pytest.raises(ValueError, match="width 5 but the activations have width 4"):
        path_ii(y, jnp.ones((3, 5)), np.array([[0, 1]]), colour, jnp.zeros((10, 3)))
