"""Tuning curves (METHODS.md §6.3-6.4): how units respond to synthetic stimuli and to rotated
dataset examples, their preferred orientation, and the joint tuning of a family.

A unit's response is its activation at one position of its layer
(:mod:`jaxinterp.door.positions`: ``"centre"`` by default, ``h // 2, w // 2``, the lower-right
of the centre 2x2 for even sizes, as the featvis ``neuron`` objective; or ``"mean"``,
``"max"``, ``(row, col)``). Responses are expressed in standard deviations of the dataset
activation distribution when ``stats = activation_stats(...)`` is given: ``(r - mean) / sd``,
with mean and sd of the same activation over a dataset::

    stats = tuning.activation_stats(model, variables, "layer3", cifar_images)
    curves = tuning.rotation_tuning(model, variables, "layer3", exemplars,
                                    np.arange(360.0), stats=stats)          # [360, 64] in SD
    theta = tuning.preferred_orientation(curves.T, np.arange(360.0), "circular_mean")
    grid = tuning.stimulus_tuning(model, variables, "layer3", "curve", 32, stats=stats,
                                  orientation=np.arange(0, 360, 10.0),
                                  radius=np.geomspace(2, 32, 6))            # [36, 6, 64]

A *unit* is a channel of the layer, or, with ``directions`` [k, C] (the rows of a fit of
:func:`jaxinterp.steps.fit_task`: K-means centroids, SAE features...), one of the k directions:
its map is the layer's output projected on the row, ``maps [..., C] @ directions.T`` (one-hot
rows give the channels exactly); ``units`` and ``stats`` then index the k directions.

Images are [n, h, w, c] in [0, 1] (uint8 0..255 is accepted), NHWC: an array, a
``np.memmap`` or any :mod:`jaxinterp.stream` source. Images smaller than the model's
``INPUT_SIZE`` are placed on a white (1.0) canvas of that size
(:func:`jaxinterp.circuits.reads.on_canvas`); larger images are refused.

Every pass over images is the streaming engine (:func:`jaxinterp.stream.stream_map`): batches
from the host, sharded over every device, reduced on the device (responses collected, moments,
rotation sums), so no dataset has to fit on one device. Rotations happen inside the jitted
step: each batch of exemplars is rotated by every angle (a ``lax.map`` over chunks of angles),
with no Python loop over units, angles or exemplars.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxinterp import door, stream
from jaxinterp.circuits.reads import Reads, on_canvas
from jaxinterp.door.graph import check_indices
from jaxinterp.data import stimuli
from jaxinterp.data.checks import check_images, check_unit_range
from jaxinterp.featvis.transforms import affine

__all__ = [
    "Rotated",
    "activation_stats",
    "joint_tuning",
    "preferred_orientation",
    "responses",
    "rotate",
    "rotation_tuning",
    "stimulus_tuning",
    "stimulus_tunings",
]


# ---- checks ---------------------------------------------------------------------------------


def source(model, images01, name: str = "images01") -> stream.Source:
    """``images01`` as a :mod:`jaxinterp.stream` source of ``model``'s channel count.

    Arrays get the user-facing checks (rank, NCHW, channels); float arrays in memory are also
    checked to lie in [0, 1] (a memory-mapped file is not read here: that would be a pass).
    """
    if hasattr(images01, "shape") and hasattr(images01, "dtype"):
        check_images(images01, channels=model.IN_CHANNELS, name=name)
        if not isinstance(images01, np.memmap):
            check_unit_range(images01, name=name)
    src = stream.as_source(images01, name)
    if src.image_shape[-1] != model.IN_CHANNELS:
        raise ValueError(f"{name} must have {model.IN_CHANNELS} channel(s) in the last axis (NHWC), got "
                         f"images of shape {src.image_shape}; convert the images to the model input")
    return src


def canvas(model, src: stream.Source, name: str = "images01") -> tuple[int | None, tuple]:
    """(canvas side or None, the [H, W, C] the model sees) for images of ``src``; refuses images
    larger than the model's ``INPUT_SIZE``."""
    h, w, c = src.image_shape
    size = model.INPUT_SIZE
    if size is None or (h, w) == (size, size):
        return None, (h, w, c)
    if h > size or w > size:
        raise ValueError(
            f"{name} are {h}x{w} but {type(model).__name__} takes {size}x{size} inputs; render the "
            f"stimuli at size <= {size} (smaller ones are centred on a white canvas) or resize them")
    return size, (size, size, c)


