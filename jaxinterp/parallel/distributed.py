"""Several processes as one: ``jax.distributed`` set-up, the global mesh, and host <-> global arrays.

On a TPU pod or under SLURM, :func:`initialize` with no arguments lets JAX detect
the cluster; elsewhere pass ``coordinator="host:port"``, ``num_processes`` and
``process_id`` (on CPU the processes talk through gloo). Every process then sees
every device of every process; :func:`global_mesh` spans them all. Each process
contributes the rows of its own devices: :func:`local_rows` says which, :func:`from_local_rows`
builds the global array from them (:func:`shard_rows` from a whole host batch every process holds);
:func:`to_host` gathers a global array back to every process.
With one process these reduce to the local-device helpers of :mod:`.mesh`.
"""

from __future__ import annotations

import os
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from jaxinterp.parallel.mesh import AXIS, batch_sharding

_CLUSTER_VARS = ("SLURM_NTASKS", "TPU_WORKER_HOSTNAMES", "MEGASCALE_COORDINATOR_ADDRESS",
                 "OMPI_COMM_WORLD_SIZE")


def initialize(coordinator: str | None = None, num_processes: int | None = None,
               process_id: int | None = None) -> bool:
    """Join a multi-process run; returns whether one was joined.

    Explicit ``coordinator``/``num_processes``/``process_id`` (all three) start one on any
    platform; with none of them a run starts only when a cluster is detected (SLURM, a TPU pod,
    MPI), else this is one process and nothing happens.
    """
    given = [coordinator is not None, num_processes is not None, process_id is not None]
    if any(given) and not all(given):
        raise ValueError("pass all of --coordinator HOST:PORT, --num-processes N and --process-id I "
                         f"(got coordinator={coordinator!r}, num_processes={num_processes!r}, "
                         f"process_id={process_id!r}), or none of them to detect a cluster")
    if all(given):
        if not 0 <= process_id < num_processes:
            raise ValueError(f"--process-id must be in [0, {num_processes}), got {process_id}")
        if num_processes == 1:
            return False
        # CPU devices of several processes talk through gloo (it affects nothing on GPU/TPU); asking
        # for the backend here would start it before jax.distributed may
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
        jax.distributed.initialize(coordinator, num_processes=num_processes, process_id=process_id)
        return True
    if any(v in os.environ for v in _CLUSTER_VARS):
        jax.distributed.initialize()
        return jax.process_count() > 1
    return False


def global_mesh() -> Mesh:
    """A 1-D ``"data"`` mesh over every device of every process (process-major order)."""
    devices = sorted(jax.devices(), key=lambda d: (d.process_index, d.id))
    return Mesh(np.asarray(devices), (AXIS,))


def spans_processes(mesh: Mesh) -> bool:
    """Whether ``mesh`` holds devices of other processes."""
    me = jax.process_index()
    return any(d.process_index != me for d in mesh.devices.flat)


def local_rows(mesh: Mesh, rows: int) -> tuple[int, int]:
    """(lo, hi): the contiguous rows of a [rows, ...] batch split over ``mesh`` that this
    process's devices hold (``rows`` must divide by ``mesh.size``)."""
    devices = list(mesh.devices.flat)
    per = rows // len(devices)
    mine = [i for i, d in enumerate(devices) if d.process_index == jax.process_index()]
    return mine[0] * per, (mine[-1] + 1) * per


def from_local_rows(local: Any, mesh: Mesh, rows: int) -> Any:
    """This process's rows ``local_rows(mesh, rows)`` of each host array -> global arrays
    [rows, ...] split by rows over ``mesh`` (every process passes its own rows)."""
    def one(a):
        a = np.asarray(a)
        return jax.make_array_from_process_local_data(batch_sharding(mesh, a.ndim), a, (rows, *a.shape[1:]))

    return jax.tree_util.tree_map(one, local)


def shard_rows(batch: Any, mesh: Mesh) -> Any:
    """Host arrays (the same whole batch on every process) -> global arrays split by rows over ``mesh``.

    The leading axis must divide by ``mesh.size``. Only this process's rows are copied to devices.
    """
    if not spans_processes(mesh):
        return jax.tree_util.tree_map(lambda a: jax.device_put(a, batch_sharding(mesh, np.ndim(a))), batch)

    def one(a):
        a = np.asarray(a)
        if a.shape[0] % mesh.size:
            raise ValueError(f"rows ({a.shape[0]}) must divide by the {mesh.size} devices; pad first")
        lo, hi = local_rows(mesh, a.shape[0])
        return from_local_rows(a[lo:hi], mesh, a.shape[0])

    return jax.tree_util.tree_map(one, batch)


def replicate_global(tree: Any, mesh: Mesh) -> Any:
    """The same host values on every device of ``mesh`` (every process passes the same tree)."""
    sharding = NamedSharding(mesh, P())
    if not spans_processes(mesh):
        return jax.device_put(tree, sharding)

    def one(a):
        a = np.asarray(a)
        return jax.make_array_from_callback(a.shape, sharding, lambda index: a[index])

    return jax.tree_util.tree_map(one, tree)


def to_host(tree: Any) -> Any:
    """Global (or local) arrays -> whole numpy arrays on every process."""
    def one(a):
        if isinstance(a, jax.Array) and not a.is_fully_addressable:
            from jax.experimental import multihost_utils

            return np.asarray(multihost_utils.process_allgather(a, tiled=True))
        return np.asarray(a)

    return jax.tree_util.tree_map(one, tree)


def barrier(name: str) -> None:
    """Wait for every process (no-op with one)."""
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)
