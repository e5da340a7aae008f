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
are shared by the cells of a (model, layer). With several processes
(``jax.distributed``) the captures run on all of them together over the global
mesh, and the cells are dealt out round-robin; each process saves its own cells'
results, and process 0 alone writes the manifest, ``cells.json`` and the report.
A cell that fails is recorded with its error and the sweep goes on; a rerun
computes only what is missing, and recomputes a damaged entry (as ``paper`` does)
instead of stopping on it. A method that draws no random numbers (neurons, PCA,
NMF's default init) is fitted for the first seed only.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import time
from pathlib import Path
from typing import Callable

import numpy as np

from jaxinterp import steps, tasks
from jaxinterp.directions import registry
from jaxinterp.parallel import distributed

DEFAULTS = dict(limit=None, ks=[1.0], seeds=[0], similarities=["colour"], m=5, options={},
                position="mean", labels=None, split="test")
REQUIRED = ("models", "data", "layers", "methods")


@dataclasses.dataclass(frozen=True)
class Cell:
    """One point of the grid; ``tasks`` are its fit and one II task per similarity."""

    model: str
    layer: str
    method: str
    k: int
    seed: int
    fit: tasks.Task
    ii: tuple  # ((similarity name, Task), ...)

    @property
    def label(self) -> str:
        return f"{self.model} {self.layer} {self.method} k={self.k} seed={self.seed}"

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
        g = door.graph(net, variables, steps.open_source(data).image_shape)
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
                        cells.append(Cell(label, layer, method, k, seed, fit, ii))
    return captures, cells


def cell_state(store: tasks.Store, cell: Cell) -> tuple[str, str]:
    """("done" | "failed" | "pending", error text)."""
    if all(store.has(t) for _, t in cell.ii):
        return "done", ""
    for t in (cell.fit, *[t for _, t in cell.ii]):
        failure = store.failure(t)
        if failure is not None and not store.has(t):
            return "failed", failure["error"]
    return "pending", ""


def status(config: dict, store: tasks.Store) -> dict:
    """Counts and lists of done / failed / pending cells."""
    _, cells = build(config)
    out = {"done": [], "failed": [], "pending": []}
    for cell in cells:
        state, error = cell_state(store, cell)
        out[state].append({**cell.row(), **({"error": error} if error else {})})
    return out


def collect(store: tasks.Store, cells: list[Cell]) -> list[dict]:
    """One row per cell with its II per similarity (arrays stay in the store). An II entry found
    damaged here is discarded and its cell reported pending: the next run recomputes it."""
    rows = []
    for cell in cells:
        state, error = cell_state(store, cell)
        row = {**cell.row(), "state": state}
        if state == "done":
            try:
                loaded = [(name, t, store.load(t).arrays["ii"]) for name, t in cell.ii]
            except tasks.CorruptEntry as err:
                bad = next(t for _, t in cell.ii if not _readable(store, t))
                store.discard(bad, str(err))
                state, error = "pending", f"damaged entry discarded, recomputed by the next run: {err}"
                row["state"] = state
            else:
                for name, t, ii in loaded:
                    row[f"ii_{name}"] = ii.tolist()
                    row[f"mean_ii_{name}"] = float(np.mean(ii))
                    row[f"ii_key_{name}"] = t.key
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


def run(config: dict, out: str | Path, log: Callable[[str], None] = print, report: bool = True) -> dict:
    """Run (or resume) the sweep of ``config`` into ``out``; returns the summary.

    ``out/store`` holds every result; process 0 writes ``out/cells.json`` and, with
    ``report``, ``out/index.html`` and the figures.
    """
    import jax

    out = Path(out)
    lead = jax.process_index() == 0
    store = tasks.Store(out / "store")
    t0 = time.perf_counter()
    captures, cells = build(config)
    mine = cells[jax.process_index()::jax.process_count()]
    log(f"sweep: {len(cells)} cells ({len(mine)} in this process {jax.process_index()}/"
        f"{jax.process_count()}), {len(captures)} captures over {jax.device_count()} devices")
    tasks.run(captures, store, load_targets=False,
              log=lambda s: log(f"capture {s}"))
    done_before = sum(cell_state(store, c)[0] == "done" for c in mine)
    for i, cell in enumerate(mine):
        start = time.perf_counter()
        # loading the II arrays (a few numbers each) finds a damaged entry, which is then recomputed
        _, rep = tasks.run([t for _, t in cell.ii], store, keep_going=True)
        state = "failed" if rep.failed or rep.skipped else ("reused" if not rep.executed else "done")
        detail = next(iter(rep.failed.values()), "") if rep.failed else ""
        log(f"[cell {i + 1}/{len(mine)}] {cell.label}: {state} in {time.perf_counter() - start:.1f}s"
            + (f" ({detail})" if detail else ""))
    distributed.barrier("sweep cells done")
    summary = {"cells": len(cells), "seconds": time.perf_counter() - t0,
               "processes": jax.process_count(), "devices": jax.device_count(),
               "reused_cells_this_process": done_before}
    if lead:
        rows = collect(store, cells)
        summary.update({s: sum(r["state"] == s for r in rows) for s in ("done", "failed", "pending")})
        tasks.write_json_atomic(out / "cells.json", {"summary": summary, "config": _public(config),
                                                     "cells": rows,
                                                     "groups": groups(rows, config["similarities"])})
        store.write_manifest({"command": "sweep"})
        if report:
            from jaxinterp.report import sweep as sweep_report

            sweep_report.write(out)
        log(f"sweep: {summary['done']} done, {summary['failed']} failed, {summary['pending']} pending "
            f"in {summary['seconds']:.1f}s; {out / 'cells.json'}")
    distributed.barrier("sweep written")
    return summary


def _public(config: dict) -> dict:
    return json.loads(json.dumps({k: v for k, v in config.items()}, default=str))
