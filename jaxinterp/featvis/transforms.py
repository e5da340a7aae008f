"""Random image transforms the visualisation must be robust to: ``t(key, images) -> images``.

Each factory returns a frozen dataclass called with an explicit key and a batch
[b, h, w, c] of images in [0, 1]; like Lucid, one random draw serves the whole batch::

    t = transforms.compose([transforms.pad(2), transforms.jitter(2)])
    out = t(key, images)                                  # [b, h + 2, w + 2, c]

:func:`standard` is Lucid's ``standard_transforms`` (METHODS §6.1); :func:`cifar` the
scaled-down set for 32x32 models (§6.1 [D]: pad 2, jitter 2, the same scales and
angles, jitter 1). :func:`for_model` picks one of them by the image side (the model's input
size unless told otherwise): it is the default of both :func:`jaxinterp.featvis.render` and
the ``featvis`` and ``circuits`` commands.

Where we differ from Lucid, for static shapes under ``jit``: :class:`RandomScale`
resamples about the centre at the same size (bilinear, edge values outside)
instead of resizing the canvas to ``int(s·h)``; after the padding this zooms within
the border. :class:`RandomRotate` is ``tfa.image.rotate`` (about the centre pixel,
nearest neighbour, zero fill, degrees turned into radians with π ≈ 3.14 as Lucid does).
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np


@dataclasses.dataclass(frozen=True)
class Pad:
    """Pad ``width`` pixels on each side: [b, h, w, c] -> [b, h + 2·width, w + 2·width, c]."""

    width: int
    mode: str = "constant"
    value: float = 0.5

    def __call__(self, key, x):
        pads = ((0, 0), (self.width, self.width), (self.width, self.width), (0, 0))
        if self.mode == "constant":
            return jnp.pad(x, pads, constant_values=self.value)
        return jnp.pad(x, pads, mode=self.mode)


@dataclasses.dataclass(frozen=True)
class Jitter:
    """Lucid's ``jitter(d)``: a random crop, d pixels smaller: [b, h, w, c] -> [b, h - d, w - d, c].

    The offsets are uniform on {0, ..., d} (``tf.image.random_crop``), the same for the batch.
    """

    d: int

    def __call__(self, key, x):
        b, h, w, c = x.shape
        oy, ox = jax.random.randint(key, (2,), 0, self.d + 1)
        return jax.lax.dynamic_slice(x, (0, oy, ox, 0), (b, h - self.d, w - self.d, c))


def _sample(x, sy, sx, interpolation: str, fill: str):
    """x [b, h, w, c] read at source coordinates sy, sx [h', w'] -> [b, h', w', c].

    fill: ``"zero"`` (outside pixels are 0) or ``"edge"`` (coordinates clamped).
    """
    h, w = x.shape[1:3]

    def read(iy, ix):
        inside = (iy >= 0) & (iy < h) & (ix >= 0) & (ix < w)
        v = x[:, jnp.clip(iy, 0, h - 1), jnp.clip(ix, 0, w - 1), :]
        return v if fill == "edge" else v * inside[None, :, :, None].astype(x.dtype)

    if interpolation == "nearest":
        return read(jnp.floor(sy + 0.5).astype(jnp.int32), jnp.floor(sx + 0.5).astype(jnp.int32))
    y0, x0 = jnp.floor(sy), jnp.floor(sx)
    wy, wx = (sy - y0)[None, :, :, None], (sx - x0)[None, :, :, None]
    y0, x0 = y0.astype(jnp.int32), x0.astype(jnp.int32)
    top = read(y0, x0) * (1 - wx) + read(y0, x0 + 1) * wx
    bottom = read(y0 + 1, x0) * (1 - wx) + read(y0 + 1, x0 + 1) * wx
    return top * (1 - wy) + bottom * wy


def affine(x, matrix, interpolation: str = "bilinear", fill: str = "zero"):
    """Resample x [b, h, w, c] about its centre: output (y, x) reads input ``c + M·(p - c)``.

    matrix: [2, 2] acting on (x, y) column vectors, ``c = ((w-1)/2, (h-1)/2)``.
    """
    h, w = x.shape[1:3]
    py, px = jnp.meshgrid(jnp.arange(h, dtype=jnp.float32), jnp.arange(w, dtype=jnp.float32),
                          indexing="ij")
    cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
    dx, dy = px - cx, py - cy
    sx = cx + matrix[0, 0] * dx + matrix[0, 1] * dy
    sy = cy + matrix[1, 0] * dx + matrix[1, 1] * dy
    return _sample(x, sy, sx, interpolation, fill)


def _choice(key, values: Sequence[float]):
    return jnp.asarray(np.asarray(values, np.float32))[jax.random.randint(key, (), 0, len(values))]


@dataclasses.dataclass(frozen=True)
class RandomScale:
    """Zoom by a factor drawn uniformly from ``scales`` about the centre (bilinear, same size)."""

    scales: tuple

    def __call__(self, key, x):
        s = _choice(key, self.scales)
        return affine(x, jnp.eye(2) / s, "bilinear", "edge")


@dataclasses.dataclass(frozen=True)
class RandomRotate:
    """Rotate by an angle drawn uniformly from ``angles`` (``tfa.image.rotate``: counter-clockwise
    as displayed, about the centre pixel, zero fill)."""

    angles: tuple
    units: str = "degrees"
    pi: float = 3.14  # Lucid's _angle2rads
    interpolation: str = "nearest"

    def __call__(self, key, x):
        a = _choice(key, self.angles)
        if self.units == "degrees":
            a = self.pi * a / 180.0
        cos, sin = jnp.cos(a), jnp.sin(a)
        return affine(x, jnp.array([[cos, -sin], [sin, cos]]), self.interpolation, "zero")


@dataclasses.dataclass(frozen=True)
class Compose:
    """Apply ``transforms`` in order, each with its own key split from the one given."""

    transforms: tuple

    def __call__(self, key, x):
        if not self.transforms:
            return x
        for k, t in zip(jax.random.split(key, len(self.transforms)), self.transforms):
            x = t(k, x)
        return x


def pad(width: int, mode: str = "constant", value: float = 0.5) -> Pad:
    if width < 0 or mode not in ("constant", "reflect", "edge", "symmetric"):
        raise ValueError(f"pad needs width >= 0 and mode constant/reflect/edge/symmetric, got "
                         f"width={width}, mode={mode!r}")
    return Pad(int(width), mode, float(value))


def jitter(d: int) -> Jitter:
    if d < 0:
        raise ValueError(f"jitter needs d >= 0 pixels, got {d}")
    return Jitter(int(d))


def random_scale(scales: Sequence[float]) -> RandomScale:
    scales = tuple(float(s) for s in scales)
    if not scales or min(scales) <= 0:
        raise ValueError(f"random_scale needs positive scales, got {scales}")
    return RandomScale(scales)


def random_rotate(angles: Sequence[float], units: str = "degrees", pi: float = 3.14,
                  interpolation: str = "nearest") -> RandomRotate:
    if not angles or units not in ("degrees", "radians") or interpolation not in ("nearest", "bilinear"):
        raise ValueError(f"random_rotate needs angles, units 'degrees'/'radians' and interpolation "
                         f"'nearest'/'bilinear', got {angles}, {units!r}, {interpolation!r}")
    return RandomRotate(tuple(float(a) for a in angles), units, float(pi), interpolation)


def compose(transforms: Sequence) -> Compose:
    return Compose(tuple(transforms))


SCALES = tuple(1 + (i - 5) / 50.0 for i in range(11))        # 0.90 ... 1.10
ANGLES = tuple(range(-10, 11)) + 5 * (0,)                     # -10 ... 10 degrees, 0 six times


def standard() -> Compose:
    """Lucid's ``standard_transforms``: pad 12 (0.5), jitter 8, scale 0.9-1.1, rotate ±10°, jitter 4."""
    return compose([pad(12), jitter(8), random_scale(SCALES), random_rotate(ANGLES), jitter(4)])


