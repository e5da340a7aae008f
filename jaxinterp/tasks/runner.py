"""Run a graph of tasks against a store: compute what is missing, load the rest lazily.

``run([report_task], store)`` walks every dependency, skips tasks whose entry
exists, computes the others in dependency order and saves each as soon as it
finishes, so an interrupted run loses at most the task in flight, and the next
run picks up from there. With several processes (``jax.distributed``), a
*collective* task is computed by all of them together (its arrays may span the
global mesh) and saved by process 0; any other task is computed by the one
process that runs it. A *local* run (``local=True``) steps out of that: each process runs its
tasks on its own (a sweep's cells, shared out by the caller), with no collective at all.

Entries are written by one background thread while the next task computes (XLA
releases the GIL), at most :data:`MAX_PENDING` behind; ``run`` returns, or
re-raises an interruption, only after every computed result is on disk.

Two runs on one local store do not compute the same task twice: ``run`` holds the store's
lock (:meth:`Store.lock`) throughout, and a second run waits for it, saying who holds it,
then finds the first run's entries. On object storage there is no lock: two runs may
compute a task twice, and the store keeps it once. Of the processes of one ``jax.distributed`` run only
process 0 takes the lock (its peers share the store by design, and a lock per process would
stop them at their first collective task). Holding it, process 0 first removes ``tmp/``
debris older than :data:`~jaxinterp.tasks.store.DEBRIS_AGE`: not all of it, since a peer
process of a multi-process run on the same store may be writing an entry there unlocked.
"""

from __future__ import annotations

import contextlib
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterable, NamedTuple

from tqdm.auto import tqdm

from jaxinterp import compiled
from jaxinterp.tasks.store import DEBRIS_AGE, CorruptEntry, Store
from jaxinterp.tasks.task import Result, Task, graph


MAX_PENDING = 2  # results computed but not yet written; a hard kill loses at most these


class Context:
    """What a task function may use besides its config and inputs.

    store, task: where it runs; log(msg): a progress line; scratch: a directory for
    checkpoints that survives a crash (``checkpoint_dir=ctx.scratch``);
    process_index / process_count: this process among ``jax.distributed`` peers;
    collective: the task runs on every process together, its arrays over the global mesh (a
    collective task in a multi-process run that is not local); else on this process's devices.
    """

    def __init__(self, store: Store, task: Task, log: Callable[[str], None], collective: bool = False):
        self.store, self.task, self.log, self.collective = store, task, log, collective

    @property
    def scratch(self):
        return self.store.scratch_dir(self.task)

    @property
    def process_index(self) -> int:
        import jax

        return jax.process_index()

    @property
    def process_count(self) -> int:
        import jax

        return jax.process_count()


class RunReport(NamedTuple):
    """executed: tasks computed in this run, in order; loaded: tasks found in the store;
    failed: {key: error text}; skipped: keys not run because an input failed."""

    executed: list
    loaded: list
    failed: dict
    skipped: list

    def count(self, name: str) -> int:
        """How many tasks called ``name`` were computed."""
        return sum(t.name == name for t in self.executed)


class TaskFailed(RuntimeError):
    """A task raised; ``.task`` is it, ``__cause__`` the original error."""

    def __init__(self, task: Task, error: BaseException):
        super().__init__(f"task {task.name} ({task.key[:12]}) failed: {type(error).__name__}: {error}")
        self.task = task


def _agree(flag: bool) -> bool:
    """Process 0's value of ``flag`` on every process (one process: unchanged)."""
    import jax

    if jax.process_count() == 1:
        return flag
    import numpy as np
    from jax.experimental import multihost_utils

    return bool(multihost_utils.broadcast_one_to_all(np.asarray(flag)))


def _barrier(name: str) -> None:
    import jax

    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)


def run(
    tasks: Iterable[Task] | Task,
    store: Store,
    *,
    keep_going: bool = False,
    log: Callable[[str], None] | None = None,
    progress: bool = False,
    load_targets: bool = True,
    local: bool = False,
) -> tuple[dict[str, Result], RunReport]:
    """Compute every task of ``tasks`` (and their inputs) that ``store`` lacks.

    Args:
      tasks: the tasks whose results are wanted.
      store: a :class:`~jaxinterp.tasks.Store`.
      keep_going: on a failure record it, skip what depends on it and go on; otherwise raise
        :class:`TaskFailed` after recording it.
      log: a line per finished task (default: none); progress: a tqdm bar over the tasks to
        compute instead (for callers that print nothing else).
      load_targets: also return the results of ``tasks`` (loading them if they were done).
      local: this process runs ``tasks`` on its own, whatever ``jax.distributed`` says: no
        cross-process broadcast or barrier, a collective task it must compute runs on this
        process's devices and is saved by it, and no store lock (the caller shares out the work,
        as a sweep's job array does; the store keeps a task computed twice once).

    Returns:
      ({key: Result} of the requested tasks, :class:`RunReport`).
    """
    import jax

    lead = jax.process_index() == 0 and not local
    with store.lock() if lead else contextlib.nullcontext():
        if lead:
            store.sweep_tmp(older_than=DEBRIS_AGE)
        return _run(tasks, store, keep_going=keep_going, log=log, progress=progress, load_targets=load_targets,
                    local=local)


