"""Dataset examples of units (METHODS.md §6.2): best positions, top images, crops of their
receptive fields, the pre-ReLU distribution, and quilts sampled by activation level.

::

    rf = door.receptive_field(model, variables, "layer3", (32, 32, 3))       # from the model
    top = examples.top_positions(model, variables, "layer3", images, k=8)     # [C, 8] per unit
    crops = examples.rf_crops(images, top.image, top.y, top.x, rf)            # [C, 8, rh, rw, c]
    shown = examples.rf_crops(images, top.image, top.y, top.x, rf, margin=2)  # at most the image + 2 px
    heat = examples.rf_heat(maps, top.y, top.x, rf, (32, 32), margin=2)     # maps [C, 8, h, w] on them
    best = examples.image_maxima(model, variables, "layer3", images, units=[3, 7])   # [n, 2]
    picks = examples.quilt(best.value, 12)                                    # [2, 12] image indices
    pre = examples.preactivation_summary(model, variables, "layer3", images, units=[3, 7])

Every pass over the images is the streaming engine (:func:`jaxinterp.stream.stream_map` with
:class:`jaxinterp.circuits.reads.Reads`): images may be an array, a ``np.memmap`` or any
:mod:`jaxinterp.stream` source, batches are sharded over every device, and what is kept is
reduced on the device: a running top-k per unit (:func:`top_positions`), running moments, the
range and a fine histogram of the pre-ReLU values (:func:`preactivation_summary`). Only
:func:`image_maxima` and :func:`preactivations` keep a row per image, because the caller asks
for exactly that. :func:`layer_examples` gives all a layer's pages need in one pass (two with
chosen units).

Conventions: images are [n, H, W, c] in [0, 1] (uint8 accepted), NHWC; a unit's *position*
(y, x) indexes its layer's map; the *centre* is ``(h // 2, w // 2)``
(:mod:`jaxinterp.door.positions`). Receptive fields are :func:`jaxinterp.door.receptive_field`:
boxes are half-open ``(y0, y1, x0, x1)`` in input pixels, ``image[y0:y1, x0:x1]``; they may
run past the image (a crop is padded there with ``fill``).

The pre-ReLU activation is the input of the ReLU whose output *is* the layer's output
(:func:`jaxinterp.door.taps` with ``pre_relu=True``); if the layer does not end in a ReLU
(``door.graph(...)[layer].relu`` is False), pre = post.

Units are channels, or with ``directions`` [k, C] (:func:`layer_examples`,
:func:`exemplar_rotation_tuning`) the k directions of a fit: each one's map is the layer's output
projected on it (:mod:`jaxinterp.circuits.reads`); a direction's "pre-ReLU" values are that
projection too (it has no ReLU of its own).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxinterp import door, stream
from jaxinterp.circuits import tuning
from jaxinterp.circuits.reads import Reads
from jaxinterp.data.checks import check_images, to_unit_float

__all__ = [
    "LayerExamples",
    "Maxima",
    "TopPositions",
    "display_margin",
    "exemplar_rotation_tuning",
    "field_pixels",
    "image_maxima",
    "layer_examples",
    "preactivation_summary",
    "preactivations",
    "quilt",
    "recentre",
    "rf_crops",
    "rf_heat",
    "select_top",
    "top_positions",
]

#: fine histogram bins per unit from which the pre-ReLU median and tail quantile are read
FINE_BINS = 2048


class Maxima(NamedTuple):
    """Each image's best position per unit: value, y, x — all [n, U]."""

    value: np.ndarray
    y: np.ndarray
    x: np.ndarray


class TopPositions(NamedTuple):
    """The top-k images per unit (most activating first) at their best positions: [U, k] each."""

    value: np.ndarray
    image: np.ndarray
    y: np.ndarray
    x: np.ndarray


# ---- one pass of the engine -------------------------------------------------------------------


class _Layer(NamedTuple):
    source: stream.Source
    graph: door.LayerGraph
    units: tuple
    directions: np.ndarray | None = None   # [k, C]: the units are these directions


