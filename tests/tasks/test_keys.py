"""Keys that mean what they say: a version per task, no seed where nothing is random, the layout
where the numbers depend on it (and a store resumed on 8 devices recomputes exactly that)."""

from __future__ import annotations

import numpy as np
import pytest

from jaxinterp import steps, tasks
from jaxinterp.tasks import Result, Store, Task
from tests.eight_devices import run_on_eight_devices
from tests.tasks import layout_graph


def _src(ctx, c):
    return Result({"x": np.arange(4.0) + c}, {})


def _add(ctx, c, x):
    return Result({"x": x.arrays["x"] + c}, {})


def chain(versions=(1, 1, 1)):
    """src -> mid -> top, and src -> side."""
    src = Task("src", 1.0, _src, version=versions[0])
    mid = Task("mid", 2.0, _add, {"x": src}, version=versions[1])
    top = Task("top", 3.0, _add, {"x": mid}, version=versions[2])
    side = Task("side", 4.0, _add, {"x": src})
    return [src, mid, top, side]


def test_a_version_bump_recomputes_exactly_that_task_and_its_dependents(tmp_path):
    store = Store(tmp_path)
    tasks.run(chain(), store)
    _, report = tasks.run(chain(versions=(1, 2, 1)), store)
    assert sorted(t.name for t in report.executed) == ["mid", "top"]
    assert sorted(t.name for t in report.loaded) == ["side", "src"]
    assert tasks.describe(chain(versions=(1, 2, 1))[1])["version"] == 2
    with pytest.raises(ValueError, match="positive int"):
        Task("src", 1.0, _src, version=0)


def test_the_package_version_is_in_no_key(monkeypatch):
    import jaxinterp

    before = [t.key for t in chain()]
    monkeypatch.setattr(jaxinterp, "__version__", "99.0.0")  # a release that changed other code
    assert [t.key for t in chain()] == before


def test_a_layout_task_key_holds_the_device_count(monkeypatch):
    from jaxinterp.tasks import task as task_module

    plain = Task("src", 1.0, _src)
    fit = Task("fit", 1.0, _src, layout=True)
    keys = (plain.key, fit.key)
    assert tasks.describe(fit)["layout"] == {"devices": 1} and tasks.describe(plain)["layout"] is None
    monkeypatch.setattr(task_module, "device_layout", lambda collective: {"devices": 8})
    assert Task("src", 1.0, _src).key == keys[0] and Task("fit", 1.0, _src, layout=True).key != keys[1]


def test_fits_that_draw_no_random_numbers_take_no_seed():
    acts = Task("acts", (), _src)

    def keys(method, **options):
        return {steps.fit_task(acts, method, k=3, seed=s, key_path=(("fold", s),), **options).key for s in (0, 1)}

    for method, options in (("neurons", {}), ("pca", {}), ("nmf", {}), ("kmeans", {"init": "identity"})):
        assert len(keys(method, **options)) == 1 and not steps.draws_random(method, options), method
    for method, options in (("kmeans", {}), ("ica", {}), ("sae", {}), ("minibatch_kmeans", {}),
                            ("nmf", {"init": "random"})):
        assert len(keys(method, **options)) == 2 and steps.draws_random(method, options), method
    assert not steps.fit_task(acts, "neurons").layout and steps.fit_task(acts, "pca", k=3).layout


# What depends on the device layout (the table in tasks/store.py): every fit but neurons splits its
# sums over the local devices, so its key holds the device count; the SAE cells of the paper fit an
# SAE. The rest (capture with a fixed per-device batch, neurons, II, psychophysics, synergy,
# co-activation, spectrum) give the same bits on any layout.
LAYOUT = {"fit_kmeans", "fit_pca", "fit_ica", "fit_nmf", "fit_sae", "sae_0_0"}


def test_the_paper_and_roles_graphs_mark_their_layout_tasks(tmp_path):
    from jaxinterp.recipes import paper

    layout_graph.write_data(tmp_path)
    data = steps.data_spec(tmp_path / "data.npz")
    g = paper.paper_tasks(steps.model_spec("small_cnn", "random:0"), data, "relu1",
                          {"colour": steps.SimilaritySpec("colour")}, k=6, m=3)
    assert {n for n, t in g.items() if t.layout} == {"fit_kmeans"} | {n for n in g if n.startswith("sae_")}


def test_a_store_written_on_one_device_resumed_on_eight(tmp_path):
    import jax

    assert jax.device_count() == 1, "the first half runs in the test process, on one device"
    layout_graph.write_data(tmp_path)
    g = layout_graph.build(tmp_path)
    assert {name for name, t in g.items() if t.layout} == LAYOUT
    dependents = set(LAYOUT)
    for name, t in g.items():  # (g is in dependency order)
        if any(d.key in {g[n].key for n in dependents} for d in t.deps.values()):
            dependents.add(name)
    assert dependents - LAYOUT == {"ii_kmeans_colour", "psy_kmeans_colour", "ii_pca_colour", "ii_ica_colour",
                                   "ii_nmf_colour", "ii_sae_colour"}
    one, _ = tasks.run(list(g.values()), Store(tmp_path / "store"))
    one = layout_graph.arrays(one, g)
    eight = run_on_eight_devices("tests.tasks.layout_graph", tmp_path / "eight.npz", tmp_path / "store",
                                 tmp_path, module=True)
    assert set(eight.pop("__resumed__")) == dependents  # exactly what depends on the layout is recomputed
    assert {k.split("/")[0] for k in eight} == set(g) - dependents  # the rest was reused ...
    for k in eight:  # ... and, computed afresh on 8 devices, gives the very same bits
        assert one[k].dtype == eight[k].dtype and np.array_equal(one[k], eight[k], equal_nan=True), k


def test_relayout_gives_the_keys_another_device_count_computes(monkeypatch):
    """What `sweep --status` reads a store written on another layout with: the keys a process with
    8 devices computes for the same graph, without being one."""
    from jaxinterp.tasks import task as task_module

    def graph():
        src = Task("src", 1.0, _src)
        fit = Task("fit", 1.0, _add, {"x": src}, layout=True)
        return Task("top", 2.0, _add, {"x": fit})

    top = graph()
    assert tasks.relayout(top, tasks.device_layout(False)).key == top.key
    moved = tasks.relayout(top, {"devices": 8})
    monkeypatch.setattr(task_module, "device_layout", lambda collective: {"devices": 8})
    there = graph()  # built on "8 devices"
    assert moved.key == there.key != top.key
    assert moved.deps["x"].key == there.deps["x"].key  # the layout task
    assert moved.deps["x"].deps["x"].key == there.deps["x"].deps["x"].key == top.deps["x"].deps["x"].key
