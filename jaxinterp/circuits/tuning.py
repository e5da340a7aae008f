"""Tuning curves (METHODS.md §6.3-6.4): how units respond to synthetic stimuli and to rotated
dataset examples, their preferred orientation, and the joint tuning of a family.

A unit's response is its activation at the centre position of its layer (``h // 2, w // 2``,
the lower-right of the centre 2x2 for even sizes, as the featvis ``neuron`` objective), or
its spatial mean (``position="mean"``). Responses are expressed in standard deviations of
the dataset activation distribution when ``stats = activation_stats(...)`` is given:
``(r - mean) / sd``, with mean and sd of the same centre activation over a dataset::

    stats = tuning.activation_stats(model, variables, "layer3", cifar_images)
    curves = tuning.rotation_tuning(model, variables, "layer3", exemplars,
                                    np.arange(360.0), stats=stats)          # [360, 64] in SD
    theta = tuning.preferred_orientation(curves.T, np.arange(360.0), "circular_mean")
    grid = tuning.stimulus_tuning(model, variables, "layer3", "curve", 32, stats=stats,
                                  orientation=np.arange(0, 360, 10.0),
                                  radius=np.geomspace(2, 32, 6))            # [36, 6, 64]

Images are [n, h, w, c] in [0, 1] (uint8 0..255 is accepted), NHWC. Images smaller than the
model's ``INPUT_SIZE`` are placed on a white (1.0) canvas of that size, the extra row/column
of an odd difference going before them, so an odd-sized stimulus's centre pixel lands on
the centre position ``H // 2``; larger images are refused.

Every hot path is one jitted program per (model, layer, shapes): a ``lax.map`` over
padded chunks of images (and, for rotations, of angles), so no chunk recompiles and
there is no Python loop over units, angles or exemplars.
"""

from __future__ import annotations

import functools
import jax
import jax.numpy as jnp
import numpy as np

from jaxinterp.data import stimuli
from jaxinterp.data.checks import check_images, check_unit_range, to_unit_float
from jaxinterp.featvis.transforms import affine
from jaxinterp.models.base import forward

__all__ = [
    "activation_stats",
    "joint_tuning",
    "preferred_orientation",
    "responses",
    "rotate",
    "rotation_tuning",
    "stimulus_tuning",
]

POSITIONS = ("centre", "mean")


# ---- checks ---------------------------------------------------------------------------------