def _checked(model, variables, layer: str, images01, units, what: str | None, directions=None) -> _Layer:
    """The source, graph, units [U] and directions of a pass over ``layer``, after every check;
    ``what`` names the analysis when it needs a layer with spatial axes."""
    src = tuning.source(model, images01)
    g = door.graph(model, variables, src.image_shape)
    g.check([layer])
    if what is not None:
        g.check_spatial(layer, what)
    directions = tuning.check_directions(directions, g[layer].channels, layer)
    return _Layer(src, g, tuple(int(u) for u in tuning.check_units(g, layer, units, directions)), directions)


def _pass(model, variables, c: _Layer, layer: str, reads: dict, batch_size: int, mesh, **params) -> dict:
    """``{name: result}`` of one engine pass: ``reads`` maps a name to (what, position, units,
    reducer) (see :class:`~jaxinterp.circuits.reads.Reads`); ``params`` go to the reads."""
    fn = Reads(model, layer, tuple((name, what, position, units) for name, (what, position, units, _) in
                                   reads.items()))
    reducer = stream.combine(**{name: r[3] for name, r in reads.items()})
    if c.directions is not None:
        params["directions"] = c.directions
    return stream.stream_map(fn, {"variables": variables, **params}, c.source, reducer, batch_size=batch_size,
                             mesh=mesh, desc=layer)


def _check_k(k, n):
    if int(k) != k or k < 1 or (n is not None and k > n):
        raise ValueError(f"k={k!r} top images asked for, but there are {n} images; use 1 <= k <= {n}")
    return int(k)


# ---- best positions over a dataset ------------------------------------------------------------


def image_maxima(model, variables, layer: str, images01, units=None, batch_size: int = 256,
                 mesh=None) -> Maxima:
    """Every image's maximum activation of each unit and its position: :class:`Maxima` [n, U].

    Keeps a row per image (the caller's choice: e.g. a quilt of a few chosen units); for the
    top images of many units use :func:`top_positions`, whose memory does not grow with n.
    """
    c = _checked(model, variables, layer, images01, units, "dataset examples")
    best = _pass(model, variables, c, layer, {"best": ("best", None, c.units, stream.collect())},
                 batch_size, mesh)["best"]
    return Maxima(best["value"], best["y"], best["x"])


def top_positions(model, variables, layer: str, images01, k: int = 8, units=None, batch_size: int = 256,
                  mesh=None) -> TopPositions:
    """The ``k`` most activating images of each unit at their best positions, streamed.

    A running top-k per unit on the device (:func:`jaxinterp.stream.top_k` with the position as
    payload): memory O(k·U), not O(n·U); each image counts once, at its best position; ties go
    to the lower image number. :class:`TopPositions` [U, k], most activating first; equal to
    :func:`select_top` of :func:`image_maxima`.
    """
    c = _checked(model, variables, layer, images01, units, "dataset examples")
    k = _check_k(k, c.source.num_images)
    top = _pass(model, variables, c, layer, {"top": ("best", None, c.units, stream.top_k(k, by="value"))},
                batch_size, mesh)["top"]
    return TopPositions(top["value"], top["image"], top["y"], top["x"])


def select_top(maxima: Maxima, k: int) -> TopPositions:
    """The top-``k`` images per unit from :func:`image_maxima`: [n, U] -> :class:`TopPositions` [U, k]."""
    value = jnp.asarray(maxima.value)
    if value.ndim != 2 or not 1 <= int(k) <= value.shape[0]:
        raise ValueError(f"select_top needs maxima [n, U] and 1 <= k <= n; got shape {value.shape}, k={k}")
    v, image = jax.lax.top_k(value.T, int(k))
    take = lambda a: np.take_along_axis(np.asarray(a).T, np.asarray(image), axis=1)  # noqa: E731
    return TopPositions(np.asarray(v), np.asarray(image, np.int32), take(maxima.y), take(maxima.x))


# ---- crops ------------------------------------------------------------------------------------