def check_position(g: door.LayerGraph, layer: str, position) -> door.positions.Position:
    """``position`` in its one spelling, readable as one number per unit and image from ``layer``."""
    position = door.positions.check(position, g[layer].shape, repr(layer))
    if position == "all":
        raise ValueError("position 'all' keeps the whole map; a response is one number per unit and "
                         "image: pass 'centre', 'mean', 'max' or a (row, col) pair")
    if position not in ("mean", "max"):
        g.check_spatial(layer, f"a response at position {position!r} (or position='mean')")
    return position


def check_angles(angles_deg, name="angles_deg") -> np.ndarray:
    """Angles in degrees as a non-empty finite [A] float32 array."""
    a = np.asarray(angles_deg, dtype=np.float32)
    if a.ndim != 1 or a.size == 0 or not np.all(np.isfinite(a)):
        raise ValueError(f"{name} must be a non-empty 1-D array of finite degrees, got shape {a.shape}; "
                         "pass e.g. np.arange(360.0)")
    return a


def check_directions(directions, channels: int, layer: str):
    """``directions`` as finite float32 [k, C] for a layer of ``channels`` C, or None (channels)."""
    if directions is None:
        return None
    d = np.asarray(directions, np.float32)
    if d.ndim != 2 or d.shape[0] == 0 or d.shape[1] != channels or not np.all(np.isfinite(d)):
        raise ValueError(f"directions must be a finite [k, {channels}] array (one direction per row over the "
                         f"{channels} channels of layer {layer!r}), got shape {d.shape}; pass a fit of "
                         "this layer's activations (its arrays['directions'])")
    return d


def unit_count(g: door.LayerGraph, layer: str, directions) -> int:
    """How many units ``layer`` has: its channels, or the rows of ``directions`` [k, C]."""
    return g[layer].channels if directions is None else int(np.shape(directions)[0])


def check_units(g: door.LayerGraph, layer: str, units, directions=None) -> np.ndarray:
    """``units`` [U] int32 (None: all): channel indices, or with ``directions`` [k, C] row indices."""
    if directions is None:
        return g.check_units(layer, units)
    k = unit_count(g, layer, directions)
    return check_indices(units, k, "direction", f"there are {k} directions of layer {layer!r}")


def check_stats(stats, channels: int):
    """``stats`` as (mean [C], sd [C]) float32 over all ``channels`` of the layer (or all k
    directions), or None."""
    if stats is None:
        return None
    try:
        mean, sd = stats
    except (TypeError, ValueError):
        raise ValueError("stats must be (mean [C], sd [C]) as returned by activation_stats") from None
    mean, sd = np.asarray(mean, np.float32), np.asarray(sd, np.float32)
    if mean.shape != (channels,) or sd.shape != (channels,):
        raise ValueError(f"stats must be (mean [C], sd [C]) over all {channels} units of the layer (its "
                         "channels, or its directions when directions are given; activation_stats gives "
                         f"them), got shapes {mean.shape} and {sd.shape}")
    return mean, sd


def in_sd(values, stats, units) -> np.ndarray:
    """(r - mean) / sd for the chosen units; NaN where a unit is constant over the dataset."""
    values = np.asarray(values, np.float32)
    if stats is None:
        return values
    mean, sd = (np.asarray(s, np.float32)[units] for s in stats)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(sd > 0, (values - mean) / np.where(sd > 0, sd, 1.0), np.nan).astype(np.float32)


class Checked(NamedTuple):
    """A pass over images after :func:`check_pass`."""

    source: stream.Source
    canvas: int | None
    graph: door.LayerGraph
    units: np.ndarray
    position: Any
    layer: str
    directions: np.ndarray | None = None

    @property
    def width(self) -> int:
        """All units of the layer: its channels, or its k directions."""
        return unit_count(self.graph, self.layer, self.directions)

    def params(self, variables) -> dict:
        """The engine's params of a :class:`~jaxinterp.circuits.reads.Reads` pass."""
        return {"variables": variables, **({} if self.directions is None else {"directions": self.directions})}


def check_pass(model, variables, layer: str, images01, name: str, units, position, directions=None) -> Checked:
    """Every check of a pass over ``images01`` reading ``units`` of ``layer`` (or of its
    ``directions`` [k, C]) at ``position``, before any work: the source, its canvas, the layer
    graph, the units [U], the position, the directions."""
    src = source(model, images01, name)
    side, shape = canvas(model, src, name)
    g = door.graph(model, variables, shape)
    g.check([layer])
    position = check_position(g, layer, position)
    directions = check_directions(directions, g[layer].channels, layer)
    return Checked(src, side, g, check_units(g, layer, units, directions), position, layer, directions)


