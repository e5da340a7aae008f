"""The sweep runner: one device = 8 devices = 2 processes × 4 devices; kill -9 and resume; status; failures."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from jaxinterp import cli, tasks
from jaxinterp.recipes import sweep
from tests.kill9 import kill_after_random_entries

REPO = Path(__file__).resolve().parents[2]

CONFIG = '''
def get_config(smoke=False):
    return dict(models={{"a": ("small_cnn", "random:0"), "b": ("small_cnn", "random:1")}},
                data="data.npz", limit=None, layers={layers}, methods={methods},
                ks={ks}, seeds=[0, 1], similarities=["colour", "label"], m=3,
                options={{"sae": {{"max_steps": 40, "batch_size": 64}}}})
'''


def write_config(root: Path, layers=("relu1", "relu2"), methods=("neurons", "kmeans", "pca", "sae"),
                 ks=(4,)) -> Path:
    rng = np.random.default_rng(0)
    np.savez(root / "data.npz", images=rng.integers(0, 256, (72, 8, 8, 1), dtype=np.uint8),
             labels=rng.integers(0, 3, 72))
    path = root / "grid.py"
    path.write_text(CONFIG.format(layers=list(layers), methods=list(methods), ks=list(ks)))
    return path


def _env(devices: int) -> dict:
    return dict(os.environ, PYTHONPATH=str(REPO), JAX_PLATFORMS="cpu",
                XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}")


def _sweep(config: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "jaxinterp", "sweep", str(config), "--out", str(out), "--no-report", *extra]


def _cells(out: Path) -> dict:
    rows = json.loads((out / "cells.json").read_text())["cells"]
    return {(r["model"], r["layer"], r["method"], r["k"], r["seed"]): r for r in rows}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def one_device(tmp_path_factory):
    root = tmp_path_factory.mktemp("sweep")
    config = write_config(root)
    proc = subprocess.run(_sweep(config, root / "one"), env=_env(1), capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return root, config


def test_grid_cells_and_their_numbers(one_device):
    root, config = one_device
    cells = _cells(root / "one")
    # 2 models x 2 layers x (neurons 1 + kmeans 2 seeds + pca 1 + sae 2 seeds)
    assert len(cells) == 2 * 2 * 6 and all(r["state"] == "done" for r in cells.values())
    # each II equals the kernel on the stored activations and the same images
    from jaxinterp import similarity
    from jaxinterp.scores import interpretability_index_all

    store = tasks.Store(root / "one" / "store")
    _, built = sweep.build(sweep.load_config(config))
    cell = next(c for c in built if c.method == "kmeans" and c.seed == 1 and c.layer == "relu2")
    acts = store.load(cell.fit).arrays["activations"]
    images = np.load(root / "data.npz")["images"].astype(np.float32) / 255
    ii = interpretability_index_all(acts, similarity.colour, similarity.colour.featurize(images, None), m=3)
    np.testing.assert_allclose(cells[("a", "relu2", "kmeans", 4, 1)]["ii_colour"], ii, rtol=1e-6)
    # seeds differ, models differ
    assert cells[("a", "relu2", "kmeans", 4, 0)]["ii_colour"] != cells[("a", "relu2", "kmeans", 4, 1)]["ii_colour"]
    assert cells[("a", "relu1", "neurons", 16, 0)]["ii_colour"] != cells[("b", "relu1", "neurons", 16, 0)]["ii_colour"]


def _assert_same(a: dict, b: dict):
    assert a.keys() == b.keys()
    for key in a:
        for sim in ("colour", "label"):
            np.testing.assert_allclose(a[key][f"ii_{sim}"], b[key][f"ii_{sim}"], rtol=1e-5, atol=1e-6,
                                       err_msg=str(key))


def test_eight_devices_and_two_processes_equal_one_device(one_device):
    root, config = one_device
    eight = subprocess.run(_sweep(config, root / "eight"), env=_env(8), capture_output=True, text=True,
                           timeout=600)
    assert eight.returncode == 0, eight.stderr[-3000:]
    _assert_same(_cells(root / "eight"), _cells(root / "one"))

    port = _free_port()
    procs = [subprocess.Popen(_sweep(config, root / "two", "--coordinator", f"127.0.0.1:{port}",
                                     "--num-processes", "2", "--process-id", str(i)),
                              env=_env(4), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(2)]
    outs = []
    for p in procs:
        try:
            outs.append(p.communicate(timeout=600))
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            raise
    for p, (stdout, stderr) in zip(procs, outs):
        assert p.returncode == 0, stderr[-3000:]
    assert "over 8 devices" in outs[0][0] and "(12 in this process 0/2)" in outs[0][0]
    assert "(12 in this process 1/2)" in outs[1][0]
    _assert_same(_cells(root / "two"), _cells(root / "one"))
    capture = next(e for e in tasks.Store(root / "two" / "store").entries() if e["name"] == "capture")
    assert capture["summary"]["processes"] == 2 and capture["summary"]["devices"] == 8


def test_kill_9_then_resume_is_bit_identical(one_device, tmp_path):
    root, config = one_device
    out = tmp_path / "killed"
    command = _sweep(config, out)
    kill_after_random_entries(command, _env(1), out / "store", 6, 40)
    status = subprocess.run([*command, "--status"], env=_env(1), capture_output=True, text=True, timeout=300)
    assert status.returncode == 0, status.stderr[-2000:]
    pending = int(status.stdout.split("pending: ")[1].split()[0])
    assert pending > 0 and "done: " in status.stdout
    again = subprocess.run(command, env=_env(1), capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stdout.count(": reused in") >= 1  # finished cells were not recomputed
    a, b = _cells(out), _cells(root / "one")
    assert a.keys() == b.keys()
    for key in a:
        assert a[key]["state"] == "done"
        for sim in ("colour", "label"):
            assert a[key][f"ii_{sim}"] == b[key][f"ii_{sim}"], key  # bit-identical floats


def test_a_failed_cell_is_recorded_and_the_sweep_goes_on(tmp_path, capsys):
    config = write_config(tmp_path, layers=("relu1",), methods=("neurons", "pca"), ks=(4, 50))
    assert cli.main(["sweep", str(config), "--out", str(tmp_path / "out")]) == 0
    cells = _cells(tmp_path / "out")
    bad = [r for r in cells.values() if r["state"] == "failed"]
    assert {(r["method"], r["k"]) for r in bad} == {("pca", 50)}  # 50 > the layer's 16 channels
    assert all("k" in r["error"] for r in bad)
    assert all(r["state"] == "done" for r in cells.values() if r["k"] != 50)
    capsys.readouterr()
    assert cli.main(["sweep", str(config), "--out", str(tmp_path / "out"), "--status"]) == 0
    text = capsys.readouterr().out
    assert "done: 4" in text and "failed: 2" in text and "pending: 0" in text
    html = (tmp_path / "out" / "index.html").read_text()
    assert "Cells not done" in html and "sweep_ii_colour.png" in html
    assert (tmp_path / "out" / "sweep_ii_colour.svg").stat().st_size > 0


def test_a_new_seed_computes_only_its_cells(tmp_path):
    config = write_config(tmp_path, layers=("relu1",), methods=("kmeans",))
    loaded = sweep.load_config(config)
    loaded["seeds"] = [0]
    sweep.run(loaded, tmp_path / "out", log=lambda s: None, report=False)
    loaded["seeds"] = [0, 1]
    lines = []
    sweep.run(loaded, tmp_path / "out", log=lines.append, report=False)
    done = [ln for ln in lines if ln.startswith("[cell")]
    assert sum(": reused in" in ln for ln in done) == 2 and sum(": done in" in ln for ln in done) == 2


def test_a_damaged_entry_is_recomputed_not_fatal(tmp_path):
    """One flipped byte in an II result: the next sweep recomputes that II (as `paper` does)."""
    from jaxinterp.tasks.store import object_path

    config = write_config(tmp_path, layers=("relu1",), methods=("neurons", "pca"))
    loaded = sweep.load_config(config)
    loaded["seeds"] = [0]
    sweep.run(loaded, tmp_path / "out", log=lambda s: None, report=False)
    before = _cells(tmp_path / "out")
    store = tasks.Store(tmp_path / "out" / "store")
    _, cells = sweep.build(loaded)
    ii = cells[1].ii[0][1]
    commit = json.loads((store.root / store.commit_name(ii)).read_text())
    path = store.root / object_path(commit["arrays"]["ii"][2])
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x01  # the last byte of the II array
    path.write_bytes(bytes(data))
    lines = []
    sweep.run(loaded, tmp_path / "out", log=lines.append, report=False)
    done = [ln for ln in lines if ln.startswith("[cell")]
    assert sum(": done in" in ln for ln in done) == 1 and sum(": reused in" in ln for ln in done) == 3
    assert _cells(tmp_path / "out") == before and store.has(ii)
    path.write_bytes(bytes(data))  # damaged again after the cells ran: the summary reports it, and goes on
    rows = sweep.collect(store, cells)
    assert rows[1]["state"] == "pending" and "checksum" in rows[1]["error"]
    assert [r["state"] for r in rows] == ["done", "pending", "done", "done"]


def test_bad_configs_say_what_to_fix(tmp_path):
    path = tmp_path / "c.py"
    path.write_text("def get_config(smoke=False):\n    return dict(models={}, data='x.npz', layers=['l'], methods=['kmeans'])\n")
    with pytest.raises(ValueError, match="lacks \\['models'\\]"):
        sweep.load_config(path)
    path.write_text("def get_config(smoke=False):\n    return dict(models={'a': ('small_cnn', 'random:0')}, "
                    "data='x.npz', layers=['l'], methods=['kmean'], seed=[0])\n")
    with pytest.raises(ValueError, match="unknown config keys \\['seed'\\]"):
        sweep.load_config(path)
    config = write_config(tmp_path, layers=("relu9",))
    with pytest.raises(ValueError, match="unknown layer 'relu9' in SmallCNN.*close matches: relu3"):
        sweep.build(sweep.load_config(config))
    with pytest.raises(FileNotFoundError, match="get_config"):
        sweep.load_config(tmp_path / "missing.py")


@pytest.mark.slow
def test_real_resnets_smoke_sweep(shared_data, tmp_path, monkeypatch):
    """The shipped config on ResNet-20 and ResNet-32: 2 models x 2 layers x 4 methods x 2 K."""
    pytest.importorskip("torch")
    monkeypatch.setenv("JAXINTERP_DATA", str(shared_data))
    config = REPO / "jaxinterp" / "configs" / "cifar_resnets.py"
    assert cli.main(["sweep", str(config), "--smoke", "--out", str(tmp_path / "out")]) == 0
    rows = list(_cells(tmp_path / "out").values())
    assert len(rows) == 2 * 2 * (1 + 2 + 2 + 2) and all(r["state"] == "done" for r in rows)
    assert {r["method"] for r in rows} == {"neurons", "kmeans", "pca", "sae"}
    assert {(r["model"], r["layer"]) for r in rows} == {(m, l) for m in ("resnet20", "resnet32")
                                                        for l in ("layer1", "layer2")}
    # real weights: the two networks' neurons score differently, and label II is far above chance
    r20 = next(r for r in rows if r["model"] == "resnet20" and r["method"] == "neurons" and r["layer"] == "layer2")
    r32 = next(r for r in rows if r["model"] == "resnet32" and r["method"] == "neurons" and r["layer"] == "layer2")
    assert r20["ii_colour"] != r32["ii_colour"]
    assert r20["mean_ii_label"] > 0.2  # chance: about 0.1 for 10 classes
    html = (tmp_path / "out" / "index.html").read_text()
    assert "sweep_ii_colour.png" in html and "sweep_ii_label.png" in html and "resnet32" in html


def test_groups_are_the_mean_and_sd_over_done_seeds(tmp_path):
    """What the sweep page draws, computed when cells.json is written; the page refuses an older
    cells.json without them instead of computing."""
    from jaxinterp.report import sweep as sweep_report

    rng = np.random.default_rng(0)
    rows = [{"model": "a", "layer": "l", "method": "kmeans", "k": 4, "seed": s, "state": "done",
             "mean_ii_colour": rng.normal(), "mean_ii_label": rng.normal()} for s in range(3)]
    rows.append({"model": "a", "layer": "l", "method": "kmeans", "k": 4, "seed": 3, "state": "failed"})
    rows.append({"model": "a", "layer": "l", "method": "kmeans", "k": 2, "seed": 0, "state": "done",
                 "mean_ii_colour": 0.5, "mean_ii_label": 0.25})
    rows.append({"model": "a", "layer": "l", "method": "pca", "k": 4, "seed": 0, "state": "pending"})
    got = sweep.groups(rows, ["colour", "label"])
    assert [(g["method"], g["k"], g["cells"], g["done"]) for g in got] == [
        ("kmeans", 2, 1, 1), ("kmeans", 4, 4, 3), ("pca", 4, 1, 0)]
    for s in ("colour", "label"):
        v = [r[f"mean_ii_{s}"] for r in rows[:3]]
        assert got[1][f"mean_ii_{s}"] == pytest.approx(sum(v) / 3, rel=1e-12)
        assert got[1][f"sd_ii_{s}"] == pytest.approx((sum((x - sum(v) / 3) ** 2 for x in v) / 3) ** 0.5, rel=1e-12)
    assert (got[0]["mean_ii_colour"], got[0]["sd_ii_colour"]) == (0.5, 0.0)
    assert got[2]["mean_ii_colour"] is None and got[2]["sd_ii_colour"] is None

    (tmp_path / "cells.json").write_text(json.dumps({"cells": rows, "config": {"similarities": ["colour"]},
                                                     "summary": {}}))
    with pytest.raises(ValueError, match="rerun the sweep command without --report-only"):
        sweep_report.write(tmp_path)