@functools.partial(jax.jit, static_argnames=("size",))
def _windows(images, image, y0, x0, fill, *, size):
    """Windows of ``size`` (rh, rw) with top-left (y0, x0) from images[image]; ``fill`` outside.

    image, y0, x0: [m] -> [m, rh, rw, c]; one vmapped dynamic slice of the padded images.
    """
    rh, rw = size
    padded = jnp.pad(images, ((0, 0), (rh, rh), (rw, rw), (0, 0)), constant_values=fill)
    hi_y, hi_x = images.shape[1] + rh, images.shape[2] + rw
    y0 = jnp.clip(y0 + rh, 0, hi_y)  # beyond one window of padding the crop is all fill anyway
    x0 = jnp.clip(x0 + rw, 0, hi_x)
    one = lambda i, y, x: jax.lax.dynamic_slice(padded[i], (y, x, 0), (rh, rw, images.shape[-1]))  # noqa: E731
    return jax.vmap(one)(image, y0, x0)


def _crop_args(images01, image, y, x):
    """(the m images the indices use [m, H, W, c] on the device, ``image`` renumbered into
    them, y, x): only those images are read, so a memory-mapped dataset stays on disk."""
    check_images(images01, name="images01")
    n = images01.shape[0]
    image, y, x = (np.asarray(a) for a in (image, y, x))
    if not (image.shape == y.shape == x.shape):
        raise ValueError(f"image, y and x must have one shape, got {image.shape}, {y.shape}, {x.shape}")
    if image.size and (image.min() < 0 or image.max() >= n):
        raise ValueError(f"image indices must lie in 0..{n - 1}, got {image.min()}..{image.max()}")
    used, image = np.unique(image, return_inverse=True)
    imgs = jnp.asarray(to_unit_float(np.asarray(images01[used] if used.size else images01[:1])))
    return imgs, image.reshape(y.shape), y, x


