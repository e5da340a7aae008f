"""render: planted ground truths (linear units, oriented filters, a silent unit), redirected ReLU
and the fast convolution against references, errors, and the real ResNet-20 (slow)."""

from __future__ import annotations

from typing import ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxinterp import door
from jaxinterp.featvis import Rendered, objectives, param, redirected_relu, render, transforms
from jaxinterp.models.base import ImageModel, ReLU
from jaxinterp.models.layers import conv2d


class Total(nn.Module):
    @nn.compact
    def __call__(self, x):
        return x.sum(axis=(1, 2, 3))  # [n]: a layer without a channel axis


class LinearUnits(ImageModel):
    """fc = W·x + b on the flattened [8, 8, 3] image (no normalisation); ``relu`` = ReLU(fc)."""

    units: int = 4
    MEAN: ClassVar = (0.0, 0.0, 0.0)
    STD: ClassVar = (1.0, 1.0, 1.0)
    INPUT_SIZE: ClassVar = 8

    @nn.compact
    def __call__(self, x, train=False):
        Total(name="total")(x)
        fc = nn.Dense(self.units, name="fc")(x.reshape(x.shape[0], -1))
        return ReLU(name="relu")(fc)


def linear_model(weights: np.ndarray, bias: np.ndarray):
    model = LinearUnits(weights.shape[1])
    return model, {"params": {"fc": {"kernel": jnp.asarray(weights), "bias": jnp.asarray(bias)}}}


def cosine(a, b):
    a, b = np.ravel(a), np.ravel(b)
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


def test_linear_units_render_their_weight_patterns(key):
    w = np.random.default_rng(0).normal(size=(192, 4)).astype(np.float32) / 8
    model, variables = linear_model(w, np.zeros(4, np.float32))
    # maximise w_i·x_i - sum (x - 0.5)²: the optimum is x_i - 0.5 = w_i / 2, inside the sigmoid's range
    obj = objectives.channels("fc", range(4)) - objectives.l2(constant=0.5) * objectives.l2(constant=0.5)
    p = param.image(key, 8, batch=4, fft=False, decorrelate=False)
    assert isinstance(obj, objectives.Objective) and obj.layers == ("fc", "input")  # each part's layer
    out = render(key, model, variables, obj, p, transforms.compose([]), steps=300)
    assert isinstance(out, Rendered) and out.thresholds[-1] == 300 and out.values.shape == (300,)
    images = np.asarray(out.images[-1]) - 0.5
    cos = np.array([[cosine(images[i], w[:, j]) for j in range(4)] for i in range(4)])
    assert np.all(np.diag(cos) > 0.9), cos
    assert np.all(np.abs(cos[~np.eye(4, dtype=bool)]) < 0.5), cos  # each image its own unit's
    assert out.values[-1] > out.values[0]


class Oriented(ImageModel):
    """Four 9x9 Gabor filters (0, 45, 90, 135 degrees) on a greyscale image, then ReLU."""

    IN_CHANNELS: ClassVar = 1
    MEAN: ClassVar = (0.5,)
    STD: ClassVar = (0.25,)

    @nn.compact
    def __call__(self, x, train=False):
        return ReLU(name="relu")(conv2d(4, 9, 1, 4, bias=False, name="conv")(x))


ANGLES = (0.0, 45.0, 90.0, 135.0)


def gabor_bank(size=9, freq=0.2, sigma=2.5):
    r = np.arange(size) - size // 2
    yy, xx = np.meshgrid(r, r, indexing="ij")
    bank = []
    for deg in ANGLES:
        t = np.deg2rad(deg)
        bank.append(np.cos(2 * np.pi * freq * (xx * np.cos(t) + yy * np.sin(t)))
                    * np.exp(-(xx ** 2 + yy ** 2) / (2 * sigma ** 2)))
    return np.stack(bank, -1)[:, :, None, :].astype(np.float32)  # [9, 9, 1, 4] HWIO


def dominant_orientation(img):
    """Gradient orientation (degrees mod 180) of a [h, w] image from its structure tensor."""
    gy, gx = np.gradient(img)
    jxx, jyy, jxy = (gx * gx).sum(), (gy * gy).sum(), (gx * gy).sum()
    return np.rad2deg(0.5 * np.arctan2(2 * jxy, jxx - jyy)) % 180


def test_oriented_filters_render_their_orientation(key):
    model, variables = Oriented(), {"params": {"conv": {"kernel": jnp.asarray(gabor_bank())}}}
    p = param.image(key, 24, batch=4, channels=1)
    out = render(key, model, variables, objectives.channels("relu", range(4)), p, transforms.cifar(),
                 steps=128)
    for i, want in enumerate(ANGLES):
        got = dominant_orientation(np.asarray(out.images[-1, i, 4:-4, 4:-4, 0]))
        diff = abs((got - want + 90) % 180 - 90)
        assert diff < 15, (i, want, got)


