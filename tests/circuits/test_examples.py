"""Dataset examples (METHODS §6.2): receptive fields against k/stride/padding arithmetic, best
positions against a numpy loop, crops against numpy slicing, pre-ReLU values against a ReLU-free
variant of the same network, the streamed pre-ReLU summary against numpy, quilts against numpy
quantile ranks, crops of a memory-mapped dataset, and bad input."""

from __future__ import annotations

from typing import ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxinterp import circuits, door
from jaxinterp.circuits import examples, tuning
from jaxinterp.models.base import ImageModel, ReLU, relu
from jaxinterp.models.cifar_resnet import CifarResNet
from tests.flax_reference import forward

SPECS = ((3, 1, 1), (3, 2, 1), (5, 1, 2), (3, 2, 0))  # (kernel, stride, padding) per conv


class Stack(ImageModel):
    """conv -> ReLU module, four times (SPECS), then a mean and a linear read-out."""

    MEAN: ClassVar[tuple] = (0.5, 0.5)
    STD: ClassVar[tuple] = (0.25, 0.25)
    IN_CHANNELS: ClassVar[int] = 2
    INPUT_SIZE: ClassVar[int] = 16

    @nn.compact
    def __call__(self, x, train: bool = False):
        for i, (k, s, p) in enumerate(SPECS):
            x = nn.Conv(3, (k, k), strides=(s, s), padding=((p, p), (p, p)), name=f"conv{i}")(x)
            x = ReLU(name=f"relu{i}")(x)
        return nn.Dense(4, name="fc")(x.mean(axis=(1, 2)))


class Block(nn.Module):
    """A residual block whose last ReLU is functional (inside the module), like a ResNet's."""

    final_relu: bool = True

    @nn.compact
    def __call__(self, x):
        out = relu(nn.Conv(3, (3, 3), padding=1, name="conv1")(x))
        out = nn.Conv(3, (3, 3), padding=1, name="conv2")(out) + x
        return relu(out) if self.final_relu else out


class Residual(ImageModel):
    MEAN: ClassVar[tuple] = (0.5, 0.5, 0.5)
    STD: ClassVar[tuple] = (0.25, 0.25, 0.25)
    INPUT_SIZE: ClassVar[int] = 12
    final_relu: bool = True

    @nn.compact
    def __call__(self, x, train: bool = False):
        x = nn.Conv(3, (3, 3), padding=1, name="stem")(x)
        x = Block(self.final_relu, name="block")(relu(x))
        return nn.Dense(2, name="fc")(x.mean(axis=(1, 2)))


def analytic_box(specs, y):
    """Half-open rows seen by position y after ``specs``: the textbook recursion."""
    start, size, jump = 0, 1, 1
    for k, s, p in specs:
        start -= p * jump
        size += (k - 1) * jump
        jump *= s
    return start + y * jump, start + y * jump + size, size, jump


@pytest.fixture(scope="module")
def stack():
    model = Stack()
    return model, jax.jit(model.init)(jax.random.key(1), jnp.zeros((1, 16, 16, 2)))


@pytest.fixture(scope="module")
def resnet8():
    """ResNet-8 (one block per stage) with random weights; the parameters fit any input size."""
    model = CifarResNet(depth=8)
    return model, jax.jit(model.init)(jax.random.key(0), jnp.zeros((1, 8, 8, 3)))


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).uniform(0, 1, (10, 16, 16, 2)).astype(np.float32)


