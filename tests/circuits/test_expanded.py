"""Expanded weights through the linearised network (METHODS §6.5), on tiny hand-made models."""

from __future__ import annotations

from typing import ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxinterp import circuits
from jaxinterp.models import small_cnn
from jaxinterp.models.base import ImageModel, ReLU, relu
from jaxinterp.models.layers import MaxPool2d, batch_norm, conv2d
from tests.flax_reference import forward

SHAPE = (8, 8, 3)


class Stack(ImageModel):
    """conv1 3->4 (3x3), [bn1], [ReLU], [pool 2x2], conv2 4->5 (3x3, bias), mean, Dense 2."""

    bn: bool = True
    use_relu: bool = True
    pool: str | None = None  # "max", "avg" or None

    IN_CHANNELS: ClassVar[int] = 3
    INPUT_SIZE: ClassVar[int] = 8

    @nn.compact
    def __call__(self, x, train: bool = False):
        x = conv2d(4, 3, 1, 1, name="conv1")(x)
        if self.bn:
            x = batch_norm(train, "bn1")(x)
        if self.use_relu:
            x = relu(x)
        if self.pool == "max":
            x = MaxPool2d(2, 2, name="pool")(x)
        elif self.pool == "avg":
            # flax's avg_pool divides by an int32 window size; the promotion is flax's own
            with jax.numpy_dtype_promotion("standard"):
                x = nn.avg_pool(x, (2, 2), (2, 2))
        x = conv2d(5, 3, 1, 1, name="conv2")(x)
        if self.use_relu:
            x = relu(x)
        return nn.Dense(2, name="fc")(jnp.mean(x, axis=(1, 2)))


def randomized(model, seed=0, size=8, channels=3):
    """Random parameters and non-trivial BN statistics."""
    variables = model.init(jax.random.key(seed), jnp.zeros((1, size, size, channels)))
    rng = np.random.default_rng(seed)

    def rand(path, leaf):
        name = path[-1].key
        if name == "var":
            return jnp.asarray(rng.uniform(0.5, 2.0, leaf.shape), jnp.float32)
        return jnp.asarray(rng.normal(0, 0.5 if name in ("mean", "bias") else 1.0, leaf.shape), jnp.float32)

    return jax.tree_util.tree_map_with_path(rand, dict(variables))


def bn_affine(variables, eps=1e-5):
    bn, st = variables["params"]["bn1"], variables["batch_stats"]["bn1"]
    return np.asarray(bn["scale"]) / np.sqrt(np.asarray(st["var"]) + eps)


def test_adjacent_convs_give_the_raw_kernel():
    model = Stack()
    v = randomized(model)
    k2 = np.asarray(v["params"]["conv2"]["kernel"])  # [3, 3, 4, 5] HWIO
    full = np.asarray(circuits.expanded_weights(model, v, "bn1", "conv2", SHAPE))  # ReLU between is cut
    assert full.shape == (5, 8, 8, 4)
    np.testing.assert_array_equal(full[:, 3:6, 3:6], k2.transpose(3, 0, 1, 2))
    outside = full.copy()
    outside[:, 3:6, 3:6] = 0
    assert not outside.any()
    crop = circuits.expanded_weights(model, v, "bn1", "conv2", SHAPE, window=3)
    np.testing.assert_array_equal(crop, k2.transpose(3, 0, 1, 2))
    assert circuits.window_origin(model, v, "bn1", "conv2", SHAPE, window=3) == (3, 3)
    # at a corner the window runs off the map: zero there
    corner = np.asarray(circuits.expanded_weights(model, v, "bn1", "conv2", SHAPE, at=(0, 0), window=3))
    ref = k2.transpose(3, 0, 1, 2).copy()
    ref[:, 0], ref[:, :, 0] = 0, 0
    np.testing.assert_array_equal(corner, ref)
    # a subset of units is the same rows
    some = circuits.expanded_weights(model, v, "bn1", "conv2", SHAPE, window=3, units=[4, 1])
    np.testing.assert_array_equal(some, crop[np.array([4, 1])])


