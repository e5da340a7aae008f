"""PyTorch-semantics layers against torch itself, on the corner cases ports get wrong."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from jaxinterp.models.layers import AdaptiveAvgPool2d, MaxPool2d, conv2d, flatten_nchw  # noqa: E402


def _nchw(x):
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))


def _nhwc(t):
    return t.numpy().transpose(0, 2, 3, 1)


@pytest.mark.parametrize("size", [5, 8, 13, 16])
@pytest.mark.parametrize("kernel,stride,padding,ceil", [(3, 2, 0, True), (3, 2, 1, False), (2, 2, 0, True), (3, 1, 1, True)])
def test_max_pool_matches_torch_including_ceil_mode(size, kernel, stride, padding, ceil, rng):
    x = rng.normal(size=(2, size, size + 1, 3)).astype(np.float32) - 5.0  # negative: -inf padding matters
    ours = MaxPool2d(kernel, stride, padding, ceil).apply({}, jnp.asarray(x))
    theirs = torch.nn.MaxPool2d(kernel, stride, padding, ceil_mode=ceil)(_nchw(x))
    np.testing.assert_array_equal(np.asarray(ours), _nhwc(theirs))


@pytest.mark.parametrize("size,out", [(1, 7), (3, 6), (5, 3), (13, 6), (8, 4), (7, 1)])
def test_adaptive_avg_pool_matches_torch_for_small_and_uneven_inputs(size, out, rng):
    x = rng.normal(size=(2, size, size, 4)).astype(np.float32)
    ours = AdaptiveAvgPool2d(out).apply({}, jnp.asarray(x))
    theirs = torch.nn.AdaptiveAvgPool2d(out)(_nchw(x))
    np.testing.assert_allclose(np.asarray(ours), _nhwc(theirs), rtol=1e-6, atol=1e-6)


def test_stride_two_conv_pads_symmetrically_like_torch(rng):
    x = rng.normal(size=(2, 8, 8, 3)).astype(np.float32)
    conv = torch.nn.Conv2d(3, 4, 3, 2, 1)
    params = {"params": {"kernel": jnp.asarray(conv.weight.detach().numpy().transpose(2, 3, 1, 0)),
                         "bias": jnp.asarray(conv.bias.detach().numpy())}}
    ours = conv2d(4, 3, 2, 1).apply(params, jnp.asarray(x))
    with torch.no_grad():
        theirs = conv(_nchw(x))
    np.testing.assert_allclose(np.asarray(ours), _nhwc(theirs), rtol=1e-5, atol=1e-5)


def test_flatten_uses_torch_channel_major_order(rng):
    x = rng.normal(size=(2, 3, 4, 5)).astype(np.float32)
    np.testing.assert_array_equal(np.asarray(flatten_nchw(jnp.asarray(x))), torch.flatten(_nchw(x), 1).numpy())
