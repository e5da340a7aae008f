"""Meshes over local devices and the sharding helpers every kernel uses.

The batch (sample) axis of an array is split over a 1-D mesh named ``"data"``;
everything else is replicated. On one device these are no-ops, so the same code
runs on a laptop, a GPU, or 8 forced CPU devices in tests
(``XLA_FLAGS=--xla_force_host_platform_device_count=8``).
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

AXIS = "data"


def local_mesh(devices=None) -> Mesh:
    """A 1-D mesh named ``"data"`` over ``devices`` (default: all local devices)."""
    devices = jax.local_devices() if devices is None else devices
    return Mesh(np.asarray(devices), (AXIS,))


def n_devices() -> int:
    return jax.local_device_count()


def round_up(n: int, multiple: int) -> int:
    """Smallest multiple of ``multiple`` that is >= n."""
    return -(-n // multiple) * multiple


def batch_sharding(mesh: Mesh, ndim: int) -> NamedSharding:
    """Leading axis split over ``"data"``, the other ``ndim - 1`` axes whole."""
    return NamedSharding(mesh, P(AXIS, *([None] * (ndim - 1))))


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, P())


def shard_batch(x: Any, mesh: Mesh | None = None) -> Any:
    """Place every leaf's leading axis across the mesh (its length must divide evenly)."""
    mesh = mesh or local_mesh()
    if mesh.size == 1:
        return jax.tree_util.tree_map(jax.numpy.asarray, x)
    return jax.tree_util.tree_map(lambda a: jax.device_put(a, batch_sharding(mesh, np.ndim(a))), x)


def replicate(tree: Any, mesh: Mesh | None = None) -> Any:
    """Copy every leaf to every device of the mesh."""
    mesh = mesh or local_mesh()
    if mesh.size == 1:
        return jax.tree_util.tree_map(jax.numpy.asarray, tree)
    return jax.device_put(tree, replicated(mesh))
