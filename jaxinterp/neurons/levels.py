"""A neuron's inputs at three levels (METHODS.md §5), as gathered design matrices.

A :class:`Level` says where a layer's inputs come from: one or more *parts*
(tensors [n, H, W, C] over the same images, each seen through a square window
centred on the output position) and ``fn``, the sub-network that maps the parts
of one image to the layer output [h, w, N]. Everything else is generic:

* :func:`design_matrix` gathers, for position samples (image, h, w), the
  windows of every part into rows ``U [p, d]`` (zero outside the map);
* :func:`targets` reads ``Y [p, N]`` at the same positions;
* :mod:`jaxinterp.neurons.jacobian` differentiates ``fn`` and crops the same windows.

For the CIFAR ResNets, :mod:`jaxinterp.neurons.resnet_levels` builds the
immediate (conv2 inputs + skip), stage-window and pixel levels of a stage.
"""

from __future__ import annotations

from typing import Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np


class Level(NamedTuple):
    """name: "immediate", "window", "pixels" or any label.
    parts: tuple of [n, H_i, W_i, C_i] arrays (the level's input tensors, all images).
    windows: tuple of odd window sizes, one per part (1 = the centre position only).
    fn: (tuple of [H_i, W_i, C_i] for one image) -> [h, w, N] layer output.
    strides: tuple of ints: output position (h, w) sits at input (h*s, w*s) of each part.
    """

    name: str
    parts: tuple
    windows: tuple
    fn: Callable
    strides: tuple

    @property
    def dim(self) -> int:
        return sum(w * w * p.shape[-1] for p, w in zip(self.parts, self.windows))


def make_level(name: str, parts: Sequence, windows: Sequence[int], fn: Callable,
               strides: Sequence[int] | None = None) -> Level:
    """Check and build a :class:`Level` (see its fields)."""
    parts = tuple(jnp.asarray(p) for p in parts)
    windows = tuple(int(w) for w in windows)
    strides = tuple(int(s) for s in (strides or (1,) * len(parts)))
    if not parts:
        raise ValueError(f"level {name!r} has no input parts; pass at least one [n, H, W, C] tensor")
    if len(windows) != len(parts) or len(strides) != len(parts):
        raise ValueError(
            f"level {name!r}: {len(parts)} parts but {len(windows)} windows and {len(strides)} "
            "strides; give one window size and one stride per part"
        )
    for i, (p, w) in enumerate(zip(parts, windows)):
        if p.ndim != 4:
            raise ValueError(
                f"level {name!r}: part {i} must be [n, H, W, C] with spatial axes for a window, "
                f"got shape {tuple(p.shape)}; window levels need a convolutional layer "
                "(use the pixel level, or a layer before global pooling)"
            )
        if w < 1 or w % 2 == 0:
            raise ValueError(f"level {name!r}: window sizes must be odd and >= 1, got {w} for part {i}")
        if p.shape[0] != parts[0].shape[0]:
            raise ValueError(
                f"level {name!r}: parts cover different numbers of images "
                f"({[q.shape[0] for q in parts]}); capture them on the same images"
            )
    return Level(name, parts, windows, fn, strides)


def sample_positions(key: jax.Array, n_images: int, height: int, width: int, count: int) -> jax.Array:
    """``count`` random position samples [count, 3] = (image, h, w), without replacement."""
    total = n_images * height * width
    count = min(count, total)
    flat = jax.random.choice(key, total, (count,), replace=False)
    img, rest = jnp.divmod(flat, height * width)
    h, w = jnp.divmod(rest, width)
    return jnp.stack([img, h, w], axis=1).astype(jnp.int32)


def window(x: jax.Array, h: jax.Array, w: jax.Array, size: int) -> jax.Array:
    """The size×size window of one map x [H, W, C] centred at (h, w), zero outside: [size, size, C]."""
    r = size // 2
    padded = jnp.pad(x, ((r, r), (r, r), (0, 0)))
    return jax.lax.dynamic_slice(padded, (h, w, 0), (size, size, x.shape[-1]))