def test_conv_bn_conv_equals_numpy_composition():
    model = Stack()
    v = randomized(model, seed=1)
    k1 = np.asarray(v["params"]["conv1"]["kernel"], np.float64)  # [3, 3, 3, 4]
    k2 = np.asarray(v["params"]["conv2"]["kernel"], np.float64)  # [3, 3, 4, 5]
    s = bn_affine(v)
    ref = np.zeros((5, 5, 5, 3))  # [j, dy, dx, c]: correlation∘correlation = one 5x5 correlation
    for a in range(3):
        for b in range(3):
            ref[:, a:a + 3, b:b + 3, :] += np.einsum("mj,m,yxcm->jyxc", k2[a, b], s, k1)
    got = circuits.expanded_weights(model, v, "input", "conv2", SHAPE, window=5)
    np.testing.assert_allclose(got, ref, atol=1e-5, rtol=1e-5)
    # the ReLU between them really is nonlinear outside linear_mode
    x = jax.random.normal(jax.random.key(0), (1, *SHAPE))
    with circuits.linear_mode():
        lin = forward(model, v, x, ["conv2"])[1]["conv2"]
    assert not np.allclose(forward(model, v, x, ["conv2"])[1]["conv2"], lin, atol=1e-3)


def test_max_pool_linearises_to_the_average_pool():
    x = jax.random.normal(jax.random.key(1), (1, *SHAPE))
    v = randomized(Stack(pool="max"), seed=2)
    w_max = circuits.expanded_weights(Stack(pool="max"), v, "input", "conv2", SHAPE)
    w_avg = circuits.expanded_weights(Stack(pool="avg"), v, "input", "conv2", SHAPE)
    np.testing.assert_allclose(w_max, w_avg, atol=1e-6)
    assert np.abs(np.asarray(w_max)).max() > 0.1
    # and the max-pool is a max again outside linear_mode
    a_max = forward(Stack(pool="max"), v, x, ["conv2"])[1]["conv2"]
    a_avg = forward(Stack(pool="avg"), v, x, ["conv2"])[1]["conv2"]
    assert not np.allclose(a_max, a_avg, atol=1e-3)


def test_average_pool_leaves_padding_out_like_the_max_pool_does(rng):
    x = rng.normal(size=(1, 5, 5, 2)).astype(np.float32)
    pool = MaxPool2d(3, 2, 1, ceil_mode=True)
    with circuits.linear_mode():
        got = np.asarray(pool.apply({}, jnp.asarray(x)))
    ref = np.zeros((1, 3, 3, 2), np.float32)
    for i in range(3):
        for j in range(3):
            rows = slice(max(2 * i - 1, 0), min(2 * i + 2, 5))
            cols = slice(max(2 * j - 1, 0), min(2 * j + 2, 5))
            ref[0, i, j] = x[0, rows, cols].mean(axis=(0, 1))
    np.testing.assert_allclose(got, ref, atol=1e-6)
    direct = circuits.average_pool(jnp.asarray(x), (1, 3, 3, 1), (1, 2, 2, 1), ((0, 0), (1, 1), (1, 1), (0, 0)))
    np.testing.assert_allclose(direct, ref, atol=1e-6)
    np.testing.assert_allclose(pool.apply({}, jnp.asarray(x))[0, 1, 1], x[0, 1:4, 1:4].max(axis=(0, 1)))


def test_linear_mode_leaves_a_relu_free_model_unchanged():
    x = jax.random.normal(jax.random.key(2), (2, *SHAPE))
    plain, with_relu = Stack(use_relu=False), Stack()
    v = randomized(plain, seed=3)
    names = ["conv1", "bn1", "conv2", "logits"]
    before = forward(plain, v, x, names)[1]
    with circuits.linear_mode():
        inside = forward(plain, v, x, names)[1]
        relu_as_identity = forward(with_relu, v, x, ["conv2"])[1]["conv2"]
    for name in names:
        np.testing.assert_array_equal(before[name], inside[name])
    np.testing.assert_array_equal(relu_as_identity, before["conv2"])
    assert float(relu(jnp.float32(-1.0))) == 0.0  # restored afterwards


