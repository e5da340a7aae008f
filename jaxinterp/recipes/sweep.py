"""Sweeps: a grid of models × layers × direction methods × K × seeds, scored with each similarity.

A sweep config is a Python file whose ``get_config(smoke=False)`` returns a dict::

    def get_config(smoke=False):
        return dict(
            models={"r20": ("cifar_resnet20", "r20-orbax"), "r32": ("cifar_resnet32", "r32.th")},
            data="cifar_test.npz", limit=200 if smoke else None,
            layers=["layer1", "layer2"], methods=["neurons", "kmeans", "pca", "sae"],
            ks=[0.5, 1.0],            # ints: K itself; floats: K as a fraction of the layer's width
            seeds=[0, 1], similarities=["colour", "label"], m=5,
            options={"sae": {"max_steps": 300}},   # extra fit options per method
        )

Relative paths are read from the config file's folder. Every cell (model, layer,
method, K, seed) is a direction-fit task and one II task per similarity; captures
are shared by the cells of a (model, layer). A method that draws no random numbers
(neurons, PCA, NMF's default init) is fitted for the first seed only.

A sweep runs in two phases (:func:`run`):

1. **Captures**, the only collective work: with several processes joined by
   ``jax.distributed`` every capture runs once, up front, over the global mesh; then no
   process waits for another, and none dies with another
   (:func:`~jaxinterp.parallel.distributed.detach`: where each process has one device; with
   more, a process's death still ends the others, after what they finished is saved). Without ``jax.distributed`` (a job array, Ray) a capture
   is computed by the first process that needs it (two that need it at once both compute it,
   and the store keeps it once), or up front by ``phase="capture"`` runs.
2. **Cells**, each on its own, with no cross-process step (:mod:`.sweep_cells`): process i of
   N (``jax.distributed``, ``--num-processes``/``--process-id``, or a job array's environment)
   takes a deterministic share of the cells balanced by their estimated cost (:func:`share`),
   or every cell is a Ray task (``engine="ray"``). A cell that fails is retried, then recorded
   with its error, and the sweep goes on; a rerun (any N) computes only what is missing, and
   recomputes a damaged entry (as ``paper`` does) instead of stopping on it.

The process that finds every cell finished (done or failed) writes ``cells.json``, the
manifest and the report; :func:`status` says what is done, failed, running where, and pending.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import heapq
import importlib.util
import json
import time
from pathlib import Path
from typing import Callable

import numpy as np

from jaxinterp import steps, tasks
from jaxinterp.directions import registry
from jaxinterp.parallel import distributed
from jaxinterp.tasks.fs import _SCHEME as _URL  # (the store's own test: gs://, s3://, ...)
from jaxinterp.tasks.store import DEBRIS_AGE

DEFAULTS = dict(limit=None, ks=[1.0], seeds=[0], similarities=["colour"], m=5, options={},
                position="mean", labels=None, split="test")
REQUIRED = ("models", "data", "layers", "methods")
ENGINES = ("processes", "ray")
PHASES = ("all", "capture", "cells")
RETRIES = 2  # a failed cell is tried this many more times before it is recorded failed

# Rough cost of a cell's fit in multiply-adds, from n images, d channels, K directions and the
# fit's options; only the ratios between cells matter (they balance the shares).
_FIT_COST = {
    "neurons": lambda n, d, k, o: 0.0,
    "pca": lambda n, d, k, o: n * d * d,
    "kmeans": lambda n, d, k, o: o.get("n_init", 1) * 50.0 * n * k * d,
    "minibatch_kmeans": lambda n, d, k, o: o.get("max_steps", 1000) * min(n, o.get("batch_size", 1024)) * k * d,
    "ica": lambda n, d, k, o: 100.0 * n * d * k,
    "nmf": lambda n, d, k, o: 100.0 * n * d * k,
    "sae": lambda n, d, k, o: 6.0 * o.get("max_steps", 1000) * min(n, o.get("batch_size", 4096)) * k * d,
}
_CELL_OVERHEAD = 2e8  # what every cell costs besides (compiling its programs, loading its capture)


@dataclasses.dataclass(frozen=True)
class Cell:
    """One point of the grid; ``tasks`` are its fit and one II task per similarity; ``n`` and
    ``d`` are its images and the layer's width (for :attr:`cost`). :attr:`id`, :attr:`group` and
    :attr:`cost` are computed once per cell (``cached_property``: the dataclass has no slots)."""

    model: str
    layer: str
    method: str
    k: int
    seed: int
    fit: tasks.Task
    ii: tuple  # ((similarity name, Task), ...)
    n: int = 0
    d: int = 0

    @property
    def label(self) -> str:
        return f"{self.model} {self.layer} {self.method} k={self.k} seed={self.seed}"

    @property
    def tasks(self) -> list[tasks.Task]:
        """The II tasks (each reads the fit, which reads the capture)."""
        return [t for _, t in self.ii]

    @functools.cached_property
    def id(self) -> str:
        """The cell's name whatever the device layout (its tasks' keys hold the layout): a hash of
        its capture's key and of its fit's and scores' configs and versions."""
        payload = [self.fit.deps["acts"].key, tasks.canonical(self.fit.config), self.fit.version,
                   [[name, tasks.canonical(t.config), t.version] for name, t in self.ii]]
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:24]

    @functools.cached_property
    def group(self) -> tuple | None:
        """What the cells whose fits train with this one's together share (:func:`steps.fit_group`)."""
        return steps.fit_group(self.fit)

    @functools.cached_property
    def cost(self) -> float:
        """Estimated multiply-adds of the cell (fit, II per similarity, a fixed overhead)."""
        fit = _FIT_COST.get(self.method, _FIT_COST["ica"])(self.n, self.d, self.k, dict(self.fit.config.options))
        return _CELL_OVERHEAD + float(fit) + 20.0 * len(self.ii) * self.n * self.k

    def row(self) -> dict:
        return {"model": self.model, "layer": self.layer, "method": self.method, "k": self.k,
                "seed": self.seed, "fit_key": self.fit.key}


