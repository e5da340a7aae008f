"""A unit of analysis: a named pure function of a frozen config and the results of other tasks.

::

    acts = Task("capture", CaptureConfig(arch="cifar_resnet20", ...), capture_fn)
    fit = Task("directions", FitConfig(method="kmeans", k=64, seed=0), fit_fn, deps={"acts": acts},
               layout=True)

``fn(ctx, config, **inputs) -> Result`` receives each dependency's :class:`Result`
under its name in ``deps``. A task's :func:`task_key` hashes its name, its config,
the keys of its inputs, its own ``version`` and (for a task whose numbers depend on
how many devices share the work) the device layout, so two tasks with equal keys
compute the same thing, and changing one config field changes the key of that task
and of everything downstream of it, and nothing else. A config should therefore hold
only what changes the result (a task that draws no random numbers takes no seed), and
``version`` is bumped when the code of ``fn`` changes what it returns: that recomputes
this task and its dependents, not every result in the store.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
import math
from pathlib import PurePath
from typing import Any, Callable, Mapping, NamedTuple

import numpy as np

#: the store's format: 2 = content-addressed objects and commit records (see ``tasks/store.py``)
FORMAT = 2


class Result(NamedTuple):
    """What a task returns and the store keeps.

    arrays: a (nested) dict of arrays, ``{"ii": [k], "fit": {"centroids": [k, d]}}``.
    summary: small JSON-able dict (scalars, short lists, strings) a user can read.
    """

    arrays: dict
    summary: dict


@dataclasses.dataclass(frozen=True, eq=False)
class Task:
    """name: the kind of step (``"capture"``, ``"ii"``); the store groups entries by it.
    config: a frozen dataclass / NamedTuple / tuple / scalar tree of hashable fields.
    fn: ``fn(ctx, config, **inputs) -> Result``.
    deps: ``{input name: Task}``.
    collective: run by every process together (its arrays may span the global mesh);
      otherwise a task runs in one process only.
    version: bumped when ``fn`` changes what it returns; the key holds it, so the bump
      recomputes this task and what depends on it, and nothing else.
    layout: the result depends on the device layout (a fit whose sums are split over the
      local devices): the key holds :func:`device_layout`, so a store resumed on another
      layout recomputes it instead of mixing results. Leave it False for a task whose numbers
      do not depend on the device count.
    """

    name: str
    config: Any
    fn: Callable[..., Result]
    deps: Mapping[str, "Task"] = dataclasses.field(default_factory=dict)
    collective: bool = False
    version: int = 1
    layout: bool = False

    def __post_init__(self):
        if not self.name or "/" in self.name or self.name.startswith("."):
            raise ValueError(f"task names are plain words like 'capture', got {self.name!r}")
        for dep_name, dep in self.deps.items():
            if not isinstance(dep, Task):
                raise ValueError(f"task {self.name!r}: dependency {dep_name!r} must be a Task, "
                                 f"got {type(dep).__name__}")
        if not isinstance(self.version, int) or isinstance(self.version, bool) or self.version < 1:
            raise ValueError(f"task {self.name!r}: version must be a positive int, got {self.version!r}")
        canonical(self.config)  # refuse unhashable configs at construction, not at run time

    @property
    def key(self) -> str:
        return task_key(self)

    def __hash__(self):
        return hash(self.key)

    def __eq__(self, other):
        return isinstance(other, Task) and other.key == self.key

    def __repr__(self):
        return f"Task({self.name!r}, {self.key[:12]})"


def canonical(value: Any) -> Any:
    """A JSON-able, order-stable form of a config (dataclasses and NamedTuples become dicts)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        if not getattr(type(value), "__dataclass_params__").frozen:
            raise ValueError(f"task configs must be frozen dataclasses; {type(value).__name__} is "
                             "not: declare it with @dataclasses.dataclass(frozen=True)")
        return {"__type__": type(value).__name__,
                **{f.name: canonical(getattr(value, f.name)) for f in dataclasses.fields(value)}}
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        return {"__type__": type(value).__name__, **{k: canonical(getattr(value, k)) for k in value._fields}}
    if isinstance(value, (list, tuple)):
        return [canonical(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): canonical(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, (bool, int, str)) or value is None:
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return canonical(value.item())
    raise ValueError(
        f"task config values must be scalars, strings, paths, tuples or frozen dataclasses of them, "
        f"got {type(value).__name__} ({value!r:.60}); put arrays in a dependency's result instead"
    )


def device_layout(collective: bool) -> dict:
    """The devices a task's numbers depend on: every device and process for a collective task
    (its arrays span the global mesh), this process's devices for any other."""
    import jax

    if collective:
        return {"devices": jax.device_count(), "processes": jax.process_count()}
    return {"devices": jax.local_device_count()}


def _digest(task: Task, layout: dict | None) -> str:
    payload = {
        "name": task.name,
        "config": canonical(task.config),
        "inputs": {name: dep.key for name, dep in sorted(task.deps.items())},
        "version": task.version,
        "format": FORMAT,
    }
    if task.layout:
        payload["layout"] = layout
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def task_key(task: Task) -> str:
    """sha256 of (name, config, the keys of its inputs, its version, the store format, and the
    device layout for a ``layout`` task)."""
    cached = task.__dict__.get("_key")
    if cached is not None:
        return cached
    digest = _digest(task, device_layout(task.collective) if task.layout else None)
    object.__setattr__(task, "_key", digest)
    return digest


def relayout(task: Task, layout: dict, _memo: dict | None = None) -> Task:
    """A copy of ``task`` and of its inputs keyed as a process whose own devices are ``layout``
    (``{"devices": n}``, as :func:`device_layout` and a commit record it) would key them.

    For reading a store written on another layout (a sweep's ``--status`` and summary on a host
    with another device count); a run computes and saves under its own layout. A collective
    ``layout`` task keeps this run's global layout: every process of a run shares it.
    """
    memo = {} if _memo is None else _memo
    if task.key not in memo:
        deps = {name: relayout(dep, layout, memo) for name, dep in task.deps.items()}
        copy = dataclasses.replace(task, deps=deps)
        own = device_layout(True) if task.collective else dict(layout)
        object.__setattr__(copy, "_key", _digest(copy, own if task.layout else None))
        memo[task.key] = copy
    return memo[task.key]


def describe(task: Task) -> dict:
    """The JSON a user reads in the manifest: name, key, config, input keys, version, layout."""
    return {"name": task.name, "key": task.key, "config": canonical(task.config),
            "inputs": {name: dep.key for name, dep in sorted(task.deps.items())},
            "collective": task.collective, "version": task.version,
            "layout": device_layout(task.collective) if task.layout else None}


def graph(tasks) -> list[Task]:
    """Every task that ``tasks`` need, each once, dependencies before dependents."""
    order: list[Task] = []
    seen: set[str] = set()
    visiting: set[str] = set()

    def visit(task: Task):
        if task.key in seen:
            return
        if task.key in visiting:
            raise ValueError(f"task {task!r} depends on itself")
        visiting.add(task.key)
        for _, dep in sorted(task.deps.items()):
            visit(dep)
        visiting.discard(task.key)
        seen.add(task.key)
        order.append(task)

    for task in tasks:
        visit(task)
    return order
