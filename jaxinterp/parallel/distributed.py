"""Several processes as one: ``jax.distributed`` set-up, the global mesh, and host <-> global arrays.

On a TPU pod or under SLURM, :func:`initialize` with no arguments lets JAX detect
the cluster; elsewhere pass ``coordinator="host:port"``, ``num_processes`` and
``process_id`` (on CPU the processes talk through gloo). Every process then sees
every device of every process; :func:`global_mesh` spans them all. Each process
contributes the rows of its own devices: :func:`local_rows` says which, :func:`from_local_rows`
builds the global array from them (:func:`shard_rows` from a whole host batch every process holds);
:func:`to_host` gathers a global array back to every process.
With one process these reduce to the local-device helpers of :mod:`.mesh`.

A job array (Slurm, Cloud Batch, any launcher that starts N copies of one command) is N
processes that never talk to each other: :func:`job_array` says which one this is, and
:func:`detach` turns a ``jax.distributed`` run into one after its collective work.
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
# (index, count, first index, step, last index) of the launchers' job arrays; JAXINTERP_* for any other launcher
_ARRAY_VARS = (("SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_COUNT", "SLURM_ARRAY_TASK_MIN", "SLURM_ARRAY_TASK_STEP",
                "SLURM_ARRAY_TASK_MAX"),
               ("BATCH_TASK_INDEX", "BATCH_TASK_COUNT", None, None, None),  # Google Cloud Batch
               ("JAXINTERP_PROCESS_ID", "JAXINTERP_NUM_PROCESSES", None, None, None))
_SET_BY_HAND = ("set JAXINTERP_PROCESS_ID=I and JAXINTERP_NUM_PROCESSES=N in each process, or pass "
                "--process-id I --num-processes N")


def initialize(coordinator: str | None = None, num_processes: int | None = None,
               process_id: int | None = None) -> bool:
    """Join a multi-process run; returns whether one was joined.

    Explicit ``coordinator``/``num_processes``/``process_id`` (all three) start one on any
    platform; with none of them a run starts only when a cluster is detected (SLURM, a TPU pod,
    MPI) and this is not one process of a job array (:func:`job_array`), else nothing happens.
    ``num_processes`` and ``process_id`` without a coordinator join nothing: they name a job
    array's process (:func:`job_array`).
    """
    given = [coordinator is not None, num_processes is not None, process_id is not None]
    if coordinator is not None and not all(given):
        raise ValueError("with --coordinator HOST:PORT pass --num-processes N and --process-id I too "
                         f"(got num_processes={num_processes!r}, process_id={process_id!r}); without "
                         "--coordinator they name one process of a job array")
    if coordinator is None:
        if any(given) or any(v[0] in os.environ for v in _ARRAY_VARS):
            return False
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


def job_array(num_processes: int | None = None, process_id: int | None = None) -> tuple[int, int, str]:
    """``(index, count, source)``: which of ``count`` processes sharing out independent work this
    one is. From ``jax.distributed`` when it joined several processes, else ``num_processes`` and
    ``process_id`` (``--num-processes``/``--process-id`` without ``--coordinator``), else a job
    array's environment (Slurm's ``SLURM_ARRAY_TASK_ID``/``_COUNT``/``_MIN``/``_STEP``/``_MAX``,
    Cloud Batch's ``BATCH_TASK_INDEX``/``_COUNT``, or ``JAXINTERP_PROCESS_ID``/
    ``JAXINTERP_NUM_PROCESSES`` set by any launcher), else ``(0, 1, "one process")``."""
    if _joined() and jax.process_count() > 1:
        return jax.process_index(), jax.process_count(), "jax.distributed"
    if (num_processes is None) != (process_id is None):
        raise ValueError(f"pass both --num-processes N and --process-id I (got {num_processes!r} and "
                         f"{process_id!r}), or neither")
    source = "--num-processes/--process-id"
    if num_processes is None:
        for index, count, *more in _ARRAY_VARS:
            if index in os.environ:
                if count not in os.environ:
                    raise ValueError(f"{index} is set but not {count}: set both, or pass --num-processes "
                                     "and --process-id")
                process_id, num_processes = _array_index(index, count, *more)
                source = index
                break
        else:
            return 0, 1, "one process"
    if not (num_processes >= 1 and 0 <= process_id < num_processes):
        raise ValueError(f"a job array's process index must be in [0, {num_processes}) of "
                         f"{num_processes} >= 1 processes, got {process_id} (from {source})")
    return process_id, num_processes, source


def _array_index(index: str, count: str, first: str | None, step: str | None,
                 last: str | None) -> tuple[int, int]:
    """(process index, count) from a launcher's variables: ``(ID - MIN) / STEP`` (Slurm's
    ``--array=0-15:4`` runs IDs 0, 4, 8, 12 with COUNT 4). IDs that are not MIN, MIN + STEP, ...,
    MAX (a listed array such as ``--array=1,5,9``) raise in every process: the launcher cannot
    say which process this is, so the user must."""
    names = [v for v in (index, count, first, step, last) if v and v in os.environ]
    try:
        values = {v: int(os.environ[v]) for v in names}
    except ValueError:
        raise ValueError("job array variables must be integers, got "
                         + ", ".join(f"{v}={os.environ[v]!r}" for v in names)) from None
    num_processes, stride = values[count], values.get(step, 1)
    offset = values[index] - values.get(first, 0)
    process_id = offset // stride if stride >= 1 else -1
    span = (num_processes - 1) * stride  # MAX - MIN of an evenly spaced array
    if (stride < 1 or offset % stride or not 0 <= process_id < num_processes
            or (last in values and values[last] - values.get(first, 0) != span)):
        raise ValueError(f"cannot tell this process's index in [0, {num_processes}) from the job array's "
                         + ", ".join(f"{v}={values[v]}" for v in names)
                         + f" (IDs must be MIN, MIN+STEP, ..., MAX): {_SET_BY_HAND}")
    return process_id, num_processes


def detach() -> bool:
    """After a ``jax.distributed`` run's collective work, leave it (``jax.distributed.shutdown``)
    where that is safe: when each process has one device, which needs no collective of any kind
    from then on. The death of any process then no longer reaches the others (in the run, the
    coordination service ends every process once one stops sending heartbeats). Processes with
    several devices stay in the run: on CPU their own devices' collectives go through its gloo
    rendezvous, and on GPU and TPU it may back them too. Every process must call it at the same
    point: leaving waits for all of them. Returns whether it left.

    (JAX's "recoverable" runs, where a peer's death would not end the others, are not used: their
    shutdown does not wait for the peers, and a peer still leaving when process 0 has stopped the
    service is aborted.)"""
    if _joined() and jax.device_count() == jax.process_count():  # (the same answer on every process)
        jax.distributed.shutdown()
        return True
    return False


def _joined() -> bool:
    """Whether this process is in a ``jax.distributed`` run now."""
    check = getattr(jax.distributed, "is_initialized", None)
    if check is not None:
        return check()
    from jax._src import distributed as state  # (JAX before is_initialized)

    return state.global_state.client is not None


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
