"""Dataset examples of units (METHODS.md §6.2): receptive fields, best positions, crops, the
pre-ReLU distribution, and quilts sampled by activation level.

::

    rf = examples.receptive_field(model, variables, "layer3", (32, 32, 3))   # from the model
    best = examples.image_maxima(model, variables, "layer3", images)         # [n, C] value, y, x
    top = examples.select_top(best, 8)                                       # [C, 8] per unit
    crops = examples.rf_crops(images, top.image, top.y, top.x, rf)           # [C, 8, rh, rw, c]
    pre = examples.preactivations(model, variables, "layer3", images)        # [n, C] pre-ReLU
    stats = examples.preactivation_summary(pre)                              # mean, P(> 0), tail
    picks = examples.quilt(best.value, 12)                                   # [C, 12] image indices

Conventions: images are [n, H, W, c] in [0, 1] (uint8 accepted), NHWC; a unit's *position*
(y, x) indexes its layer's map; the *centre* position is ``(h // 2, w // 2)`` (as
:mod:`jaxinterp.circuits.tuning` and the featvis ``neuron`` objective). Receptive-field boxes
are half-open ``(y0, y1, x0, x1)`` in input pixels: ``image[y0:y1, x0:x1]``; they may run
past the image (a crop is padded there with ``fill``).

The receptive field is measured, not assumed: it is the support of ∂ unit(position) / ∂ input
through the linearised network (:func:`jaxinterp.door.cut.linear_mode`) with every
parameter set to one, so no path cancels; on a conv stack it equals the analytic
``k``/``stride``/``padding`` arithmetic. It is measured on an input enlarged by a multiple
of the total stride, so a field larger than the image (ResNet-20's ``layer3``: 81 px) is
not cut by the border.

The pre-ReLU activation is the input of the ReLU (:func:`jaxinterp.models.base.relu`) whose
output *is* the layer's output (found while tracing the named module); if the layer's output
is not a ReLU's output (a conv, a BN), pre = post.
"""

from __future__ import annotations

import functools
from typing import NamedTuple, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxinterp.door.cut import dependence
from jaxinterp.circuits import tuning
from jaxinterp.circuits.tuning import _chunks, _units
from jaxinterp.data.checks import check_images, to_unit_float
from jaxinterp.models.base import forward, layer_names, relu_override

__all__ = [
    "Maxima",
    "ReceptiveField",
    "TopPositions",
    "ends_in_relu",
    "exemplar_rotation_tuning",
    "image_maxima",
    "preactivation_summary",
    "preactivations",
    "quilt",
    "receptive_field",
    "recentre",
    "rf_crops",
    "select_top",
    "top_positions",
]


# ---- checks -----------------------------------------------------------------------------------


def _images(model, images01, name="images01") -> jax.Array:
    check_images(images01, channels=model.IN_CHANNELS, name=name)
    return jnp.asarray(to_unit_float(images01))


def _map_shape(model, variables, layer: str, image_shape) -> tuple[int, ...]:
    """[h, w, C] of ``layer`` for one image of ``image_shape`` ([n, H, W, c]); clear errors."""
    spec = jax.ShapeDtypeStruct((1,) + tuple(image_shape[1:]), jnp.float32)
    known = layer_names(model, variables, spec.shape)
    if layer not in known:
        raise ValueError(f"unknown layer {layer!r}; {type(model).__name__} has: {', '.join(known)}")
    out = jax.eval_shape(lambda v, x: forward(model, v, x, [layer])[1][layer], variables, spec)
    if len(out.shape) != 4:
        raise ValueError(f"layer {layer!r} has activations of shape {tuple(out.shape)}; dataset examples "
                         "need a layer with spatial axes [n, h, w, c] (a convolutional layer)")
    return tuple(out.shape[1:])


# ---- receptive fields -------------------------------------------------------------------------


