"""The sweep runner: one device = 8 devices = 2 processes × 4 devices; kill -9 and resume; status; failures;
job arrays, jax.distributed without lockstep, Ray with a lost worker, retries, SIGTERM."""

from __future__ import annotations

import functools
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from jaxinterp import cli, tasks
from jaxinterp.recipes import sweep, sweep_cells
from tests.kill9 import kill_after_random_entries

REPO = Path(__file__).resolve().parents[2]

CONFIG = '''
def get_config(smoke=False):
    return dict(models={models}, data="data.npz", limit=None, layers={layers}, methods={methods},
                ks={ks}, seeds={seeds}, similarities=["colour", "label"], m=3,
                options={{"sae": {{"max_steps": 40, "batch_size": 64}}}})
'''
MODELS = {"a": ("small_cnn", "random:0"), "b": ("small_cnn", "random:1")}


def write_config(root: Path, layers=("relu1", "relu2"), methods=("neurons", "kmeans", "pca", "sae"),
                 ks=(4,), models=("a", "b"), seeds=(0, 1), name="grid.py") -> Path:
    rng = np.random.default_rng(0)
    np.savez(root / "data.npz", images=rng.integers(0, 256, (72, 8, 8, 1), dtype=np.uint8),
             labels=rng.integers(0, 3, 72))
    path = root / name
    path.write_text(CONFIG.format(layers=list(layers), methods=list(methods), ks=list(ks),
                                  models={m: MODELS[m] for m in models}, seeds=list(seeds)))
    return path


# subprocesses share compiled programs (a random model's initialisation alone compiles ~50)
_JAX_CACHE = Path(os.environ.get("TMPDIR", "/tmp")) / f"jaxinterp-test-sweep-cache-{os.getuid()}"


def _env(devices: int) -> dict:
    return dict(os.environ, PYTHONPATH=str(REPO), JAX_PLATFORMS="cpu",
                XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}",
                JAX_COMPILATION_CACHE_DIR=str(_JAX_CACHE), JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
                JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0")


def _sweep(config: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "jaxinterp", "sweep", str(config), "--out", str(out), "--no-report", *extra]


def _cells(out: Path) -> dict:
    rows = json.loads((out / "cells.json").read_text())["cells"]
    return {(r["model"], r["layer"], r["method"], r["k"], r["seed"]): r for r in rows}


def _results(cells: dict) -> dict:
    """The cells without who computed them and how long it took."""
    return {key: {k: v for k, v in r.items() if k not in ("host", "pid", "process", "engine", "seconds")}
            for key, r in cells.items()}


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
    assert all("over 8 devices" in out for out, _ in outs)
    shares = [int(out.split(" in this process ")[0].rsplit("(", 1)[1]) for out, _ in outs]
    assert sum(shares) == 24 and min(shares) >= 6, shares  # each process its (cost-balanced) share
    _assert_same(_cells(root / "two"), _cells(root / "one"))
    capture = next(e for e in tasks.Store(root / "two" / "store").entries() if e["name"] == "capture")
    assert capture["summary"]["processes"] == 2 and capture["summary"]["devices"] == 8

    # --status on another device count (this process's) reads the stores' recorded layouts
    for out in ("eight", "two"):
        state = sweep.status(sweep.load_config(config), tasks.Store(root / out / "store"))
        assert len(state["done"]) == 24 and not state["pending"], (out, len(state["pending"]))


