"""Where in a layer's map a unit is read: one spelling for the whole package.

``position`` is one of

* ``"centre"``: the centre position ``(h // 2, w // 2)`` (the lower-right of the centre 2x2
  for even sizes, as the authors' ``A[:, :, 8, 8]`` for 16x16 and Lucid's ``channel`` at the
  centre): [n, h, w, c] -> [n, c];
* ``"mean"``: the spatial mean -> [n, c];
* ``"max"``: the maximum over positions -> [n, c] (:func:`best` also says where);
* ``"all"``: the whole map, unchanged -> [n, h, w, c];
* ``(row, col)``: that position -> [n, c].

Layers without spatial axes ([n, c]) read the same for every position.
"""

from __future__ import annotations

from typing import Union

import jax.numpy as jnp
from jaxtyping import Array, Int, Shaped

__all__ = ["NAMED", "Position", "best", "check", "read"]

NAMED = ("centre", "mean", "max", "all")
Position = Union[str, tuple]

_SPELLINGS = {"center": "centre", "middle": "centre", "avg": "mean", "average": "mean", "none": "all"}


def check(position, shape: tuple | None = None, layer: str = "the layer") -> Position:
    """``position`` in its one spelling (a name of :data:`NAMED` or a (row, col) tuple of ints).

    shape: one example's activation shape, to check a (row, col) against the map size.
    """
    if position is None:
        return "all"
    if isinstance(position, str):
        if position in NAMED:
            return position
        fix = _SPELLINGS.get(position.lower())
        hint = f"; jaxinterp spells it {fix!r}" if fix else ""
        raise ValueError(f"position must be one of {', '.join(map(repr, NAMED))} or a (row, col) pair, "
                         f"got {position!r}{hint}")
    try:
        row, col = (int(p) for p in position)
    except (TypeError, ValueError):
        raise ValueError(f"position must be one of {', '.join(map(repr, NAMED))} or a (row, col) pair "
                         f"of ints, got {position!r}") from None
    if shape is not None and len(shape) == 3 and not (0 <= row < shape[0] and 0 <= col < shape[1]):
        raise ValueError(f"position {(row, col)} lies outside {layer}'s {shape[0]}x{shape[1]} map; "
                         f"pass 0 <= row < {shape[0]}, 0 <= col < {shape[1]}")
    return row, col


def read(act: Shaped[Array, " n *unit"], position: Position) -> Shaped[Array, " n *read"]:
    """[n, h, w, c] (or [n, c]) activations read at ``position`` (see the module docstring)."""
    if act.ndim != 4 or position == "all":
        return act
    if position == "mean":
        return jnp.mean(act, axis=(1, 2))
    if position == "max":
        return jnp.max(act, axis=(1, 2))
    row, col = (act.shape[1] // 2, act.shape[2] // 2) if position == "centre" else position
    return act[:, row, col, :]


def best(act: Shaped[Array, " n h w c"]) -> tuple[
        Shaped[Array, " n c"], Int[Array, " n c"], Int[Array, " n c"]]:
    """Each unit's maximum over positions and where: [n, h, w, c] -> value, y, x, each [n, c].

    Ties go to the first position in row-major order.
    """
    n, h, w, c = act.shape
    flat = act.reshape(n, h * w, c)
    idx = jnp.argmax(flat, axis=1)
    return jnp.max(flat, axis=1), (idx // w).astype(jnp.int32), (idx % w).astype(jnp.int32)
