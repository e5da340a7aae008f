"""Analyses as units of work: tasks, a results store, and a runner that resumes.

A :class:`Task` is a name, a frozen config, its input tasks and a pure function
``fn(ctx, config, **inputs) -> Result(arrays, summary)``. The :class:`Store`
keeps each finished task's result under a hash of (name, config, input keys,
the task's version, and the device layout where the numbers depend on it), on a
local disk or object storage (``gs://``); :func:`run` computes only what the store lacks::

    store = tasks.Store("results")            # or tasks.Store("gs://bucket/results")
    results, report = tasks.run([ii_task], store)
    report.count("ii")     # how many II tasks were computed (0 when all were saved)
"""

from jaxinterp.tasks.runner import Context, RunReport, TaskFailed, run
from jaxinterp.tasks.store import CorruptEntry, Store, write_json_atomic
from jaxinterp.tasks.task import (
    FORMAT,
    Result,
    Task,
    canonical,
    describe,
    device_layout,
    graph,
    relayout,
    task_key,
)

__all__ = [
    "FORMAT",
    "Context",
    "CorruptEntry",
    "Result",
    "RunReport",
    "Store",
    "Task",
    "TaskFailed",
    "canonical",
    "describe",
    "device_layout",
    "graph",
    "relayout",
    "run",
    "task_key",
    "write_json_atomic",
]