# ---- responses over a dataset -----------------------------------------------------------------


def _read(model, variables, c: Checked, reducer, batch_size, mesh):
    """One pass of the engine over ``c.source`` reading the units' responses."""
    fn = Reads(model, c.layer, (("r", "post", c.position, tuple(int(i) for i in c.units)),), c.canvas)
    return stream.stream_map(fn, c.params(variables), c.source, stream.combine(r=reducer),
                             batch_size=batch_size, mesh=mesh, desc=c.layer)["r"]


def responses(model, variables, layer: str, images01, units=None, position="centre",
              batch_size: int = 256, mesh=None, directions=None) -> np.ndarray:
    """Each image's response of ``units`` at ``position``: [n, U].

    Args:
      model, variables: an :class:`~jaxinterp.models.ImageModel` and its variables.
      layer: PyTorch-style layer name (``"layer3"``, ``"layer2.1.conv1"``); with spatial axes
        unless ``position`` is ``"mean"`` or ``"max"``.
      images01: [n, h, w, c] in [0, 1] (or uint8), h, w <= the model's ``INPUT_SIZE``: an
        array, a ``np.memmap`` or a :mod:`jaxinterp.stream` source.
      units: channel indices (default all C).
      position: ``"centre"``, ``"mean"``, ``"max"`` or a (row, col) pair in the layer's map.
      batch_size, mesh: as :func:`jaxinterp.stream.stream_map` (every device by default).
      directions: [k, C] or None (module docstring): ``units`` then index its rows.
    """
    checked = check_pass(model, variables, layer, images01, "images01", units, position, directions)
    return _read(model, variables, checked, stream.collect(), batch_size, mesh)


def activation_stats(model, variables, layer: str, images01, position="centre", batch_size: int = 256,
                     mesh=None, directions=None) -> tuple[np.ndarray, np.ndarray]:
    """Mean and SD (population, ddof=0) of every channel's activation at ``position`` over a
    dataset: ``(mean [C], sd [C])``, streamed (running moments on the device, memory O(C)).

    Only the one position is used (the centre by default), the same one :func:`responses`
    reads, so a response in SD compares like with like. With ``directions`` [k, C]: of each
    direction's projected response, ``(mean [k], sd [k])``.
    """
    checked = check_pass(model, variables, layer, images01, "images01", None, position, directions)
    m = _read(model, variables, checked, stream.moments(), batch_size, mesh)
    return m["mean"], m["sd"]


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
    a = jnp.asarray(check_angles(angles_deg))
    return jax.vmap(lambda d: _rotate_one(x, d, jnp.float32(fill)))(a)


@dataclasses.dataclass(frozen=True)
class Rotated:
    """``fn(params, images01 [b, h, w, c]) -> [b, K·a, U]``: each image's response of ``units``
    at ``position`` when rotated by every angle of ``params["angles"]`` [K, a] (the image first
    placed on the ``canvas``; bilinear, ``fill`` outside). A ``lax.map`` over the K chunks of
    angles keeps ``b·a`` images in flight; ``params["variables"]`` are the model's (and
    ``params["directions"]`` [k, C], when given, the directions ``units`` index)."""

    model: Any
    layer: str
    position: Any
    units: tuple
    fill: float
    canvas: int | None = None

    def __call__(self, params, images01):
        x = on_canvas(images01, self.canvas)
        b = x.shape[0]
        read = Reads(self.model, self.layer, (("r", "post", self.position, self.units),))

        def chunk(angles):  # images stay the major axis, so the batch keeps its sharding
            rot = jax.vmap(lambda d: _rotate_one(x, d, jnp.float32(self.fill)), out_axes=1)(angles)
            r = read(params, rot.reshape((b * angles.shape[0],) + x.shape[1:]))["r"]
            return r.reshape(b, angles.shape[0], -1)

        out = jax.lax.map(chunk, params["angles"])                     # [K, b, a, U]
        return jnp.moveaxis(out, 0, 1).reshape(b, -1, out.shape[-1])