def _images(model, images01, name: str) -> jax.Array:
    """Checked [n, H, W, c] float32 images at the model's input size (white canvas if smaller)."""
    check_images(images01, channels=model.IN_CHANNELS, name=name)
    check_unit_range(images01, name=name)
    x = jnp.asarray(to_unit_float(images01))
    size = model.INPUT_SIZE
    if size is None:
        return x
    h, w = x.shape[1:3]
    if h > size or w > size:
        raise ValueError(
            f"{name} are {h}x{w} but {type(model).__name__} takes {size}x{size} inputs; render the "
            f"stimuli at size <= {size} (smaller ones are centred on a white canvas) or resize them")
    if (h, w) == (size, size):
        return x
    pads = ((0, 0), (size - h - (size - h) // 2, (size - h) // 2),
            (size - w - (size - w) // 2, (size - w) // 2), (0, 0))
    return jnp.pad(x, pads, constant_values=1.0)


def _layer_shape(model, variables, layer: str, image_shape) -> tuple[int, ...]:
    spec = jax.ShapeDtypeStruct((1,) + tuple(image_shape[1:]), jnp.float32)
    out = jax.eval_shape(lambda v, x: forward(model, v, x, [layer])[1][layer], variables, spec)
    return tuple(out.shape)


def _position(position):
    if isinstance(position, str):
        if position not in POSITIONS:
            raise ValueError(f"position must be 'centre', 'mean' or a (row, col) pair, got {position!r}")
        return position
    pos = tuple(int(p) for p in position)
    if len(pos) != 2:
        raise ValueError(f"position must be 'centre', 'mean' or a (row, col) pair, got {position!r}")
    return pos


def _check_layer(model, variables, layer, x, position) -> int:
    """The layer's channel count, after checking that ``position`` can be read from it."""
    shape = _layer_shape(model, variables, layer, x.shape)
    if len(shape) != 4:
        if position == "mean" and len(shape) == 2:
            return shape[-1]
        raise ValueError(
            f"layer {layer!r} has no spatial axes (activation shape {shape}); a unit's centre "
            "response needs a [n, h, w, c] layer: pick a convolutional layer (or position='mean')")
    if isinstance(position, tuple):
        row, col = position
        if not (0 <= row < shape[1] and 0 <= col < shape[2]):
            raise ValueError(f"position {position} lies outside layer {layer!r}'s {shape[1]}x{shape[2]} "
                             f"map; pass 0 <= row < {shape[1]}, 0 <= col < {shape[2]}")
    return shape[-1]


def _units(units, channels: int, layer: str) -> np.ndarray:
    if units is None:
        return np.arange(channels, dtype=np.int32)
    u = np.asarray(units).reshape(-1)
    if u.size == 0 or not np.issubdtype(u.dtype, np.integer):
        raise ValueError(f"units must be a non-empty sequence of channel indices, got {units!r}")
    bad = u[(u < 0) | (u >= channels)]
    if bad.size:
        raise ValueError(f"unit(s) {bad.tolist()} out of range: layer {layer!r} has {channels} channels "
                         f"(valid 0..{channels - 1})")
    return u.astype(np.int32)


def _angles(angles_deg, name="angles_deg") -> np.ndarray:
    a = np.asarray(angles_deg, dtype=np.float32)
    if a.ndim != 1 or a.size == 0 or not np.all(np.isfinite(a)):
        raise ValueError(f"{name} must be a non-empty 1-D array of finite degrees, got shape {a.shape}; "
                         "pass e.g. np.arange(360.0)")
    return a


def _check_stats(stats, channels: int):
    if stats is None:
        return None
    try:
        mean, sd = stats
    except (TypeError, ValueError):
        raise ValueError("stats must be (mean [C], sd [C]) as returned by activation_stats") from None
    mean, sd = np.asarray(mean, np.float32), np.asarray(sd, np.float32)
    if mean.shape != (channels,) or sd.shape != (channels,):
        raise ValueError(f"stats must be (mean [C], sd [C]) over all {channels} channels of the layer "
                         f"(activation_stats gives them), got shapes {mean.shape} and {sd.shape}")
    return mean, sd


def _in_sd(values, stats, units):
    """(r - mean) / sd for the chosen units; NaN where a unit is constant over the dataset."""
    if stats is None:
        return values
    mean, sd = stats[0][units], stats[1][units]
    return jnp.where(sd > 0, (values - mean) / jnp.where(sd > 0, sd, 1.0), jnp.nan)


# ---- the kernel -------------------------------------------------------------------------------


def _read(act, position):
    """[n, h, w, c] (or [n, c]) -> [n, c] at ``position``."""
    if act.ndim == 2:
        return act
    if position == "mean":
        return act.mean(axis=(1, 2))
    row, col = (act.shape[1] // 2, act.shape[2] // 2) if position == "centre" else position
    return act[:, row, col, :]


def _respond(model, variables, layer, position, x, units):
    """[b, H, W, c] images in [0, 1] -> [b, U] responses."""
    _, acts = forward(model, variables, model.normalize(x), [layer])
    return _read(acts[layer], position)[:, units]


def _chunks(x, chunk: int):
    """[n, ...] -> [k, chunk, ...], zero-padded, so every chunk has one shape."""
    n = x.shape[0]
    k = -(-n // chunk)
    pad = k * chunk - n
    if pad:
        x = jnp.concatenate([x, jnp.zeros((pad,) + x.shape[1:], x.dtype)])
    return x.reshape((k, chunk) + x.shape[1:])


@functools.partial(jax.jit, static_argnames=("model", "layer", "position"))
def _responses_program(model, variables, chunks, units, *, layer, position):
    return jax.lax.map(lambda x: _respond(model, variables, layer, position, x, units), chunks)


def responses(model, variables, layer: str, images01, units=None, position="centre",
              chunk: int = 256) -> jax.Array:
    """Each image's response of ``units`` at ``position``: [n, U].

    Args:
      model, variables: an :class:`~jaxinterp.models.ImageModel` and its variables.
      layer: PyTorch-style layer name with spatial axes (``"layer3"``, ``"layer2.1.conv1"``).
      images01: [n, h, w, c] in [0, 1] (or uint8), h, w <= the model's ``INPUT_SIZE``.
      units: channel indices (default all C).
      position: ``"centre"`` (``h // 2, w // 2`` of the layer), ``"mean"`` (spatial mean) or
        a (row, col) pair in the layer's map.
      chunk: images per forward pass (the last chunk is padded, so every chunk has one shape).
    """
    position = _position(position)
    x = _images(model, images01, "images01")
    channels = _check_layer(model, variables, layer, x, position)
    u = _units(units, channels, layer)
    chunk = max(1, min(int(chunk), x.shape[0]))
    out = _responses_program(model, variables, _chunks(x, chunk), jnp.asarray(u), layer=layer,
                             position=position)
    return out.reshape(-1, len(u))[: x.shape[0]]


def activation_stats(model, variables, layer: str, images01, position="centre",
                     chunk: int = 256) -> tuple[jax.Array, jax.Array]:
    """Mean and SD (population, ddof=0) of every channel's activation at ``position`` over a
    dataset: ``(mean [C], sd [C])``.

    Only the one position is used (the centre by default), the same one :func:`responses`
    reads, so a response in SD compares like with like.
    """
    r = responses(model, variables, layer, images01, None, position, chunk)
    return r.mean(axis=0), r.std(axis=0)


# ---- rotations ----------------------------------------------------------------------------------


def _rotate_one(x, deg, fill):
    """[n, h, w, c] rotated counter-clockwise (as displayed) by ``deg`` about the image centre."""
    t = jnp.deg2rad(deg)
    c, s = jnp.cos(t), jnp.sin(t)
    # output p reads input centre + M (p - centre) in (x right, y down): M = R(+t) there is a
    # counter-clockwise turn on screen. Bilinear is linear, so the fill enters as an offset.
    return fill + affine(x - fill, jnp.array([[c, -s], [s, c]]), "bilinear", "zero")


def rotate(images01, angles_deg, fill: float = 1.0) -> jax.Array:
    """Every image rotated by every angle: [n, h, w, c], [A] -> [A, n, h, w, c].

    Counter-clockwise as displayed for positive degrees (the stimuli's convention: a
    ``line`` at 0° rotated by θ is the ``line`` at θ), about the image centre
    ((h - 1) / 2, (w - 1) / 2), bilinear; pixels read from outside the image are ``fill``
    (default white, the stimuli's background).
    """
    x = jnp.asarray(images01, jnp.float32)
    if x.ndim != 4:
        raise ValueError(f"images01 must be [n, h, w, c], got shape {x.shape}; add a batch axis with "
                         "images[None] for one image")
    a = jnp.asarray(_angles(angles_deg))
    return jax.vmap(lambda d: _rotate_one(x, d, jnp.float32(fill)))(a)


@functools.partial(jax.jit, static_argnames=("model", "layer", "position"))
def _rotation_program(model, variables, exemplars, weights, angle_chunks, units, fill, *, layer,
                      position):
    """exemplars [E, e, H, W, c], weights [E, e], angle_chunks [K, a] -> summed responses [K, a, U]."""
    a = angle_chunks.shape[1]
    e = exemplars.shape[1]

    def per_angles(angles):
        def per_exemplars(total, xs):
            x, w = xs
            rot = jax.vmap(lambda d: _rotate_one(x, d, fill))(angles)          # [a, e, H, W, c]
            r = _respond(model, variables, layer, position, rot.reshape((a * e,) + x.shape[1:]), units)
            return total + jnp.einsum("aeu,e->au", r.reshape(a, e, -1), w), None

        total, _ = jax.lax.scan(per_exemplars, jnp.zeros((a, units.shape[0]), jnp.float32),
                                (exemplars, weights))
        return total

    return jax.lax.map(per_angles, angle_chunks)


def rotation_tuning(model, variables, layer: str, exemplars01, angles_deg, units=None, stats=None,
                    position="centre", fill: float = 1.0, batch: int = 256) -> jax.Array:
    """Mean response over ``exemplars01`` rotated by each angle, every unit at once: [A, U].

    Args:
      exemplars01: [n, h, w, c] images in [0, 1] (one shared set; e.g. a unit's top dataset
        examples), rotated as :func:`rotate` does (about the centre, bilinear, ``fill`` outside).
      angles_deg: [A] rotations in degrees, counter-clockwise.
      units: channel indices (default all C).
      stats: ``(mean [C], sd [C])`` from :func:`activation_stats`: the result is then in dataset
        SD, ``(mean response - mean) / sd``.
      batch: images per forward pass: chunks of ``e = min(n, batch)`` exemplars times
        ``max(1, batch // e)`` angles; the last chunks are padded, so one program serves all.
    """
    position = _position(position)
    x = _images(model, exemplars01, "exemplars01")
    angles = _angles(angles_deg)
    channels = _check_layer(model, variables, layer, x, position)
    u = _units(units, channels, layer)
    stats = _check_stats(stats, channels)
    n = x.shape[0]
    e = max(1, min(int(batch), n))
    a = max(1, min(int(batch) // e, len(angles)))
    ex = _chunks(x, e)
    weights = _chunks(jnp.full((n,), 1.0 / n, jnp.float32), e)   # padded exemplars weigh 0
    angle_chunks = _chunks(jnp.asarray(angles), a)
    out = _rotation_program(model, variables, ex, weights, angle_chunks, jnp.asarray(u), jnp.float32(fill),
                            layer=layer, position=position)
    return _in_sd(out.reshape(-1, len(u))[: len(angles)], stats, u)


# ---- summaries of tuning curves --------------------------------------------------------------


def _curves(curves, angles_deg=None):
    c = jnp.asarray(curves, jnp.float32)
    if c.ndim != 2 or c.shape[1] == 0:
        raise ValueError(f"curves must be [U, A] (one tuning curve per unit), got shape {c.shape}; "
                         "transpose rotation_tuning's [A, U] with .T")
    if angles_deg is not None:
        a = _angles(angles_deg)
        if a.shape[0] != c.shape[1]:
            raise ValueError(f"curves have {c.shape[1]} samples per unit but angles_deg has {a.shape[0]}; "
                             "pass the angles the curves were measured at")
        return c, jnp.asarray(a)
    return c


def preferred_orientation(curves, angles_deg, method: str = "argmax", period: float = 360.0) -> jax.Array:
    """Each unit's preferred orientation in degrees, in [0, period): [U, A], [A] -> [U].

    ``"argmax"``: the angle of the largest response. ``"circular_mean"``: the
    activation-weighted circular mean (METHODS §6.4), angles mapped onto the circle with
    ``period`` (360 for curves; 180 for lines and gratings, whose orientation repeats every
    180°), weights = responses clipped at 0 (negative responses do not vote); NaN for a unit
    with no positive response.
    """
    c, a = _curves(curves, angles_deg)
    if period <= 0:
        raise ValueError(f"period must be > 0 degrees (360, or 180 for lines/gratings), got {period}")
    if method == "argmax":
        return jnp.mod(a[jnp.argmax(c, axis=1)], period)
    if method == "circular_mean":
        w = jnp.maximum(c, 0.0)
        t = 2 * jnp.pi * a / period
        s, co = w @ jnp.sin(t), w @ jnp.cos(t)
        mean = jnp.mod(jnp.arctan2(s, co) * period / (2 * jnp.pi), period)
        return jnp.where(w.sum(axis=1) > 0, mean, jnp.nan)
    raise ValueError(f"method must be 'argmax' or 'circular_mean', got {method!r}")


def joint_tuning(curves, align: str = "centre") -> jax.Array:
    """The typical tuning curve of a family: each unit's curve rolled so its peak sits at index
    ``A // 2`` (``align="centre"``) or 0 (``"start"``), then averaged: [U, A] -> [A].

    The curves must sample the full circle evenly (e.g. 1° steps over 360°) for the roll to
    be a rotation.
    """
    c = _curves(curves)
    if align not in ("centre", "start"):
        raise ValueError(f"align must be 'centre' or 'start', got {align!r}")
    target = c.shape[1] // 2 if align == "centre" else 0
    rolled = jax.vmap(lambda row: jnp.roll(row, target - jnp.argmax(row)))(c)
    return rolled.mean(axis=0)


def stimulus_tuning(model, variables, layer: str, name: str, size: int, stats=None, units=None,
                    position="centre", chunk: int = 256, **grids) -> jax.Array:
    """Responses to a stimulus family over a parameter grid: [len(g1), len(g2), ..., U].

    ``name``, ``size`` and ``**grids`` as :func:`jaxinterp.data.stimuli.family` (grid order
    = axis order); in dataset SD when ``stats`` is given (see :func:`activation_stats`).
    """
    if model.INPUT_SIZE is not None and isinstance(size, (int, np.integer)) and size > model.INPUT_SIZE:
        raise ValueError(f"stimulus size {size} is larger than {type(model).__name__}'s input "
                         f"{model.INPUT_SIZE}x{model.INPUT_SIZE}; pass size <= {model.INPUT_SIZE}")
    images, _ = stimuli.family(name, size, **grids)
    shape = tuple(np.atleast_1d(np.asarray(v)).size for v in grids.values())
    position = _position(position)
    channels = _check_layer(model, variables, layer, _images(model, images[:1], "stimuli"), position)
    u = _units(units, channels, layer)
    stats = _check_stats(stats, channels)
    r = responses(model, variables, layer, images, u, position, chunk)
    return _in_sd(r, stats, u).reshape(shape + (len(u),))