def test_kill_9_then_resume_is_bit_identical(one_device, tmp_path):
    root, config = one_device
    out = tmp_path / "killed"
    command = _sweep(config, out)
    # the first 12 entries are the 4 captures and the 8 SAE fits (2 seeds per capture, trained together
    # before the cells), and a cell adds at most 3 (its fit, 2 II): from 15 on, at least one cell is
    # whole and must be reused (a kill among the first 14 left none, and the check below failed)
    kill_after_random_entries(command, _env(1), out / "store", 16, 44)
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
    assert f"host {socket.gethostname()} process 0: 4 done, 2 failed" in text  # per host
    assert "failed a relu1 pca k=50 seed=0: " in text
    html = (tmp_path / "out" / "index.html").read_text()
    assert "Cells not done" in html and "sweep_ii_colour.png" in html
    assert "What ran where" in html and f">{socket.gethostname()}</td>" in html  # what ran on each host
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
    assert _results(_cells(tmp_path / "out")) == _results(before) and store.has(ii)
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
    # what ran on each host: host, process, the cells it computed, their seconds
    hosts = json.loads((tmp_path / "out" / "cells.json").read_text())["hosts"]
    assert len(hosts) == 1 and hosts[0]["host"] == socket.gethostname() and hosts[0]["process"] == 0
    assert sum(c["state"] == "done" for c in hosts[0]["cells"]) == len(rows)
    assert "What ran where" in html and f">{socket.gethostname()}</td>" in html and "cells computed" in html


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


# -- many processes, Ray, retries, SIGTERM (issue #22)

SMALL = dict(layers=("relu1",), methods=("neurons", "pca", "kmeans"), models=("a",), seeds=(0,))


@pytest.fixture(scope="module")
def small_grid(tmp_path_factory):
    """One model, one layer, neurons + PCA + K-means at K = 2, 3, 4: 7 cells, computed here by one
    process (the reference); grids of its first 3 and 5 cells share its keys."""
    root = tmp_path_factory.mktemp("small")
    grids = {n: write_config(root, ks=ks, name=f"grid{n}.py", **SMALL) for n, ks in ((3, (2,)), (5, (2, 3)),
                                                                                    (7, (2, 3, 4)))}
    summary = sweep.run(sweep.load_config(grids[7]), root / "one", log=lambda s: None, report=False)
    assert summary["done"] == 7
    return root, grids, _cells(root / "one")