def cifar() -> Compose:
    """The scaled-down set for 32x32 models (METHODS §6.1 [D]): pad 2, jitter 2, the same
    scales and angles, jitter 1."""
    return compose([pad(2), jitter(2), random_scale(SCALES), random_rotate(ANGLES), jitter(1)])


#: the side (px) up to which :func:`for_model` picks :func:`cifar` (Lucid's set crops 8-12 px)
SMALL = 64
#: the side rendered for a model without an ``INPUT_SIZE``
DEFAULT_SIZE = 128


def side_for(model, size: int | None = None) -> int:
    """The side of the images rendered for ``model``: ``size``, else ``model.INPUT_SIZE``, else
    :data:`DEFAULT_SIZE` (the transforms, the parametrisation and the recipes agree on it)."""
    return int(size or getattr(model, "INPUT_SIZE", None) or DEFAULT_SIZE)


def name_for(model, size: int | None = None) -> str:
    """``"cifar"`` for images of at most :data:`SMALL` px, else ``"standard"``; ``size``: the side
    rendered (default ``model.INPUT_SIZE``, or :data:`DEFAULT_SIZE` for a model without one)."""
    side = side_for(model, size)
    return "cifar" if side <= SMALL else "standard"


def for_model(model, size: int | None = None) -> Compose:
    """The transform set for rendering ``model`` at ``size`` px (:func:`name_for`): :func:`cifar` for a
    32-px CIFAR ResNet, Lucid's :func:`standard` for a 224-px ImageNet network."""
    return by_name(name_for(model, size))


def by_name(name: str) -> Compose:
    """``"standard"``, ``"cifar"`` or ``"none"``."""
    table = {"standard": standard, "cifar": cifar, "none": lambda: compose([])}
    if name not in table:
        raise ValueError(f"unknown transform set {name!r}; choose one of {', '.join(table)}")
    return table[name]()
