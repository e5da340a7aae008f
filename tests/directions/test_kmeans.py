import jax
import numpy as np
import pytest
from sklearn.cluster import KMeans as SkKMeans

from jaxinterp.directions import KMeans, kmeans, unit_rows
from tests.directions._data import blobs, relu_like


@pytest.mark.parametrize("algorithm", ["lloyd", "bounded"])
def test_inertia_matches_sklearn_from_same_init(rng, algorithm):
    x = relu_like(rng, n=800, d=12)
    init = x[rng.choice(len(x), 10, replace=False)]
    ref = SkKMeans(10, init=init, n_init=1, max_iter=100, algorithm="lloyd").fit(x)
    ours = KMeans(10, init=init, max_iter=100, algorithm=algorithm).fit(x)
    assert abs(ours.inertia_ - ref.inertia_) <= 0.005 * ref.inertia_
    np.testing.assert_array_equal(ours.predict(x), ref.predict(x))


def test_bounded_equals_lloyd(rng):
    x = blobs(rng, n=900, d=6, k=8, spread=1.0)
    init = x[:8]
    a = kmeans.fit(None, x, 8, init=init, algorithm="lloyd", tol=0.0, max_iter=30)
    b = kmeans.fit(None, x, 8, init=init, algorithm="bounded", tol=0.0, max_iter=30)
    np.testing.assert_allclose(a.centroids, b.centroids, atol=1e-5)


def test_kmeans_pp_finds_planted_blobs(rng, key):
    x = blobs(rng)
    state = kmeans.fit(key, x, 5, n_init=3)
    # every sample within a few spreads of its centroid: the blobs are recovered
    assert float(state.inertia) / len(x) < 8 * 0.3**2 * 2


def test_empty_cluster_is_relocated(rng):
    x = blobs(rng, n=300, d=4, k=3)
    init = np.concatenate([x[:3], np.full((1, 4), 1e3, np.float32)])  # a centroid nobody picks
    state = kmeans.fit(None, x, 4, init=init, max_iter=50)
    assert np.abs(np.asarray(state.centroids)).max() < 1e2
    ref = SkKMeans(4, init=init, n_init=1, max_iter=50).fit(x)
    assert float(state.inertia) <= 1.005 * ref.inertia_


def test_identity_init_and_spherical(rng, key):
    x = unit_rows(relu_like(rng, d=8))
    state = kmeans.fit(key, x, 8, init="identity", spherical=True)
    np.testing.assert_allclose(np.linalg.norm(state.centroids, axis=1), 1.0, atol=1e-5)
    with pytest.raises(ValueError, match="identity"):
        kmeans.fit(key, x, 5, init="identity")


def test_transform_modes_rank_alike(rng, key):
    """On unit-norm rows, projection and -distance order every centroid's samples alike (METHODS §1.4)."""
    x = unit_rows(relu_like(rng))
    state = kmeans.fit(key, x, 6)
    proj = np.asarray(kmeans.transform(state, x))
    dist = np.asarray(jax.jit(kmeans.transform, static_argnames="mode")(state, x, mode="distance"))
    c = np.asarray(state.centroids)
    np.testing.assert_allclose(dist, -np.linalg.norm(np.asarray(x)[:, None] - c[None], axis=-1), atol=1e-3)
    assert proj.shape == dist.shape == (len(x), 6)
    by_dist = np.argsort(-dist, axis=0, kind="stable")
    by_proj = np.argsort(-proj, axis=0, kind="stable")
    # the top-5 exemplars (what the II uses) are the same samples in the same order
    np.testing.assert_array_equal(by_dist[:5], by_proj[:5])
    # and the whole distance ranking is a projection ranking: projections never rise along it
    along = np.take_along_axis(proj, by_dist, axis=0)
    assert (np.diff(along, axis=0) <= 1e-5).all()


def test_bad_inputs(rng, key, unchecked):
    x = relu_like(rng, n=20)
    with pytest.raises(ValueError, match="between 1 and the number of samples"):
        kmeans.fit(key, x, 21)
    bad = x.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN or inf"):
        kmeans.fit(key, bad, 3)
    bad[0, 0] = np.inf
    with pytest.raises(ValueError, match="NaN or inf"):
        kmeans.fit(key, bad, 3)
    with pytest.raises(ValueError, match="2-D"):
        kmeans.fit(key, x[0], 3)


def test_chunked_assignment_equals_one_pass(rng):
    """The CPU fit assigns in cache-sized chunks over zero-weight padding rows: same fit as one pass."""
    import jax.numpy as jnp

    from jaxinterp.directions.kmeans import (
        _lloyd,
        _mean_variance,
        assign,
        assign_chunked,
        chunk_rows,
    )

    x = relu_like(rng, n=1001, d=8)
    k = 600  # k large enough that 1,001 rows take two chunks of 504 (7 padding rows)
    chunk = chunk_rows(len(x), k)
    assert chunk == 504
    init = x[rng.choice(len(x), k, replace=False)]
    got = kmeans.fit(None, x, k, init=init, max_iter=15, tol=0.0)
    want = _lloyd(jnp.asarray(x), jnp.ones(len(x)), jnp.asarray(init), 0.0, 15, False, 0)
    np.testing.assert_allclose(got.centroids, want.centroids, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got.inertia, want.inertia, rtol=1e-5)
    xp = jnp.concatenate([jnp.asarray(x), jnp.zeros((7, 8))])
    labels, cost = assign_chunked(xp, got.centroids, chunk=chunk)
    ref_labels, ref_cost = assign(jnp.asarray(x), got.centroids)
    np.testing.assert_array_equal(labels[:1001], ref_labels)
    np.testing.assert_allclose(cost[:1001], ref_cost, rtol=1e-5, atol=1e-5)
    # the tolerance's feature variance ignores the padding rows
    w = jnp.concatenate([jnp.ones(1001), jnp.zeros(7)])
    np.testing.assert_allclose(_mean_variance(xp, w, 1001), np.mean(np.var(x, axis=0)), rtol=1e-5)