@pytest.mark.parametrize("depth", [1, 2, 3, 4])
def test_receptive_field_is_the_analytic_one(stack, depth):
    model, v = stack
    layer = f"relu{depth - 1}"
    h = forward(model, v, jnp.zeros((1, 16, 16, 2)), [layer])[1][layer].shape[1]
    for at in [(h // 2, h // 2), (0, h - 1)]:
        rf = door.receptive_field(model, v, layer, (16, 16, 2), at=at)
        y0, y1, size, jump = analytic_box(SPECS[:depth], at[0])
        x0, x1, _, _ = analytic_box(SPECS[:depth], at[1])
        assert rf.box == (y0, y1, x0, x1) and rf.size == (size, size) and rf.stride == (jump, jump)
        assert rf.at == at and not rf.clipped
        assert rf.origin(*at) == (y0, x0)


def test_receptive_field_larger_than_the_image(resnet8):
    model, v = resnet8  # ResNet-20 gives 81 px the same way (checked on the real run)
    rf = door.receptive_field(model, v, "layer3", (8, 8, 3))
    # stem 3, two 3x3 convs at stride 1 (+4), at stride 2 (+2 + 4), at stride 4 (+4 + 8); position
    # (1, 1) of the 2x2 map is centred on input pixel 4 (stride-2 convs, padding 1)
    assert rf.at == (1, 1) and rf.size == (25, 25) and rf.stride == (4, 4) and not rf.clipped
    assert rf.box == (4 - 12, 4 + 13, 4 - 12, 4 + 13)


def test_maxima_and_top_positions_match_a_numpy_loop(stack, images):
    model, v = stack
    acts = np.asarray(forward(model, v, model.normalize(images), ["relu1"])[1]["relu1"])  # [n, 8, 8, 3]
    n, h, w, c = acts.shape
    units = [2, 0]
    best = examples.image_maxima(model, v, "relu1", images, units=units, batch_size=3)
    top = examples.top_positions(model, v, "relu1", images, k=4, units=units, batch_size=3)
    assert isinstance(best, examples.Maxima) and isinstance(top, examples.TopPositions)
    for j, u in enumerate(units):
        for i in range(n):
            flat = acts[i, :, :, u].reshape(-1)
            assert best.value[i, j] == pytest.approx(flat.max(), abs=1e-6)
            assert (best.y[i, j], best.x[i, j]) == divmod(int(np.argmax(flat)), w)
        order = np.argsort(-acts[:, :, :, u].reshape(n, -1).max(1), kind="stable")[:4]
        np.testing.assert_array_equal(np.asarray(top.image[j]), order)
        np.testing.assert_array_equal(np.asarray(top.y[j]), np.asarray(best.y)[order, j])
        np.testing.assert_allclose(np.asarray(top.value[j]), np.asarray(best.value)[order, j], atol=1e-6)
    again = examples.select_top(best, 4)
    for a, b in zip(again, top):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-6)


def test_crops_and_recentring_match_numpy_slicing(stack, images):
    model, v = stack
    rf = door.receptive_field(model, v, "relu1", (16, 16, 2))
    image, y, x = np.array([[0, 3], [9, 9]]), np.array([[0, 7], [3, 4]]), np.array([[7, 0], [5, 3]])
    crops = np.asarray(examples.rf_crops(images, image, y, x, rf, fill=0.25))
    shifted = np.asarray(examples.recentre(images, image, y, x, rf, fill=0.25))
    rh, rw = rf.size
    big = np.pad(images, ((0, 0), (40, 40), (40, 40), (0, 0)), constant_values=0.25)
    for idx in np.ndindex(image.shape):
        y0, x0 = rf.offset[0] + y[idx] * rf.stride[0] + 40, rf.offset[1] + x[idx] * rf.stride[1] + 40
        np.testing.assert_array_equal(crops[idx], big[image[idx], y0:y0 + rh, x0:x0 + rw])
        oy, ox = (y[idx] - rf.at[0]) * rf.stride[0] + 40, (x[idx] - rf.at[1]) * rf.stride[1] + 40
        np.testing.assert_array_equal(shifted[idx], big[image[idx], oy:oy + 16, ox:ox + 16])
    assert crops.shape == (2, 2, rh, rw, 2)


def test_crops_of_a_field_wider_than_the_image_show_the_image_and_a_margin(stack, images):
    """margin: where the field is wider than the image the window is the image plus the margin
    (the same for every position), pixels outside the unit's field dimmed; a narrower field is
    cropped as without it."""
    model, v = stack
    rf = door.ReceptiveField((-1, 18, -1, 18), (19, 19), (1, 1), (-9, -9), (8, 8), False)  # 19 px > 16 px
    image, y, x = np.array([0, 3]), np.array([8, 0]), np.array([8, 2])
    crops = np.asarray(examples.rf_crops(images, image, y, x, rf, fill=0.5, margin=2, dim=0.25))
    assert crops.shape == (2, 20, 20, 2) and examples.display_margin(16) == 2 == examples.display_margin(32)
    big = np.pad(images, ((0, 0), (2, 2), (2, 2), (0, 0)), constant_values=0.5)
    for i in range(2):
        rows = np.arange(-2, 18)[:, None]                                  # window pixels in image coordinates
        cols = np.arange(-2, 18)[None, :]
        y0, x0 = rf.origin(y[i], x[i])
        seen = (rows >= y0) & (rows < y0 + 19) & (cols >= x0) & (cols < x0 + 19)
        assert 0 < seen.sum() < seen.size                                  # part of the window is dimmed
        want = np.where(seen[..., None], big[image[i]], 0.5 + 0.25 * (big[image[i]] - 0.5))
        np.testing.assert_allclose(crops[i], want, atol=1e-6)
    narrow = door.receptive_field(model, v, "relu1", (16, 16, 2))
    np.testing.assert_array_equal(examples.rf_crops(images, image, y, x, narrow, margin=2),
                                  examples.rf_crops(images, image, y, x, narrow))


@pytest.mark.parametrize("layer", ["relu1", "relu3"])  # stride 2, padding 1; stride 4, 3x3 of 16 px (VALID)
def test_heat_is_the_map_drawn_on_the_pixels_and_cut_like_the_crop(stack, images, layer):
    from tests._refs import heat_window

    model, v = stack
    rf = door.receptive_field(model, v, layer, (16, 16, 2))
    h, w, _ = door.graph(model, v, (16, 16, 2))[layer].shape
    rng = np.random.default_rng(1)
    maps = rng.normal(size=(2, 3, h, w))
    y, x = rng.integers(0, h, (2, 3)), rng.integers(0, w, (2, 3))
    y[0, 0], x[0, 0] = h - 1, 0                                            # a field past the border
    heat = np.asarray(examples.rf_heat(maps, y, x, rf, (16, 16)))
    crops = np.asarray(examples.rf_crops(images, np.zeros_like(y), y, x, rf))
    assert heat.shape == crops.shape[:-1] == (2, 3, *rf.size) and heat.dtype == np.float32
    for idx in np.ndindex(y.shape):
        np.testing.assert_allclose(heat[idx], heat_window(maps[idx], rf, (16, 16), y[idx], x[idx]), rtol=1e-6)
        # the crop's centre pixel shows the position the crop is centred on
        assert heat[idx][(rf.size[0] - 1) // 2, (rf.size[1] - 1) // 2] == pytest.approx(maps[idx][y[idx], x[idx]])
    assert np.isnan(heat[0, 0]).any() and np.isfinite(heat[0, 0]).any()   # NaN outside the image only
    assert np.array_equal(np.isnan(heat), np.all(crops == 0.5, axis=-1) & np.isnan(heat))


def test_heat_of_a_field_wider_than_the_image_is_the_whole_map_and_a_margin(images):
    from tests._refs import heat_window

    rf = door.ReceptiveField((-1, 18, -1, 18), (19, 19), (1, 1), (-9, -9), (8, 8), False)  # 19 px > 16 px
    maps = np.random.default_rng(2).normal(size=(2, 16, 16))
    y, x = np.array([8, 0]), np.array([8, 2])
    heat = np.asarray(examples.rf_heat(maps, y, x, rf, (16, 16), margin=2))
    assert heat.shape == examples.rf_crops(images, np.array([0, 1]), y, x, rf, margin=2).shape[:-1] == (2, 20, 20)
    for i in range(2):
        np.testing.assert_allclose(heat[i], heat_window(maps[i], rf, (16, 16), y[i], x[i], margin=2), rtol=1e-6)
        np.testing.assert_allclose(heat[i, 2:-2, 2:-2], maps[i], rtol=1e-6)  # stride 1: the map itself
        assert np.isnan(heat[i, :2]).all() and np.isnan(heat[i, :, -2:]).all()
    with pytest.raises(ValueError, match=r"maps must be \[\*S, h, w\] with y and x \[\*S\]"):
        examples.rf_heat(maps[0], y, x, rf, (16, 16))


def test_preactivations_equal_the_relu_free_network():
    model, plain = Residual(), Residual(final_relu=False)
    v = jax.jit(model.init)(jax.random.key(2), jnp.zeros((1, 12, 12, 3)))
    x = np.random.default_rng(1).uniform(0, 1, (7, 12, 12, 3)).astype(np.float32)
    want = np.asarray(forward(plain, v, plain.normalize(x), ["block"])[1]["block"])
    post = np.asarray(forward(model, v, model.normalize(x), ["block"])[1]["block"])
    pre = np.asarray(examples.preactivations(model, v, "block", x, position="all", batch_size=3))
    np.testing.assert_allclose(pre, want, atol=1e-5)
    assert (want < 0).any() and not np.allclose(pre, post)
    centre = np.asarray(examples.preactivations(model, v, "block", x, units=[1], batch_size=4))
    np.testing.assert_allclose(centre, want[:, 6, 6, [1]], atol=1e-5)
    g = door.graph(model, v, (12, 12, 3))
    assert g["block"].relu
    # a layer whose output is no ReLU's output: pre = post
    assert not g["stem"].relu
    stem = np.asarray(forward(model, v, model.normalize(x), ["stem"])[1]["stem"])
    np.testing.assert_allclose(np.asarray(examples.preactivations(model, v, "stem", x, position="all")), stem,
                               atol=1e-6)


def test_preactivations_of_a_resnet_stage_are_bn2_plus_shortcut(resnet8):
    model, v = resnet8  # one block per stage: layer1 = relu(bn2 + shortcut)
    x = np.random.default_rng(2).uniform(0, 1, (3, 16, 16, 3)).astype(np.float32)
    a = forward(model, v, model.normalize(x), ["layer1.0.bn2", "layer1.0.shortcut"])[1]
    want = np.asarray(a["layer1.0.bn2"] + a["layer1.0.shortcut"])
    pre = np.asarray(examples.preactivations(model, v, "layer1", x, position="all"))
    np.testing.assert_allclose(pre, want, atol=1e-4)
    assert door.graph(model, v, (16, 16, 3))["layer1"].relu


def test_preactivation_summary_against_numpy(resnet8):
    """The streamed two-pass summary of every position's pre-ReLU value against numpy on all of
    them: moments, range, P(> 0) and the tail mean to float rounding; the median and the tail
    quantile (read from the fine histogram) within one fine-bin width; the display histogram
    equal to np.histogram over the same edges up to values on a bin edge."""
    model, v = resnet8
    x = np.random.default_rng(3).uniform(0, 1, (13, 16, 16, 3)).astype(np.float32)
    units = [5, 0, 9]
    pre = np.asarray(examples.preactivations(model, v, "layer2", x, units=units, position="all"))  # [n, 8, 8, 3]
    flat = pre.reshape(-1, len(units)).astype(np.float64)
    s = examples.preactivation_summary(model, v, "layer2", x, units=units, bins=8, tail_q=0.9, fine_bins=512,
                                       batch_size=5)
    assert s["count"] == flat.shape[0] and s["counts"].shape == (3, 8) and s["edges"].shape == (3, 9)
    np.testing.assert_allclose(s["mean"], flat.mean(0), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(s["sd"], flat.std(0), rtol=1e-4)
    np.testing.assert_allclose(s["min"], flat.min(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(s["max"], flat.max(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(s["fraction_positive"], (flat > 0).mean(0), rtol=1e-6)
    assert 0 < s["fraction_positive"].min() and s["fraction_positive"].max() < 1  # both signs occur
    np.testing.assert_allclose(s["tail_mean"], [flat[flat[:, j] > 0, j].mean() for j in range(3)], rtol=1e-5)
    width = (flat.max(0) - flat.min(0)) / 512
    np.testing.assert_allclose(s["fine_width"], width, rtol=1e-4)
    for name, q in (("median", 0.5), ("tail_quantile", 0.9)):
        err = np.abs(s[name] - np.quantile(flat, q, axis=0))
        assert np.all(err <= width * 1.001), (name, err / width)
    # the fine-bin estimate is far better than the display bins (and not just the bin centre)
    assert np.all(np.abs(s["median"] - np.median(flat, axis=0)) < (flat.max(0) - flat.min(0)) / 64)
    for j in range(3):
        counts, _ = np.histogram(flat[:, j], bins=s["edges"][j].astype(np.float64))
        assert np.abs(s["counts"][j] - counts).sum() <= 4, (s["counts"][j], counts)  # 2 values on edges
        assert s["counts"][j].sum() == flat.shape[0]


def test_layer_examples_is_its_parts_in_one_pass(resnet8, tmp_path):
    """layer_examples (what the circuits pages read) equals top_positions, activation_stats,
    image_maxima and preactivation_summary called one by one, on a memory-mapped dataset."""
    model, v = resnet8
    x = np.random.default_rng(4).integers(0, 256, (11, 16, 16, 3), dtype=np.uint8)
    np.save(tmp_path / "x.npy", x)
    mm = np.load(tmp_path / "x.npy", mmap_mode="r")
    got = examples.layer_examples(model, v, "layer2", mm, k=3, units=(4, 1), bins=4, fine_bins=64, batch_size=4)
    top = examples.top_positions(model, v, "layer2", x, k=3, batch_size=4)
    assert isinstance(got, circuits.LayerExamples)
    for a, b in zip(got.top, top):
        np.testing.assert_array_equal(a, b)
    mean, sd = tuning.activation_stats(model, v, "layer2", x, batch_size=4)
    np.testing.assert_allclose(got.mean, mean, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(got.sd, sd, rtol=1e-6, atol=1e-7)
    for a, b in zip(got.maxima, examples.image_maxima(model, v, "layer2", x, units=(4, 1), batch_size=4)):
        np.testing.assert_array_equal(a, b)
    pre = examples.preactivation_summary(model, v, "layer2", x, units=(4, 1), bins=4, fine_bins=64, batch_size=4)
    for key, value in pre.items():
        np.testing.assert_allclose(got.pre[key], value, rtol=1e-6, atol=1e-7, err_msg=key)
    # crops read only the images they show: the memmap gives the array's crops
    rf = door.receptive_field(model, v, "layer2", (16, 16, 3))
    np.testing.assert_array_equal(examples.rf_crops(mm, top.image, top.y, top.x, rf),
                                  examples.rf_crops(x, top.image, top.y, top.x, rf))
    assert got.top.value.shape == (32, 3) and got.maxima.value.shape == (11, 2)
    # the minimally activating images: numpy's stable argsort of each image's lowest pre-ReLU value
    pre_map = np.asarray(examples.preactivations(model, v, "layer2", x, units=(4, 1), position="all"))
    lowest = pre_map.reshape(11, -1, 2).min(1)                                           # [n, U]
    for j in range(2):
        order = np.argsort(lowest[:, j], kind="stable")[:3]
        np.testing.assert_array_equal(got.bottom.image[j], order)
        np.testing.assert_allclose(got.bottom.value[j], lowest[order, j], rtol=1e-6, atol=1e-6)
        where = [divmod(int(np.argmin(pre_map[i, :, :, j])), pre_map.shape[2]) for i in order]
        assert list(zip(got.bottom.y[j], got.bottom.x[j])) == where
    none = examples.layer_examples(model, v, "layer2", x, k=3, batch_size=4)
    assert none.maxima is None and none.pre is None and none.bottom is None


def test_quilt_picks_the_quantiles(rng):
    acts = rng.permutation(np.arange(101.0) ** 2).reshape(101, 1)
    acts = np.concatenate([acts, -acts], axis=1)
    idx = np.asarray(examples.quilt(acts, 5))
    for j in range(2):
        want = np.quantile(acts[:, j], [0, 0.25, 0.5, 0.75, 1.0])  # exact ranks: 101 values
        np.testing.assert_array_equal(acts[idx[j], j], want)
    by_value = np.asarray(examples.quilt(acts[:, 0], 3, method="value"))
    np.testing.assert_array_equal(acts[by_value, 0], [0.0, 5041.0, 10000.0])  # nearest 0, 5000, 10000


def test_exemplar_rotation_tuning_equals_one_unit_at_a_time(stack, images):
    model, v = stack
    units = [1, 2]
    ex = np.stack([images[:3], images[3:6]])  # [U, e, H, W, c]
    angles = np.array([0.0, 30.0, 90.0, 200.0, 359.0], np.float32)
    got = np.asarray(examples.exemplar_rotation_tuning(model, v, "relu1", ex, angles, units, batch=4))
    np.testing.assert_allclose(examples.exemplar_rotation_tuning(model, v, "relu1", ex, angles, units, batch=256),
                               got, rtol=1e-5, atol=1e-6)  # every exemplar and angle in one chunk
    for j, u in enumerate(units):
        want = tuning.rotation_tuning(model, v, "relu1", ex[j], angles, units=[u], fill=0.5)
        np.testing.assert_allclose(got[:, j], np.asarray(want)[:, 0], rtol=1e-5, atol=1e-6)
    stats = (np.linspace(0.1, 0.3, 3), np.array([1.0, 2.0, 0.5]))
    sd = np.asarray(examples.exemplar_rotation_tuning(model, v, "relu1", ex, angles, units, stats=stats))
    np.testing.assert_allclose(sd, (got - stats[0][units]) / stats[1][units], rtol=1e-5, atol=1e-5)


def test_bad_input(stack, images):
    model, v = stack
    with pytest.raises(ValueError, match="unit.*out of range.*3 channels"):
        examples.image_maxima(model, v, "relu1", images, units=[3])
    with pytest.raises(ValueError, match="unknown layer 'conv9'.*close matches: conv"):
        examples.top_positions(model, v, "conv9", images)
    with pytest.raises(ValueError, match="unknown layer"):
        examples.preactivations(model, v, "nope", images)
    with pytest.raises(ValueError, match="outside 'relu3'"):
        examples.preactivations(model, v, "relu3", images, position=(5, 0))
    with pytest.raises(ValueError, match="spatial axes"):
        examples.top_positions(model, v, "fc", images)
    with pytest.raises(ValueError, match="k=11 top images.*10 images"):
        examples.top_positions(model, v, "relu1", images, k=11)
    with pytest.raises(ValueError, match="1 <= k <= 4"):
        examples.quilt(np.zeros(4), 5)
    with pytest.raises(ValueError, match="2 channel"):
        examples.image_maxima(model, v, "relu1", images[..., :1])
    with pytest.raises(ValueError, match="image indices"):
        examples.rf_crops(images, np.array([10]), np.array([0]), np.array([0]),
                          door.receptive_field(model, v, "relu1", (16, 16, 2)))


@pytest.mark.slow
def test_real_resnet20(shared_data):
    """On the converted ResNet-20: fields of 15 / 37 / 81 px (strides 1 / 2 / 4), layer1's pre-ReLU
    values are layer1.2's bn2 + shortcut, and the best positions match a numpy argmax."""
    from converters import convert
    from jaxinterp import models
    from jaxinterp.data.checks import to_unit_float

    model = models.get("cifar_resnet20")
    v = convert(shared_data / "models" / "resnet20-12fca82f.th", "cifar_resnet20")
    images = to_unit_float(np.load(shared_data / "cifar10" / "test_first932.npz")["images"][:24])
    for layer, size, stride in (("layer1", 15, 1), ("layer2", 37, 2), ("layer3", 81, 4)):
        rf = door.receptive_field(model, v, layer, (32, 32, 3))
        assert rf.size == (size, size) and rf.stride == (stride, stride) and not rf.clipped, layer
    a = forward(model, v, model.normalize(images), ["layer1.2.bn2", "layer1.2.shortcut", "layer3"])[1]
    pre = np.asarray(examples.preactivations(model, v, "layer1", images, position="all", batch_size=8))
    np.testing.assert_allclose(pre, np.asarray(a["layer1.2.bn2"] + a["layer1.2.shortcut"]), atol=1e-4)
    assert (pre < 0).mean() > 0.05  # the ReLU does cut something here
    best = examples.image_maxima(model, v, "layer3", images, units=[3, 40], batch_size=10)
    acts = np.asarray(a["layer3"])[..., [3, 40]].reshape(len(images), -1, 2)
    np.testing.assert_allclose(np.asarray(best.value), acts.max(1), rtol=1e-5)
    np.testing.assert_array_equal(np.asarray(best.y) * 8 + np.asarray(best.x), acts.argmax(1))
