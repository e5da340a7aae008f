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

    def segments(self) -> np.ndarray:
        """[Σd] layer index of every concatenated column."""
        return np.repeat(np.arange(len(self.names)), self.widths)

    def one_hot(self) -> np.ndarray:
        """[Σd, L] 0/1 membership of each column in each layer (block sums as one matmul)."""
        return (self.segments()[:, None] == np.arange(len(self.names))[None, :]).astype(np.float32)

    def gather(self) -> np.ndarray:
        """[L, widest] column indices into the concatenated form; Σd (one past the end) pads."""
        idx = np.full((len(self.names), self.widest), self.total, np.int32)
        for i, (o, w) in enumerate(zip(self.offsets, self.widths)):
            idx[i, :w] = np.arange(o, o + w)
        return idx

    def valid(self) -> np.ndarray:
        """[L, widest] True where a padded column holds a real feature."""
        return np.arange(self.widest)[None, :] < self.widths[:, None]


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
