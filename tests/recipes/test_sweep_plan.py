"""The sweep's driver without computing cells: where it writes, how it shares out the cells, and
when it summarises."""

from __future__ import annotations

from pathlib import Path

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