def _launch(command: list[str], devices: int = 1) -> subprocess.Popen:
    return subprocess.Popen(command, env=_env(devices), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait(procs: list, timeout: float = 300) -> list[tuple[int, str, str]]:
    """(returncode, stdout, stderr) of each process; all are killed if one overruns ``timeout``."""
    deadline, outs = time.time() + timeout, []
    try:
        for p in procs:
            stdout, stderr = p.communicate(timeout=max(1, deadline - time.time()))
            outs.append((p.returncode, stdout, stderr))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    return outs


def _computed(store: tasks.Store) -> dict:
    """{cell id: [pid of each process whose note says it computed the cell]}."""
    counts: dict = {}
    for note in store.notes("hosts"):
        for outcome in note["cells"]:
            if outcome["state"] == "done":
                counts.setdefault(outcome["id"], []).append(note["pid"])
    return counts


def _ii_writer(store: tasks.Store, cell) -> int:
    return store.verify(cell.ii[0][1])[0]["writer"]["pid"]


def test_job_arrays_compute_every_cell_once(small_grid):
    """2, 3 and 4 processes of a job array (no jax.distributed) over 3, 5 and 7 cells: each runs
    its cost-balanced share, all finish, every cell is computed exactly once (counted in the
    processes' notes, each checked against the writer of the cell's commits) and the results equal
    one process's. The last process to finish writes cells.json."""
    root, grids, reference = small_grid
    for count, n in ((2, 3), (3, 5), (4, 7)):
        out = root / f"array{count}"
        outs = _wait([_launch(_sweep(grids[n], out, "--num-processes", str(count), "--process-id", str(i)))
                      for i in range(count)])
        for rc, stdout, stderr in outs:
            assert rc == 0, stderr[-3000:]
        _, cells = sweep.build(sweep.load_config(grids[n]))
        store = tasks.Store(out / "store")
        computed = _computed(store)
        assert sorted(computed) == sorted(c.id for c in cells)  # every cell, and nothing else
        assert all(len(pids) == 1 for pids in computed.values()), computed  # each exactly once
        assert all(_ii_writer(store, c) == computed[c.id][0] for c in cells)
        notes = {n["process"]: n for n in store.notes("hosts")}
        assert sorted(notes) == list(range(count))
        for i, note in notes.items():  # each process ran exactly its share
            assert [o["id"] for o in note["cells"]] == [c.id for c in sweep.share(cells, i, count)]
            assert note["state"] == "finished"
        assert sum('"pending": 0' in stdout for _, stdout, _ in outs) >= 1  # someone saw all finished
        got = _cells(out)
        assert len(got) == n and all(r["state"] == "done" for r in got.values())
        _assert_same(got, {key: reference[key] for key in got})


def test_share_is_a_balanced_partition():
    """LPT: every cell in exactly one share, the same split on every process, and the largest
    load within 4/3 of the best possible (brute force over every assignment)."""
    import itertools

    rng = np.random.default_rng(0)
    costs = rng.integers(1, 100, 8).astype(float)
    cells = [SimpleNamespace(cost=c, i=i, group=None) for i, c in enumerate(costs)]
    for count in (1, 2, 3):
        shares = [sweep.share(cells, i, count) for i in range(count)]
        assert sorted(c.i for s in shares for c in s) == list(range(8))
        assert shares == [sweep.share(cells, i, count) for i in range(count)]
        best = min(max(sum(costs[j] for j in range(8) if a[j] == p) for p in range(count))
                   for a in itertools.product(range(count), repeat=8))
        assert max(sum(c.cost for c in s) for s in shares) <= 4 / 3 * best
    planted = [SimpleNamespace(cost=c, group=None) for c in [10.0] + [1.0] * 10]
    assert [len(sweep.share(planted, i, 2)) for i in range(2)] == [1, 10]  # 10 = 10 x 1
    with pytest.raises(ValueError, match="not in \\[0, 2\\)"):
        sweep.share(cells, 2, 2)


def test_job_array_index_from_the_launcher(monkeypatch):
    from jaxinterp.parallel import distributed

    for var in ("SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_COUNT", "SLURM_ARRAY_TASK_MIN", "BATCH_TASK_INDEX",
                "BATCH_TASK_COUNT", "JAXINTERP_PROCESS_ID", "JAXINTERP_NUM_PROCESSES"):
        monkeypatch.delenv(var, raising=False)
    assert distributed.job_array() == (0, 1, "one process")
    assert distributed.job_array(3, 1)[:2] == (1, 3)
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "7")  # --array=5-8: ids 5..8
    monkeypatch.setenv("SLURM_ARRAY_TASK_MIN", "5")
    monkeypatch.setenv("SLURM_ARRAY_TASK_COUNT", "4")
    assert distributed.job_array() == (2, 4, "SLURM_ARRAY_TASK_ID")
    assert distributed.initialize() is False  # a job array joins no jax.distributed run
    monkeypatch.setenv("SLURM_ARRAY_TASK_COUNT", "2")
    with pytest.raises(ValueError, match="in \\[0, 2\\)"):
        distributed.job_array()
    monkeypatch.delenv("SLURM_ARRAY_TASK_COUNT")
    with pytest.raises(ValueError, match="set both"):
        distributed.job_array()
    with pytest.raises(ValueError, match="pass both"):
        distributed.job_array(num_processes=2)


