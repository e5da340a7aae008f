"""``jaxinterp atlas --num-processes N --process-id I``: the cells of the tiny atlas, their shares,
two processes on one store drawing the one-process site byte for byte, a failed cell, bad input.

The runs start from a copy of the session atlas's store with some entries removed (their commits:
the entry is then absent, and nothing records a failure), so they compute only those."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from jaxinterp.cli import main
from tests.atlas.conftest import command
from tests.atlas.test_atlas_site import site_files

# the tasks the atlas spreads (every one a cell, once); the rest are shared inputs, joins and targets
SPREAD = {"featvis_render", "featvis_stats", "role_level", "saliency", "image_measures", "ii", "psychophysics",
          "synergy", "circuits_examples", "circuits_stimuli", "circuits_rotation", "circuits_weights",
          "universality_pairs", "universality_match", "atlas_synergy", "atlas_match_directions",
          "atlas_match_render"}


@pytest.fixture(scope="module")
def tiny(atlas_data):
    """(targets, cells) of the session atlas's graph, built as the command builds it."""
    from jaxinterp import door, steps
    from jaxinterp.recipes import atlas_cells
    from jaxinterp.recipes.atlas import atlas_tasks

    model, data = steps.model_spec("small_cnn_rgb", "random:0"), steps.data_spec(atlas_data)
    graph = atlas_tasks(model, data, ["relu1", "relu2"], directions=("kmeans",), direction_layers=["relu2"], k=3,
                        units=3, compare=steps.model_spec("small_cnn_rgb", "random:1"), steps=4, diversity=2,
                        diversity_steps=2, negative_steps=2, exemplars=3,
                        role_options={"samples": 200, "mlp_steps": 20})
    targets = [graph["layer:relu1"], graph["layer:relu2"]]
    net, variables = steps.load_model(model)
    g = door.graph(net, variables, steps.open_source(data).image_shape)
    return targets, atlas_cells.cells(targets, {name: g[name].channels for name in ("relu1", "relu2")})


def test_every_expensive_task_is_one_cell_in_exactly_one_share(tiny):
    from jaxinterp import tasks
    from jaxinterp.recipes import atlas_cells, sweep

    targets, cells = tiny
    order = tasks.graph(targets)
    expected = {t.key for t in order if t.name in SPREAD}
    keys = [c.task.key for c in cells]
    assert len(keys) == len(set(keys)) and set(keys) == expected
    assert len([t for t in order if t.name == "featvis_render"]) == 9  # 3 sets x (max, diversity, negative)
    position = {c.task.key: i for i, c in enumerate(cells)}
    for c in cells:  # a cell after every cell it reads, in its group
        for dep in tasks.graph([c.task])[:-1]:
            if dep.key in position:
                assert position[dep.key] < position[c.task.key] and cells[position[dep.key]].group == c.group
    by_name = {}
    for c in cells:
        by_name.setdefault(c.task.name, []).append(c)
    for count in (1, 2, 3, 5):
        shares = [sweep.share(cells, i, count) for i in range(count)]
        ids = [c.id for share in shares for c in share]
        assert sorted(ids) == sorted(c.id for c in cells)  # disjoint, and every cell in one
        owner = {c.id: i for i, share in enumerate(shares) for c in share}
        for c in by_name["circuits_rotation"] + by_name["circuits_stimuli"]:  # with the examples they read
            assert owner[c.id] == owner[atlas_cells.AtlasCell(c.task.deps["examples"], 0).id]
        assert len({owner[c.id] for c in by_name["universality_match"] + by_name["universality_pairs"]}) == 1
        loads = [sum(c.cost for c in share) for share in shares]  # LPT: within one unit of the mean
        units = {}
        for c in cells:
            units[c.group or c.id] = units.get(c.group or c.id, 0.0) + c.cost
        assert max(loads) <= sum(loads) / count + max(units.values()) + 1e-9
    # the costs follow the work: units x steps of a render, units of a role level
    import dataclasses

    render = by_name["featvis_render"][0].task
    longer = dataclasses.replace(render, config=dataclasses.replace(render.config, steps=2 * render.config.steps))
    assert atlas_cells.cost(longer, 64) - atlas_cells.OTHER == pytest.approx(
        2 * (atlas_cells.cost(render, 64) - atlas_cells.OTHER))
    level = {c.label.split()[1]: c.cost for c in by_name["role_level"]}
    assert level["relu2"] - atlas_cells.OTHER == pytest.approx(2 * (level["relu1"] - atlas_cells.OTHER))  # 64 vs 32
    assert max(by_name["saliency"], key=lambda c: c.cost).label.split()[1] == "relu2"