class ReceptiveField(NamedTuple):
    """Where a layer's units look, in input pixels (all ints, so it fits in a task summary).

    box: (y0, y1, x0, x1), half-open, of the unit at ``at`` (may extend past the image);
    size: (rh, rw); stride: (sy, sx) input pixels per map position; offset: (oy, ox), the
    top-left pixel of position (0, 0)'s field, so position (r, c) sees rows
    ``oy + r·sy ... oy + r·sy + rh``; at: the position of ``box``; clipped: True when the
    field could only be measured inside the image (a model that takes no larger input), so
    ``size`` may be too small near the borders.
    """

    box: tuple
    size: tuple
    stride: tuple
    offset: tuple
    at: tuple
    clipped: bool

    def origin(self, y, x):
        """Top-left input pixel (y0, x0) of the field of position (y, x) (arrays broadcast)."""
        return self.offset[0] + y * self.stride[0], self.offset[1] + x * self.stride[1]


@functools.lru_cache(maxsize=16)
def _support_program(model, layer: str):
    """jit(variables, x [H, W, c], positions [P, 2]) -> [P, H, W] bool: the input pixels each
    position of ``layer`` depends on (:func:`jaxinterp.door.cut.dependence`)."""
    return jax.jit(lambda variables, x, positions: dependence(model, variables, "input", layer, x, positions))


