"""Reducers: what the streaming engine keeps of each batch, folded on the device as it goes.

A :class:`Reducer` is three pure functions, like an optax ``GradientTransformation``::

    state = reducer.init(spec)                                  # spec: one image's values
    state, out = reducer.update(state, values, index, valid)    # values [b, ...]; jitted
    result = reducer.finalize(state, outs)                      # on the host, once

``index`` [b] holds each row's image number in the dataset and ``valid`` [b] whether the row is
a real image (the last batch is padded to the compiled shape). ``out`` is per-image output the
engine copies to the host ([b, ...] pytree, or None); ``outs`` is all of it, [n, ...].

Built in: :func:`collect` (keep every row), :func:`top_k` (the k largest per unit, with their
image numbers and any payload), :func:`bottom_k` (the k smallest), :func:`moments` (count, mean, variance), :func:`total` (sums),
:func:`minmax`, :func:`histogram` (fixed edges), :func:`pick` (the values of chosen image-unit
pairs), :func:`combine` (several at once, over a dict of values) and :func:`fanout` (several
over the same values). State is O(k·U) or O(U), never O(n), unless the caller collects.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["Reducer", "bottom_k", "collect", "combine", "fanout", "histogram", "minmax", "moments", "pick",
           "top_k", "total"]


class Reducer(NamedTuple):
    """init(spec) -> state; update(state, values, index, valid) -> (state, out); finalize(state, outs)."""

    init: Callable[[Any], Any]
    update: Callable[[Any, Any, jax.Array, jax.Array], tuple[Any, Any]]
    finalize: Callable[[Any, Any], Any]


def _mask(valid, x):
    """valid [b] broadcast against x [b, ...]."""
    return valid.reshape((-1,) + (1,) * (x.ndim - 1))


@functools.lru_cache(maxsize=None)
def collect() -> Reducer:
    """Every image's values, on the host: the result is the values for all n images [n, ...]."""
    return Reducer(lambda spec: (), lambda state, values, index, valid: ((), values),
                   lambda state, outs: outs)


@functools.lru_cache(maxsize=None)
def top_k(k: int, by: str | None = None) -> Reducer:
    """The ``k`` images with the largest value per unit, largest first.

    Values: [b, U] (or a dict holding ``by`` [b, U] and any payload arrays [b, U], e.g. the
    position where each unit peaked). Result: ``{"value": [U, k], "image": [U, k], **payload}``
    ([U, k] each). Ties go to the lower image number, whatever the batch size or device count.
    NaN values never rank; if any occurred, finalize raises naming the units.
    """
    if int(k) != k or k < 1:
        raise ValueError(f"top_k needs k >= 1 images per unit, got {k!r}")
    k = int(k)

    def split(values):
        if isinstance(values, dict):
            if by not in values:
                raise ValueError(f"top_k(by={by!r}) needs values with that key, got {sorted(values)}")
            return values[by], {name: v for name, v in values.items() if name != by}
        return values, {}

    def init(spec):
        score, payload = split(spec)
        u = score.shape[-1:]
        state = {"value": jnp.full((k, *u), -jnp.inf, jnp.float32), "image": jnp.full((k, *u), -1, jnp.int32),
                 "nonfinite": jnp.zeros(u, jnp.int32)}
        state.update({name: jnp.zeros((k, *u), p.dtype) for name, p in payload.items()})
        return state

    def update(state, values, index, valid):
        score, payload = split(values)
        score = score.astype(jnp.float32)
        bad = valid[:, None] & ~jnp.isfinite(score)
        score = jnp.where(valid[:, None] & ~jnp.isnan(score), score, -jnp.inf)
        new = {"value": score, "image": jnp.broadcast_to(index[:, None], score.shape).astype(jnp.int32), **payload}
        cat = {name: jnp.concatenate([state[name], new[name]]) for name in new}         # [k + b, U]
        # earlier rows first in `cat`, and top_k keeps the first of equal values: lower image wins
        _, order = jax.lax.top_k(cat["value"].T, k)                                       # [U, k]
        out = {name: jnp.take_along_axis(a, order.T, axis=0) for name, a in cat.items()}
        out["nonfinite"] = state["nonfinite"] + jnp.sum(bad, axis=0, dtype=jnp.int32)
        return out, None

    def finalize(state, outs):
        bad = np.nonzero(np.asarray(state["nonfinite"]))[0]
        if bad.size:
            raise ValueError(f"unit(s) {bad[:8].tolist()} have NaN/inf values in "
                             f"{int(np.asarray(state['nonfinite']).sum())} image(s); fix the inputs "
                             "or the model before ranking images")
        return {name: np.asarray(a).T for name, a in state.items() if name != "nonfinite"}

    return Reducer(init, update, finalize)