def display_margin(side: int) -> int:
    """Pixels of margin around an image shown in place of a field wider than it (``margin`` of
    :func:`rf_crops`): a sixteenth of its side, at least 2 (2 px on a 32-px CIFAR image)."""
    return max(2, int(side) // 16)


def _window(rf: door.ReceptiveField, y, x, image_hw, margin: int | None):
    """The display window of the field of positions (y, x) [*S] (:func:`rf_crops`' geometry):
    (oy, ox) its top-left input pixel [*S], size (rh, rw), and whether each axis is ``wide``
    (the field taller/wider than the image: the window is the image and ``margin``)."""
    y0, x0 = (np.asarray(o) for o in rf.origin(np.asarray(y), np.asarray(x)))
    height, width = image_hw
    wide = (False, False) if margin is None else (rf.size[0] > height, rf.size[1] > width)
    size = (height + 2 * margin if wide[0] else rf.size[0], width + 2 * margin if wide[1] else rf.size[1])
    oy = np.full_like(y0, -margin) if wide[0] else y0
    ox = np.full_like(x0, -margin) if wide[1] else x0
    return oy, ox, size, wide


def rf_crops(images01, image, y, x, rf: door.ReceptiveField, fill: float = 0.5, margin: int | None = None,
             dim: float = 0.35) -> jax.Array:
    """Receptive-field crops: images01[image] cut to the field of position (y, x).

    Args:
      images01: [n, H, W, c] the images the indices refer to.
      image, y, x: int arrays of one shape S (e.g. :class:`TopPositions` fields [U, k]).
      rf: :func:`jaxinterp.door.receptive_field` of the layer.
      fill: value of pixels outside the image (default mid-grey).
      margin: None: the whole field, however much of it lies outside the image. An int (for
        display): along an axis where the field is wider than the image, the window is the image
        plus ``margin`` pixels on each side instead (the same window for every position, so a
        crop is never mostly padding), and its pixels outside the unit's field are dimmed
        toward ``fill`` (kept at ``dim`` of their contrast).

    Returns:
      [*S, rh, rw, c] (with ``margin``: rh = H + 2·margin where the field is taller than H,
      and likewise rw).
    """
    imgs, image, y, x = _crop_args(images01, image, y, x)
    y0, x0 = (np.asarray(o) for o in rf.origin(y, x))
    oy, ox, size, wide = _window(rf, y, x, np.shape(images01)[1:3], margin)
    out = _windows(imgs, jnp.asarray(image.reshape(-1), jnp.int32), jnp.asarray(oy.reshape(-1), jnp.int32),
                   jnp.asarray(ox.reshape(-1), jnp.int32), jnp.float32(fill), size=size)
    out = out.reshape(image.shape + out.shape[1:])
    if any(wide):  # pixels of the window the unit does not see: dimmed
        ry = oy[..., None] + np.arange(size[0])                                    # [*S, rh]
        rx = ox[..., None] + np.arange(size[1])
        seen_y = (ry >= y0[..., None]) & (ry < y0[..., None] + rf.size[0])
        seen_x = (rx >= x0[..., None]) & (rx < x0[..., None] + rf.size[1])
        seen = jnp.asarray(seen_y[..., :, None] & seen_x[..., None, :])[..., None]  # [*S, rh, rw, 1]
        out = jnp.where(seen, out, fill + dim * (out - fill))
    return out


def field_pixels(rf: door.ReceptiveField, pixels, positions: int, axis: int) -> np.ndarray:
    """The map position each input pixel shows when a map is drawn on the image (nearest
    neighbour, aligned on the fields): position r covers the ``stride`` pixels
    ``c_r - stride/2 <= p < c_r + stride/2`` about its field's centre ``c_r = offset + r·stride +
    (size - 1)/2``; pixels beyond the first or last position take it. ``pixels``: int array of
    input rows (``axis`` 0) or columns (1) -> same shape, in ``0..positions - 1``.

    Aligned on the fields, not on the image's edges (``jax.image.resize``'s half-pixel rule):
    the field centre of a position is where its value is drawn, whatever the padding or a
    layer with ``h·stride != H``, so the centre pixel of a position's crop shows that position.
    """
    centre0 = rf.offset[axis] + (rf.size[axis] - 1) / 2
    r = np.floor((np.asarray(pixels) - centre0) / rf.stride[axis] + 0.5)
    return np.clip(r, 0, positions - 1).astype(np.int32)


@functools.partial(jax.jit, static_argnames=("size", "image_hw"))
def _heat_windows(maps, rows, cols, oy, ox, *, size, image_hw):
    """maps [m, h, w] drawn on the windows (oy, ox) [m] of ``size``: [m, rh, rw], NaN outside
    the image; ``rows``/``cols`` [H]/[W] the position of each input pixel (:func:`field_pixels`)."""

    def one(m, oy, ox):
        py, px = oy + jnp.arange(size[0]), ox + jnp.arange(size[1])              # input pixels of the window
        inside = ((py >= 0) & (py < image_hw[0]))[:, None] & ((px >= 0) & (px < image_hw[1]))[None, :]
        ry = rows[jnp.clip(py, 0, image_hw[0] - 1)]
        rx = cols[jnp.clip(px, 0, image_hw[1] - 1)]
        return jnp.where(inside, m[ry[:, None], rx[None, :]], jnp.nan)

    return jax.vmap(one)(maps, oy, ox)


def rf_heat(maps, y, x, rf: door.ReceptiveField, image_hw, margin: int | None = None) -> jax.Array:
    """Maps drawn on the input pixels and cut like :func:`rf_crops`: pixel (i, j) of ``rf_heat``
    lies on pixel (i, j) of the crop of the same (y, x) and ``margin``.

    Args:
      maps: [*S, h, w] one map of the layer per crop (e.g. a unit's map on its exemplar).
      y, x: int arrays [*S], the positions the crops are centred on.
      rf: :func:`jaxinterp.door.receptive_field` of the layer.
      image_hw: (H, W) of the images.
      margin: as :func:`rf_crops` (its fields wider than the image: the image and a margin).

    Returns:
      [*S, rh, rw] float32: each pixel shows the map's position nearest it (:func:`field_pixels`:
      nearest-neighbour upsampling aligned on the fields' centres), NaN outside the image.
    """
    maps = jnp.asarray(maps, jnp.float32)
    shape = np.shape(y)
    if maps.ndim < 2 or maps.shape[:-2] != shape or np.shape(x) != shape:
        raise ValueError(f"maps must be [*S, h, w] with y and x [*S], got maps {maps.shape}, y {shape}, "
                         f"x {np.shape(x)}")
    h, w = maps.shape[-2:]
    image_hw = tuple(int(s) for s in image_hw)
    oy, ox, size, _ = _window(rf, y, x, image_hw, margin)
    rows = field_pixels(rf, np.arange(image_hw[0]), h, 0)
    cols = field_pixels(rf, np.arange(image_hw[1]), w, 1)
    out = _heat_windows(maps.reshape(-1, h, w), jnp.asarray(rows), jnp.asarray(cols),
                        jnp.asarray(np.reshape(oy, -1), jnp.int32), jnp.asarray(np.reshape(ox, -1), jnp.int32),
                        size=tuple(int(s) for s in size), image_hw=image_hw)
    return out.reshape(shape + out.shape[1:])


def recentre(images01, image, y, x, rf: door.ReceptiveField, fill: float = 0.5) -> jax.Array:
    """Whole images shifted so that position (y, x)'s field lands on the field of ``rf.at``.

    The unit's response at ``rf.at`` (the centre) of a recentred image is then its response at
    (y, x) of the original (up to the border padding), so rotating about the image centre
    rotates about the unit's field: [*S] -> [*S, H, W, c].
    """
    imgs, image, y, x = _crop_args(images01, image, y, x)
    oy = (y - rf.at[0]) * rf.stride[0]
    ox = (x - rf.at[1]) * rf.stride[1]
    out = _windows(imgs, jnp.asarray(image.reshape(-1), jnp.int32), jnp.asarray(oy.reshape(-1), jnp.int32),
                   jnp.asarray(ox.reshape(-1), jnp.int32), jnp.float32(fill), size=tuple(imgs.shape[1:3]))
    return out.reshape(image.shape + out.shape[1:])


# ---- pre-ReLU activations ---------------------------------------------------------------------


def preactivations(model, variables, layer: str, images01, units=None, position="centre",
                   batch_size: int = 256, mesh=None) -> np.ndarray:
    """The units' pre-ReLU activations of every image: [n, U] at ``position`` (any spelling of
    :mod:`jaxinterp.door.positions`), or [n, h, w, U] for ``position="all"``.

    Keeps a row per image (the caller's choice); :func:`preactivation_summary` gives the
    distribution's statistics in memory that does not grow with n.
    """
    c = _checked(model, variables, layer, images01, units, None)
    return stream.stream(model, variables, c.source, layer, stream.collect(), position=position, units=c.units,
                         pre_relu=True, batch_size=batch_size, mesh=mesh)[layer]


@functools.lru_cache(maxsize=None)
def _distribution() -> stream.Reducer:
    """Per unit, over every image *and* position of values [b, ..., U]: moments, range, the
    count and sum of the positive values (existing reducers over the [b·p, U] rows)."""
    parts = {"moments": stream.moments(), "range": stream.minmax(), "positive": stream.total(),
             "tail": stream.total()}

    def init(spec):
        row = jax.ShapeDtypeStruct(spec.shape[-1:], jnp.float32)
        return {name: r.init(row) for name, r in parts.items()}

    def update(state, values, index, valid):
        x = values.astype(jnp.float32).reshape(-1, values.shape[-1])     # [b·p, U]: positions are rows
        p = x.shape[0] // values.shape[0]
        index, valid = jnp.repeat(index, p), jnp.repeat(valid, p)
        views = {"moments": x, "range": x, "positive": (x > 0).astype(jnp.float32), "tail": jnp.maximum(x, 0.0)}
        return {name: r.update(state[name], views[name], index, valid)[0] for name, r in parts.items()}, None

    def finalize(state, outs):
        got = {name: r.finalize(state[name], None) for name, r in parts.items()}
        count, positive = got["moments"]["count"], got["positive"]["sum"]
        with np.errstate(divide="ignore", invalid="ignore"):
            tail = np.where(positive > 0, got["tail"]["sum"] / np.maximum(positive, 1.0), np.nan)
        return {"count": count, "mean": got["moments"]["mean"], "sd": got["moments"]["sd"],
                "min": got["range"]["min"], "max": got["range"]["max"],
                "fraction_positive": positive / max(count, 1), "tail_mean": tail}

    return stream.Reducer(init, update, finalize)


@functools.lru_cache(maxsize=None)
def _unit_interval(bins: int) -> stream.Reducer:
    """A histogram of ``bins`` equal bins over [0, 1] (values scaled per unit first)."""
    return stream.histogram(np.linspace(0.0, 1.0, bins + 1))


def _ranked(counts: np.ndarray, lo, width, rank) -> np.ndarray:
    """The value of (0-based) ``rank`` [U] in each unit's sorted values, read from its histogram
    ``counts`` [U, B] of bins ``lo + [k, k + 1) · width``: placed inside the bin that holds
    that rank, so within one bin width of the exact value."""
    cum = np.cumsum(counts, axis=1)
    k = np.sum(cum <= rank[:, None], axis=1)                     # the bin holding the rank
    rows = np.arange(len(k))
    before = np.where(k > 0, cum[rows, np.maximum(k - 1, 0)], 0)
    return lo + (k + (rank - before + 0.5) / np.maximum(counts[rows, k], 1)) * width


def _quantile(counts, lo, width, count: int, q: float) -> np.ndarray:
    """np.quantile's linear rule (rank q·(n - 1), between its two neighbours) on binned values."""
    h = np.full(counts.shape[0], q * (count - 1), np.float64)
    r0 = np.floor(h)
    r1 = np.minimum(r0 + 1, count - 1)
    v0, v1 = _ranked(counts, lo, width, r0), _ranked(counts, lo, width, r1)
    return v0 + (h - r0) * (v1 - v0)


def _check_bins(bins, tail_q, fine_bins) -> int:
    if int(bins) != bins or bins < 1 or not 0 < tail_q < 1 or int(fine_bins) != fine_bins or fine_bins < 1:
        raise ValueError(f"bins and fine_bins must be positive ints and 0 < tail_q < 1, got {bins}, "
                         f"{fine_bins}, {tail_q}")
    return int(bins) * -(-int(fine_bins) // int(bins))   # fine bins: a multiple of the display bins


def _summarise(model, variables, c: _Layer, layer, first: dict, bins: int, fine: int, tail_q: float,
               batch_size, mesh) -> dict:
    """The second pass (a fine histogram per unit over its [min, max]) and the summary."""
    lo, hi = np.asarray(first["min"], np.float64), np.asarray(first["max"], np.float64)
    span = np.where(hi > lo, hi - lo, 1.0)
    counts = _pass(model, variables, c, layer, {"z": ("scaled", "all", c.units, _unit_interval(fine))},
                   batch_size, mesh, lo=lo.astype(np.float32), span=span.astype(np.float32))["z"]["counts"]
    width = span / fine
    n = int(counts[0].sum())
    estimate = lambda q: np.clip(_quantile(counts, lo, width, n, q), lo, hi).astype(np.float32)  # noqa: E731
    return {"mean": first["mean"], "sd": first["sd"], "fraction_positive": first["fraction_positive"],
            "median": estimate(0.5), "tail_quantile": estimate(tail_q), "min": first["min"],
            "max": first["max"], "tail_mean": first["tail_mean"],
            "counts": counts.reshape(len(lo), bins, fine // bins).sum(-1),
            "edges": (lo[:, None] + span[:, None] * np.arange(bins + 1) / bins).astype(np.float32),
            "fine_width": width.astype(np.float32), "count": n}


def preactivation_summary(model, variables, layer: str, images01, units=None, bins: int = 64,
                          tail_q: float = 0.99, fine_bins: int = FINE_BINS, batch_size: int = 256,
                          mesh=None) -> dict:
    """Per-unit statistics of the pre-ReLU values over every image and every position, streamed
    in two passes whose memory does not grow with the dataset.

    Pass 1 keeps running moments, the range, and the count and sum of the positive values;
    pass 2 a histogram of ``fine_bins`` (rounded up to a multiple of ``bins``) equal bins over
    each unit's [min, max], from which the median and the ``tail_q`` quantile are read (to
    within one fine bin, ``fine_width``) and the ``bins``-bin display histogram is summed.
    ``images01`` must be readable twice (an array, ``np.memmap`` or re-readable source).

    Returns ``{"mean", "sd", "fraction_positive" (fires: P(pre > 0)), "median", "tail_quantile",
    "min", "max", "tail_mean" (mean of the positive part: the scale of an exponential fitted to
    the positive tail by maximum likelihood), "fine_width": [U] each, "counts" [U, bins] and
    "edges" [U, bins + 1] (over each unit's range), "count": values per unit (n·h·w)}``.
    """
    fine = _check_bins(bins, tail_q, fine_bins)
    c = _checked(model, variables, layer, images01, units, None)
    first = _pass(model, variables, c, layer, {"pre": ("pre", "all", c.units, _distribution())},
                  batch_size, mesh)["pre"]
    return _summarise(model, variables, c, layer, first, int(bins), fine, float(tail_q), batch_size, mesh)


# ---- a layer's pages in one pass ---------------------------------------------------------------


class LayerExamples(NamedTuple):
    """top: :class:`TopPositions` [C, k] of every unit; mean, sd: [C] of the centre activation
    (:func:`jaxinterp.circuits.tuning.activation_stats`); maxima: :class:`Maxima` [n, U] of the
    chosen units (None without); pre: their :func:`preactivation_summary` (None without);
    bottom: the chosen units' minimally activating images, :class:`TopPositions` [U, k] least
    first: the k images whose lowest pre-ReLU value (over positions) is lowest, at that
    position (None without)."""

    top: TopPositions
    mean: np.ndarray
    sd: np.ndarray
    maxima: Maxima | None
    pre: dict | None
    bottom: TopPositions | None = None


def layer_examples(model, variables, layer: str, images01, k: int = 8, units=(), bins: int = 64,
                   tail_q: float = 0.99, fine_bins: int = FINE_BINS, batch_size: int = 256,
                   mesh=None, directions=None) -> LayerExamples:
    """What the circuits pages read from a dataset about ``layer``: :func:`top_positions` of
    every unit, the centre activation's mean and SD, and for the chosen ``units`` their
    :func:`image_maxima`, :func:`preactivation_summary` and minimally activating images; one pass
    over the images (two when ``units`` are given: the pre-ReLU quantiles need each unit's range
    first). Each part equals the function named.

    ``directions`` [k, C]: the units are these directions (module docstring): every [C] and
    ``units`` above is then [k] and indexes them; with one-hot rows, top, mean, sd and maxima
    are the channels'; pre and bottom read the projection (after the layer's ReLU)."""
    fine = _check_bins(bins, tail_q, fine_bins)
    c = _checked(model, variables, layer, images01, None, "dataset examples", directions)
    k = _check_k(k, c.source.num_images)
    chosen = (tuple(int(u) for u in tuning.check_units(c.graph, layer, units, c.directions))
              if units is not None and len(units) else ())
    reads = {"top": ("best", None, (), stream.top_k(k, by="value")),
             "centre": ("post", "centre", (), stream.moments())}
    if chosen:
        reads.update(chosen=("best", None, chosen, stream.collect()), pre=("pre", "all", chosen, _distribution()),
                     bottom=("least", None, chosen, stream.bottom_k(k, by="value")))
    got = _pass(model, variables, c, layer, reads, batch_size, mesh)
    top = TopPositions(*(got["top"][f] for f in TopPositions._fields))
    if not chosen:
        return LayerExamples(top, got["centre"]["mean"], got["centre"]["sd"], None, None)
    pre = _summarise(model, variables, c._replace(units=chosen), layer, got["pre"], int(bins), fine, float(tail_q),
                     batch_size, mesh)
    maxima = Maxima(*(got["chosen"][f] for f in ("value", "y", "x")))
    bottom = TopPositions(*(got["bottom"][f] for f in TopPositions._fields))
    return LayerExamples(top, got["centre"]["mean"], got["centre"]["sd"], maxima, pre, bottom)


# ---- quilts -----------------------------------------------------------------------------------


def _quilt_one(acts, k: int, method: str):
    order = jnp.argsort(acts)
    if method == "quantile":
        return order[jnp.round(jnp.linspace(0.0, 1.0, k) * (acts.shape[0] - 1)).astype(jnp.int32)]
    levels = jnp.linspace(jnp.min(acts), jnp.max(acts), k)
    return jnp.argmin(jnp.abs(acts[None, :] - levels[:, None]), axis=1)


def quilt(acts, k: int, method: str = "quantile") -> jax.Array:
    """Examples sampled evenly across activation levels, lowest first: [n] -> [k], [n, U] -> [U, k].

    ``"quantile"``: the example at each of k evenly spaced quantiles 0..1 of the activations
    (rank ``round(q·(n-1))``, so the first is the minimum and the last the maximum);
    ``"value"``: the example nearest each of k evenly spaced values from min to max.
    """
    a = jnp.asarray(acts, jnp.float32)
    if a.ndim not in (1, 2) or a.shape[0] == 0:
        raise ValueError(f"acts must be [n] or [n, U] activations, got shape {a.shape}")
    if method not in ("quantile", "value"):
        raise ValueError(f"method must be 'quantile' or 'value', got {method!r}")
    if int(k) != k or not 1 <= k <= a.shape[0]:
        raise ValueError(f"k={k!r} examples asked for from {a.shape[0]}; use 1 <= k <= {a.shape[0]}")
    if a.ndim == 1:
        return _quilt_one(a, int(k), method)
    return jax.vmap(lambda col: _quilt_one(col, int(k), method), in_axes=1)(a)


# ---- rotation tuning on each unit's own exemplars ---------------------------------------------


@functools.lru_cache(maxsize=None)
def _own_units(exemplars: int, units: int) -> stream.Reducer:
    """Sums of responses [b, A, U] over each unit's own rows: rows are unit-major (row r is an
    exemplar of unit ``r // exemplars``), so column u adds only unit u's exemplars: [A, U]."""

    def init(spec):
        return jnp.zeros(spec.shape, jnp.float32)

    def update(total, values, index, valid):
        own = (jax.nn.one_hot(index // exemplars, units, dtype=jnp.float32)
               * valid[:, None].astype(jnp.float32))   # [b, U]
        return total + jnp.einsum("bau,bu->au", values.astype(jnp.float32), own), None

    return stream.Reducer(init, update, lambda total, outs: np.asarray(total))


def exemplar_rotation_tuning(model, variables, layer: str, exemplars01, angles_deg, units, stats=None,
                             fill: float = 0.5, batch: int = 256, mesh=None, directions=None) -> np.ndarray:
    """Each unit's mean centre response to *its own* exemplars rotated by each angle: [A, U].

    Args:
      exemplars01: [U, e, H, W, c]: unit u's e exemplars (e.g. :func:`recentre`-d top images),
        at the model's input size.
      angles_deg: [A] counter-clockwise rotations about the image centre (bilinear, ``fill``
        outside), as :func:`jaxinterp.circuits.tuning.rotate`.
      units: [U] the channel of each exemplar set.
      stats: ``(mean [C], sd [C])`` of the centre activation over the dataset
        (:func:`jaxinterp.circuits.tuning.activation_stats`): the result is then in SD.
      batch: images per forward pass: the engine streams up to ``batch`` exemplars per step and
        rotates them by ``max(1, batch // exemplars per step)`` angles at a time inside it.
      directions: [k, C] or None: ``units`` and ``stats`` then index these directions (module
        docstring), e.g. the exemplars and stats of :func:`layer_examples` with the same ones.

    Unit u's column equals ``tuning.rotation_tuning(..., exemplars01[u], angles, units=[u])``;
    here every unit's exemplars stream through one jitted step (:class:`~jaxinterp.circuits.
    tuning.Rotated`) that reads all chosen units, and each unit's column sums its own rows.
    """
    x = np.asarray(exemplars01, np.float32)
    if x.ndim != 5:
        raise ValueError(f"exemplars01 must be [U, e, H, W, c] (each unit's exemplars), got {x.shape}")
    n_units, e = x.shape[:2]
    rows = x.reshape((n_units * e,) + x.shape[2:])                       # unit-major
    c = tuning.check_pass(model, variables, layer, rows, "exemplars01", units, "centre", directions)
    if c.units.shape[0] != n_units:
        raise ValueError(f"{n_units} exemplar sets but {c.units.shape[0]} units; pass one unit per set")
    angles = tuning.check_angles(angles_deg)
    stats = tuning.check_stats(stats, c.width)
    step = max(1, min(int(batch), rows.shape[0]))
    fn = tuning.Rotated(model, layer, "centre", tuple(int(u) for u in c.units), float(fill), c.canvas)
    params = {**c.params(variables), "angles": tuning.angle_chunks(angles, step, batch)}
    total = stream.stream_map(fn, params, c.source, _own_units(e, n_units), batch_size=step, mesh=mesh,
                              desc=layer)
    return tuning.in_sd(total[: angles.size] / e, stats, c.units)
