"""Receptive fields, measured from the model.

::

    rf = door.receptive_field(model, variables, "layer3", (32, 32, 3))
    rf.size, rf.stride, rf.box      # (81, 81), (4, 4), (-24, 57, -24, 57) for ResNet-20

A field is the support of ∂ unit(position) / ∂ input through the linearised network
(:func:`jaxinterp.door.cut.dependence`: ReLUs are the identity, max-pools average, every
parameter is one, so no path cancels); on a conv stack it equals the analytic
kernel/stride/padding arithmetic. It is measured on an input enlarged until the field of the
centre position lies inside it, so a field of any width (ResNet-56's ``layer3``: 200+ px on a
32-px image) is measured whole. Boxes are half-open ``(y0, y1, x0, x1)`` in input pixels and
may run past the image.
"""

from __future__ import annotations

import functools
from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxinterp.door.cut import dependence
from jaxinterp.door.graph import graph

__all__ = ["MAX_SIDE", "ReceptiveField", "receptive_field"]

#: the largest input side a field is measured on; wider fields are reported clipped
MAX_SIDE = 4096


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
    position of ``layer`` depends on."""
    return jax.jit(lambda variables, x, positions: dependence(model, variables, "input", layer, x, positions))


def _box(mask: np.ndarray):
    rows, cols = np.nonzero(mask.any(1))[0], np.nonzero(mask.any(0))[0]
    if rows.size == 0:
        return None
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def _inside(box, shape) -> bool:
    """Whether ``box`` keeps off every border of an input of ``shape`` ([H, W, C])."""
    return box[0] > 0 and box[1] < shape[0] and box[2] > 0 and box[3] < shape[1]


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
    g = graph(model, variables, input_shape)
    h, w, _ = g.check_spatial(layer, "a receptive field").shape
    H, W, C = input_shape
    at = (h // 2, w // 2) if at is None else tuple(int(a) for a in at)
    if len(at) != 2 or not (0 <= at[0] < h and 0 <= at[1] < w):
        raise ValueError(f"position at={at} is outside layer {layer!r}'s {h}x{w} map; "
                         f"rows 0..{h - 1}, columns 0..{w - 1}")
    program = _support_program(model, layer)

    def boxes(shape, positions):
        masks = np.asarray(program(variables, jnp.zeros(shape, jnp.float32), jnp.asarray(positions, jnp.int32)))
        found = [_box(m) for m in masks]
        if any(b is None for b in found):
            raise ValueError(f"layer {layer!r} does not depend on the input at {at} (zero gradient)")
        return found

    def probe(p, hh, ww):  # a position and its neighbours below and to the right (or above/left)
        return [p, (p[0] + 1 if p[0] + 1 < hh else max(p[0] - 1, 0), p[1]),
                (p[0], p[1] + 1 if p[1] + 1 < ww else max(p[1] - 1, 0))]

    def strides(b, hh, ww, HH, WW):
        sy = abs(b[1][0] - b[0][0]) if hh > 1 else HH // hh
        sx = abs(b[2][2] - b[0][2]) if ww > 1 else WW // ww
        return sy, sx

    # Enlarge the input by a margin that every stride divides (strides are powers of two in the
    # models here: a multiple of 2^ceil(log2(H / h))) until the centre field lies inside it.
    p2 = 2 ** int(np.ceil(np.log2(max(H / h, W / w, 1.0))))
    margin = p2 * -(-max(H, W) // p2)
    result = None
    while H + 2 * margin <= MAX_SIDE and result is None:
        big = (H + 2 * margin, W + 2 * margin, C)
        try:
            hb, wb = graph(model, variables, big)[layer].shape[:2]
        except Exception:  # noqa: BLE001 - a model that only takes its own input size
            break
        mid = boxes(big, probe((hb // 2, wb // 2), hb, wb))
        if not all(_inside(b, big) for b in mid):
            margin *= 2
            continue
        sy, sx = strides(mid, hb, wb, *big[:2])
        if sy <= 0 or sx <= 0 or margin % sy or margin % sx:
            break  # not a stride-aligned enlargement: measure inside the image instead
        b = boxes(big, [(at[0] + margin // sy, at[1] + margin // sx)])[0]
        if _inside(b, big):
            result = tuple(v - margin for v in b), (sy, sx), False
        else:
            margin *= 2
    if result is None:  # measured inside the image only
        b = boxes(input_shape, probe(at, h, w))
        sy, sx = strides(b, h, w, H, W)
        result = b[0], (max(sy, 1), max(sx, 1)), not _inside(b[0], input_shape)
    box, (sy, sx), clipped = result
    return ReceptiveField(box=tuple(int(v) for v in box), size=(int(box[1] - box[0]), int(box[3] - box[2])),
                          stride=(int(sy), int(sx)),
                          offset=(int(box[0] - at[0] * sy), int(box[2] - at[1] * sx)), at=at,
                          clipped=bool(clipped))