def load_config(path: str | Path, smoke: bool = False) -> dict:
    """``get_config(smoke)`` of the Python file at ``path``, with defaults and checks.

    The file is executed as Python (with the caller's permissions): load only configs you trust.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"no sweep config at {path}; pass a .py file defining get_config(smoke=False)")
    spec = importlib.util.spec_from_file_location(f"_sweep_config_{abs(hash(str(path)))}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if not hasattr(module, "get_config"):
        raise ValueError(f"{path} defines no get_config(smoke=False) returning the grid (see "
                         "jaxinterp/configs/cifar_resnets.py)")
    config = {**DEFAULTS, **module.get_config(smoke=smoke)}
    missing = [k for k in REQUIRED if not config.get(k)]
    if missing:
        raise ValueError(f"{path}: get_config() lacks {missing}; it needs {list(REQUIRED)}")
    unknown = set(config) - set(DEFAULTS) - set(REQUIRED)
    if unknown:
        raise ValueError(f"{path}: unknown config keys {sorted(unknown)}; known: "
                         f"{sorted(set(DEFAULTS) | set(REQUIRED))}")
    bad = [m for m in config["methods"] if m not in registry.NAMES]
    if bad:
        raise ValueError(f"{path}: unknown methods {bad}; choose from {', '.join(registry.NAMES)}")
    config["_root"] = str(path.parent.absolute())
    return config


def _path(config: dict, value: str) -> str:
    if ":" in value.split("/")[0] and not Path(value).exists():  # "random:0", "digits:test"
        return value
    p = Path(value).expanduser()
    return str(p if p.is_absolute() else Path(config["_root"]) / p)


def _k_of(k, width: int) -> int:
    if isinstance(k, float):
        if not 0 < k:
            raise ValueError(f"fractional K must be > 0, got {k}")
        return max(1, int(round(k * width)))
    if isinstance(k, int) and k >= 1:
        return k
    raise ValueError(f"K values are ints (K itself) or floats (a fraction of the layer width), got {k!r}")


def build(config: dict) -> tuple[list[tasks.Task], list[Cell]]:
    """The captures and the cells of a loaded config."""
    from jaxinterp import door, models

    labels = None if config["labels"] is None else _path(config, config["labels"])
    sims = {name: steps.SimilaritySpec(name) for name in config["similarities"]}
    captures, cells = [], []
    for label, (arch, params) in config["models"].items():
        # image files go through each model's own resize and crop (arrays are taken as they are)
        data = steps.data_spec(_path(config, config["data"]), config["limit"], labels, config["split"],
                               models.get(arch).PREPROCESS)
        model = steps.model_spec(arch, _path(config, params))
        net, variables = steps.load_model(model)
        source = steps.open_source(data)
        g = door.graph(net, variables, source.image_shape)
        g.check(config["layers"])
        for layer in config["layers"]:
            width = g[layer].channels
            acts = steps.capture_task(model, data, layer, config["position"])
            captures.append(acts)
            for method in config["methods"]:
                ks = [width] if method == "neurons" else sorted({_k_of(k, width) for k in config["ks"]})
                options = config["options"].get(method, {})
                seeds = config["seeds"] if steps.draws_random(method, options) else config["seeds"][:1]
                for k in ks:
                    for seed in seeds:
                        fit = steps.fit_task(acts, method, k=None if method == "neurons" else k, seed=seed,
                                             **options)
                        ii = tuple((s, steps.ii_task(fit, spec, data, config["m"])) for s, spec in sims.items())
                        cells.append(Cell(label, layer, method, k, seed, fit, ii, source.num_images, width))
    return captures, cells


def assign(cells: list[Cell], count: int) -> list[int]:
    """The process (0 .. ``count`` - 1) of each cell: the longest cells first, each to the process
    with the least estimated work so far (LPT greedy; ties: the lower index), so every process
    computes the same split from the same grid.

    SAE cells of one capture that train together (:func:`jaxinterp.steps.fit_group`, one
    vmapped program, :func:`jaxinterp.recipes.sweep_cells.fit_groups`) are dealt out as one
    unit, its cost the sum of its cells', so one process trains the whole group.
    """
    if count < 1:
        raise ValueError(f"the cells are shared among count >= 1 processes, got {count}")
    units: dict = {}
    for i, c in enumerate(cells):
        group = c.group
        units.setdefault(("cell", i) if group is None else ("group", group), []).append(i)
    members = list(units.values())
    cost = [sum(cells[i].cost for i in m) for m in members]
    loads = [(0.0, q) for q in range(count)]  # a heap: the least loaded process (ties: the lower index) first
    owner = [0] * len(cells)
    for u in sorted(range(len(members)), key=lambda u: (-cost[u], members[u][0])):
        load, p = heapq.heappop(loads)
        for i in members[u]:
            owner[i] = p
        heapq.heappush(loads, (load + cost[u], p))
    return owner


def share(cells: list[Cell], index: int, count: int) -> list[Cell]:
    """Process ``index``'s share of ``cells`` among ``count`` (:func:`assign`), in grid order,
    which keeps the cells of one capture together."""
    if not 0 <= index < count:
        raise ValueError(f"process index {index} is not in [0, {count})")
    return [c for c, owner in zip(cells, assign(cells, count)) if owner == index]


# -- what the store says about the cells

def layouts(store: tasks.Store) -> list[dict]:
    """The device layouts the sweep's cells were computed on: this process's, then each one its
    processes recorded (``notes/hosts``), so a summary or ``--status`` on a host with another
    device count finds them."""
    found = [tasks.device_layout(False)]
    for note in sorted(store.notes("hosts"), key=lambda n: -n.get("updated", 0)):
        layout = note.get("layout")
        if isinstance(layout, dict) and layout not in found:
            found.append(layout)
    return found


def _relayout(cell: Cell, layout: dict) -> Cell:
    if layout == tasks.device_layout(False):
        return cell
    memo: dict = {}
    return dataclasses.replace(cell, fit=tasks.relayout(cell.fit, layout, memo),
                               ii=tuple((s, tasks.relayout(t, layout, memo)) for s, t in cell.ii))


def cell_state(store: tasks.Store, cell: Cell, on: list[dict] | None = None) -> tuple[str, str, Cell]:
    """("done" | "failed" | "pending", error text, the cell as keyed on the layout it was done on)
    over the layouts ``on`` (default: this process's)."""
    variants = [_relayout(cell, layout) for layout in (on or [tasks.device_layout(False)])]
    for v in variants:
        if all(store.has(t) for t in v.tasks):
            return "done", "", v
    for v in variants:
        for t in (v.fit, *v.tasks):
            failure = store.failure(t)
            if failure is not None and not store.has(t):
                return "failed", failure["error"], v
    return "pending", "", variants[0]


def _writer(store: tasks.Store, cell: Cell) -> dict:
    """Who computed a done cell, and how long it took (fit and scores): from its commits."""
    seconds, writer = 0.0, {}
    for t in (cell.fit, *cell.tasks):
        try:
            rec, _ = store.verify(t)
        except (KeyError, tasks.CorruptEntry):
            continue
        seconds += rec.get("seconds") or 0.0
        writer = rec.get("writer") or writer
    return {"host": writer.get("host"), "pid": writer.get("pid"), "process": writer.get("process"),
            "engine": writer.get("engine"), "seconds": round(seconds, 3)}


def _place(where: dict) -> str | None:
    """Where a process ran, for ``--status``: ``host process i`` (``host Ray worker pid p``)."""
    if not where.get("host"):
        return None
    if where.get("engine") == "ray":
        return f"{where['host']} Ray worker pid {where.get('pid')}"
    return f"{where['host']} process {where.get('process')}"


def collect(store: tasks.Store, cells: list[Cell], on: list[dict] | None = None) -> list[dict]:
    """One row per cell with its II per similarity (arrays stay in the store) and who computed it.
    ``on``: the layouts to look under (:func:`layouts`; default: this process's). An II entry found
    damaged here is discarded and its cell reported pending: the next run recomputes it."""
    rows = []
    for cell in cells:
        state, error, cell = cell_state(store, cell, on)
        row = {**cell.row(), "state": state}
        if state == "done":
            try:
                loaded = [(name, t, store.load(t).arrays["ii"]) for name, t in cell.ii]
            except tasks.CorruptEntry as err:
                bad = next(t for t in cell.tasks if not _readable(store, t))
                store.discard(bad, str(err))
                state, error = "pending", f"damaged entry discarded, recomputed by the next run: {err}"
                row["state"] = state
            else:
                for name, t, ii in loaded:
                    row[f"ii_{name}"] = ii.tolist()
                    row[f"mean_ii_{name}"] = float(np.mean(ii))
                    row[f"ii_key_{name}"] = t.key
                row.update(_writer(store, cell))
        if error:
            row["error"] = error
        rows.append(row)
    return rows


def _readable(store: tasks.Store, task: tasks.Task) -> bool:
    try:
        store.load(task)
    except (KeyError, tasks.CorruptEntry):
        return False
    return True


def status(config: dict, store: tasks.Store, stale_after: float | None = None) -> dict:
    """Every cell's state, and who holds it. Returns ``{"done" | "failed" | "running" | "stale" |
    "pending": [row, ...], "hosts": {place: {state: count}}}``; a row is :meth:`Cell.row` with
    ``error`` (failed), ``where`` (host, pid, process, engine of the process that computed it,
    saw it fail, or runs it) and ``place`` (``"host process i"``: the key of ``hosts``),
    ``since`` and ``age`` (running, stale: seconds since its last heartbeat), ``share`` (pending:
    the job-array process whose share it is, when the sweep recorded one). A running record
    without a heartbeat for ``stale_after`` seconds (default
    :data:`~jaxinterp.recipes.sweep_cells.STALE_AFTER`) is stale: its process is gone, and the
    next run computes the cell."""
    from jaxinterp.recipes import sweep_cells

    stale_after = sweep_cells.STALE_AFTER if stale_after is None else stale_after
    _, cells = build(config)
    on = layouts(store)
    running = {n.get("id"): n for n in store.notes(sweep_cells.RUNNING)}
    hosts = [n for n in store.notes(sweep_cells.HOSTS) if n.get("engine") == "processes"]
    count = max(hosts, key=lambda n: n.get("started", 0)).get("processes", 1) if hosts else 1
    owner = {c.id: i for c, i in zip(cells, assign(cells, count))} if count > 1 else {}
    out = {"done": [], "failed": [], "running": [], "stale": [], "pending": [], "hosts": {}}
    for cell in cells:
        state, error, variant = cell_state(store, cell, on)
        row = {**variant.row(), "id": cell.id}
        fields = ("host", "pid", "process", "engine")
        if state == "done":
            row["where"] = {k: v for k, v in _writer(store, variant).items() if k in fields}
        elif state == "failed":
            row["error"] = error
            failure = next((f for f in map(store.failure, (variant.fit, *variant.tasks)) if f), {})
            row["where"] = {k: (failure.get("writer") or {}).get(k) for k in fields}
        if state != "done" and cell.id in running:
            note = running[cell.id]
            state = "stale" if note["_age"] > stale_after else "running"
            row.update(where={k: note.get(k) for k in fields}, since=note.get("since"), age=round(note["_age"], 1))
        if state == "pending" and cell.id in owner:
            row["share"] = owner[cell.id]
        row["place"] = _place(row.get("where") or {})
        out[state].append(row)
        if row["place"] is not None:
            counts = out["hosts"].setdefault(row["place"], {})
            counts[state] = counts.get(state, 0) + 1
    return out


def groups(rows: list[dict], similarities) -> list[dict]:
    """One row per (model, layer, method, K), sorted, over its seeds: ``cells``, ``done``, and per
    similarity the mean and population s.d. of the done cells' mean II (``mean_ii_<s>``,
    ``sd_ii_<s>``: None without done cells; the s.d. is 0 for one). The report draws these."""
    by = {}
    for r in rows:
        by.setdefault((r["model"], r["layer"], r["method"], r["k"]), []).append(r)
    out = []
    for (model, layer, method, k), rs in sorted(by.items()):
        done = [r for r in rs if r["state"] == "done"]
        g = {"model": model, "layer": layer, "method": method, "k": k, "cells": len(rs), "done": len(done)}
        for s in similarities:
            v = [r[f"mean_ii_{s}"] for r in done]
            g[f"mean_ii_{s}"] = float(np.mean(v)) if v else None
            g[f"sd_ii_{s}"] = (float(np.std(v)) if len(v) > 1 else 0.0) if v else None
        out.append(g)
    return out


# -- running a sweep

def run(config: dict, out: str | Path, log: Callable[[str], None] = print, report: bool = True, *,
        engine: str = "processes", num_processes: int | None = None, process_id: int | None = None,
        phase: str = "all", retries: int = RETRIES, ray_address: str | None = None) -> dict:
    """Run (or resume) this process's part of the sweep of ``config`` into ``out``; returns a summary.

    Args:
      engine: ``"processes"``: this process computes its :func:`share` of the cells, as process
        ``process_id`` of ``num_processes`` (default: ``jax.distributed``'s, else a job array's
        environment, else 1 of 1; :func:`~jaxinterp.parallel.distributed.job_array`).
        ``"ray"``: every cell is a Ray task (:func:`~jaxinterp.recipes.sweep_cells.run_ray`;
        ``ray_address`` or ``RAY_ADDRESS``, else a local Ray); start it once.
      phase: ``"all"``; ``"capture"``: only the captures (collectively with ``jax.distributed``,
        else this process's share of them), so that a job array's cells all find them;
        ``"cells"``: only the cells (a capture not in the store is computed by the cell that needs it).
      retries: how many more times a failed cell is tried before it is recorded failed.

    ``out/store`` holds every result. The process that finds every cell finished (done or
    failed) when its own are writes ``out/cells.json`` and, with ``report``,
    ``out/index.html`` and the figures.
    """
    import jax

    from jaxinterp.recipes import sweep_cells

    if engine not in ENGINES or phase not in PHASES:
        raise ValueError(f"engine must be one of {ENGINES} and phase one of {PHASES}, got {engine!r}, {phase!r}")
    if retries < 0:
        raise ValueError(f"retries must be >= 0, got {retries}")
    out = out_path(out)
    index, count, source = distributed.job_array(num_processes, process_id)
    if engine == "ray" and count > 1:
        raise ValueError(f"--engine ray dispatches every cell from one driver, but this is process {index} of "
                         f"{count} ({source}): start it once")
    joined = source == "jax.distributed"
    store = tasks.Store(out / "store", worker={"process": index, "processes": count, "engine": engine})
    t0 = time.perf_counter()
    captures, cells = build(config)
    mine = share(cells, index, count) if engine == "processes" else cells
    log(f"sweep: {len(cells)} cells ({len(mine)} in this process {index}/{count}, {source}), "
        f"{len(captures)} captures over {jax.device_count()} devices")
    summary = {"cells": len(cells), "processes": count, "process": index, "engine": engine,
               "devices": jax.device_count()}
    record = sweep_cells.HostRecord(store, index, count, engine, keep=engine == "processes")
    try:
        t1 = time.perf_counter()
        # phase 1, the only collective work: every capture once, over the global mesh
        if joined and phase != "cells":
            tasks.run(captures, store, load_targets=False, log=lambda s: log(f"capture {s}"))
        elif phase == "capture":  # a job array: process i computes every count-th capture
            tasks.run(captures[index::count], store, load_targets=False, local=True,
                      log=lambda s: log(f"capture {s}"))
        distributed.detach()  # from here on no collective (and, where it can, no tie to the other processes)
        record.phase("capture", time.perf_counter() - t1)
        if phase == "capture":
            record.close("finished")
            return {**summary, "seconds": time.perf_counter() - t0}
        # phase 2: the cells, each on its own
        if engine == "ray":
            outcomes = sweep_cells.run_ray(config, out, captures, cells, retries, ray_address, log)
        else:
            with store.lock() if count == 1 else contextlib.nullcontext():
                store.sweep_tmp(older_than=DEBRIS_AGE)
                outcomes = sweep_cells.run_share(store, mine, retries, log, record)
        record.close("finished")
    except BaseException:
        record.close("interrupted")
        raise
    summary.update(seconds=time.perf_counter() - t0,
                   reused_cells_this_process=sum(o["state"] == "reused" for o in outcomes),
                   computed_cells_this_process=sum(o["state"] == "done" for o in outcomes))
    return finish(config, out, store, cells, summary, report, log, always=count == 1 or engine == "ray")


def out_path(out: str | Path):
    """``out`` as every process of a sweep opens it: a local folder made absolute (a Ray worker
    opens it from its own working directory), a URL (``gs://bucket/path``) as an
    ``etils.epath.Path``, as the store opens it (``pathlib`` would fold ``gs://b`` into ``gs:/b``)."""
    if _URL.match(str(out)):
        from etils import epath

        return epath.Path(str(out))
    return Path(out).expanduser().absolute()


def finish(config: dict, out: Path, store: tasks.Store, cells: list[Cell], summary: dict, report: bool,
           log: Callable[[str], None], always: bool = False) -> dict:
    """Write ``cells.json``, the manifest and (with ``report``) the report, if every cell is
    finished (done or failed) or ``always``; else say so. Returns ``summary`` with the counts.

    The cells' states are counted first (commits only): every process of a job array gets here,
    and only the one that writes loads every done cell's scores (:func:`collect`)."""
    on = layouts(store)
    states = [] if always else [cell_state(store, cell, on)[0] for cell in cells]
    if "pending" not in states:
        rows = collect(store, cells, on)  # (an entry found damaged here is discarded: its cell is pending)
        states = [r["state"] for r in rows]
    counts = {s: states.count(s) for s in ("done", "failed", "pending")}
    summary.update(counts)
    if counts["pending"] and not always:
        log(f"sweep: this process's cells are finished; {counts['pending']} of the {len(cells)} cells are not yet "
            "(other processes' shares): the process that finishes last writes cells.json and the report "
            "(see --status)")
        return summary
    from jaxinterp.recipes.sweep_cells import HOSTS

    hosts = sorted((_public(n) for n in store.notes(HOSTS)), key=lambda n: n.get("started", 0))
    tasks.write_json_atomic(out / "cells.json", {"summary": summary, "config": _public(config), "cells": rows,
                                                 "groups": groups(rows, config["similarities"]),
                                                 "hosts": hosts})
    store.write_manifest({"command": "sweep"})
    if report:
        from jaxinterp.report import sweep as sweep_report

        sweep_report.write(out)
    log(f"sweep: {counts['done']} done, {counts['failed']} failed, {counts['pending']} pending "
        f"in {summary['seconds']:.1f}s; {out / 'cells.json'}")
    return summary


def _public(config: dict) -> dict:
    return json.loads(json.dumps({k: v for k, v in config.items()}, default=str))
