"""K-means basics used by the demo: sklearn parity, identity init, unit rows, errors."""

import jax
import numpy as np
import pytest
from sklearn.cluster import KMeans as SKKMeans

from jaxinterp.directions import KMeans, kmeans, unit_rows


def test_lloyd_matches_sklearn_from_same_init(rng):
    X = rng.normal(size=(500, 6)).astype(np.float32)
    init = X[:5]
    ref = SKKMeans(5, init=init, n_init=1, algorithm="lloyd", tol=1e-6).fit(X)
    ours = kmeans.fit(jax.random.key(0), X, 5, init=init, tol=1e-6)
    assert abs(float(ours.inertia) - ref.inertia_) / ref.inertia_ < 5e-3
    np.testing.assert_allclose(np.sort(np.asarray(ours.centroids), 0), np.sort(ref.cluster_centers_, 0),
                               atol=1e-3)


def test_identity_init_starts_on_neuron_axes(rng):
    A = np.abs(rng.normal(size=(300, 4))).astype(np.float32)
    state = kmeans.fit(None, unit_rows(A), 4, init="identity", max_iter=0)
    np.testing.assert_array_equal(state.centroids, np.eye(4))
    with pytest.raises(ValueError, match="k == n_features"):
        kmeans.fit(None, A, 3, init="identity")


def test_kmeans_plus_plus_recovers_planted_clusters(rng):
    centres = rng.normal(size=(4, 8)) * 10
    X = (centres[rng.integers(0, 4, 400)] + rng.normal(size=(400, 8))).astype(np.float32)
    model = KMeans(4, n_init=3).fit(X)
    matched = np.min(np.linalg.norm(model.cluster_centers_[:, None] - centres[None], axis=-1), 0)
    assert np.all(matched < 1.0)


def test_unit_rows_and_spherical(rng):
    A = rng.normal(size=(100, 5)).astype(np.float32)
    np.testing.assert_allclose(np.linalg.norm(unit_rows(A), axis=1), 1, rtol=1e-5)
    state = kmeans.fit(jax.random.key(1), unit_rows(A), 3, spherical=True)
    np.testing.assert_allclose(np.linalg.norm(state.centroids, axis=1), 1, rtol=1e-5)


def test_errors(rng):
    A = rng.normal(size=(10, 3)).astype(np.float32)
    with pytest.raises(ValueError, match="between 1 and the number of samples \\(10\\)"):
        kmeans.fit(jax.random.key(0), A, 11)
    A[2, 1] = np.nan
    with pytest.raises(ValueError, match="NaN or inf"):
        kmeans.fit(jax.random.key(0), A, 2)