def test_redirected_relu_gradient_equals_lucid_rule():
    x = jnp.array([[-1.0, -2.0, -0.5], [1.0, -1.0, 2.0]])
    g = jnp.array([[0.3, -0.7, 0.2], [0.4, -0.1, 0.0]])

    def grad(flag):
        return np.asarray(jax.vjp(lambda t: redirected_relu(t, jnp.float32(flag)), x)[1](g)[0])

    # row 0: nothing passes the ReLU, so the negative gradient (pushing x up) is let through
    # row 1: some gradient passes, so the ordinary ReLU gradient is kept
    np.testing.assert_allclose(grad(1.0), [[0.0, -0.7, 0.0], [0.4, 0.0, 0.0]])
    np.testing.assert_allclose(grad(0.0), [[0.0, 0.0, 0.0], [0.4, 0.0, 0.0]])
    np.testing.assert_array_equal(np.asarray(redirected_relu(x, jnp.float32(1))), np.maximum(x, 0))


def test_redirected_relu_wakes_a_silent_unit(key):
    w = np.sign(np.random.default_rng(1).normal(size=(192, 1))).astype(np.float32) * 50 / 192
    model, variables = linear_model(w, np.full(1, -5.0, np.float32))  # relu(fc) is 0 at the start
    p = param.image(key, 8, batch=1, fft=False, decorrelate=False)
    obj = objectives.channel("relu", 0)
    off = render(key, model, variables, obj, p, transforms.compose([]), steps=40, redirect_steps=0)
    on = render(key, model, variables, obj, p, transforms.compose([]), steps=40)
    assert float(off.values[-1]) == 0.0  # no gradient ever reaches the image
    np.testing.assert_array_equal(np.asarray(off.params), np.asarray(p[0]))
    assert float(on.values[-1]) > 1.0


@pytest.mark.parametrize("kernel,stride,pad,size", [(3, 1, 1, 9), (3, 2, 1, 9), (3, 2, 1, 8),
                                                    (1, 2, 0, 7), (7, 2, 3, 11), (5, 1, 0, 10)])
def test_fast_conv_equals_flax_conv_and_its_gradients(kernel, stride, pad, size):
    conv = nn.Conv(5, (kernel, kernel), strides=(stride, stride), padding=((pad, pad), (pad, pad)))
    x = jax.random.normal(jax.random.key(0), (2, size, size, 3))
    v = conv.init(jax.random.key(1), x)

    def loss(x, v, fast):
        if fast:
            with door.fast_convs():
                y = conv.apply(v, x)
        else:
            y = conv.apply(v, x)
        return jnp.sum(jnp.sin(y))

    for argnum in (0, 1):
        ref = jax.grad(loss, argnum)(x, v, False)
        ours = jax.grad(loss, argnum)(x, v, True)
        for r, o in zip(jax.tree_util.tree_leaves(ref), jax.tree_util.tree_leaves(ours)):
            np.testing.assert_allclose(np.asarray(o), np.asarray(r), atol=1e-5)
    assert np.isclose(loss(x, v, True), loss(x, v, False), atol=1e-5)


def test_thresholds_keep_intermediate_images(key):
    w = np.random.default_rng(0).normal(size=(192, 2)).astype(np.float32)
    model, variables = linear_model(w, np.zeros(2, np.float32))
    p = param.image(key, 8, batch=2)
    out = render(key, model, variables, objectives.channels("fc", [0, 1]), p, transforms.compose([]),
                 steps=20, thresholds=(0, 10, 20))
    assert out.images.shape == (3, 2, 8, 8, 3) and out.thresholds == (0, 10, 20)
    np.testing.assert_allclose(np.asarray(out.images[0]), np.asarray(p[1](p[0])), atol=1e-7)
    np.testing.assert_allclose(np.asarray(out.images[2]), np.asarray(p[1](out.params)), atol=1e-7)
    assert not np.allclose(out.images[1], out.images[0])