def test_jax_distributed_cells_run_without_lockstep(small_grid, tmp_path):
    """The issue's deadlock: 3 cells over 2 processes of one jax.distributed run sat at 0% CPU (every
    cell broadcast in lockstep). Now the capture runs once over both processes, then each process
    runs its cells alone: both finish. Then kill -9 one process mid-cell: the other is not taken
    down with it (its cells complete), --status shows the dead one's cell running, then stale, and
    a rerun finishes every cell with the one-process results."""
    root, grids, reference = small_grid

    def pair(out):
        port = _free_port()
        return [_launch(_sweep(grids[3], out, "--coordinator", f"127.0.0.1:{port}", "--num-processes", "2",
                               "--process-id", str(i))) for i in range(2)]

    outs = _wait(pair(tmp_path / "three"), timeout=240)
    assert all(rc == 0 for rc, _, _ in outs), [e[-2000:] for _, _, e in outs]
    _assert_same(_cells(tmp_path / "three"), {key: reference[key] for key in _cells(tmp_path / "three")})
    capture = next(e for e in tasks.Store(tmp_path / "three" / "store").entries() if e["name"] == "capture")
    assert capture["summary"]["processes"] == 2  # the collective phase

    out = tmp_path / "killed"
    store = tasks.Store(out / "store")
    procs = pair(out)
    deadline, victim = time.time() + 240, None
    while victim is None and time.time() < deadline and all(p.poll() is None for p in procs):
        victim = next((n for n in store.notes("running")), None)
        time.sleep(0.02)
    assert victim is not None, "no cell started"
    dead = next(p for p in procs if p.pid == victim["pid"])
    os.kill(dead.pid, signal.SIGKILL)
    survivor = next(p for p in procs if p is not dead)
    (rc, stdout, stderr), = _wait([survivor], timeout=240)
    dead.wait()
    assert rc == 0, stderr[-3000:]  # (with the coordination service still up, it was aborted)
    survivor_note = next(n for n in store.notes("hosts") if n["pid"] == survivor.pid)
    assert survivor_note["state"] == "finished" and all(o["state"] == "done" for o in survivor_note["cells"])

    config = sweep.load_config(grids[3])
    state = sweep.status(config, store)
    running = [r for r in state["running"] if r["where"]["pid"] == dead.pid]
    assert len(running) == 1 and running[0]["id"] == victim["id"]
    assert sum(state["hosts"][running[0]["place"]].values()) >= 1
    state = sweep.status(config, store, stale_after=0)
    assert [r["id"] for r in state["stale"]] == [victim["id"]] and not state["running"]

    outs = _wait(pair(out), timeout=240)
    assert all(rc == 0 for rc, _, _ in outs), [e[-2000:] for _, _, e in outs]
    got = _cells(out)
    assert all(r["state"] == "done" for r in got.values())
    _assert_same(got, {key: reference[key] for key in got})
    assert not store.notes("running")


def test_a_failed_cell_is_retried_then_recorded(tmp_path, monkeypatch):
    """A cell whose fit raises is tried `retries` more times: a passing fault leaves it done; one
    that lasts leaves it failed (with its error, in --status), and a later run retries it."""
    from jaxinterp.steps import directions

    config = write_config(tmp_path, layers=("relu1",), methods=("neurons", "pca"), models=("a",), seeds=(0,))
    real, calls = directions._fit, {"pca": 0}
    faults = {"left": 1}

    def flaky(ctx, cfg, acts):
        if cfg.method == "pca":
            calls["pca"] += 1
            if faults["left"]:
                faults["left"] -= 1
                raise RuntimeError("a passing fault")
        return real(ctx, cfg, acts)

    monkeypatch.setattr(directions, "_fit", flaky)
    loaded = sweep.load_config(config)
    lines = []
    summary = sweep.run(loaded, tmp_path / "once", log=lines.append, report=False, retries=1)
    assert summary["done"] == 2 and calls["pca"] == 2
    assert any("attempt 1 of 2 failed (RuntimeError: a passing fault)" in ln for ln in lines)
    note, = tasks.Store(tmp_path / "once" / "store").notes("hosts")
    assert [(o["state"], o["attempts"]) for o in note["cells"]] == [("done", 1), ("done", 2)]

    faults["left"], calls["pca"] = 3, 0
    summary = sweep.run(loaded, tmp_path / "lasting", log=lambda s: None, report=False, retries=2)
    assert (summary["done"], summary["failed"], calls["pca"]) == (1, 1, 3)
    state = sweep.status(loaded, tasks.Store(tmp_path / "lasting" / "store"))
    assert [r["method"] for r in state["failed"]] == ["pca"] and "a passing fault" in state["failed"][0]["error"]
    assert state["failed"][0]["where"]["pid"] == os.getpid()
    summary = sweep.run(loaded, tmp_path / "lasting", log=lambda s: None, report=False)  # the fault has passed
    assert summary["done"] == 2 and calls["pca"] == 4


