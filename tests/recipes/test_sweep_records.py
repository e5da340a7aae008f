"""A sweep's records (running cells, what each host ran) never stop the work they describe."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

from jaxinterp import tasks
from jaxinterp.recipes import sweep_cells


def test_a_running_record_that_cannot_be_written_is_logged_and_the_cell_runs(tmp_path, monkeypatch):
    """A passing storage error on the first write of a running record: the cell still runs (it is
    this process's share; ending here would leave it pending), a line says why there is no record,
    and the heartbeat writes it once the storage is back."""
    store = tasks.Store(tmp_path / "store")
    real, calls = store.put_note, []

    def flaky(folder, name, data):
        calls.append(name)
        if len(calls) == 1:
            raise OSError("503 Service Unavailable")
        real(folder, name, data)

    monkeypatch.setattr(store, "put_note", flaky)
    monkeypatch.setattr(sweep_cells, "HEARTBEAT", 0.01)
    cell, lines, ran = SimpleNamespace(id="c0ffee", label="a relu1 pca k=4 seed=0"), [], []
    with sweep_cells.running(store, cell, lines.append):
        ran.append(True)
        deadline = time.time() + 10
        while not store.notes(sweep_cells.RUNNING) and time.time() < deadline:
            time.sleep(0.01)
        assert [n["id"] for n in store.notes(sweep_cells.RUNNING)] == ["c0ffee"]  # the heartbeat's
    assert ran and lines == [("  a relu1 pca k=4 seed=0: its running record was not written "
                              "(OSError: 503 Service Unavailable); computing it anyway")]
    assert not store.notes(sweep_cells.RUNNING)


def test_a_signal_right_after_the_running_record_is_written_still_removes_it(tmp_path, monkeypatch):
    """SIGTERM raises where the main thread is (cli.stop_on_sigterm): landing just after the record
    became visible, before the cell started, it must not leave a record of a cell nobody runs."""
    from jaxinterp.cli import Terminated

    store = tasks.Store(tmp_path / "store")
    real = store.put_note

    def then_terminated(folder, name, data):
        real(folder, name, data)
        raise Terminated()

    monkeypatch.setattr(store, "put_note", then_terminated)
    cell = SimpleNamespace(id="c0ffee", label="a relu1 pca k=4 seed=0")
    with pytest.raises(Terminated), sweep_cells.running(store, cell, lambda s: None):
        pytest.fail("the cell ran after SIGTERM")
    assert not store.notes(sweep_cells.RUNNING)
