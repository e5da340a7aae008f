"""Fits every direction set on small fixed data; the sharding test runs it on 1 and on 8 devices.

Usage: python -m tests.directions._sharded_fits OUT.npz
"""

from __future__ import annotations

import sys

import jax
import numpy as np

from jaxinterp.directions import ica, kmeans, minibatch_kmeans, nmf, pca, sae
from tests.directions._data import planted_sources, relu_like


def run() -> dict[str, np.ndarray]:
    x = relu_like(np.random.default_rng(0), n=301, d=12)  # 301: padding rows on 8 devices
    key = jax.random.key(0)
    mixed, _ = planted_sources(np.random.default_rng(0), n=301)  # identifiable: a unique answer
    out = {
        "pca": pca.fit(key, x, 5).components,
        "ica": ica.fit(key, mixed, 4, tol=1e-6).components,
        "nmf": nmf.fit(key, x, 4, max_iter=60, tol=0.0).components,
        "kmeans": kmeans.fit(key, x, 6, init=x[:6], max_iter=20).centroids,
        "kmeans_bounded": kmeans.fit(key, x, 6, init=x[:6], max_iter=20, algorithm="bounded").centroids,
        "minibatch_kmeans": minibatch_kmeans.fit(key, x, 6, init=x[:6], batch_size=64, max_steps=10).centroids,
        "sae": sae.decoder_directions(sae.fit(key, x, 16, batch_size=64, max_steps=10)),
        "devices": np.asarray(jax.device_count()),
    }
    return {k: np.asarray(v) for k, v in out.items()}


if __name__ == "__main__":
    np.savez(sys.argv[1], **run())
