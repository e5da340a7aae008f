"""PyTorch layers with PyTorch semantics, NHWC, for the ports in this package.

Each piece reproduces one ``torch.nn`` module to float32 rounding, including
the corner cases a naive port gets wrong (METHODS §1.1):

* :func:`conv2d` pads explicitly and symmetrically; ``"SAME"`` pads (0, 1) for
  stride 2 on even inputs where PyTorch pads (1, 1).
* :class:`MaxPool2d` pads with ``-inf`` and implements ``ceil_mode``; within
  :func:`max_pool_override` it calls the given pooling function instead (the linearised
  network of :func:`jaxinterp.door.cut.linear_mode` averages over the same windows).
* :class:`AdaptiveAvgPool2d` uses PyTorch's bin edges
  (``floor(i*h/out)`` to ``ceil((i+1)*h/out)``), so a 1x1 map is replicated to
  7x7 exactly like ``nn.AdaptiveAvgPool2d(7)``.
* :class:`Sequential` names its children ``"0"``, ``"1"``, ... like
  ``nn.Sequential``, so ``features.3`` is a capturable layer name.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import flax.linen as nn
import numpy as np


def conv2d(
    features: int,
    kernel: int,
    stride: int = 1,
    padding: int = 0,
    bias: bool = True,
    name: str | None = None,
) -> nn.Conv:
    """``nn.Conv2d(_, features, kernel, stride, padding, bias=bias)``: [n,h,w,c] -> [n,h',w',features]."""
    return nn.Conv(
        features,
        (kernel, kernel),
        strides=(stride, stride),
        padding=((padding, padding), (padding, padding)),
        use_bias=bias,
        name=name,
    )


def batch_norm(train: bool, name: str | None = None, epsilon: float = 1e-5) -> nn.BatchNorm:
    """``nn.BatchNorm2d`` with PyTorch's defaults (momentum 0.1 -> Flax 0.9, eps 1e-5)."""
    return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=epsilon, name=name)


def _pooled_size(size: int, kernel: int, stride: int, padding: int, ceil_mode: bool) -> int:
    """Output length of ``nn.MaxPool2d`` along one axis (PyTorch's formula)."""
    span = size + 2 * padding - kernel
    out = (-(-span // stride) if ceil_mode else span // stride) + 1
    # PyTorch drops a last window that would start inside the right padding.
    if ceil_mode and (out - 1) * stride >= size + padding:
        out -= 1
    return out


# fn(x, window, strides, pads) -> pooled x; None = max-pooling (see max_pool_override)
_MAX_POOL: contextvars.ContextVar[Callable | None] = contextvars.ContextVar("jaxinterp_max_pool", default=None)


@contextlib.contextmanager
def max_pool_override(fn: Callable):
    """Within this block (while tracing), every :class:`MaxPool2d` returns ``fn(x, window, strides, pads)``.

    ``window`` and ``strides`` are ``reduce_window`` tuples ``(1, k, k, 1)`` / ``(1, s, s, 1)``
    and ``pads`` the explicit ``[(lo, hi)] * 4`` padding the max-pool would use (its padded
    positions hold ``-inf``, i.e. they never win the max).
    """
    token = _MAX_POOL.set(fn)
    try:
        yield
    finally:
        _MAX_POOL.reset(token)


class MaxPool2d(nn.Module):
    """``nn.MaxPool2d(kernel, stride, padding, ceil_mode)``: [n,h,w,c] -> [n,h',w',c], padded with -inf."""

    kernel: int
    stride: int | None = None
    padding: int = 0
    ceil_mode: bool = False

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        stride = self.stride or self.kernel
        pads = [(0, 0)]
        for size in x.shape[1:3]:
            out = _pooled_size(size, self.kernel, stride, self.padding, self.ceil_mode)
            extra = (out - 1) * stride + self.kernel - (size + 2 * self.padding)
            pads.append((self.padding, self.padding + max(extra, 0)))
        pads.append((0, 0))
        window, strides = (1, self.kernel, self.kernel, 1), (1, stride, stride, 1)
        override = _MAX_POOL.get()
        if override is not None:
            return override(x, window, strides, pads)
        return jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, window, strides, pads)


def _adaptive_matrix(size: int, out: int) -> np.ndarray:
    """[out, size] averaging weights of ``AdaptiveAvgPool`` along one axis."""
    mat = np.zeros((out, size), np.float32)
    for i in range(out):
        start = (i * size) // out
        end = math.ceil((i + 1) * size / out)
        mat[i, start:end] = 1.0 / (end - start)
    return mat


class AdaptiveAvgPool2d(nn.Module):
    """``nn.AdaptiveAvgPool2d(output_size)``: [n,h,w,c] -> [n,out,out,c]."""

    output_size: int

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        h, w = x.shape[1:3]
        out = self.output_size
        if h % out == 0 and w % out == 0:  # equal bins: a plain mean, cheapest and exact
            n, c = x.shape[0], x.shape[3]
            return x.reshape(n, out, h // out, out, w // out, c).mean(axis=(2, 4))
        rows = jnp.asarray(_adaptive_matrix(h, out), x.dtype)
        cols = jnp.asarray(_adaptive_matrix(w, out), x.dtype)
        return jnp.einsum("ih,jw,nhwc->nijc", rows, cols, x, precision="highest")


def flatten_nchw(x: jax.Array) -> jax.Array:
    """``torch.flatten(x, 1)`` of the NCHW tensor: [n,h,w,c] -> [n, c*h*w] in PyTorch's order.

    Flattening in channel-major order keeps the following ``Linear`` weights
    identical to PyTorch's, so converters need no per-model permutation.
    """
    if x.ndim == 4:
        x = jnp.transpose(x, (0, 3, 1, 2))
    return x.reshape(x.shape[0], -1)


class Sequential(nn.Module):
    """``nn.Sequential``: children named ``"0"``, ``"1"``, ... built by ``layers[i](name=str(i))``.

    Each entry is a factory taking ``name`` (a module class or a
    ``functools.partial`` of one) whose module maps one array to one array.
    """

    layers: Sequence[Callable[..., nn.Module]]

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        for i, make in enumerate(self.layers):
            x = make(name=str(i))(x)
        return x
