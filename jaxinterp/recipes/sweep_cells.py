"""A sweep's cells, each on its own: running records, retries, what each host ran, and the engines.

Every cell runs through :func:`run_cell`: a *local* :func:`jaxinterp.tasks.run` of its tasks
(no cross-process step), retried up to ``retries`` more times when it fails, under a running
record (``notes/running/<cell id>.json`` in the store: host, pid, process, since when, a
heartbeat every :data:`HEARTBEAT` seconds; removed when the cell ends, so one left behind
without a heartbeat for :data:`STALE_AFTER` seconds is stale: its process is gone). Each
process also keeps a note of what it ran (``notes/hosts/<host>-<pid>.json``: its cells, their
states and seconds, its device layout), which the report and ``--status`` read. Notes go
through the store's file operations, so they work on object storage too.

Engines (neither is a scheduler of ours):

* :func:`run_share`: a process of a job array (a TPU pod's processes, Slurm, XManager)
  computes its share (:func:`jaxinterp.recipes.sweep.share`); the launcher's retries, or a
  rerun with any number of processes, resume the work, the store skipping what is done.
* :func:`run_ray`: every capture, then every cell, is a Ray task (``max_retries``: a lost
  worker's cell is retried on another); the workers write the results to the shared store.

The store makes every cell idempotent: a cell computed twice (a Ray retry of a worker that
had saved it, two processes that each needed one capture) is stored once.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import socket
import threading
import time
import traceback
from pathlib import Path
from typing import Callable

from jaxinterp import tasks

RUNNING, HOSTS = "running", "hosts"  # folders of the store's notes
HEARTBEAT = 30.0  # seconds between rewrites of a running cell's record
STALE_AFTER = 120.0  # a running record not rewritten for this long is stale: its process is gone
NOTE_EVERY = 5.0  # seconds between rewrites of a process's note while it runs cells


class HostRecord:
    """This process's note ``notes/hosts/<host>-<pid>.json``: its place in the sweep (process
    ``index`` of ``count``, ``engine``), device layout, phases' seconds and every cell it ran
    (:meth:`add`), rewritten after a cell at most every :data:`NOTE_EVERY` seconds (a process of
    hundreds of cells would otherwise rewrite a growing note hundreds of times) and when it
    closes; ``keep=False`` writes nothing (a Ray driver)."""

    def __init__(self, store: tasks.Store, index: int | None, count: int | None, engine: str,
                 keep: bool = True):
        host = socket.gethostname()
        self.store, self.keep, self.written = store, keep, 0.0
        self.name = re.sub(r"[^A-Za-z0-9_.-]", "_", f"{host}-{os.getpid()}")
        now = time.time()
        self.data = {"host": host, "pid": os.getpid(), "process": index, "processes": count, "engine": engine,
                     "layout": tasks.device_layout(False), "started": now, "updated": now,
                     "state": "running", "cells": []}
        self._put()

    def _put(self, now: bool = True) -> None:
        if not self.keep or not (now or time.time() - self.written >= NOTE_EVERY):
            return
        self.data["updated"] = self.written = time.time()
        try:
            self.store.put_note(HOSTS, self.name, self.data)
        except OSError:  # a note says what happened; failing to write one must not stop the work
            pass

    def phase(self, name: str, seconds: float) -> None:
        self.data[f"{name}_seconds"] = round(seconds, 3)
        self._put()

    def add(self, outcome: dict, now: bool = False) -> None:
        self.data["cells"].append(outcome)
        self._put(now)

    def close(self, state: str) -> None:
        self.data["state"] = state
        self._put()


@contextlib.contextmanager
def running(store: tasks.Store, cell, log: Callable[[str], None] = print):
    """Hold ``cell``'s running record for the block, rewriting it every :data:`HEARTBEAT` seconds.
    A record that cannot be written is logged and the block runs (a record says what is going on;
    failing to write one must not stop the work, and the heartbeat tries again)."""
    now = time.time()
    note = {"id": cell.id, "cell": cell.label, **store.writer(), "since": now, "beat": now}
    stop = threading.Event()

    def beat():
        while not stop.wait(HEARTBEAT):
            note["beat"] = time.time()
            with contextlib.suppress(OSError):
                store.put_note(RUNNING, cell.id, dict(note))

    thread = threading.Thread(target=beat, name="jaxinterp-heartbeat", daemon=True)
    try:  # (from the first write on: a SIGTERM raised once the record is visible still removes it)
        try:
            store.put_note(RUNNING, cell.id, note)
        except OSError as err:
            log(f"  {cell.label}: its running record was not written ({type(err).__name__}: {err}); "
                "computing it anyway")
        thread.start()
        yield
    finally:
        stop.set()
        if thread.is_alive():
            thread.join()
        with contextlib.suppress(OSError):
            store.remove_note(RUNNING, cell.id)


def run_cell(store: tasks.Store, cell, retries: int, log: Callable[[str], None] = print) -> dict:
    """Compute (or reuse) ``cell`` in this process alone, trying a failed cell ``retries`` more
    times. Returns its outcome: ``id``, ``cell`` (label), ``state`` (``"done"``: computed here,
    ``"reused"``: found in the store, ``"failed"``), ``attempts``, ``seconds``, ``start``, ``error``."""
    start, t0 = time.time(), time.perf_counter()
    # a cell found whole is only loaded (which checks its II arrays, and recomputes a damaged one)
    whole = all(store.has(t) for t in cell.tasks)
    guard = contextlib.nullcontext() if whole else running(store, cell, log)
    computed, error, attempt = False, "", 0
    with guard:
        for attempt in range(1, retries + 2):
            try:
                _, rep = tasks.run(cell.tasks, store, keep_going=True, local=True)
            except Exception as err:  # noqa: BLE001 - a write (or a read of the store) failed: try again
                error, trace, raised = f"{type(err).__name__}: {err}", traceback.format_exc(), err
            else:
                computed |= bool(rep.executed)
                raised = None
                error = "" if not (rep.failed or rep.skipped) else next(iter(rep.failed.values()), "an input failed")
            if not error:
                break
            if attempt <= retries:
                log(f"  {cell.label}: attempt {attempt} of {retries + 1} failed ({error}); trying again")
        if raised is not None:  # (the runner records the failures of tasks; this one is not a task's)
            with contextlib.suppress(OSError):
                store.record_failure(cell.fit, raised, trace)
    return {"id": cell.id, "cell": cell.label, "state": "failed" if error else ("done" if computed else "reused"),
            "attempts": attempt, "seconds": round(time.perf_counter() - t0, 3), "start": start, "error": error}


def run_share(store: tasks.Store, cells: list, retries: int, log: Callable[[str], None],
              record: HostRecord) -> list[dict]:
    """Run ``cells`` (this process's share) one after another; a line and a note for each."""
    for fits in fit_groups(cells).values():  # SAEs of one capture: one program, before their cells
        train_group(store, fits, log)
    outcomes = []
    for i, cell in enumerate(cells):
        outcome = run_cell(store, cell, retries, log)
        record.add(outcome)
        detail = f" ({outcome['error']})" if outcome["error"] else ""
        log(f"[cell {i + 1}/{len(cells)}] {cell.label}: {outcome['state']} in {outcome['seconds']:.1f}s{detail}")
        outcomes.append(outcome)
    return outcomes


def fit_groups(cells: list) -> dict[str, list[tasks.Task]]:
    """The fit tasks of ``cells`` that train together (:func:`jaxinterp.steps.fit_group`: SAEs of
    one capture and options, differing in K, λ or seed), by a name of their group."""
    from jaxinterp import steps

    groups: dict = {}
    for cell in cells:
        group = steps.fit_group(cell.fit)
        if group is not None:
            name = hashlib.sha256(json.dumps(group, sort_keys=True, default=str).encode()).hexdigest()[:16]
            groups.setdefault(name, {})[cell.fit.key] = cell.fit
    return {name: list(fits.values()) for name, fits in groups.items()}


def train_group(store: tasks.Store, fits: list[tasks.Task], log: Callable[[str], None]) -> bool:
    """Train the SAE fits ``fits`` of one group together (:func:`jaxinterp.steps.fit_together`)
    and store each result, unless all are stored. The whole group trains even when some members
    are stored (after an interruption), so a member's numbers never depend on where a run
    stopped. Their cells then find their fits done. Returns whether it trained; on failure it
    logs why and the cells fit one by one."""
    from jaxinterp import steps

    if all(store.has(t) for t in fits):
        return False
    capture = fits[0].deps["acts"]
    t0 = time.perf_counter()
    try:
        if not store.has(capture):  # (a local run: the capture its cells would compute first)
            tasks.run([capture], store, load_targets=False, local=True)
        results = steps.fit_together(fits, store.load(capture))
        seconds = time.perf_counter() - t0
        for task, result in zip(fits, results):
            if not store.has(task):
                store.save(task, result, seconds=seconds / len(fits))
    except Exception as err:  # noqa: BLE001 - the cells then fit one by one, and say why if they fail
        log(f"  {len(fits)} SAE fits trained together failed ({type(err).__name__}: {err}); "
            "each cell fits its own")
        return False
    log(f"  {len(fits)} SAE fits of one capture trained together in {seconds:.1f}s (one program)")
    return True


# -- Ray

_IN_WORKER: dict = {}  # in a Ray worker: (store, captures, cells, record) per sweep, built once


def _ray_unit(config: dict, out: str, kind: str, name: str, retries: int) -> dict:
    """A Ray task: the capture with key ``name`` or the cell with id ``name``, in this worker."""
    from jaxinterp.recipes import sweep

    key = json.dumps([sweep._public(config), out], sort_keys=True)
    if key not in _IN_WORKER:
        captures, cells = sweep.build(config)
        store = tasks.Store(sweep.out_path(out) / "store", worker={"engine": "ray"})
        _IN_WORKER[key] = (store, {c.key: c for c in captures}, {c.id: c for c in cells},
                           HostRecord(store, None, None, "ray"))
    store, captures, cells, record = _IN_WORKER[key]
    where = {"host": socket.gethostname(), "pid": os.getpid()}
    if kind == "capture":
        _, rep = tasks.run([captures[name]], store, load_targets=False, local=True)
        return {**where, "computed": bool(rep.executed)}
    if kind == "group":
        return {**where, "computed": train_group(store, fit_groups(list(cells.values()))[name], lambda s: None)}
    outcome = {**run_cell(store, cells[name], retries), **where}
    record.add(outcome, now=True)  # (a Ray worker is never closed: its note is written as it goes)
    return outcome


def run_ray(config: dict, out: Path, captures: list, cells: list, retries: int, address: str | None,
            log: Callable[[str], None]) -> list[dict]:
    """Every capture, then every cell, as a Ray task on the cluster at ``address`` (default:
    ``RAY_ADDRESS``, else one already joined by this process, else a new local one). A worker
    lost mid-cell (killed, preempted) has its cell retried elsewhere, up to ``retries`` times;
    a cell lost more often is recorded failed. Returns the cells' outcomes."""
    try:
        import ray
    except ImportError:
        raise ValueError("--engine ray needs Ray: pip install 'jaxinterp[ray]'") from None
    from jaxinterp.recipes.sweep import out_path

    out = out_path(out)  # (the workers open str(out): absolute, or a URL)
    if not ray.is_initialized():
        local = address is None and "RAY_ADDRESS" not in os.environ
        ray.init(address=address, **({"include_dashboard": False} if local else {}))
    store = tasks.Store(out / "store")
    unit = ray.remote(_ray_unit).options(max_retries=retries, retry_exceptions=False, num_cpus=1)
    refs = [unit.remote(config, str(out), "capture", c.key, retries) for c in captures]
    for c, ref in zip(captures, refs):
        try:
            ray.get(ref)
        except ray.exceptions.RayError as err:  # its cells compute it, or fail saying why
            log(f"capture {c.config.layer} of {c.config.model.arch} not done ({type(err).__name__}); "
                "its cells will compute it")
    groups = {unit.remote(config, str(out), "group", name, retries): len(fits)
              for name, fits in fit_groups(cells).items()}
    for ref, size in groups.items():  # a group lost for good: its cells fit one by one
        try:
            ray.get(ref)
        except ray.exceptions.RayError as err:
            log(f"{size} SAE fits trained together were lost ({type(err).__name__}); each cell fits its own")
    pending = {unit.remote(config, str(out), "cell", c.id, retries): c for c in cells}
    outcomes = []
    while pending:
        (ref,), _ = ray.wait(list(pending), num_returns=1)
        cell = pending.pop(ref)
        try:
            outcome = ray.get(ref)
        except ray.exceptions.RayError as err:
            outcome = {"id": cell.id, "cell": cell.label, "state": "failed", "attempts": retries + 1,
                       "error": f"lost {retries + 1} times: {type(err).__name__}: {str(err)[:300]}"}
            with contextlib.suppress(OSError):
                store.record_failure(cell.fit, err)
        outcomes.append(outcome)
        detail = f" ({outcome['error']})" if outcome.get("error") else ""
        log(f"[cell {len(outcomes)}/{len(cells)}] {cell.label}: {outcome['state']} in "
            f"{outcome.get('seconds', 0):.1f}s on {outcome.get('host')} pid {outcome.get('pid')}{detail}")
    return outcomes