def test_bad_cuts_are_refused_with_the_fix():
    model = Stack()
    v = randomized(model)
    with pytest.raises(ValueError, match="wrong order.*'conv2'.*'conv1'"):
        circuits.expanded_weights(model, v, "conv2", "conv1", SHAPE)
    with pytest.raises(ValueError, match="wrong order"):
        circuits.expanded_weights(model, v, "conv1", "conv1", SHAPE)
    with pytest.raises(ValueError, match="unknown source layer 'conv9'.*close matches: conv"):
        circuits.expanded_weights(model, v, "conv9", "conv2", SHAPE)
    circuits.check_cut(model, v, "conv1", "conv2", SHAPE)  # upstream first: fine
    with pytest.raises(ValueError, match="unknown target layer 'fc9'"):
        circuits.check_cut(model, v, "conv1", "fc9", SHAPE)
    with pytest.raises(ValueError, match="unknown target layer"):
        circuits.expanded_weights(model, v, "conv1", "layer3", SHAPE)
    with pytest.raises(ValueError, match=r"unit\(s\) \[5\] out of range.*5 channels.*0..4"):
        circuits.expanded_weights(model, v, "conv1", "conv2", SHAPE, units=[0, 5])
    with pytest.raises(ValueError, match=r"unit\(s\) \[-1\] out of range"):
        circuits.expanded_weights(model, v, "conv1", "conv2", SHAPE, units=[-1])
    with pytest.raises(ValueError, match="outside target 'conv2'"):
        circuits.expanded_weights(model, v, "conv1", "conv2", SHAPE, at=(8, 0))
    with pytest.raises(ValueError, match=r"one image's \[H, W, C\]"):
        circuits.expanded_weights(model, v, "conv1", "conv2", (1, *SHAPE))
    with pytest.raises(ValueError, match="window must be a positive integer"):
        circuits.expanded_weights(model, v, "conv1", "conv2", SHAPE, window=0)


class TwiceReLU(ImageModel):
    """One ReLU module called twice (torchvision's blocks do this)."""

    @nn.compact
    def __call__(self, x, train: bool = False):
        act = ReLU(name="relu")
        x = act(conv2d(2, 3, 1, 1, name="conv1")(x))
        return act(conv2d(2, 3, 1, 1, name="conv2")(x))


def test_a_module_called_twice_cannot_be_a_source():
    model = TwiceReLU()
    v = model.init(jax.random.key(0), jnp.zeros((1, *SHAPE)))
    with pytest.raises(ValueError, match="'relu' is called 2 times"):
        circuits.expanded_weights(model, v, "relu", "conv2", SHAPE)
    assert circuits.expanded_weights(model, v, "conv1", "conv2", SHAPE, window=3).shape == (2, 3, 3, 2)