def _copy_without(atlas_site: Path, out: Path, gone) -> None:
    """OUT with only the session atlas's store, less the entries of the tasks ``gone``."""
    from jaxinterp import tasks

    shutil.copytree(atlas_site / "store", out / "store", ignore=shutil.ignore_patterns("notes", "lock"))
    for task in gone:
        (out / "store" / tasks.Store.commit_name(task)).unlink()


def test_two_processes_share_the_cells_and_the_last_draws_the_one_process_site(tiny, atlas_site, atlas_env,
                                                                                 atlas_data, tmp_path):
    from jaxinterp import tasks
    from jaxinterp.recipes import sweep

    targets, cells = tiny
    shares = [sweep.share(cells, i, 2) for i in range(2)]
    removed = [[share[0], share[-1]] for share in shares]  # two cells of each process's share
    joins = [t for t in tasks.graph(targets) if t.name in ("atlas_layer", "featvis", "roles")]
    out = tmp_path / "out"
    _copy_without(atlas_site, out, joins + [c.task for r in removed for c in r])
    store = tasks.Store(out / "store")

    first = subprocess.run(command(atlas_data, out, "--num-processes", "2", "--process-id", "0"), env=atlas_env,
                           capture_output=True, text=True, timeout=300, check=False)
    assert first.returncode == 0, first.stderr[-3000:]
    ran = re.findall(r"\[cell \d+/\d+\] (.+): done in", first.stdout)
    assert sorted(ran) == sorted(c.label for c in removed[0])  # its own missing cells, nothing else
    assert not (out / "index.html").exists() and not any(store.has(c.task) for c in removed[1])
    said = json.loads(first.stdout.splitlines()[-1])
    assert (said["index"], said["done"], said["pending"], said["failed"]) == (None, len(cells) - 2, 2, 0)
    assert "2 pending" in first.stdout and "the process that finishes last draws the site" in first.stdout
    (note,) = store.notes("hosts")  # what process 0 ran, as a sweep's processes record it
    assert (note["process"], note["processes"], note["engine"], note["state"]) == (0, 2, "processes", "finished")
    assert sorted(o["id"] for o in note["cells"]) == sorted(c.id for c in shares[0])
    assert sorted(o["id"] for o in note["cells"] if o["state"] == "done") == sorted(c.id for c in removed[0])

    second = subprocess.run(command(atlas_data, out, "--num-processes", "2", "--process-id", "1"), env=atlas_env,
                            capture_output=True, text=True, timeout=300, check=False)
    assert second.returncode == 0, second.stderr[-3000:]
    assert sorted(re.findall(r"\[cell \d+/\d+\] (.+): done in", second.stdout)) == sorted(c.label
                                                                                           for c in removed[1])
    said = json.loads(second.stdout.splitlines()[-1])
    assert (said["done"], said["pending"], said["computed"]) == (len(cells), 0, len(joins))
    assert site_files(out) == site_files(atlas_site)  # every page, table, image: byte for byte
    assert sorted(n["process"] for n in store.notes("hosts")) == [0, 1]


def test_a_failed_cell_names_itself_and_the_rerun_resumes_and_draws(tiny, atlas_site, atlas_data, tmp_path,
                                                                     monkeypatch, capsys):
    from jaxinterp import tasks
    from jaxinterp.recipes import circuits, sweep

    _, cells = tiny
    (weights,) = [c for c in cells if c.task.name == "circuits_weights" and c.task.config.layer == "relu1"]
    owner = next(i for i in range(2) if weights in sweep.share(cells, i, 2))
    out = tmp_path / "out"
    _copy_without(atlas_site, out, [weights.task])
    args = [*command(atlas_data, out, "--num-processes", "2", "--process-id", str(owner))[3:]]

    def planted(ctx, config):
        raise RuntimeError("planted failure")

    monkeypatch.setattr(circuits, "_weights", planted)
    assert main(args) == 1
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()[-1]
    assert f"cell {weights.label} failed: RuntimeError: planted failure" in err
    assert "the site is not drawn" in err and "rerun the command to resume" in err
    assert captured.out.count("attempt") == 2  # retried twice, as a sweep's cell
    assert not (out / "index.html").exists() and tasks.Store(out / "store").failure(weights.task)
    monkeypatch.undo()
    assert main(args) == 0
    assert site_files(out) == site_files(atlas_site)


@pytest.mark.parametrize("extra, env, message", [
    (["--num-processes", "2"], {}, "pass both --num-processes N and --process-id I"),
    (["--num-processes", "2", "--process-id", "2"], {}, "must be in [0, 2)"),
    ([], {"JAXINTERP_PROCESS_ID": "0"}, "JAXINTERP_PROCESS_ID is set but not JAXINTERP_NUM_PROCESSES"),
])
def test_bad_process_numbers_are_one_line_before_any_work(extra, env, message, tmp_path, atlas_data, capsys,
                                                          monkeypatch):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    out = tmp_path / "out"
    assert main([*command(atlas_data, out)[3:], *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err
    assert not out.exists()