@functools.lru_cache(maxsize=None)
def bottom_k(k: int, by: str | None = None) -> Reducer:
    """The ``k`` images with the smallest value per unit, smallest first: :func:`top_k` of the
    negated values (negation is exact), the values negated back. Same values, payload, result
    and tie rule (the lower image number) as :func:`top_k`."""
    top = top_k(k, by)

    def negated(values):
        if isinstance(values, dict) and by in values:
            return {**values, by: -values[by]}
        return -values

    def finalize(state, outs):
        got = top.finalize(state, outs)
        return {**got, "value": -got["value"]}

    return Reducer(top.init, lambda state, values, index, valid: top.update(state, negated(values), index, valid),
                   finalize)


def pick(image, unit) -> Reducer:
    """The values of chosen (image, unit) pairs, and only those: ``image``, ``unit`` int arrays
    [*S] (image numbers in the pass, indices of the last axis). Values: [b, ..., U]. Result:
    [*S, ...] (``values[image, ..., unit]``; NaN for an image the pass did not see). State:
    O(S · ...), e.g. a unit's map on each of its exemplars, whatever the number of images."""
    image, unit = np.asarray(image), np.asarray(unit)
    if image.shape != unit.shape:
        raise ValueError(f"pick needs image and unit of one shape, got {image.shape} and {unit.shape}")
    shape = image.shape
    image, unit = jnp.asarray(image.reshape(-1), jnp.int32), jnp.asarray(unit.reshape(-1), jnp.int32)

    def init(spec):
        return jnp.full((image.size, *spec.shape[:-1]), jnp.nan, jnp.float32)

    def update(state, values, index, valid):
        here = (index[None, :] == image[:, None]) & valid[None, :]                      # [P, b]
        row = jnp.argmax(here, axis=1)
        got = jnp.moveaxis(values, -1, 1)[row, unit].astype(jnp.float32)                  # [P, ...]
        return jnp.where(_mask(here.any(axis=1), got), got, state), None

    return Reducer(init, update, lambda state, outs: np.asarray(state).reshape(shape + state.shape[1:]))


@functools.lru_cache(maxsize=None)
def moments() -> Reducer:
    """Count, mean and (population, ddof=0) variance of every value over the images:
    ``{"count": [], "mean": [...], "var": [...], "sd": [...]}``. Batches merge by Chan's rule,
    so the result does not depend on the batch size beyond float rounding."""

    def init(spec):
        return {"count": jnp.zeros((), jnp.float32), "mean": jnp.zeros(spec.shape, jnp.float32),
                "m2": jnp.zeros(spec.shape, jnp.float32)}

    def update(state, values, index, valid):
        x = values.astype(jnp.float32)
        w = _mask(valid, x).astype(jnp.float32)
        nb = jnp.sum(valid.astype(jnp.float32))
        mb = jnp.sum(x * w, axis=0) / jnp.maximum(nb, 1.0)
        m2b = jnp.sum(w * (x - mb[None]) ** 2, axis=0)
        n = state["count"] + nb
        delta = mb - state["mean"]
        frac = nb / jnp.maximum(n, 1.0)
        return {"count": n, "mean": state["mean"] + delta * frac,
                "m2": state["m2"] + m2b + delta ** 2 * state["count"] * frac}, None

    def finalize(state, outs):
        n = float(state["count"])
        var = np.asarray(state["m2"]) / max(n, 1.0)
        return {"count": int(n), "mean": np.asarray(state["mean"]), "var": var, "sd": np.sqrt(var)}

    return Reducer(init, update, finalize)


@functools.lru_cache(maxsize=None)
def total() -> Reducer:
    """Sum of every value over the images and the image count: ``{"sum": [...], "count": int}``."""

    def init(spec):
        return {"sum": jnp.zeros(spec.shape, jnp.float32), "count": jnp.zeros((), jnp.int32)}

    def update(state, values, index, valid):
        x = values.astype(jnp.float32)
        return {"sum": state["sum"] + jnp.sum(jnp.where(_mask(valid, x), x, 0.0), axis=0),
                "count": state["count"] + jnp.sum(valid, dtype=jnp.int32)}, None

    return Reducer(init, update, lambda state, outs: {"sum": np.asarray(state["sum"]),
                                                       "count": int(state["count"])})