def test_expanded_weights_match_a_pytorch_autograd_loop():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    model = small_cnn.SmallCNN(widths=(4, 6, 5), num_classes=3)
    v = randomized(model, seed=4, size=16, channels=1)
    p, st = v["params"], v["batch_stats"]
    t = lambda a: torch.tensor(np.asarray(a), dtype=torch.float64)  # noqa: E731

    def conv(x, i, stride):
        return F.conv2d(x, t(p[f"conv{i}"]["kernel"]).permute(3, 2, 0, 1), stride=stride, padding=1)

    def bn(x, i):
        return F.batch_norm(x, t(st[f"bn{i}"]["mean"]), t(st[f"bn{i}"]["var"]), t(p[f"bn{i}"]["scale"]),
                            t(p[f"bn{i}"]["bias"]), training=False, eps=1e-5)

    def linear_from_relu1(x):  # relu1 output -> conv3 (ReLUs are the identity)
        return conv(bn(conv(x, 2, 2), 2), 3, 2)

    def linear_from_conv1(x):  # conv1 output -> logits
        h = bn(conv(bn(conv(bn(x, 1), 2, 2), 2), 3, 2), 3).mean(dim=(2, 3))
        return h @ t(p["fc"]["kernel"]) + t(p["fc"]["bias"])

    def torch_loop(fn, index, n_out):
        rows = []
        for j in range(n_out):  # one backward pass per target unit
            x = torch.zeros(1, 4, 16, 16, dtype=torch.float64, requires_grad=True)
            fn(x)[index(j)].backward()
            rows.append(x.grad[0].permute(1, 2, 0).numpy())
        return np.stack(rows)

    ref = torch_loop(linear_from_relu1, lambda j: (0, j, 2, 2), 5)
    got = circuits.expanded_weights(model, v, "relu1", "conv3", (16, 16, 1))
    np.testing.assert_allclose(got, ref, atol=1e-5 * np.abs(ref).max())
    ref = torch_loop(linear_from_conv1, lambda j: (0, j), 3)
    got = circuits.expanded_weights(model, v, "conv1", "logits", (16, 16, 1))
    np.testing.assert_allclose(got, ref, atol=1e-5 * np.abs(ref).max())


def test_top_connections_against_numpy(rng):
    w = rng.normal(size=(6, 3, 3, 5)).astype(np.float32)
    sums, norms = w.sum(axis=(1, 2)), np.sqrt((w**2).sum(axis=(1, 2)))  # [6, 5]
    idx, val = circuits.top_connections(w, 2, "in")
    ref = np.argsort(-norms, axis=1)[:, :2]
    np.testing.assert_array_equal(idx, ref)
    np.testing.assert_allclose(val, np.take_along_axis(np.sign(sums) * norms, ref, 1), rtol=1e-5)
    idx, val = circuits.top_connections(w, 3, "out", by="sum")
    ref = np.argsort(-np.abs(sums.T), axis=1)[:, :3]
    np.testing.assert_array_equal(idx, ref)
    np.testing.assert_allclose(val, np.take_along_axis(sums.T, ref, 1), rtol=1e-5)
    assert (np.asarray(val) < 0).any() and (np.asarray(val) > 0).any()  # inhibition stays visible
    np.testing.assert_allclose(circuits.connection_matrix(w, "centre"), w[:, 1, 1].T)
    with pytest.raises(ValueError, match="k=6.*5 upstream"):
        circuits.top_connections(w, 6, "in")
    with pytest.raises(ValueError, match="direction must be"):
        circuits.top_connections(w, 1, "up")
    with pytest.raises(ValueError, match=r"\[N_target, h, w, C_source\]"):
        circuits.top_connections(w[0], 1)


def test_decomposed_objective_against_numpy(rng):
    w = rng.normal(size=(2, 3, 4)).astype(np.float32)
    acts = rng.normal(size=(6, 5, 5, 4)).astype(np.float32)
    obj = circuits.decomposed_objective("layer", w, origin=(1, 2))
    ref = sum(acts[p, 1 + p // 3, 2 + p % 3] @ w[p // 3, p % 3] for p in range(6))
    assert float(obj({"layer": jnp.asarray(acts)})) == pytest.approx(float(ref), rel=1e-5)
    obj.check({"layer": acts.shape})
    with pytest.raises(ValueError, match="batch of 4 images for 2x3 positions"):
        obj.check({"layer": (4, 5, 5, 4)})
    with pytest.raises(ValueError, match="do not fit"):
        obj.check({"layer": (6, 3, 3, 4)})
    with pytest.raises(ValueError, match=r"\[h, w, C\]"):
        circuits.decomposed_objective("layer", w[None])
