"""`paper` as a graph of tasks: the numbers of the monolithic recipe, resumption after kill -9."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from jaxinterp import cli, tasks
from tests.golden.fixtures import HERE, paper_fixture

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    root = tmp_path_factory.mktemp("paper")
    args = paper_fixture(root)
    assert cli.main([*args, "--out", str(root / "out")]) == 0
    return root, args


def test_same_numbers_as_before_the_redesign(uninterrupted):
    root, _ = uninterrupted
    golden = np.load(HERE / "paper_tiny.npz")
    arrays = np.load(root / "out" / "arrays.npz")
    compared = [k for k in golden.files if k not in ("summary_json", "commit")]
    assert len(compared) == 32
    for name in compared:
        np.testing.assert_allclose(arrays[name], golden[name], rtol=1e-5, atol=1e-6, equal_nan=True,
                                   err_msg=name)
    old = json.loads(str(golden["summary_json"]))
    new = json.loads((root / "out" / "summary.json").read_text())
    assert set(new) == set(old)
    for name in old:
        if name != "data":
            assert new[name] == pytest.approx(old[name], rel=1e-5, abs=1e-6, nan_ok=True), name


def test_a_rerun_computes_nothing_and_redraws(uninterrupted, capsys):
    root, args = uninterrupted
    (root / "out" / "fig3_ii.png").unlink()
    capsys.readouterr()
    assert cli.main([*args, "--out", str(root / "out")]) == 0
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["computed"] == 0 and line["reused"] == 33
    assert (root / "out" / "fig3_ii.png").stat().st_size > 0
    manifest = json.loads((root / "out" / "store" / "manifest.json").read_text())
    assert manifest["entries"] == 33 and manifest["failed"] == 0


def test_kill_9_then_resume_is_bit_identical(uninterrupted, tmp_path):
    root, args = uninterrupted
    out = tmp_path / "out"
    command = [sys.executable, "-m", "jaxinterp", *args, "--out", str(out)]
    env = dict(os.environ, PYTHONPATH=str(REPO), JAX_PLATFORMS="cpu")
    kill_after = int(np.random.default_rng(int(time.time())).integers(3, 25))  # a random point
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    entries = out / "store" / "entries"
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if entries.is_dir() and sum(1 for _ in entries.glob("*/*/task.json")) >= kill_after:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done = sum(1 for _ in entries.glob("*/*/task.json"))
    assert 0 < done < 33
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    line = json.loads(result.stdout.strip().splitlines()[-1])
    assert line["computed"] == 33 - done and line["reused"] == done  # only the unfinished tasks
    a, b = np.load(out / "arrays.npz"), np.load(root / "out" / "arrays.npz")
    assert sorted(a.files) == sorted(b.files)
    for name in a.files:
        assert np.array_equal(a[name], b[name], equal_nan=True), name


def test_the_store_entries_say_what_they_are(uninterrupted):
    root, _ = uninterrupted
    store = tasks.Store(root / "out" / "store")
    names = sorted({e["name"] for e in store.entries()})
    assert names == ["capture", "coactivation", "directions", "ii", "manifold", "paper",
                     "psychophysics", "sae_cell", "sensitivity", "spectrum", "synergy"]
    capture = next(e for e in store.entries() if e["name"] == "capture")
    acts_shape = list(np.load(HERE / "paper_tiny.npz")["acts"].shape)
    assert capture["config"]["layer"] == "relu1" and capture["arrays"]["acts"][0] == acts_shape
    assert capture["config"]["model"]["arch"] == "small_cnn_rgb"
