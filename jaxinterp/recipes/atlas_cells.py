"""``jaxinterp atlas`` over N processes: the atlas graph's expensive independent tasks as cells,
shared out and run the way a sweep's cells are (:mod:`.sweep`, :mod:`.sweep_cells`).

The cells of an atlas graph (:func:`cells`) are the inputs of its ``atlas_layer`` targets, with
the two cheap joins among them (``featvis``, ``roles``: :data:`GATHERS`) replaced by their own
inputs, so that the slow steps spread: every ``featvis_render`` (per set, kind and ``--chunk``),
``featvis_stats``, ``role_level``, ``saliency`` and ``image_measures``, and every ``ii``,
``psychophysics``, ``synergy``, ``circuits_*`` and ``universality_*`` input of a layer, each task
once (by key). The shared upstream tasks (captures, direction fits, the colour matrix:
:data:`SHARED`) are no cells: the first process that needs one computes it (two at once store
it once). A cell that reads another cell (``circuits_rotation`` reads ``circuits_examples``)
goes to the same process, in the group of the cell it reads.

Process i of N takes a deterministic share balanced by each cell's estimated cost
(:func:`~jaxinterp.recipes.sweep.share`, :func:`cost`) and runs it with
:func:`~jaxinterp.recipes.sweep_cells.run_share` (running records with heartbeats, retries, and
the host note that a sweep's ``--status`` reads). The process that then finds every cell done
computes the joins and the ``atlas_layer`` targets (cheap) and draws the site.

The processes should see the same number of local devices: a direction fit's key holds it
(:attr:`~jaxinterp.tasks.Task.layout`), so cells computed on another count are not found done
here (the shares, from the graph's order and the costs, are the same on any count).
"""

from __future__ import annotations

import collections
import dataclasses
from collections.abc import Callable

from jaxinterp import tasks
from jaxinterp.tasks import Task

SHARED = ("capture", "directions", "color_matrix")  # inputs of many cells: computed where first needed
GATHERS = ("featvis", "roles")  # cheap joins of cells: computed with the targets, after every cell

# Rough seconds of a task on a ResNet-20 stage (one GPU), from a measured atlas: roles were ~51% of
# the task time (layer3's window level ~390 s over 64 units, layer1's ~80 s over 16), renders ~32%,
# saliency ~11%. Only the ratios between cells matter (they balance the shares).
RENDER = 0.003       # per unit, image per unit and optimisation step
ROLE_LEVEL = 0.004   # per unit and step of its MLP ceiling
SALIENCY = 0.08      # per unit and saliency image
SYNERGY = 0.001      # per pair of units
OTHER = 1.0          # any other cell: a pass over the data or less, and compiling its programs
WIDTH = 64           # a layer's units when its width is not known


def cost(task: Task, width: int) -> float:
    """Estimated seconds of the cell ``task`` of a layer of ``width`` units (:data:`RENDER`...)."""
    c = task.config
    if task.name == "featvis_render":
        return OTHER + RENDER * c.steps * (c.units[1] - c.units[0]) * c.images
    if task.name == "role_level":
        return OTHER + ROLE_LEVEL * width * c.mlp_steps
    if task.name == "saliency":
        return OTHER + SALIENCY * width * c.saliency_images
    if task.name in ("synergy", "atlas_synergy"):
        return OTHER + SYNERGY * width * width
    if task.name == "atlas_match_render":  # at most one image per shown unit of each set
        return OTHER + RENDER * c.render.steps * sum(n for _, n in c.units)
    return OTHER


@dataclasses.dataclass(frozen=True)
class AtlasCell:
    """One cell: a task of the atlas graph, its estimated ``cost`` (seconds, :func:`cost`) and
    ``group``: the key of the first of the cells that read one another (``circuits_examples`` and
    the two that read it), which one process runs together (None: a cell on its own). The other
    names are those :mod:`.sweep` and :mod:`.sweep_cells` read of a cell."""

    task: Task
    cost: float
    group: str | None = None

    @property
    def id(self) -> str:
        """The name of its running record: its task's key (the layout's too, as the key holds it)."""
        return self.task.key[:24]

    @property
    def label(self) -> str:
        """``featvis_render relu2 kmeans diversity 0..2 68ef2f87445c``: the name, what of which
        layer, and the key's prefix the runner's lines show."""
        t, c = self.task, self.task.config
        what = [_layer_of(t)]
        if t.name in ("featvis_render", "featvis_stats") and c.method != "neurons":
            what.append(c.method)
        if t.name == "featvis_render":
            what += [c.kind, f"{c.units[0]}..{c.units[1] - 1}"]
        elif t.name == "role_level":
            what.append(c.level)
        return " ".join([t.name, *(str(w) for w in what if w is not None), t.key[:12]])

    @property
    def tasks(self) -> list[Task]:
        return [self.task]

    @property
    def fit(self) -> Task:
        """The task an error outside any task is recorded on (:func:`~.sweep_cells.run_cell`)."""
        return self.task


