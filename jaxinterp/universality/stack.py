"""Layers of different widths as one array, so kernels vmap over layers and layer pairs.

Zero columns change no inner product, distance or variance, so a layer padded
with zeros to the widest layer has the same linear/RBF Gram matrix, the same
nearest neighbours and the same non-null singular directions as the original.
"""

from __future__ import annotations

from typing import Mapping, NamedTuple

import jax.numpy as jnp
import numpy as np


class Layout(NamedTuple):
    """names: the L layer names, in order.
    widths: [L] features per layer.
    offsets: [L] first column of each layer in the concatenated [n, Σd] form.
    """

    names: tuple[str, ...]
    widths: np.ndarray
    offsets: np.ndarray

    @property
    def total(self) -> int:
        return int(self.widths.sum())

    @property
    def widest(self) -> int:
        return int(self.widths.max())


def layout(acts: Mapping[str, object]) -> Layout:
    names = tuple(acts)
    widths = np.asarray([int(np.shape(acts[k])[1]) for k in names], np.int64)
    offsets = np.concatenate([[0], np.cumsum(widths)[:-1]]).astype(np.int64)
    return Layout(names, widths, offsets)


def concatenate(acts: Mapping[str, object], start: int = 0, stop: int | None = None) -> np.ndarray:
    """{layer: [n, d_l]} -> [stop - start, Σd] float32 (rows ``start:stop``, read lazily per layer)."""
    return np.concatenate([np.asarray(a[start:stop], np.float32) for a in acts.values()], axis=1)


def pad_stack(acts: Mapping[str, object]) -> jnp.ndarray:
    """{layer: [n, d_l]} -> [L, n, max d] float32, zero-padded."""
    lay = layout(acts)
    n = int(np.shape(next(iter(acts.values())))[0])
    out = np.zeros((len(lay.names), n, lay.widest), np.float32)
    for i, a in enumerate(acts.values()):
        out[i, :, : lay.widths[i]] = np.asarray(a, np.float32)
    return jnp.asarray(out)
