"""The streaming engine: every reducer against numpy on the whole array, sources of every kind
and batch sizes that do not divide n, ties, NaN, bounded state, no recompilation, and 8 devices
equal to 1."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxinterp import door, models, stream
from jaxinterp.models.small_cnn import SmallCNNRGB
from tests._jit import new_compilations
from tests.eight_devices import run_on_eight_devices


@pytest.fixture(scope="module")
def net():
    model = SmallCNNRGB(widths=(8, 12, 16))
    return model, models.init(model, jax.random.key(0))


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).integers(0, 256, (37, 32, 32, 3), dtype=np.uint8)


def whole(net, images, layer, pre_relu=False):
    model, variables = net
    x = model.normalize(jnp.asarray(images, jnp.float32) / 255.0)
    return np.asarray(door.taps(model, variables, x, [layer], pre_relu=pre_relu)[layer])


@pytest.mark.parametrize("batch_size", [1, 8, 37, 64])
def test_collect_equals_one_forward_pass(net, images, batch_size):
    model, variables = net
    got = stream.stream(model, variables, images, ["relu2", "relu3"], batch_size=batch_size)
    np.testing.assert_allclose(got["relu2"], whole(net, images, "relu2"), rtol=1e-5, atol=1e-5)
    mean = stream.stream(model, variables, images, "relu3", position="mean", units=[3, 0],
                         batch_size=batch_size)["relu3"]
    np.testing.assert_allclose(mean, whole(net, images, "relu3").mean((1, 2))[:, [3, 0]], rtol=1e-5, atol=1e-6)


def test_sources_memmap_float_and_iterable(net, images, tmp_path):
    model, variables = net
    ref = whole(net, images, "relu2")
    src = stream.as_source(images)
    assert isinstance(src, stream.ArraySource) and isinstance(src, stream.Source)
    assert [len(b) for b in src.batches(16, start=5)] == [16, 16]
    it = stream.as_source(iter([images[:3], images[3:]]))
    assert isinstance(it, stream.IterableSource) and it.image_shape == (32, 32, 3)
    assert [len(b) for b in it.batches(10, start=4)] == [10, 10, 10, 3]
    path = tmp_path / "x.npy"
    np.save(path, images)
    mm = np.load(path, mmap_mode="r")
    np.testing.assert_allclose(stream.stream(model, variables, mm, "relu2", batch_size=16)["relu2"], ref,
                               rtol=1e-5, atol=1e-5)
    floats = images.astype(np.float32) / 255
    np.testing.assert_allclose(stream.stream(model, variables, floats, "relu2")["relu2"], ref, rtol=1e-5,
                               atol=1e-5)
    chunks = [images[:5], images[5:6], images[6:30], images[30:]]  # ragged batches, unknown n
    np.testing.assert_allclose(stream.stream(model, variables, chunks, "relu2", batch_size=8)["relu2"],
                               ref, rtol=1e-5, atol=1e-5)


def test_top_k_is_numpy_stable_argsort_with_ties(net, images):
    """Ties (post-ReLU zeros, duplicated images) go to the lower image number."""
    model, variables = net
    dup = np.concatenate([images, images[::-1]])  # every value occurs at least twice
    r = whole(net, dup, "relu3").max((1, 2))      # [n, U]
    top = stream.stream(model, variables, dup, "relu3", stream.top_k(6), position="max",
                        batch_size=16)["relu3"]
    order = np.argsort(-r, axis=0, kind="stable")[:6].T  # [U, 6]
    np.testing.assert_array_equal(top["image"], order)
    np.testing.assert_allclose(top["value"], np.take_along_axis(r.T, order, 1), rtol=1e-5, atol=1e-6)


def test_bottom_k_is_numpy_stable_argsort_with_ties(net, images):
    """The k smallest per unit, smallest first; ties (post-ReLU zeros, duplicates) to the lower image."""
    model, variables = net
    dup = np.concatenate([images, images[::-1]])
    r = whole(net, dup, "relu3").mean((1, 2))     # [n, U]
    low = stream.stream(model, variables, dup, "relu3", stream.bottom_k(6), position="mean",
                        batch_size=16)["relu3"]
    order = np.argsort(r, axis=0, kind="stable")[:6].T  # [U, 6]
    np.testing.assert_array_equal(low["image"], order)
    np.testing.assert_allclose(low["value"], np.take_along_axis(r.T, order, 1), rtol=1e-5, atol=1e-6)
    values = np.array([[1.0, 5.0], [3.0, 2.0], [-3.0, 2.0], [0.0, 1.0]], np.float32)
    src = np.arange(4, dtype=np.float32)[:, None, None, None] * np.ones((1, 2, 2, 1), np.float32)
    out = stream.stream_map(lambda p, x: {"v": p[x[:, 0, 0, 0].astype(jnp.int32)]}, values, src,
                            stream.bottom_k(3, by="v"), batch_size=3)
    np.testing.assert_array_equal(out["image"], [[2, 3, 0], [3, 1, 2]])
    np.testing.assert_array_equal(out["value"], [[-3.0, 0.0, 1.0], [1.0, 2.0, 2.0]])


def test_top_k_carries_a_payload_and_refuses_nan():
    values = np.array([[1.0, 5.0], [3.0, 2.0], [3.0, 9.0], [0.0, 1.0]], np.float32)
    where = np.arange(8, dtype=np.int32).reshape(4, 2)

    def fn(params, x):
        i = x[:, 0, 0, 0].astype(jnp.int32)
        return {"v": params["v"][i], "w": params["w"][i]}

    src = np.arange(4, dtype=np.float32)[:, None, None, None] * np.ones((1, 2, 2, 1), np.float32)
    out = stream.stream_map(fn, {"v": values, "w": where}, src, stream.top_k(2, by="v"), batch_size=3)
    np.testing.assert_array_equal(out["image"], [[1, 2], [2, 0]])
    np.testing.assert_array_equal(out["w"], [[2, 4], [5, 1]])
    bad = values.copy()
    bad[2, 1] = np.nan
    with pytest.raises(ValueError, match=r"unit\(s\) \[1\] have NaN"):
        stream.stream_map(fn, {"v": bad, "w": where}, src, stream.top_k(2, by="v"), batch_size=3)


def _unit_float(params, x):
    return x


def test_pick_keeps_the_values_of_the_chosen_pairs_only(images):
    image, unit = np.array([[36, 0], [5, 99], [5, 5]]), np.array([[2, 0], [1, 1], [1, 0]])
    got = stream.stream_map(_unit_float, {}, images, stream.pick(image, unit), batch_size=8)  # 37 = 4 x 8 + 5
    assert got.shape == (3, 2, 32, 32) and got.dtype == np.float32
    for idx in [(0, 0), (0, 1), (1, 0), (2, 0), (2, 1)]:
        np.testing.assert_allclose(got[idx], images[image[idx], :, :, unit[idx]] / 255.0, rtol=1e-6)
    assert np.isnan(got[1, 1]).all()  # image 99 is not in the pass
    with pytest.raises(ValueError, match="pick needs image and unit of one shape"):
        stream.pick(image, unit[:2])


def test_moments_total_minmax_histogram_against_numpy(net, images):
    model, variables = net
    c = whole(net, images, "relu2", pre_relu=True)[:, 8, 8]  # [n, U] centre, pre-ReLU
    # the same values as the reducers see (forward passes of 10 images round like them)
    c10 = stream.stream(model, variables, images, "relu2", position="centre", pre_relu=True,
                        batch_size=10)["relu2"]
    np.testing.assert_allclose(c10, c, rtol=1e-5, atol=1e-5)
    edges = np.linspace(-2, 2, 9)
    got = stream.stream(model, variables, images, "relu2",
                        {"relu2": stream.fanout(m=stream.moments(), t=stream.total(), r=stream.minmax(),
                                                 h=stream.histogram(edges))},
                        position="centre", pre_relu=True, batch_size=10)["relu2"]
    np.testing.assert_allclose(got["m"]["mean"], c.mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got["m"]["sd"], c.std(0), rtol=1e-4, atol=1e-6)
    assert got["m"]["count"] == len(images) and got["t"]["count"] == len(images)
    np.testing.assert_allclose(got["t"]["sum"], c.sum(0), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(got["r"]["min"], c10.min(0))
    np.testing.assert_array_equal(got["r"]["max"], c10.max(0))
    ref = np.stack([np.histogram(np.clip(col, -2, 2), edges)[0] for col in c10.T])
    np.testing.assert_array_equal(got["h"]["counts"], ref)


def test_a_second_pass_does_not_recompile(net, images):
    model, variables = net
    kw = dict(position="mean", batch_size=8)
    stream.stream(model, variables, images, "relu3", stream.moments(), **kw)
    fn = stream.Taps(model, ("relu3",), "mean")
    step = stream.engine._step(fn, stream.combine(relu3=stream.moments()), stream.engine.meshlib.local_mesh())
    assert step._cache_size() == 1
    again = images[::-1].copy()
    assert new_compilations(step, lambda: stream.stream(model, variables, again, "relu3",
                                                        stream.moments(), **kw)) == 0


def test_bad_input(net, images):
    model, variables = net
    with pytest.raises(ValueError, match="unknown layer 'relu9'"):
        stream.stream(model, variables, images, "relu9")
    with pytest.raises(ValueError, match="channel"):
        stream.stream(model, variables, images[..., :1], "relu1")
    with pytest.raises(ValueError, match="spells it 'centre'"):
        stream.stream(model, variables, images, "relu1", position="center")
    with pytest.raises(ValueError, match="out of range"):
        stream.stream(model, variables, images, "relu1", units=[99])
    with pytest.raises(ValueError, match="k >= 1"):
        stream.top_k(0)
    assert isinstance(stream.top_k(3), stream.Reducer)


EIGHT = """
import sys, jax, numpy as np
from jaxinterp import models, stream
from jaxinterp.models.small_cnn import SmallCNNRGB
assert jax.device_count() == 8
model = SmallCNNRGB(widths=(8, 12, 16)); variables = models.init(model, jax.random.key(0))
images = np.random.default_rng(0).integers(0, 256, (37, 32, 32, 3), dtype=np.uint8)
r = stream.stream(model, variables, images, "relu3", {"relu3": stream.fanout(
    c=stream.collect(), t=stream.top_k(5), m=stream.moments(), p=stream.pick([36, 3, 20], [0, 15, 7]))},
    position="max", batch_size=16)["relu3"]