def angle_chunks(angles: np.ndarray, rows: int, batch: int) -> np.ndarray:
    """Angles [A] as [K, a] chunks (the last padded with 0°) so that ``rows · a`` ≈ ``batch``
    images go through the network at once."""
    a = max(1, min(int(batch) // max(rows, 1), angles.size))
    k = -(-angles.size // a)
    return np.concatenate([angles, np.zeros(k * a - angles.size, np.float32)]).reshape(k, a)


def rotation_tuning(model, variables, layer: str, exemplars01, angles_deg, units=None, stats=None,
                    position="centre", fill: float = 1.0, batch: int = 256, mesh=None,
                    directions=None) -> np.ndarray:
    """Mean response over ``exemplars01`` rotated by each angle, every unit at once: [A, U].

    Args:
      exemplars01: [n, h, w, c] images in [0, 1] (one shared set; e.g. a unit's top dataset
        examples; an array, ``np.memmap`` or stream source), rotated as :func:`rotate` does
        (about the centre, bilinear, ``fill`` outside).
      angles_deg: [A] rotations in degrees, counter-clockwise.
      units: channel indices (default all C).
      stats: ``(mean [C], sd [C])`` from :func:`activation_stats`: the result is then in dataset
        SD, ``(mean response - mean) / sd``.
      batch: images per forward pass: the engine streams ``e = min(n, batch)`` exemplars per
        step and rotates them by ``max(1, batch // e)`` angles at a time inside the step.
      directions: [k, C] or None (module docstring): ``units`` and ``stats`` then index its rows.
    """
    c = check_pass(model, variables, layer, exemplars01, "exemplars01", units, position, directions)
    angles = check_angles(angles_deg)
    stats = check_stats(stats, c.width)
    e = max(1, min(int(batch), c.source.num_images or int(batch)))
    fn = Rotated(model, layer, c.position, tuple(int(i) for i in c.units), float(fill), c.canvas)
    params = {**c.params(variables), "angles": angle_chunks(angles, e, batch)}
    total = stream.stream_map(fn, params, c.source, stream.total(), batch_size=e, mesh=mesh, desc=layer)
    return in_sd(total["sum"][: angles.size] / total["count"], stats, c.units)


# ---- summaries of tuning curves --------------------------------------------------------------


def _curves(curves, angles_deg=None):
    c = jnp.asarray(curves, jnp.float32)
    if c.ndim != 2 or c.shape[1] == 0:
        raise ValueError(f"curves must be [U, A] (one tuning curve per unit), got shape {c.shape}; "
                         "transpose rotation_tuning's [A, U] with .T")
    if angles_deg is not None:
        a = check_angles(angles_deg)
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
                    position="centre", batch_size: int = 256, directions=None, **grids) -> np.ndarray:
    """Responses to a stimulus family over a parameter grid: [len(g1), len(g2), ..., U].

    ``name``, ``size`` and ``**grids`` as :func:`jaxinterp.data.stimuli.family` (grid order
    = axis order); in dataset SD when ``stats`` is given (see :func:`activation_stats`). A
    one-channel model gets the stimuli's channel mean. With ``directions`` [k, C] the units are
    its rows (module docstring) and ``stats`` are theirs.
    """
    return stimulus_tunings(model, variables, layer, ((name, grids),), size, stats, units, position,
                            batch_size, directions)[name]


def stimulus_tunings(model, variables, layer: str, families, size: int, stats=None, units=None,
                     position="centre", batch_size: int = 256, directions=None) -> dict[str, np.ndarray]:
    """:func:`stimulus_tuning` of several families in one pass of the engine (one compiled step):
    ``families`` = ``((name, {parameter: values}), ...)`` -> ``{name: [len(g1), ..., U]}``."""
    if model.INPUT_SIZE is not None and isinstance(size, (int, np.integer)) and size > model.INPUT_SIZE:
        raise ValueError(f"stimulus size {size} is larger than {type(model).__name__}'s input "
                         f"{model.INPUT_SIZE}x{model.INPUT_SIZE}; pass size <= {model.INPUT_SIZE}")
    images, shapes = [], {}
    for name, grids in families:
        rgb = np.asarray(stimuli.family(name, size, **grids)[0])
        # a grey model (the digits' small_cnn) sees the stimuli's luminance; RGB ones see them as drawn
        images.append(rgb.mean(-1, keepdims=True) if model.IN_CHANNELS == 1 else rgb)
        shapes[name] = tuple(np.atleast_1d(np.asarray(v)).size for v in grids.values())
    c = check_pass(model, variables, layer, np.concatenate(images), "stimuli", units, position, directions)
    stats = check_stats(stats, c.width)
    r = in_sd(_read(model, variables, c, stream.collect(), batch_size, None), stats, c.units)
    parts = np.split(r, np.cumsum([len(x) for x in images])[:-1])
    return {name: part.reshape(shape + (len(c.units),)) for (name, shape), part in zip(shapes.items(), parts)}
