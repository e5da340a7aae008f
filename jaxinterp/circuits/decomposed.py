"""Decomposed feature visualisation (METHODS.md §6.5): one image per spatial position.

An expanded weight W_exp [h, w, C] of a target unit on a source layer says, for each
source position p, which direction of the source's activation vector drives the
target. The decomposed visualisation renders one image per position: image p
maximises ``<A(x)_p, W_exp,p>``, the dot product of the source activation at p
with the weight vector at p. Laid out on the h x w grid, the images show what
the target unit wants to see at each position of its receptive field::

    cut = (model, variables, "layer2", "layer3.0.conv1", (32, 32, 3))
    w = circuits.expanded_weights(*cut, window=5)[unit]                # [5, 5, 32]
    obj = circuits.decomposed_objective("layer2", w, origin=circuits.window_origin(*cut, window=5))
    featvis.render(key, model, variables, obj, param.image(key, 32, batch=25))   # 25 images
"""

from __future__ import annotations

from typing import Sequence

import jax.numpy as jnp
import numpy as np

from jaxinterp.featvis.objectives import Objective


def decomposed_objective(layer: str, weights, origin: Sequence[int] | None = None) -> Objective:
    """Image p = (row y, col x) of an h·w batch maximises ``<A(x)[y0 + y, x0 + x], weights[y, x]>``.

    Args:
      layer: the source layer of the expanded weights ([b, H, W, C] activations).
      weights: [h, w, C] one target unit's expanded weights on ``layer``.
      origin: (y0, x0), the layer position of ``weights[0, 0]`` (for weights cropped to a
        window); default ``(0, 0)``, i.e. weights over the whole map.

    Returns:
      an :class:`~jaxinterp.featvis.objectives.Objective` for a batch of ``h * w`` images,
      in row-major position order (image ``y * w + x``); reshape the rendered batch to
      [h, w, size, size, 3] to lay it out.
    """
    weights = jnp.asarray(weights, jnp.float32)
    if weights.ndim != 3:
        raise ValueError(f"weights must be one unit's expanded weights [h, w, C], got shape "
                         f"{tuple(weights.shape)}; index a unit first (expanded_weights(...)[j])")
    h, w, c = weights.shape
    y0, x0 = (0, 0) if origin is None else (int(origin[0]), int(origin[1]))
    ys, xs = np.divmod(np.arange(h * w), w)
    ys, xs = jnp.asarray(ys + y0), jnp.asarray(xs + x0)

    def fn(acts, vecs):
        a = acts[layer]  # [h*w, H, W, C]
        at_p = a[jnp.arange(a.shape[0]), ys, xs]  # [h*w, C]: image p at its own position
        return jnp.sum(at_p * vecs)

    def check(shapes, vecs):
        shape = tuple(shapes[layer])
        if len(shape) != 4 or shape[-1] != c:
            raise ValueError(f"layer {layer!r} gives activations of shape {shape}; the weights need "
                             f"[{h * w}, H, W, {c}] (the expanded weights' source layer)")
        if shape[0] != h * w:
            raise ValueError(f"a batch of {shape[0]} images for {h}x{w} positions; render one image "
                             f"per position (param.image(..., batch={h * w}))")
        if not (0 <= y0 and y0 + h <= shape[1] and 0 <= x0 and x0 + w <= shape[2]):
            raise ValueError(f"weights of {h}x{w} at origin {(y0, x0)} do not fit layer {layer!r}'s "
                             f"{shape[1]}x{shape[2]} map; pass the origin of the window")

    return Objective(fn, weights.reshape(h * w, c), [layer], ("decomposed", layer, h, w, y0, x0),
                     f"Decomposed({layer}, {h}x{w})", check)