def test_sigterm_ends_a_sweep_cleanly(small_grid, tmp_path):
    """SIGTERM mid-cell: the process exits promptly (143, one line), its running record is gone,
    its note says it was interrupted, every committed entry is whole, and a rerun finishes with
    the one-process results."""
    root, grids, reference = small_grid
    out = tmp_path / "term"
    store = tasks.Store(out / "store")
    proc = _launch(_sweep(grids[7], out))
    deadline = time.time() + 240
    while proc.poll() is None and time.time() < deadline and len(store.notes("running")) == 0:
        time.sleep(0.02)
    assert proc.poll() is None, "the sweep ended before a cell started"
    sent = time.time()
    proc.send_signal(signal.SIGTERM)
    (rc, stdout, stderr), = _wait([proc], timeout=240)
    # (a signal that lands in a gc callback is printed as ignored and the command stops when its
    # block ends: later, but still 143 and whole)
    swallowed = "Exception ignored" in stderr
    assert rc == 143 and (swallowed or time.time() - sent < 20), (rc, stderr[-2000:])
    assert stderr.strip().splitlines()[-1].startswith("jaxinterp sweep: terminated (SIGTERM); rerun the same command")
    assert swallowed or "Traceback" not in stderr
    assert not store.notes("running")
    note, = store.notes("hosts")
    assert note["state"] == "interrupted"
    for entry in store.entries():  # each committed entry loads whole
        name, key = entry["path"].split("/")[1], entry["key"]
        assert store.load(SimpleNamespace(name=name, key=key)) is not None
    (rc, _, stderr), = _wait([_launch(_sweep(grids[7], out))])
    assert rc == 0, stderr[-2000:]
    got = _cells(out)
    assert len(got) == 7 and all(r["state"] == "done" for r in got.values())
    _assert_same(got, reference)


def test_sigterm_while_stuck_in_native_code_still_exits(tmp_path):
    """A main thread that cannot run Python (stuck in a collective whose peer died) is ended
    `grace` seconds after SIGTERM, with a line saying so."""
    code = ("import signal, sys, time\n"
            "from jaxinterp import cli\n"
            "with cli.stop_on_sigterm(grace=0.5):\n"
            "    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})  # as if in native code\n"
            "    print('ready', flush=True)\n"
            "    time.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], env=_env(1), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    sent = time.time()
    proc.send_signal(signal.SIGTERM)
    (rc, _, stderr), = _wait([proc], timeout=30)
    assert rc == 143 and time.time() - sent < 10 and "still busy 0.5 s after SIGTERM" in stderr


@pytest.mark.filterwarnings("ignore:os.fork")  # (ray.init starts its daemons from this process)
def test_ray_cells_survive_a_killed_worker(small_grid, tmp_path):
    """A local Ray cluster of 3 workers; kill -9 the worker running a cell: Ray retries the cell on
    another worker, the sweep finishes every cell, each stored once, with the one-process results.

    The driver runs in a subprocess: Ray's core library, once loaded into the test process, stays
    there after ``ray.shutdown`` and a later C++ exception of XLA crashed that process."""
    import importlib.util

    if importlib.util.find_spec("ray") is None:
        pytest.skip("Ray is an optional extra: pip install 'jaxinterp[ray]'")
    root, _, _ = small_grid
    code = ("from pathlib import Path; from tests.recipes.test_sweep import _ray_case; "
            f"_ray_case(Path({str(root)!r}), Path({str(tmp_path / 'ray')!r}))")
    proc = subprocess.run([sys.executable, "-c", code], env=dict(os.environ, PYTHONPATH=str(REPO)),
                          capture_output=True, text=True, timeout=900, cwd=REPO)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]