def _box(mask: np.ndarray):
    rows, cols = np.nonzero(mask.any(1))[0], np.nonzero(mask.any(0))[0]
    if rows.size == 0:
        return None
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def receptive_field(model, variables, layer: str, input_shape: Sequence[int],
                    at: tuple[int, int] | None = None) -> ReceptiveField:
    """The receptive field of ``layer``'s units at ``at`` (default the centre position).

    Args:
      model, variables: any jaxinterp model.
      layer: a layer with spatial axes.
      input_shape: one input's [H, W, C].
      at: (row, col) in the layer's map.
    """
    input_shape = tuple(int(s) for s in input_shape)
    if len(input_shape) != 3:
        raise ValueError(f"input_shape must be one image's [H, W, C], got {input_shape}; e.g. (32, 32, 3)")
    H, W, C = input_shape
    h, w, _ = _map_shape(model, variables, layer, (1, *input_shape))
    at = (h // 2, w // 2) if at is None else tuple(int(a) for a in at)
    if len(at) != 2 or not (0 <= at[0] < h and 0 <= at[1] < w):
        raise ValueError(f"position at={at} is outside layer {layer!r}'s {h}x{w} map; "
                         f"rows 0..{h - 1}, columns 0..{w - 1}")
    program = _support_program(model, layer)

    def boxes(shape, positions):
        masks = np.asarray(program(variables, jnp.zeros(shape[1:], jnp.float32),
                                   jnp.asarray(positions, jnp.int32)))
        found = [_box(m) for m in masks]
        if any(b is None for b in found):
            raise ValueError(f"layer {layer!r} does not depend on the input at {at} (zero gradient)")
        return found

    def neighbours(p, hh, ww):
        return [p, (p[0] + 1 if p[0] + 1 < hh else max(p[0] - 1, 0), p[1]),
                (p[0], p[1] + 1 if p[1] + 1 < ww else max(p[1] - 1, 0))]

    def strides(b):
        return abs(b[1][0] - b[0][0]) if h > 1 else H // h, abs(b[2][2] - b[0][2]) if w > 1 else W // w

    # Measure on an input enlarged by a margin that every stride divides (strides are powers of
    # two in the models here: the margin is a multiple of 2^ceil(log2(H / h))), so the field of
    # `at` maps to position at + margin / stride there and is not cut by the image border.
    p2 = 2 ** int(np.ceil(np.log2(max(H / h, W / w, 1.0))))
    margin = p2 * -(-max(H, W) // p2)
    result = None
    for _ in range(4):
        shape = (1, H + 2 * margin, W + 2 * margin, C)
        try:
            big = _map_shape(model, variables, layer, shape)
            mid = boxes(shape, neighbours((big[0] // 2, big[1] // 2), big[0], big[1]))
        except Exception:  # noqa: BLE001 - a model that only takes its own input size
            break
        sy, sx = strides(mid)
        if margin % sy or margin % sx:
            break
        pos = (at[0] + margin // sy, at[1] + margin // sx)
        b = boxes(shape, neighbours(pos, big[0], big[1]))[0]
        if b[0] > 0 and b[1] < shape[1] and b[2] > 0 and b[3] < shape[2]:
            result = tuple(v - margin for v in b), (sy, sx), False
            break
        margin *= 2
    if result is None:  # measured inside the image only
        b = boxes((1, H, W, C), neighbours(at, h, w))
        clipped = b[0][0] == 0 or b[0][1] == H or b[0][2] == 0 or b[0][3] == W
        result = b[0], strides(b), bool(clipped)
    box, (sy, sx), clipped = result
    return ReceptiveField(box=tuple(int(v) for v in box), size=(int(box[1] - box[0]), int(box[3] - box[2])),
                          stride=(int(sy), int(sx)),
                          offset=(int(box[0] - at[0] * sy), int(box[2] - at[1] * sx)), at=at, clipped=clipped)


# ---- best positions over a dataset ------------------------------------------------------------


class Maxima(NamedTuple):
    """Each image's best position per unit: value, y, x — all [n, U]."""

    value: jax.Array
    y: jax.Array
    x: jax.Array


class TopPositions(NamedTuple):
    """The top-k images per unit (most activating first) at their best positions: [U, k] each."""

    value: jax.Array
    image: jax.Array
    y: jax.Array
    x: jax.Array


def _chunk_maxima(model, variables, layer, x, units):
    """[b, H, W, c] -> value, y, x [b, U]: each unit's maximum over positions and where."""
    a = forward(model, variables, model.normalize(x), [layer])[1][layer][..., units]  # [b, h, w, U]
    b, h, w, u = a.shape
    flat = a.reshape(b, h * w, u)
    idx = jnp.argmax(flat, axis=1)  # first maximum in row-major order
    return jnp.max(flat, axis=1), (idx // w).astype(jnp.int32), (idx % w).astype(jnp.int32)


@functools.partial(jax.jit, static_argnames=("model", "layer"))
def _maxima_program(model, variables, chunks, units, *, layer):
    return jax.lax.map(lambda x: _chunk_maxima(model, variables, layer, x, units), chunks)


def image_maxima(model, variables, layer: str, images01, units=None, chunk: int = 64) -> Maxima:
    """Every image's maximum activation of each unit and its position: :class:`Maxima` [n, U].

    One jitted ``lax.map`` over chunks of ``chunk`` images (the last padded); all units at once.
    """
    x = _images(model, images01)
    h, w, channels = _map_shape(model, variables, layer, x.shape)
    u = _units(units, channels, layer)
    n = x.shape[0]
    chunk = max(1, min(int(chunk), n))
    v, y, xx = _maxima_program(model, variables, _chunks(x, chunk), jnp.asarray(u), layer=layer)
    return Maxima(*(a.reshape(-1, len(u))[:n] for a in (v, y, xx)))


@functools.partial(jax.jit, static_argnames=("model", "layer", "k"))
def _top_program(model, variables, chunks, units, n, *, layer, k):
    size = chunks.shape[1]
    init = (jnp.full((k, units.shape[0]), -jnp.inf, jnp.float32),
            jnp.full((k, units.shape[0]), -1, jnp.int32),
            jnp.zeros((k, units.shape[0]), jnp.int32), jnp.zeros((k, units.shape[0]), jnp.int32))

    def step(carry, xs):
        i, x = xs
        v, y, xx = _chunk_maxima(model, variables, layer, x, units)                    # [b, U]
        image = i * size + jnp.arange(size, dtype=jnp.int32)
        v = jnp.where((image < n)[:, None], v, -jnp.inf)                              # padding never wins
        image = jnp.broadcast_to(image[:, None], v.shape)
        cat = [jnp.concatenate([c, new]) for c, new in zip(carry, (v, image, y, xx))]  # [k + b, U]
        _, order = jax.lax.top_k(cat[0].T, k)                                          # [U, k]
        return tuple(jnp.take_along_axis(c, order.T, axis=0) for c in cat), None

    out, _ = jax.lax.scan(step, init, (jnp.arange(chunks.shape[0], dtype=jnp.int32), chunks))
    return tuple(a.T for a in out)


def top_positions(model, variables, layer: str, images01, k: int = 8, units=None,
                  chunk: int = 64) -> TopPositions:
    """The ``k`` most activating images of each unit at their best positions, streamed.

    A ``lax.scan`` over chunks keeps a running top-k per unit (memory O(k·U), not O(n·U)):
    each image counts once, at its best position. :class:`TopPositions` [U, k], most activating
    first; equal to :func:`select_top` of :func:`image_maxima`.
    """
    x = _images(model, images01)
    h, w, channels = _map_shape(model, variables, layer, x.shape)
    u = _units(units, channels, layer)
    n = x.shape[0]
    if int(k) != k or not 1 <= k <= n:
        raise ValueError(f"k={k!r} top images asked for, but there are {n} images; use 1 <= k <= {n}")
    chunk = max(1, min(int(chunk), n))
    out = _top_program(model, variables, _chunks(x, chunk), jnp.asarray(u), jnp.int32(n), layer=layer,
                       k=int(k))
    return TopPositions(*out)


def select_top(maxima: Maxima, k: int) -> TopPositions:
    """The top-``k`` images per unit from :func:`image_maxima`: [n, U] -> :class:`TopPositions` [U, k]."""
    value = jnp.asarray(maxima.value)
    if value.ndim != 2 or not 1 <= int(k) <= value.shape[0]:
        raise ValueError(f"select_top needs maxima [n, U] and 1 <= k <= n; got shape {value.shape}, k={k}")
    v, image = jax.lax.top_k(value.T, int(k))
    take = lambda a: jnp.take_along_axis(jnp.asarray(a).T, image, axis=1)  # noqa: E731
    return TopPositions(v, image.astype(jnp.int32), take(maxima.y), take(maxima.x))


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
    check_images(images01, name="images01")
    imgs = jnp.asarray(to_unit_float(np.asarray(images01)))
    image, y, x = (np.asarray(a) for a in (image, y, x))
    if not (image.shape == y.shape == x.shape):
        raise ValueError(f"image, y and x must have one shape, got {image.shape}, {y.shape}, {x.shape}")
    if image.size and (image.min() < 0 or image.max() >= imgs.shape[0]):
        raise ValueError(f"image indices must lie in 0..{imgs.shape[0] - 1}, got {image.min()}..{image.max()}")
    return imgs, image, y, x


def rf_crops(images01, image, y, x, rf: ReceptiveField, fill: float = 0.5) -> jax.Array:
    """Receptive-field crops: images01[image] cut to the field of position (y, x).

    Args:
      images01: [n, H, W, c] the images the indices refer to.
      image, y, x: int arrays of one shape S (e.g. :class:`TopPositions` fields [U, k]).
      rf: :func:`receptive_field` of the layer.
      fill: value of pixels outside the image (default mid-grey).

    Returns:
      [*S, rh, rw, c].
    """
    imgs, image, y, x = _crop_args(images01, image, y, x)
    y0, x0 = rf.origin(y, x)
    out = _windows(imgs, jnp.asarray(image.reshape(-1), jnp.int32), jnp.asarray(np.reshape(y0, -1), jnp.int32),
                   jnp.asarray(np.reshape(x0, -1), jnp.int32), jnp.float32(fill), size=tuple(rf.size))
    return out.reshape(image.shape + out.shape[1:])


def recentre(images01, image, y, x, rf: ReceptiveField, fill: float = 0.5) -> jax.Array:
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


def _pre_post(model, variables, x, layer: str):
    """(pre [n, ...], post [n, ...], is_relu) of ``layer`` for normalised inputs ``x``."""
    if layer == "input":
        return x, x, False
    calls: list = []

    def record(v):
        out = nn.relu(v)
        calls.append((v, out))
        return out

    found: dict = {}

    def interceptor(next_fun, args, kwargs, context):
        out = next_fun(*args, **kwargs)
        if context.method_name == "__call__" and context.module.scope is not None \
                and ".".join(context.module.scope.path) == layer:
            source = next((v for v, o in reversed(calls) if o is out), None)
            found.update(pre=out if source is None else source, post=out, relu=source is not None)
        return out

    with relu_override(record), nn.intercept_methods(interceptor):
        logits = model.apply(variables, x)
    if layer == "logits":
        return logits, logits, False
    if not found:
        forward(model, variables, x, [layer])  # raises with the list of layer names
    return found["pre"], found["post"], found["relu"]


def ends_in_relu(model, variables, layer: str, input_shape: Sequence[int]) -> bool:
    """Whether ``layer``'s output is the output of a model ReLU (so pre-ReLU differs from it)."""
    spec = jax.ShapeDtypeStruct((1, *tuple(input_shape)), jnp.float32)
    _map_shape(model, variables, layer, spec.shape)
    flag = {}

    def probe(v, x):
        _, _, is_relu = _pre_post(model, v, x, layer)
        flag["relu"] = is_relu
        return x

    jax.eval_shape(probe, variables, spec)
    return bool(flag["relu"])


def _read(a, position):
    """[n, h, w, c] -> [n, c] at ``position`` ("centre" or (row, col)), or all of it for "all"."""
    return a if position == "all" else tuning._read(a, position)


@functools.partial(jax.jit, static_argnames=("model", "layer", "position"))
def _pre_program(model, variables, chunks, units, *, layer, position):
    def one(x):
        pre, _, _ = _pre_post(model, variables, model.normalize(x), layer)
        return _read(pre, position)[..., units]

    return jax.lax.map(one, chunks)


def preactivations(model, variables, layer: str, images01, units=None, position="centre",
                   chunk: int = 64) -> jax.Array:
    """The units' pre-ReLU activations: [n, U] at ``position`` (``"centre"`` or (row, col)),
    or [n, h, w, U] for ``position="all"``.

    The layer's last ReLU (the one whose output is the layer's output) is read before it
    fires; a layer that does not end in a ReLU gives its own output (:func:`ends_in_relu`).
    """
    x = _images(model, images01)
    h, w, channels = _map_shape(model, variables, layer, x.shape)
    if isinstance(position, str):
        if position not in ("centre", "all"):
            raise ValueError(f"position must be 'centre', 'all' or a (row, col) pair, got {position!r}")
    else:
        position = tuple(int(p) for p in position)
        if len(position) != 2 or not (0 <= position[0] < h and 0 <= position[1] < w):
            raise ValueError(f"position {position} lies outside layer {layer!r}'s {h}x{w} map")
    u = _units(units, channels, layer)
    n = x.shape[0]
    chunk = max(1, min(int(chunk), n))
    out = _pre_program(model, variables, _chunks(x, chunk), jnp.asarray(u), layer=layer, position=position)
    return out.reshape((-1,) + out.shape[2:])[:n]


def _summary_one(x, bins: int, tail_q: float):
    """Statistics of one unit's values x [m]."""
    lo, hi = jnp.min(x), jnp.max(x)
    span = jnp.where(hi > lo, hi - lo, 1.0)
    idx = jnp.clip(jnp.floor((x - lo) / span * bins).astype(jnp.int32), 0, bins - 1)
    counts = jnp.zeros(bins, jnp.int32).at[idx].add(1)
    positive = x > 0
    n_pos = jnp.sum(positive)
    tail_mean = jnp.where(n_pos > 0, jnp.sum(jnp.where(positive, x, 0.0)) / jnp.maximum(n_pos, 1), jnp.nan)
    return {"mean": jnp.mean(x), "sd": jnp.std(x), "fraction_positive": n_pos / x.shape[0],
            "median": jnp.median(x), "tail_quantile": jnp.quantile(x, tail_q), "max": hi, "min": lo,
            "tail_mean": tail_mean, "counts": counts, "edges": lo + span * jnp.arange(bins + 1) / bins}


def preactivation_summary(pre, bins: int = 64, tail_q: float = 0.99) -> dict:
    """Per-unit statistics of pre-ReLU values ``pre`` [m, U] (any leading axes are flattened).

    Returns ``{"mean", "sd", "fraction_positive" (fires: P(pre > 0)), "median", "tail_quantile"
    (the ``tail_q`` quantile), "min", "max", "tail_mean" (mean of the positive part: the scale
    of an exponential fitted to the positive tail by maximum likelihood): [U] each, "counts"
    [U, bins] and "edges" [U, bins + 1] (a histogram over each unit's range)}``.
    """
    pre = jnp.asarray(pre, jnp.float32)
    if pre.ndim < 2 or pre.shape[0] == 0:
        raise ValueError(f"pre must be [m, U] (or [n, h, w, U]) values per unit, got shape {pre.shape}")
    flat = pre.reshape(-1, pre.shape[-1])
    if int(bins) != bins or bins < 1 or not 0 < tail_q < 1:
        raise ValueError(f"bins must be a positive int and 0 < tail_q < 1, got {bins}, {tail_q}")
    return _summaries(flat, int(bins), float(tail_q))


@functools.partial(jax.jit, static_argnames=("bins", "tail_q"))
def _summaries(flat, bins, tail_q):
    return jax.vmap(lambda col: _summary_one(col, bins, tail_q), in_axes=1)(flat)


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


@functools.partial(jax.jit, static_argnames=("model", "layer"))
def _own_rotation_program(model, variables, exemplars, angle_chunks, units, fill, *, layer):
    """exemplars [U, e, H, W, c], angle_chunks [K, a] -> [K, a, U] mean centre responses."""
    n_units, e = exemplars.shape[:2]
    a = angle_chunks.shape[1]
    cols = jnp.arange(n_units)

    def per_angles(angles):
        def body(total, x):  # x [U, H, W, c]: the i-th exemplar of every unit
            rot = jax.vmap(lambda d: tuning._rotate_one(x, d, fill))(angles)          # [a, U, H, W, c]
            act = forward(model, variables, model.normalize(rot.reshape((a * n_units,) + x.shape[1:])),
                          [layer])[1][layer]
            r = act[:, act.shape[1] // 2, act.shape[2] // 2].reshape(a, n_units, -1)   # [a, U, C]
            return total + r[:, cols, units], None

        total, _ = jax.lax.scan(body, jnp.zeros((a, n_units), jnp.float32), jnp.swapaxes(exemplars, 0, 1))
        return total / e

    return jax.lax.map(per_angles, angle_chunks)


def exemplar_rotation_tuning(model, variables, layer: str, exemplars01, angles_deg, units, stats=None,
                             fill: float = 0.5, batch: int = 256) -> jax.Array:
    """Each unit's mean centre response to *its own* exemplars rotated by each angle: [A, U].

    Args:
      exemplars01: [U, e, H, W, c]: unit u's e exemplars (e.g. :func:`recentre`-d top images),
        at the model's input size.
      angles_deg: [A] counter-clockwise rotations about the image centre (bilinear, ``fill``
        outside), as :func:`jaxinterp.circuits.tuning.rotate`.
      units: [U] the channel of each exemplar set.
      stats: ``(mean [C], sd [C])`` of the centre activation over the dataset
        (:func:`jaxinterp.circuits.tuning.activation_stats`): the result is then in SD.
      batch: images per forward pass (``max(1, batch // U)`` angles of every unit at once).

    Unit u's column equals ``tuning.rotation_tuning(..., exemplars01[u], angles, units=[u])``;
    here all units share one jitted program (no loop over units or angles).
    """
    x = jnp.asarray(exemplars01, jnp.float32)
    if x.ndim != 5:
        raise ValueError(f"exemplars01 must be [U, e, H, W, c] (each unit's exemplars), got {x.shape}")
    h, w, channels = _map_shape(model, variables, layer, x.shape[1:])
    u = _units(units, channels, layer)
    if u.shape[0] != x.shape[0]:
        raise ValueError(f"{x.shape[0]} exemplar sets but {u.shape[0]} units; pass one unit per set")
    angles = np.asarray(angles_deg, np.float32).reshape(-1)
    if angles.size == 0 or not np.all(np.isfinite(angles)):
        raise ValueError("angles_deg must be a non-empty 1-D array of finite degrees, e.g. np.arange(360.0)")
    a = max(1, min(int(batch) // x.shape[0], angles.size))
    out = _own_rotation_program(model, variables, x, _chunks(jnp.asarray(angles), a), jnp.asarray(u),
                                jnp.float32(fill), layer=layer).reshape(-1, len(u))[: angles.size]
    if stats is None:
        return out
    mean, sd = (jnp.asarray(s, jnp.float32)[u] for s in stats)
    return jnp.where(sd > 0, (out - mean) / jnp.where(sd > 0, sd, 1.0), jnp.nan)
