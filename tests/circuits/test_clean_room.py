"""The clean-room argument as a test (issue #13): a network built by hand with a family of
rotated Gabor filters and a second layer wired equivariantly; the circuits tools recover it.

conv1: eight odd Gabor filters (9x9) at 0°, 45°, ..., 315°; each is the windowed,
zero-mean grating of :func:`jaxinterp.data.stimuli.grating` at that orientation and
phase 90°, so it prefers that grating and its polarity tells θ from θ + 180°.
conv2: 8 -> 8 (7x7); the kernel from unit i (orientation φ_i) to unit j (θ_j) is one
function of the relative orientation θ_j − φ_i, turned by θ_j: the weights depend only
on relative orientation (METHODS §6.6). Its main part pools like-oriented units
(cos(θ_j − φ_i) times a centred blob), so unit j is again tuned to θ_j; a smaller,
oriented part makes each map's shape depend on the relative orientation too.
"""

from __future__ import annotations

from typing import ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxinterp import circuits
from jaxinterp.circuits import tuning
from jaxinterp.data import stimuli
from jaxinterp.models.base import ImageModel, ReLU
from jaxinterp.models.layers import conv2d

SIZE = 17  # odd: the image centre is the centre position of every map
ORIENTATIONS = np.arange(8) * 45.0
FREQUENCY = 0.125  # cycles per pixel


class CleanRoom(ImageModel):
    """conv1 3->8 (9x9), relu1, conv2 8->8 (7x7), relu2, mean, fc 8->2."""

    MEAN: ClassVar[tuple[float, ...]] = (0.5, 0.5, 0.5)
    STD: ClassVar[tuple[float, ...]] = (1.0, 1.0, 1.0)
    INPUT_SIZE: ClassVar[int] = SIZE

    @nn.compact
    def __call__(self, x, train: bool = False):
        x = ReLU(name="relu1")(conv2d(8, 9, 1, 4, bias=False, name="conv1")(x))
        x = ReLU(name="relu2")(conv2d(8, 7, 1, 3, bias=False, name="conv2")(x))
        return nn.Dense(2, name="fc")(jnp.mean(x, axis=(1, 2)))


def gabor_bank() -> np.ndarray:
    """[9, 9, 3, 8] HWIO: unit u = Gaussian window × (grating(θ_u, phase 90°) − 0.5), / 3 per colour."""
    grids = np.stack([np.asarray(stimuli.grating(9, t, FREQUENCY, 90.0))[..., 0] for t in ORIENTATIONS], -1)
    r2 = np.sum((np.mgrid[:9, :9] - 4.0) ** 2, axis=0)
    k = np.exp(-r2 / (2 * 2.5**2))[..., None] * (grids - 0.5)
    return np.repeat(k[:, :, None, :] / 3.0, 3, axis=2).astype(np.float32)


def equivariant_kernels(k=7) -> np.ndarray:
    """[k, k, 8, 8] HWIO: W[:, :, i, j] = f_rel(R(−θ_j)·p), rel = θ_j − φ_i (screen coordinates)."""
    r = (k - 1) / 2
    row, col = np.mgrid[:k, :k].astype(np.float64)
    x, y = col - r, r - row
    w = np.zeros((k, k, 8, 8))
    for j, t in enumerate(ORIENTATIONS):
        c, s = np.cos(np.deg2rad(t)), np.sin(np.deg2rad(t))
        u, v = c * x + s * y, -s * x + c * y
        for i, p in enumerate(ORIENTATIONS):
            rel = np.deg2rad(np.mod(t - p, 360.0))
            u0, v0 = 1.5 * np.cos(rel / 2), 1.5 * np.sin(rel / 2)
            a = np.cos(rel) * u + np.sin(rel) * v
            pooled = np.cos(rel) * np.exp(-(u**2 + v**2) / 3.0)  # like excites, opposed inhibits
            detail = np.exp(-((u - u0) ** 2 + (v - v0) ** 2) / 3.0) * np.cos(1.2 * a + rel)
            w[:, :, i, j] = pooled + 0.4 * detail
    return w.astype(np.float32)


def build(conv2_kernel):
    model = CleanRoom()
    v = model.init(jax.random.key(0), jnp.zeros((1, SIZE, SIZE, 3)))
    params = jax.tree_util.tree_map(np.asarray, v["params"])
    params["conv1"]["kernel"] = gabor_bank()
    params["conv2"]["kernel"] = conv2_kernel
    return model, {"params": params}


def shuffled(kernel, seed=0):
    """The same connection maps assigned to the 64 (i, j) connections at random."""
    k = kernel.shape[0]
    maps = kernel.reshape(k, k, 64)[:, :, np.random.default_rng(seed).permutation(64)]
    return np.ascontiguousarray(maps.reshape(k, k, 8, 8))


def circular_distance(a, b, period=360.0):
    d = np.mod(np.asarray(a) - np.asarray(b), period)
    return np.minimum(d, period - d)


@pytest.fixture(scope="module")
def built():
    return build(equivariant_kernels())


@pytest.fixture(scope="module")
def orientations(built):
    """Preferred orientations of both layers from rotating one grating in 1° steps."""
    model, v = built
    exemplar = stimuli.grating(SIZE, 0.0, FREQUENCY, 90.0)[None]
    angles = np.arange(360.0)
    curves = tuning.rotation_tuning(model, v, "conv1", exemplar, angles)  # [360, 8]
    phi = np.asarray(tuning.preferred_orientation(curves.T, angles))
    curves2 = tuning.rotation_tuning(model, v, "conv2", exemplar, angles)
    theta = np.asarray(tuning.preferred_orientation(curves2.T, angles))
    return phi, theta


def test_tuning_curves_recover_the_built_orientations(orientations):
    phi, theta = orientations
    assert circular_distance(phi, ORIENTATIONS).max() <= 5.0
    # the second layer is a rotated family too, tuned to its built orientations; its diagonal
    # units peak up to ~8° off, because a 45° turn of a 7x7 kernel grid is not exact
    assert circular_distance(theta, ORIENTATIONS).max() <= 10.0


def test_expanded_weights_equal_the_built_kernels(built):
    model, v = built
    shape = (SIZE, SIZE, 3)
    w1 = circuits.expanded_weights(model, v, "input", "conv1", shape, window=9)
    np.testing.assert_array_equal(w1, gabor_bank().transpose(3, 0, 1, 2))
    w2 = circuits.expanded_weights(model, v, "relu1", "conv2", shape, window=7)
    np.testing.assert_array_equal(w2, equivariant_kernels().transpose(3, 0, 1, 2))


@pytest.mark.parametrize("wiring", ["equivariant", "shuffled"])
def test_equivariance_score_high_for_the_family_low_when_shuffled(built, orientations, wiring):
    phi, theta = orientations
    kernel = equivariant_kernels() if wiring == "equivariant" else shuffled(equivariant_kernels())
    model, v = built if wiring == "equivariant" else build(kernel)
    w = circuits.expanded_weights(model, v, "relu1", "conv2", (SIZE, SIZE, 3), window=7)
    fit = circuits.binned_fit(circuits.connection_matrix(w, "sum"), phi, theta)
    corr = circuits.rotated_weights_correlation(w, phi, theta)
    if wiring == "equivariant":
        assert float(fit["r2"]) > 0.95
        assert float(corr["score"]) > 0.9
    else:
        assert float(fit["r2"]) < 0.5
        assert float(corr["score"]) < 0.3
