"""The sweep's driver without computing cells: where it writes, how it shares out the cells, and
when it summarises."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from jaxinterp.recipes import sweep, sweep_cells
from tests.recipes.test_sweep import write_config


def test_out_is_absolute_for_ray_workers_and_urls_stay_urls(tmp_path, monkeypatch):
    """A relative --out reaches the Ray tasks absolute (a worker opens it from its own working
    directory); ~ is expanded; a gs:// URL keeps its two slashes (pathlib would make it gs:/b)."""
    config = sweep.load_config(write_config(tmp_path, layers=("relu1",), methods=("neurons",), models=("a",),
                                            seeds=(0,)))
    sent = []
    monkeypatch.setattr(sweep_cells, "run_ray", lambda config, out, *rest: sent.append(str(out)) or [])
    monkeypatch.chdir(tmp_path)
    sweep.run(config, "rel/out", log=lambda s: None, report=False, engine="ray")
    assert sent == [str(tmp_path / "rel" / "out")] and (tmp_path / "rel" / "out" / "cells.json").is_file()

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert sweep.out_path("~/x") == tmp_path / "home" / "x"
    for url in ("gs://bucket/sweeps/a", "s3://bucket/a"):
        assert str(sweep.out_path(url)) == url and str(sweep.out_path(url) / "store") == f"{url}/store"
    assert isinstance(sweep.out_path(Path("rel")), Path) and sweep.out_path("rel").is_absolute()


def _share_before(cells, index, count):
    """share() as it was before assign(): the LPT greedy written out, as the reference."""
    units = {}
    for i, c in enumerate(cells):
        units.setdefault(("cell", i) if c.group is None else ("group", c.group), []).append(i)
    members = list(units.values())
    cost = [sum(cells[i].cost for i in m) for m in members]
    load, owner = [0.0] * count, {}
    for u in sorted(range(len(members)), key=lambda u: (-cost[u], members[u][0])):
        p = min(range(count), key=lambda q: (load[q], q))
        owner.update((i, p) for i in members[u])
        load[p] += cost[u]
    return [c for i, c in enumerate(cells) if owner[i] == index]


def test_assign_deals_the_cells_as_share_did():
    """assign() once, then share() filters it: the same split as before, for cell sets with tied
    costs and groups dealt as one unit, over 1..6 processes; every cell in exactly one share."""
    rng = np.random.default_rng(0)
    for n in (0, 1, 7, 30):
        groups = [None, None, None, ("sae", 0), ("sae", 1)]
        cells = [SimpleNamespace(i=i, cost=float(rng.integers(1, 6)), group=groups[rng.integers(0, 5)])
                 for i in range(n)]
        for count in range(1, 7):
            owners = sweep.assign(cells, count)
            shares = [sweep.share(cells, i, count) for i in range(count)]
            assert shares == [_share_before(cells, i, count) for i in range(count)], (n, count)
            assert [[c.i for c in s] for s in shares] == [[i for i in range(n) if owners[i] == p]
                                                          for p in range(count)]
    with pytest.raises(ValueError, match="count >= 1"):
        sweep.assign(cells, 0)


def test_status_works_out_each_cells_share_once(tmp_path, monkeypatch):
    """--status of a 3-process job array: each pending cell says whose share it is, and each cell's
    group (and cost, id) is worked out once, not once per process."""
    from jaxinterp import steps, tasks

    config = sweep.load_config(write_config(tmp_path, layers=("relu1",), methods=("neurons", "pca", "kmeans"),
                                            ks=(2, 3), models=("a",), seeds=(0, 1)))
    store = tasks.Store(tmp_path / "out" / "store")
    store.put_note(sweep_cells.HOSTS, "h-1", {"engine": "processes", "processes": 3, "started": 1.0})
    real, calls = steps.fit_group, []
    monkeypatch.setattr(steps, "fit_group", lambda fit: calls.append(fit.key) or real(fit))
    state = sweep.status(config, store)
    _, cells = sweep.build(config)
    assert len(cells) == 7 and len(calls) == len(cells)
    owners = dict(zip((c.id for c in cells), sweep.assign(cells, 3)))
    assert [(r["id"], r["share"]) for r in state["pending"]] == list(owners.items())
    assert sorted(set(owners.values())) == [0, 1, 2]


def test_finish_loads_no_scores_while_cells_are_pending(tmp_path, monkeypatch):
    """Every process of a job array calls finish(): while other shares are pending it counts the
    cells' states from their commits and loads no arrays; the one that writes cells.json loads
    each done cell's scores."""
    from jaxinterp import tasks

    config = sweep.load_config(write_config(tmp_path, layers=("relu1",), methods=("neurons",), models=("a",),
                                            seeds=(0,)))
    sweep.run(config, tmp_path / "out", log=lambda s: None, report=False)  # one done cell
    config["methods"] = ["neurons", "pca"]  # and one pending
    _, cells = sweep.build(config)
    store = tasks.Store(tmp_path / "out" / "store")
    real, loads = store.load, []
    monkeypatch.setattr(store, "load", lambda task: loads.append(task.name) or real(task))
    (tmp_path / "out" / "cells.json").unlink()
    lines = []
    summary = sweep.finish(config, tmp_path / "out", store, cells, {}, False, lines.append)
    assert (summary["done"], summary["pending"], loads) == (1, 1, [])
    assert "1 of the 2 cells are not yet" in lines[-1] and not (tmp_path / "out" / "cells.json").exists()
    summary = sweep.finish(config, tmp_path / "out", store, cells, {"seconds": 0.0}, False, lines.append,
                           always=True)
    assert (summary["done"], summary["pending"]) == (1, 1) and loads == ["ii", "ii"]  # colour, label
    rows = json.loads((tmp_path / "out" / "cells.json").read_text())["cells"]
    assert [r["state"] for r in rows] == ["done", "pending"] and len(rows[0]["ii_colour"]) == 16
