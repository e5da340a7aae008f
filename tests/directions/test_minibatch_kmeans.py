import jax
import numpy as np
import pytest
from sklearn.cluster import KMeans as SkKMeans

from jaxinterp.directions import minibatch_kmeans as mbk
from tests.directions._data import blobs


def test_close_to_full_batch_on_blobs(rng, key):
    x = blobs(rng, n=2000, d=8, k=5)
    state = mbk.fit(key, x, 5, batch_size=256, max_steps=80)
    inertia = SkKMeans(5, init=np.asarray(state.centroids), n_init=1, max_iter=1).fit(x).inertia_
    best = SkKMeans(5, n_init=5, random_state=0).fit(x).inertia_
    assert inertia <= 1.02 * best


def test_memmap_and_iterator_sources(rng, key, tmp_path):
    x = blobs(rng, n=1024, d=8, k=4)
    path = tmp_path / "a.npy"
    np.save(path, x)
    from_memmap = mbk.fit(key, np.load(path, mmap_mode="r"), 4, batch_size=128, max_steps=20)
    from_array = mbk.fit(key, x, 4, batch_size=128, max_steps=20)
    np.testing.assert_array_equal(from_memmap.centroids, from_array.centroids)
    batches = [x[i:i + 128] for i in range(0, 1024, 128)] * 3
    state = mbk.fit(key, lambda: iter(batches), 4, batch_size=128, max_steps=20, init_size=256)
    assert int(state.step) == 20
    with pytest.raises(ValueError, match="ran out"):
        mbk.fit(key, lambda: iter(batches), 4, batch_size=128, max_steps=30, init_size=256)
    with pytest.raises(ValueError, match="callable returning an iterator"):
        mbk.fit(key, iter(batches), 4, batch_size=128, max_steps=5)


@pytest.mark.parametrize("source", ["array", "iterator"])
def test_resume_equals_uninterrupted(rng, key, tmp_path, source):
    x = blobs(rng, n=1000, d=8, k=4)
    batches = [x[i:i + 100] for i in range(0, 1000, 100)] * 4
    data = x if source == "array" else (lambda: iter(batches))
    kw = dict(batch_size=100, max_steps=30, init_size=300)
    full = mbk.fit(key, data, 4, **kw)
    part = mbk.fit(key, data, 4, checkpoint_dir=tmp_path / "ck", checkpoint_every=4, until_step=13, **kw)
    assert int(part.step) == 13
    resumed = mbk.fit(key, data, 4, checkpoint_dir=tmp_path / "ck", checkpoint_every=4, **kw)
    assert int(resumed.step) == 30
    np.testing.assert_array_equal(resumed.centroids, full.centroids)
    np.testing.assert_array_equal(resumed.counts, full.counts)


def test_rejects_nan_batches_and_large_k(rng, key):
    x = blobs(rng, n=200, d=4)
    bad = x.copy()
    bad[150, 1] = np.nan
    with pytest.raises(ValueError, match="NaN or inf"):
        mbk.fit(key, bad, 3, batch_size=50, max_steps=8)
    with pytest.raises(ValueError, match="between 1 and the number of samples"):
        mbk.fit(key, x, 500, batch_size=50, max_steps=2)


def test_class_wraps_the_fit_and_finds_planted_blobs(rng, tmp_path):
    x = blobs(rng, n=2000, d=8, k=5, spread=0.3)
    est = mbk.MiniBatchKMeans(5, batch_size=256, max_steps=60, random_state=3).fit(x)
    state = mbk.fit(jax.random.key(3), x, 5, batch_size=256, max_steps=60)
    np.testing.assert_array_equal(est.cluster_centers_, np.asarray(state.centroids))
    np.testing.assert_allclose(est.transform(x), x @ est.cluster_centers_.T, rtol=1e-5, atol=1e-4)
    # every sample ends near its centroid, as a full-batch fit from the same centroids would
    ref = SkKMeans(5, init=est.cluster_centers_, n_init=1, max_iter=1).fit(x)
    assert ref.inertia_ <= 1.02 * SkKMeans(5, n_init=5, random_state=0).fit(x).inertia_
    assert ref.inertia_ / len(x) < 2 * 8 * 0.3**2
    ck = mbk.MiniBatchKMeans(5, batch_size=256, max_steps=60, random_state=3,
                             checkpoint_dir=str(tmp_path / "ck")).fit(x)
    np.testing.assert_array_equal(ck.cluster_centers_, est.cluster_centers_)


@pytest.mark.parametrize("k, width, field", [(12, 8, "k"), (8, 4, "n_features")])
def test_checkpoint_of_another_fit_is_refused(rng, key, tmp_path, k, width, field):
    """A checkpoint_dir written with k=8 on 8-dim data must not be resumed for k=12 or 4-dim data."""
    x = blobs(rng, n=800, d=8, k=4)
    kw = dict(batch_size=100, max_steps=6, checkpoint_every=3)
    mbk.fit(key, x, 8, checkpoint_dir=tmp_path, **kw)
    with pytest.raises(ValueError, match=rf"other settings \({field}: checkpoint .*fresh checkpoint_dir"):
        mbk.fit(key, x[:, :width], k, checkpoint_dir=tmp_path, **kw)
    with pytest.raises(ValueError, match="batch_size: checkpoint 100, this call 50"):
        mbk.fit(key, x, 8, checkpoint_dir=tmp_path, **{**kw, "batch_size": 50})
