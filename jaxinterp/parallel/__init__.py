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
from jaxinterp.parallel.rows import pad_rows, split_rows
from jaxinterp.parallel.samples import maybe_shard_batch, shard_samples

__all__ = [
    "AXIS",
    "batch_sharding",
    "local_mesh",
    "n_devices",
    "pad_rows",
    "replicate",
    "replicated",
    "round_up",
    "maybe_shard_batch",
    "shard_batch",
    "shard_samples",
    "split_rows",
]
