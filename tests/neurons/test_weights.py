"""Expanded weights through the linearised network, and their spectra."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.signal import convolve2d

from jaxinterp import neurons
from jaxinterp.models.base import relu
from tests.neurons._nets import make


def test_adjacent_conv_expanded_weight_is_the_kernel(rng):
    k = rng.normal(size=(3, 3, 5, 2)).astype(np.float32)
    fn = lambda parts: relu(jax.lax.conv_general_dilated(
        parts[0][None], k, (1, 1), ((1, 1), (1, 1)), dimension_numbers=("NHWC", "HWIO", "NHWC"))[0])
    level = neurons.make_level("window", (np.zeros((1, 7, 7, 5), np.float32),), (3,), fn)
    e = neurons.expanded_weights(level)  # [2, 45]
    np.testing.assert_allclose(np.asarray(e).reshape(2, 3, 3, 5), k.transpose(3, 0, 1, 2), atol=1e-6)


def test_two_layers_compose_kernels_with_relu_removed():
    net, params, fn = make()
    p = jax.tree_util.tree_map(np.asarray, params)["params"]
    level = neurons.make_level("pixels", (np.zeros((1, 9, 9, 3), np.float32),), (5,), lambda a: fn(a[0]))
    e = np.asarray(neurons.expanded_weights(level)).reshape(4, 5, 5, 3)
    k1, k2, ks = p["conv1"]["kernel"], p["conv2"]["kernel"], p["skip"]["kernel"]
    ref = np.zeros((4, 5, 5, 3))
    for n in range(4):
        for c in range(3):
            for m in range(6):  # correlation∘correlation = correlation with the full convolution of kernels
                ref[n, :, :, c] += convolve2d(k2[::-1, ::-1, m, n], k1[::-1, ::-1, c, m])[::-1, ::-1]
            ref[n, 2, 2, c] += ks[0, 0, c, n]
    np.testing.assert_allclose(e, ref, atol=1e-5)
    assert relu(jnp.array(-1.0)) == 0.0  # ReLU is restored afterwards


def test_spectrum_stats_against_numpy(rng):
    m = rng.normal(size=(6, 9)).astype(np.float32)
    s = neurons.spectrum_stats(jnp.asarray(m))
    sig = np.linalg.svd(m, compute_uv=False)
    p = sig**2 / np.sum(sig**2)
    np.testing.assert_allclose(s["sigma"], sig, rtol=1e-5)
    assert float(s["effective_rank"]) == pytest.approx(np.exp(-np.sum(p * np.log(p))), rel=1e-5)
    assert float(s["separability"]) == pytest.approx(p[0], rel=1e-5)
    rank1 = np.outer(rng.normal(size=6), rng.normal(size=9)).astype(np.float32)
    one = neurons.spectrum_stats(jnp.asarray(rank1))
    assert float(one["separability"]) == pytest.approx(1.0, abs=1e-5)
    assert float(one["effective_rank"]) == pytest.approx(1.0, abs=1e-4)


def test_window_matrix_and_batched_spectrum_stats(rng):
    """Row (dy, dx, c) of a 3x3x2 expanded weight goes to [c, 3·dy + dx]; the batched stats equal
    numpy's SVD of each matrix."""
    e = np.arange(18, dtype=np.float32)
    np.testing.assert_array_equal(neurons.window_matrix(jnp.asarray(e), 3, 2), e.reshape(9, 2).T)
    mats = rng.normal(size=(4, 2, 9)).astype(np.float32)
    stats = neurons.spectrum_stats_all(jnp.asarray(mats))
    for i, m in enumerate(mats):
        sig = np.linalg.svd(m, compute_uv=False)
        p = sig**2 / np.sum(sig**2)
        np.testing.assert_allclose(stats["sigma"][i], sig, rtol=1e-5)
        assert float(stats["effective_rank"][i]) == pytest.approx(np.exp(-np.sum(p * np.log(p))), rel=1e-5)
        assert float(stats["separability"][i]) == pytest.approx(p[0], rel=1e-5)
        assert float(stats["norm"][i]) == pytest.approx(np.linalg.norm(m), rel=1e-5)
