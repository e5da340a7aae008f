"""Winograd F(2x2, 3x3) equals XLA's direct convolution."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxinterp.neurons import winograd


def _direct(x, w):
    return jax.lax.conv_general_dilated(x, w, (1, 1), ((1, 1), (1, 1)),
                                        dimension_numbers=("NHWC", "HWIO", "NHWC"))


@pytest.mark.parametrize("shape,k", [((2, 8, 8, 5), 6), ((3, 7, 9, 4), 2), ((1, 1, 1, 3), 3), ((2, 16, 16, 24), 24)])
def test_equals_direct_convolution(rng, shape, k):
    x = jnp.asarray(rng.normal(size=shape), jnp.float32)
    w = jnp.asarray(rng.normal(size=(3, 3, shape[-1], k)), jnp.float32)
    got, ref = winograd.conv3x3(x, w), _direct(x, w)
    assert got.shape == ref.shape
    assert float(jnp.linalg.norm(got - ref) / jnp.linalg.norm(ref)) < 2e-6
    assert float(jnp.max(jnp.abs(got - ref))) < 1e-4 * float(jnp.max(jnp.abs(ref)))


def test_kernel_transform_reproduces_one_tile(rng):
    """The transformed kernel, multiplied with a transformed 4x4 tile, gives the 2x2 correlation."""
    w = rng.normal(size=(3, 3, 1, 1)).astype(np.float32)
    d = rng.normal(size=(4, 4)).astype(np.float32)
    u = np.asarray(winograd.kernel_transform(jnp.asarray(w)))[:, 0, 0].reshape(4, 4)
    bt = winograd._BT
    at = np.array([[1, 1, 1, 0], [0, 1, -1, -1]], np.float32)
    y = at @ (u * (bt @ d @ bt.T)) @ at.T
    ref = np.array([[np.sum(d[i:i + 3, j:j + 3] * w[..., 0, 0]) for j in range(2)] for i in range(2)])
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-5)


def test_refuses_mismatched_shapes():
    with pytest.raises(ValueError, match=r"matching C"):
        winograd.conv3x3(jnp.zeros((1, 4, 4, 3)), jnp.zeros((3, 3, 4, 2)))
    with pytest.raises(ValueError, match="3x3 kernel"):
        winograd.kernel_transform(jnp.zeros((5, 5, 3, 2)))