def _run(tasks, store: Store, *, keep_going: bool, log, progress: bool,
         load_targets: bool, local: bool) -> tuple[dict[str, Result], RunReport]:
    import jax

    targets = [tasks] if isinstance(tasks, Task) else list(tasks)
    order = graph(targets)
    log = log or (tqdm.write if progress else (lambda msg: None))
    multi = jax.process_count() > 1 and not local
    lead = jax.process_index() == 0 or local

    def together(task: Task) -> bool:  # computed by every process at once, over the global mesh
        return task.collective and multi
    needed_by: dict[str, int] = {}
    for t in order:
        for dep in t.deps.values():
            needed_by[dep.key] = needed_by.get(dep.key, 0) + 1
    target_keys = {t.key for t in targets}

    memory: dict[str, Result] = {}
    executed, skipped = [], []
    failed: dict[str, str] = {}

    def saved_entry(task: Task) -> bool:
        try:
            store.verify(task)
        except KeyError:
            return False
        except CorruptEntry as err:  # never read: deleted (with its damaged objects) and recomputed
            log(f"recompute {task.name} {task.key[:12]}: {err}")
            if lead or not together(task):
                store.discard(task, str(err))
            return False
        return True

    saved = {t.key: saved_entry(t) for t in order}
    if multi:  # every process takes the same path through collective tasks: process 0's view
        saved.update({t.key: _agree(saved[t.key]) for t in order if together(t)})
    todo = [t for t in order if not saved[t.key]]
    todo_keys = {t.key for t in todo}
    loaded = [t for t in order if t.key not in todo_keys]
    bar = tqdm(total=len(todo), unit="task", desc="tasks", disable=not progress, leave=False)
    writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="jaxinterp-store")
    pending: list = []

    def flush(limit: int = 0) -> None:
        while len(pending) > limit:
            task, future = pending.pop(0)
            try:
                future.result()
            except Exception as err:  # noqa: BLE001 - the write of a computed result failed
                raise TaskFailed(task, err) from err

    def compute(task: Task) -> Result:
        start = time.perf_counter()
        inputs = {name: result_of(dep) for name, dep in task.deps.items()}
        result = task.fn(Context(store, task, log, together(task)), task.config, **inputs)
        if not isinstance(result, Result):
            raise ValueError(f"task {task.name!r} returned {type(result).__name__}; "
                             "return jaxinterp.tasks.Result(arrays, summary)")
        seconds = time.perf_counter() - start
        if not together(task) or lead:
            store.check(task, result)  # what cannot be saved fails here, as the task's error
            if together(task):
                store.save(task, result, seconds)
            else:
                pending.append((task, writer.submit(store.save, task, result, seconds)))
                flush(MAX_PENDING)
        if together(task):
            _barrier(f"saved {task.key}")
        memory[task.key] = result
        executed.append(task)
        compiled.relieve()  # a long run compiles many programs: stay under the process's map limit
        log(f"[{len(executed)}/{len(todo)}] {task.name} {task.key[:12]} done in {seconds:.1f}s")
        return result

    def result_of(task: Task) -> Result:
        if task.key not in memory:
            try:
                memory[task.key] = store.load(task)
            except CorruptEntry as err:  # damaged after it was written: never read it, recompute
                if together(task):
                    raise
                store.discard(task, str(err))
                log(f"recompute {task.name} {task.key[:12]}: {err}")
                return compute(task)
        return memory[task.key]

    def release(task: Task) -> None:
        for dep in task.deps.values():
            needed_by[dep.key] -= 1
            if needed_by[dep.key] <= 0 and dep.key not in target_keys:
                memory.pop(dep.key, None)

    try:
        for task in order:
            if task.key not in todo_keys:
                release(task)
                continue
            bad = [d for d in task.deps.values() if d.key in failed or d.key in skipped]
            if bad:
                skipped.append(task.key)
                log(f"skip {task.name} {task.key[:12]}: input failed "
                    f"({', '.join(f'{d.name} {d.key[:12]}' for d in bad)})")
                bar.update(1)
                continue
            try:
                compute(task)
            except KeyboardInterrupt:
                bar.close()
                raise
            except Exception as err:  # noqa: BLE001 - recorded, then raised or skipped past
                if isinstance(err, TaskFailed) and err.task != task:  # an earlier task's write failed
                    raise
                store.record_failure(task, err, traceback.format_exc())
                failed[task.key] = f"{type(err).__name__}: {err}"
                log(f"FAILED {task.name} {task.key[:12]}: {type(err).__name__}: {err}")
                if not keep_going:
                    bar.close()
                    raise TaskFailed(task, err) from err
            bar.update(1)
            release(task)
        results = {}
        if load_targets:  # (a target found damaged here is recomputed, so the writer is still up)
            for t in targets:
                if t.key not in failed and t.key not in skipped:
                    results[t.key] = result_of(t)
        bar.close()
        flush()
    finally:
        for task, future in pending:  # interrupted: still write what was computed
            try:
                future.result()
            except BaseException:  # noqa: BLE001 - already leaving on an error; say what is lost
                log(f"could not save {task.name} {task.key[:12]}")
        writer.shutdown()

    return results, RunReport(executed, loaded, failed, skipped)
