"""Small planted datasets shared by the direction tests."""

from __future__ import annotations

import numpy as np


def relu_like(rng, n=600, d=16):
    """[n, d] nonnegative, correlated, ReLU-like activations."""
    return np.maximum(rng.standard_normal((n, d)) @ rng.standard_normal((d, d)) * 0.5 + 0.2, 0).astype(np.float32)


def blobs(rng, n=600, d=8, k=5, spread=0.3):
    centres = rng.standard_normal((k, d)) * 3
    return (centres[rng.integers(0, k, n)] + spread * rng.standard_normal((n, d))).astype(np.float32)


def planted_sources(rng, n=3000, d=6):
    s = np.stack([rng.laplace(size=n), rng.uniform(-1.7, 1.7, n),
                  np.sign(rng.standard_normal(n)) * rng.exponential(size=n), rng.standard_t(5, n)], 1)
    mixing = rng.standard_normal((d, 4))
    return (s @ mixing.T + 0.01 * rng.standard_normal((n, d))).astype(np.float32), s


def superposition(rng, n=8000, d=16, m=32, p=0.04):
    """Sharkey's toy data: sparse nonnegative codes over m > d unit ground-truth features."""
    g = rng.standard_normal((m, d))
    g /= np.linalg.norm(g, axis=1, keepdims=True)
    codes = (rng.random((n, m)) < p) * rng.random((n, m))
    return (codes @ g).astype(np.float32), g