def window_row(level: Level, parts_one, h, w) -> jax.Array:
    """One image's design-matrix row at output position (h, w): each part's window (centred at
    (h·s, w·s), zero outside), flattened (dy, dx, channel), parts concatenated: [level.dim]."""
    cols = [
        window(p, h * s, w * s, k).reshape(-1)
        for p, k, s in zip(parts_one, level.windows, level.strides)
    ]
    return jnp.concatenate(cols)


def design_matrix(level: Level, positions: jax.Array, chunk: int = 1024) -> jax.Array:
    """Rows of the level's inputs at position samples: [p, 3] -> U [p, level.dim].

    Column order: part by part, each window flattened as (dy, dx, channel).
    """
    positions = jnp.asarray(positions)

    def one(pos):
        parts_one = tuple(p[pos[0]] for p in level.parts)
        return window_row(level, parts_one, pos[1], pos[2])

    return jax.lax.map(one, positions, batch_size=min(chunk, positions.shape[0]))


def targets(outputs: jax.Array, positions: jax.Array) -> jax.Array:
    """Layer outputs [n, h, w, N] at position samples [p, 3] -> Y [p, N]."""
    positions = jnp.asarray(positions)
    return outputs[positions[:, 0], positions[:, 1], positions[:, 2]]


def level_outputs(level: Level, chunk: int = 64) -> jax.Array:
    """Run ``fn`` over every image of the level: [n, h, w, N]."""
    n = level.parts[0].shape[0]
    return jax.lax.map(lambda i: level.fn(tuple(p[i] for p in level.parts)), jnp.arange(n),
                       batch_size=min(chunk, n))


def project(outputs: jax.Array, directions: jax.Array) -> jax.Array:
    """A layer's outputs [..., N] projected on unit directions [k, N]: [..., k] (``outputs @ Dᵀ``).

    A neuron is a one-hot row, so one-hot rows read the neurons' own outputs exactly (every other
    product is an exact zero). Full float32 precision: accelerators would otherwise round the
    operands to bfloat16."""
    directions = jnp.asarray(directions, jnp.float32)
    if directions.ndim != 2 or directions.shape[1] != outputs.shape[-1]:
        raise ValueError(f"directions must be [k, {outputs.shape[-1]}] (one row per unit over the layer's "
                         f"{outputs.shape[-1]} channels), got shape {tuple(directions.shape)}; fit them on a "
                         "capture of this layer")
    return jnp.matmul(outputs, directions.T, precision=jax.lax.Precision.HIGHEST)


def project_level(level: Level, directions: jax.Array) -> Level:
    """``level`` whose units are directions [k, N] of the layer: ``fn`` returns the projected output
    [h, w, k] (:func:`project`). Every measure of the level then reads the k directions in place of
    the N neurons: targets, Jacobians (the pullback of a unit's cotangent is Dᵀ of it) and the
    expanded weights (the projection is linear: D @ E)."""
    directions = jnp.asarray(directions, jnp.float32)
    fn = level.fn
    return level._replace(fn=lambda parts: project(fn(parts), directions))


def receptive_field(fn: Callable, input_shape: Sequence[int], out_index: tuple[int, int] | None = None) -> int:
    """Side of the (square) region of a [H, W, C] input that one output position depends on.

    Measured, not derived: the support of the gradient of the sum of all channels
    at ``out_index`` (default: the centre) with respect to a random input.
    """
    x = jax.random.normal(jax.random.key(0), tuple(input_shape))
    out_shape = jax.eval_shape(fn, x).shape
    oh, ow = out_index or (out_shape[0] // 2, out_shape[1] // 2)
    g = jax.grad(lambda x: jnp.sum(fn(x)[oh, ow]))(x)
    support = np.asarray(jnp.any(g != 0, axis=-1))
    rows, cols = np.nonzero(support)
    if rows.size == 0:
        return 1
    return int(max(rows.max() - rows.min(), cols.max() - cols.min()) + 1)