def _layer_of(task: Task) -> str | None:
    """The layer a task measures: its config's, else its first input's (synergy reads a capture)."""
    layer = getattr(task.config, "layer", None)
    if layer is not None:  # (a comparison's "layer" is an index or a pair: no one layer)
        return layer if isinstance(layer, str) else None
    return next((found for dep in task.deps.values() if (found := _layer_of(dep)) is not None), None)


def cells(targets: list[Task], widths: dict[str, int] | None = None) -> list[AtlasCell]:
    """The cells of the atlas graph of ``targets`` (the ``atlas_layer`` tasks), in the graph's
    order (a cell after the cells it reads); ``widths``: units per layer, for the costs."""
    chosen: dict[str, Task] = {}

    def add(task: Task) -> None:
        if task.name in GATHERS:
            for dep in task.deps.values():
                add(dep)
        elif task.name not in SHARED:
            chosen.setdefault(task.key, task)

    for target in targets:
        for dep in target.deps.values():
            add(dep)
    order = [t for t in tasks.graph(targets) if t.key in chosen]
    parent = {t.key: t.key for t in order}  # cells that read one another, joined (union-find)

    def root(key: str) -> str:
        while parent[key] != key:
            key = parent[key]
        return key

    for t in order:
        for dep in tasks.graph([t])[:-1]:
            if dep.key in parent:
                parent[root(t.key)] = root(dep.key)
    sizes = collections.Counter(root(t.key) for t in order)
    widths = widths or {}
    return [AtlasCell(t, cost(t, widths.get(_layer_of(t), WIDTH)), root(t.key) if sizes[root(t.key)] > 1 else None)
            for t in order]


def states(store: tasks.Store, cells: list[AtlasCell], stale_after: float | None = None) -> dict[str, list]:
    """``{"done" | "running" | "failed" | "pending": [cell, ...]}``, with ``failed`` as
    ``[(cell, error), ...]``: running (a running record with a heartbeat in the last ``stale_after``
    seconds, default :data:`~.sweep_cells.STALE_AFTER`) before failed (a failure recorded on it or
    an input it lacks), so a cell retried elsewhere is running."""
    from jaxinterp.recipes import sweep_cells

    stale_after = sweep_cells.STALE_AFTER if stale_after is None else stale_after
    running = {n.get("id") for n in store.notes(sweep_cells.RUNNING) if n["_age"] <= stale_after}
    out: dict[str, list] = {"done": [], "running": [], "failed": [], "pending": []}
    for cell in cells:
        if store.has(cell.task):
            out["done"].append(cell)
        elif cell.id in running:
            out["running"].append(cell)
        else:
            failures = (store.failure(t) for t in reversed(tasks.graph([cell.task])) if not store.has(t))
            failure = next((f for f in failures if f is not None), None)
            if failure is not None:
                out["failed"].append((cell, failure["error"]))
            else:
                out["pending"].append(cell)
    return out


def run_share(store: tasks.Store, cells: list[AtlasCell], index: int, count: int, source: str,
              log: Callable[[str], None], retries: int | None = None) -> list[dict]:
    """Run process ``index`` of ``count``'s share of ``cells`` (``source``: where those numbers
    came from, for the first line), each on its own with ``retries`` (default the sweep's), under
    a host note; returns the outcomes (:func:`~.sweep_cells.run_cell`)."""
    from jaxinterp.recipes import sweep, sweep_cells
    from jaxinterp.tasks.store import DEBRIS_AGE

    mine = sweep.share(cells, index, count)
    log(f"{len(cells)} cells, {len(mine)} in this process's share ({index} of {count}, {source})")
    record = sweep_cells.HostRecord(store, index, count, "processes")
    try:
        store.sweep_tmp(older_than=DEBRIS_AGE)  # (only old debris: the other processes write beside it)
        outcomes = sweep_cells.run_share(store, mine, sweep.RETRIES if retries is None else retries, log, record)
    except BaseException:
        record.close("interrupted")
        raise
    record.close("finished")
    return outcomes
