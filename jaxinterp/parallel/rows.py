"""Run a row-wise kernel with its rows split over the devices of a mesh.

``split_rows(fn, mesh)(rows, *shared)`` evaluates ``fn(rows_part, *shared)`` on
every device for its part of ``rows`` (every leaf's leading axis) and returns
the parts concatenated, as ``fn(rows, *shared)`` would on one device. Rows are
padded to a multiple of the mesh size by repeating row 0 and the padding is
cropped from the result, so ``fn`` must treat rows independently (an all-pairs
block, a query's nearest neighbours, one image's gradients). ``shared`` arguments
are copied to every device. On a one-device mesh ``fn`` is simply jitted.

    grads = split_rows(kernel, local_mesh(), chunk=8)(images, weights)

"""

from __future__ import annotations

from functools import lru_cache, partial
from typing import Any, Callable

import jax
import jax.numpy as jnp
from jax.sharding import Mesh, PartitionSpec as P

from jaxinterp.parallel.mesh import AXIS, batch_sharding, local_mesh, round_up


def _rows(tree: Any) -> int:
    leaves = jax.tree_util.tree_leaves(tree)
    if not leaves:
        raise ValueError("split_rows needs at least one array of rows")
    return leaves[0].shape[0]


def pad_rows(tree: Any, rows: int) -> Any:
    """Pad every leaf's leading axis to ``rows`` by repeating row 0."""
    n = _rows(tree)
    if rows == n:
        return tree
    index = jnp.concatenate([jnp.arange(n), jnp.zeros(rows - n, jnp.int32)])
    return jax.tree_util.tree_map(lambda a: jnp.asarray(a)[index], tree)


@lru_cache(maxsize=None)
def _compiled(fn: Callable, mesh: Mesh | None, n_shared: int, static: tuple) -> Callable:
    kernel = partial(fn, **dict(static)) if static else fn
    if mesh is None or mesh.size == 1:
        return jax.jit(kernel)
    specs = (P(AXIS),) + (P(),) * n_shared
    # every device works alone on its rows (no collectives), so the varying-axes check, which
    # rejects scans whose initial carry is a constant, has nothing to protect
    return jax.jit(jax.shard_map(kernel, mesh=mesh, in_specs=specs, out_specs=P(AXIS), check_vma=False))


def split_rows(fn: Callable, mesh: Mesh | None = None, **static: Any) -> Callable:
    """``fn(rows, *shared, **static) -> output with the rows' leading axis``, rows split over ``mesh``
    (default: every local device).

    ``static`` keyword arguments (hashable: sizes, names, metrics) are bound at
    trace time; the compiled function is cached per (fn, mesh, static), so
    repeated calls compile once.
    """
    key = tuple(sorted(static.items()))
    mesh = local_mesh() if mesh is None else mesh

    def run(rows: Any, *shared: Any) -> Any:
        n = _rows(rows)
        if mesh.size == 1:
            return _compiled(fn, None, len(shared), key)(rows, *shared)
        padded = pad_rows(rows, round_up(n, mesh.size))
        padded = jax.tree_util.tree_map(lambda a: jax.device_put(a, batch_sharding(mesh, a.ndim)), padded)
        out = _compiled(fn, mesh, len(shared), key)(padded, *shared)
        return jax.tree_util.tree_map(lambda a: a[:n], out)

    return run