def test_steps_in_chunks_equal_one_call_bit_for_bit_and_report_progress(key):
    """The loop runs steps_per_call steps per dispatch of one executable on the carried state: the
    images, objective values and parameters equal one call of every step, bit for bit (the
    redirected-ReLU steps and the transforms' keys cross the chunk borders), and ``progress``
    hears each call: updates done and the objective before the last of them."""
    model, variables = Oriented(), {"params": {"conv": {"kernel": jnp.asarray(gabor_bank())}}}
    p = param.image(key, 16, batch=2, channels=1)
    obj = objectives.channels("relu", [0, 2])
    whole = render(key, model, variables, obj, p, transforms.cifar(), steps=21, thresholds=(0, 10, 21),
                   steps_per_call=21)
    heard = []
    parts = render(key, model, variables, obj, p, transforms.cifar(), steps=21, thresholds=(0, 10, 21),
                   steps_per_call=4, progress=lambda done, value: heard.append((done, value)))
    for a, b in zip((whole.images, whole.values, whole.params), (parts.images, parts.values, parts.params)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert [done for done, _ in heard] == [4, 8, 12, 16, 20, 21]
    assert [value for _, value in heard] == [float(parts.values[done - 1]) for done, _ in heard]
    assert float(parts.values[-1]) > float(parts.values[0])


def test_without_transforms_render_uses_the_models_set_as_the_commands_do(key):
    """transforms=None: ``transforms.for_model`` at the rendered side (CIFAR's set up to 64 px,
    Lucid's standard set above), the choice the featvis and circuits commands make; the colour
    matrix: ImageNet's for ImageNet models, else the data's (``param.color_for``)."""
    from jaxinterp import models

    cifar, imagenet = models.get("cifar_resnet20"), models.get("resnet18")
    assert (transforms.name_for(cifar), transforms.name_for(imagenet)) == ("cifar", "standard")
    assert transforms.for_model(imagenet) == transforms.standard() and transforms.name_for(imagenet, 48) == "cifar"
    assert (param.color_name_for(cifar), param.color_name_for(imagenet)) == ("data", "imagenet")
    # by the classes a model was trained on, not its base class: GoogLeNet is an ImageModel of
    # ImageNet's classes, cifar_resnet18 an ImageNet ResNet with a CIFAR head
    assert {n: param.color_name_for(models.get(n)) for n in ("googlenet", "cifar_resnet18", "vgg16")} == {
        "googlenet": "imagenet", "cifar_resnet18": "data", "vgg16": "imagenet"}
    data = np.random.default_rng(0).uniform(size=(20, 8, 8, 3)).astype(np.float32)
    assert param.color_for(cifar, data) == param.color_matrix(data) != param.IMAGENET_COLOR
    assert param.color_for(imagenet) == param.IMAGENET_COLOR == param.color_for(cifar, name="imagenet")
    with pytest.raises(ValueError, match="not an ImageNet model: its colour matrix is its data's"):
        param.color_for(cifar)
    params, image_fn = param.for_model(key, cifar, batch=2, images01=data)
    assert image_fn.color == param.color_matrix(data) and image_fn(params).shape == (2, 32, 32, 3)
    model, variables = Oriented(), {"params": {"conv": {"kernel": jnp.asarray(gabor_bank())}}}
    p = param.image(key, 24, batch=2, channels=1)
    obj = objectives.channels("relu", [0, 1])
    default = render(key, model, variables, obj, p, steps=3).images
    np.testing.assert_array_equal(default, render(key, model, variables, obj, p, transforms.cifar(), steps=3).images)
    assert not np.array_equal(default, render(key, model, variables, obj, p, transforms.standard(), steps=3).images)


def test_render_rejects_bad_input(key):
    w = np.zeros((192, 4), np.float32)
    model, variables = linear_model(w, np.zeros(4, np.float32))
    p = param.image(key, 8, batch=4)
    none = transforms.compose([])
    with pytest.raises(ValueError, match=r"unit index 4 is out of range for layer 'fc', which has 4"):
        render(key, model, variables, objectives.channels("fc", [0, 1, 2, 4]), p, none, steps=2)
    with pytest.raises(ValueError, match=r"layer 'total' gives activations of shape \(4,\).*no channel"):
        render(key, model, variables, objectives.channel("total", 0), p, none, steps=2)
    with pytest.raises(ValueError, match=r"direction of width 3 for layer 'fc' of width 4"):
        render(key, model, variables, objectives.direction("fc", np.ones(3)), p, none, steps=2)
    with pytest.raises(ValueError, match="unknown layer"):
        render(key, model, variables, objectives.channel("fc7", 0), p, none, steps=2)
    with pytest.raises(ValueError, match="thresholds"):
        render(key, model, variables, objectives.channel("fc", 0), p, none, steps=2, thresholds=(5,))


@pytest.mark.slow
def test_resnet20_layer3_units_rise_above_their_dataset_activations(shared_data, key):
    from converters import convert
    from jaxinterp import models
    from jaxinterp.data.checks import to_unit_float

    model = models.get("cifar_resnet20")
    variables = convert(shared_data / "models" / "resnet20-12fca82f.th", "cifar_resnet20")
    images = to_unit_float(np.load(shared_data / "cifar10" / "test_first932.npz")["images"][:256])
    acts = door.taps(model, variables, model.normalize(jnp.asarray(images)), ["layer3"])
    data = np.asarray(acts["layer3"]).mean(axis=(1, 2))  # [256, 64]
    units = [0, 5, 17, 40]
    p = param.image(key, 32, batch=4, color=param.color_matrix(images))
    out = render(key, model, variables, objectives.channels("layer3", units), p, transforms.cifar(),
                 steps=48)
    acts = door.taps(model, variables, model.normalize(out.images[-1]), ["layer3"])
    vis = np.asarray(acts["layer3"]).mean(axis=(1, 2))[np.arange(4), units]
    assert np.all(vis > np.median(data[:, units], axis=0)), (vis, np.median(data[:, units], axis=0))
    assert float(out.values[-1]) > 2 * float(out.values[0])