def _ray_case(root: Path, out: Path) -> None:
    import ray

    grids = {7: root / "grid7.py"}
    reference = _cells(root / "one")
    store = tasks.Store(out / "store")
    env = {k: v for k, v in _env(1).items() if k in ("PYTHONPATH", "JAX_PLATFORMS", "XLA_FLAGS")
           or k.startswith("JAX_P") or k == "JAX_COMPILATION_CACHE_DIR"}
    ray.init(num_cpus=3, include_dashboard=False, log_to_driver=False, runtime_env={"env_vars": env})
    killed = {}

    def kill_one():
        deadline = time.time() + 240
        while time.time() < deadline and not killed:
            note = next(iter(store.notes("running")), None)
            if note is not None:
                os.kill(note["pid"], signal.SIGKILL)
                killed.update(note, at=time.time())
            time.sleep(0.02)

    killer = threading.Thread(target=kill_one, daemon=True)
    killer.start()
    try:
        lines = []
        summary = sweep.run(sweep.load_config(grids[7]), out, log=lines.append, report=False, engine="ray")
    finally:
        killer.join(timeout=5)
        ray.shutdown()
    assert killed, "no cell started"
    assert summary["done"] == 7 and summary["failed"] == 0, lines
    got = _cells(out)
    _assert_same(got, reference)
    _, cells = sweep.build(sweep.load_config(grids[7]))
    victim = next(c for c in cells if c.id == killed["id"])
    commit = store.verify(victim.ii[0][1])[0]
    assert commit["writer"]["pid"] != killed["pid"] and commit["written"] > killed["at"]  # retried elsewhere
    assert commit["writer"]["engine"] == "ray"
    for c in cells:  # stored once: one commit per task, and only the grid's tasks
        assert (store.root / store.commit_name(c.ii[0][1])).is_file()
    assert len(list((store.root / "commits" / "ii").iterdir())) == 2 * 7
    assert not store.notes("running")  # the retry took the lost worker's record over, then removed it


# -- many SAEs in one program (issue #22 item 5)

def test_sae_cells_of_one_capture_train_together(tmp_path, monkeypatch):
    """4 SAE cells of one capture (K = 2, 4 × seeds 0, 1) train in ONE fit_many program (sae.fit is
    never called), are dealt to one process as a unit, and each stored fit equals its own
    registry fit (same input, K and key) to float rounding. A member lost from the store is
    recomputed with its whole group, bit for bit what the group gave before."""
    from jaxinterp import steps
    from jaxinterp.directions import registry, sae

    config = sweep.load_config(write_config(tmp_path, layers=("relu1",), methods=("sae",), ks=(2, 4),
                                            models=("a",), seeds=(0, 1)))
    captures, cells = sweep.build(config)
    assert len(cells) == 4 and len(sweep_cells.fit_groups(cells)) == 1
    assert sorted(len(sweep.share(cells, i, 3)) for i in range(3)) == [0, 0, 4]  # one unit
    calls = []
    real_many = sae.fit_many

    @functools.wraps(real_many)
    def counted(*args, **kwargs):
        calls.append(len(args[2]))
        return real_many(*args, **kwargs)

    monkeypatch.setattr(sae, "fit_many", counted)
    monkeypatch.setattr(sae, "fit", lambda *a, **kw: pytest.fail("an SAE cell trained on its own"))
    summary = sweep.run(config, tmp_path / "out", log=lambda s: None, report=False)
    assert summary["done"] == 4 and calls == [4]

    store = tasks.Store(tmp_path / "out" / "store")
    acts = store.load(captures[0]).arrays["acts"]
    monkeypatch.undo()
    for cell in cells:
        got = store.load(cell.fit).arrays
        own = registry.fit_by_name("sae", steps.key_of(cell.seed, cell.fit.config.key_path), acts, cell.k,
                                   max_steps=40, batch_size=64)
        np.testing.assert_allclose(got["directions"], np.asarray(own.directions), rtol=0, atol=2e-5)
        np.testing.assert_allclose(got["activations"], np.asarray(own.transform(acts)), rtol=0, atol=2e-4)

    lost = cells[1].fit
    before = store.load(lost).arrays["directions"]
    (store.root / store.commit_name(lost)).unlink()
    (fits,) = sweep_cells.fit_groups(cells).values()
    assert sweep_cells.train_group(store, fits, lambda s: None)
    np.testing.assert_array_equal(store.load(lost).arrays["directions"], before)