np.savez(sys.argv[1], c=r["c"], ti=r["t"]["image"], tv=r["t"]["value"], mean=r["m"]["mean"], sd=r["m"]["sd"],
         p=r["p"])
"""


def test_eight_devices_equal_one(net, images, tmp_path):
    model, variables = net
    one = stream.stream(model, variables, images, "relu3", {"relu3": stream.fanout(
        c=stream.collect(), t=stream.top_k(5), m=stream.moments())}, position="max", batch_size=16)["relu3"]
    eight = run_on_eight_devices(EIGHT, tmp_path / "eight.npz")
    np.testing.assert_array_equal(eight["p"], eight["c"][[36, 3, 20], [0, 15, 7]])  # pick across the shards
    np.testing.assert_allclose(eight["c"], one["c"], rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(eight["ti"], one["t"]["image"])
    np.testing.assert_allclose(eight["tv"], one["t"]["value"], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(eight["mean"], one["m"]["mean"], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(eight["sd"], one["m"]["sd"], rtol=1e-5, atol=1e-6)


def test_images_at_reads_only_the_asked_images(images, tmp_path):
    """images_at equals numpy fancy indexing on arrays, memmaps and ArraySources, and decodes
    just those files from a folder source (PNG: the same pixels)."""
    from jaxinterp.data import open_data
    from tests.data.images import write_folder

    idx = np.array([5, 0, 5, 17])
    np.testing.assert_array_equal(stream.images_at(images, idx), images[idx])
    np.save(tmp_path / "x.npy", images)
    np.testing.assert_array_equal(stream.images_at(np.load(tmp_path / "x.npy", mmap_mode="r"), idx), images[idx])
    np.testing.assert_array_equal(stream.images_at(stream.as_source(images), idx), images[idx])
    folder = open_data(write_folder(tmp_path / "f", images[:20], np.zeros(20, int)))
    np.testing.assert_array_equal(stream.images_at(folder, idx), images[idx])
    assert stream.images_at(folder, []).shape == (0, *images.shape[1:])
    with pytest.raises(TypeError, match="read"):
        stream.images_at(iter([images]), idx)
