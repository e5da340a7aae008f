"""What the circuits analyses read from one layer on each pass over a dataset.

:class:`Reads` is the function :func:`jaxinterp.stream.stream_map` runs on every batch for
dataset examples, tuning over examples and the pre-ReLU distribution: one forward pass to the
layer (through :func:`jaxinterp.door.taps`), several named reads of it, so the engine folds all
of them in one pass with :func:`jaxinterp.stream.combine`::

    fn = Reads(model, "layer3", (("top", "best", None, ()),            # value/y/x of every unit
                                 ("centre", "post", "centre", ()),     # [b, C] at the centre
                                 ("pre", "pre", "all", (3, 7))))       # [b, h, w, 2] before the ReLU
    out = stream.stream_map(fn, {"variables": variables}, images, stream.combine(
        top=stream.top_k(8, by="value"), centre=stream.moments(), pre=stream.collect()))

A read is ``(name, what, position, units)``; ``units`` are channel indices (``()``: all) and
``what`` is one of

* ``"best"``: each unit's maximum over positions and where, ``{"value", "y", "x"}`` [b, U]
  (:func:`jaxinterp.door.positions.best`; ties to the first position in row-major order);
* ``"post"``: the layer's activation at ``position`` (:mod:`jaxinterp.door.positions`);
* ``"least"``: each unit's minimum over positions of its pre-ReLU value and where,
  ``{"value", "y", "x"}`` [b, U] (ties to the first position): the most suppressed place of
  each image, for the minimally activating examples (after the ReLU they would all tie at 0);
* ``"pre"``: its pre-ReLU value at ``position`` (the input of the ReLU whose output is the
  layer's output; the same as ``"post"`` for a layer that does not end in a ReLU);
* ``"scaled"``: the pre-ReLU map scaled per unit, ``(pre - params["lo"]) / params["span"]``
  (for fine histograms over each unit's range, whose ends are data, not compiled constants).

With ``params["directions"]`` [k, C] (a fit of the layer: K-means centroids, SAE features...)
the units are the k directions instead of the C channels: the layer's output maps are projected
on them right after the forward pass, ``maps [b, h, w, C] @ directions.T -> [b, h, w, k]``, and
every read (and its ``units``) reads that map. A direction has no ReLU of its own, so its
``"pre"``, ``"least"`` and ``"scaled"`` reads read the same projected map (as for a layer that
does not end in a ReLU); one-hot rows give the channels' ``"best"`` and ``"post"`` reads exactly.

Images smaller than ``canvas`` are placed on a white canvas of that side first (see
:func:`on_canvas`). The class is a frozen dataclass: equal reads share one compiled step.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp

from jaxinterp import door
from jaxinterp.models.base import active_relu
from jaxinterp.neurons.levels import project

__all__ = ["WHAT", "Reads", "on_canvas"]

WHAT = ("best", "least", "post", "pre", "scaled")


def on_canvas(images01: jax.Array, size: int | None) -> jax.Array:
    """[b, h, w, c] images on a white (1.0) canvas of ``size`` x ``size``, the extra row/column of
    an odd difference before them (an odd-sized stimulus's centre pixel lands on ``size // 2``).

    ``size`` None, or images of that size already: unchanged. Shapes are static (traceable).
    """
    h, w = images01.shape[1:3]
    if size is None or (h, w) == (size, size):
        return images01
    pads = ((0, 0), (size - h - (size - h) // 2, (size - h) // 2),
            (size - w - (size - w) // 2, (size - w) // 2), (0, 0))
    return jnp.pad(images01, pads, constant_values=1.0)


@dataclasses.dataclass(frozen=True)
class Reads:
    """``fn(params, images01 [b, H, W, c]) -> {name: read}`` (see the module docstring).

    params: ``{"variables": the model's variables}`` (and ``"lo"``, ``"span"`` [U] for
    ``"scaled"`` reads; ``"directions"`` [k, C] to read directions, not channels).
    """

    model: Any
    layer: str
    reads: tuple
    canvas: int | None = None

    def __call__(self, params, images01):
        variables = params["variables"]
        x = on_canvas(images01, self.canvas)
        directions = params.get("directions")     # a pytree key: which branch is fixed at trace time
        pre_relu = directions is None and any(what in ("least", "pre", "scaled") for _, what, _, _ in self.reads)
        a = door.taps(self.model, variables, self.model.normalize(x), [self.layer], pre_relu=pre_relu)[self.layer]
        post = a
        if pre_relu and door.graph(self.model, variables, x.shape[1:])[self.layer].relu:
            post = active_relu()(a)  # the layer's output is exactly this ReLU of its pre-ReLU value
        if directions is not None:  # the directions' maps [b, h, w, k]; "highest": one-hot rows are exact
            post = a = project(a, directions)
        out = {}
        for name, what, position, units in self.reads:
            m = a if what in ("least", "pre", "scaled") else post
            if units:
                m = m[..., jnp.asarray(units)]
            if what == "best":
                value, y, xx = door.positions.best(m)
                out[name] = {"value": value, "y": y, "x": xx}
            elif what == "least":
                value, y, xx = door.positions.best(-m)
                out[name] = {"value": -value, "y": y, "x": xx}
            elif what == "scaled":
                lo, span = jnp.asarray(params["lo"]), jnp.asarray(params["span"])  # [U]
                out[name] = (m - jnp.broadcast_to(lo, m.shape)) / jnp.broadcast_to(span, m.shape)
            else:
                out[name] = door.positions.read(m, position)
        return out
