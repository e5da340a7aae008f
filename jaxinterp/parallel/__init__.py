"""Sharding over local devices: meshes, batch sharding, replication."""

from jaxinterp.parallel.mesh import (
    AXIS,
    batch_sharding,
    local_mesh,
    n_devices,
    replicate,
    replicated,
    round_up,
    shard_batch,
)

__all__ = [
    "AXIS",
    "batch_sharding",
    "local_mesh",
    "n_devices",
    "replicate",
    "replicated",
    "round_up",
    "shard_batch",
]