@functools.lru_cache(maxsize=None)
def minmax() -> Reducer:
    """Smallest and largest value over the images: ``{"min": [...], "max": [...]}``."""

    def init(spec):
        return {"min": jnp.full(spec.shape, jnp.inf, jnp.float32), "max": jnp.full(spec.shape, -jnp.inf, jnp.float32)}

    def update(state, values, index, valid):
        x = values.astype(jnp.float32)
        m = _mask(valid, x)
        return {"min": jnp.minimum(state["min"], jnp.min(jnp.where(m, x, jnp.inf), axis=0)),
                "max": jnp.maximum(state["max"], jnp.max(jnp.where(m, x, -jnp.inf), axis=0))}, None

    return Reducer(init, update, lambda state, outs: {k: np.asarray(v) for k, v in state.items()})


def histogram(edges) -> Reducer:
    """Counts of values per unit in the bins of ``edges`` [B + 1] (increasing, the same for every
    unit) or [U, B + 1] (one set per unit, for values [b, ..., U]); values below the first or
    above the last edge count in the first or last bin. Result ``{"counts": [U, B], "edges"}``;
    values [b, ..., U] are flattened over the middle axes (positions)."""
    e = np.asarray(edges, np.float32)
    if e.ndim not in (1, 2) or e.shape[-1] < 2 or not np.all(np.diff(e, axis=-1) > 0):
        raise ValueError(f"edges must be increasing, [B + 1] or [U, B + 1] with B >= 1, got shape {e.shape}")
    bins = e.shape[-1] - 1

    def init(spec):
        return jnp.zeros((spec.shape[-1], bins), jnp.int32)

    def update(counts, values, index, valid):
        x = values.astype(jnp.float32)
        x = x.reshape(x.shape[0], -1, x.shape[-1])                              # [b, p, U]
        inner = jnp.asarray(e[..., 1:-1])
        if e.ndim == 1:
            idx = jnp.searchsorted(inner, x, side="right")
        else:
            idx = jax.vmap(lambda ed, col: jnp.searchsorted(ed, col, side="right"), (0, 2), 2)(inner, x)
        w = jnp.broadcast_to(valid[:, None, None], idx.shape).astype(jnp.int32)
        unit = jnp.broadcast_to(jnp.arange(idx.shape[-1]), idx.shape)
        # a scatter-add: memory O(b·p·U), where a one-hot would take O(b·p·U·B) (fine histograms)
        return counts.at[unit.reshape(-1), idx.reshape(-1)].add(w.reshape(-1)), None

    return Reducer(init, update, lambda counts, outs: {"counts": np.asarray(counts), "edges": e})


def combine(**reducers: Reducer) -> Reducer:
    """Several reducers at once over a dict of values: ``values[name]`` goes to ``reducers[name]``;
    the result is ``{name: result}``."""
    return _joined(reducers, split=True)


def fanout(**reducers: Reducer) -> Reducer:
    """Several reducers over the same values (one pass gives, e.g., top-k and moments):
    the result is ``{name: result}``."""
    return _joined(reducers, split=False)


def _joined(reducers: dict, split: bool) -> Reducer:
    for name, r in reducers.items():
        if not isinstance(r, Reducer):
            raise ValueError(f"combine: {name!r} must be a Reducer (e.g. stream.top_k(8)), got {type(r).__name__}")

    def part(values, name):
        return values[name] if split else values

    def init(spec):
        return {name: r.init(part(spec, name)) for name, r in reducers.items()}

    def update(state, values, index, valid):
        pairs = {name: r.update(state[name], part(values, name), index, valid) for name, r in reducers.items()}
        return {n: p[0] for n, p in pairs.items()}, {n: p[1] for n, p in pairs.items()}

    def finalize(state, outs):
        return {name: r.finalize(state[name], None if outs is None else outs.get(name))
                for name, r in reducers.items()}

    return _Combined(init, update, finalize, (split, *sorted(reducers.items(), key=lambda kv: kv[0])))


class _Combined(Reducer):
    """A :func:`combine` or :func:`fanout` result; equal (and hashing equal) to another over the same reducers, so
    the engine reuses its compiled program."""

    def __new__(cls, init, update, finalize, parts):
        self = super().__new__(cls, init, update, finalize)
        self._parts = parts
        return self

    def __eq__(self, other):
        return isinstance(other, _Combined) and self._parts == other._parts

    def __hash__(self):
        return hash(self._parts)
