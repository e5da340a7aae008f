"""Final files are written whole or not at all: a crash mid-write leaves the previous file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from jaxinterp import atomic


def test_an_error_mid_write_leaves_the_old_file_and_no_debris(tmp_path):
    target = tmp_path / "report.html"
    target.write_text("old page")
    with pytest.raises(RuntimeError, match="crash"):
        with atomic.replacing(target) as tmp:
            assert tmp.parent == tmp_path and tmp.suffix == ".html" and tmp != target
            tmp.write_text("half a ne")
            raise RuntimeError("crash")
    assert target.read_text() == "old page" and sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]


def test_a_page_interrupted_while_written_leaves_the_previous_page(tmp_path, monkeypatch):
    from jaxinterp.report import html

    page = html.page("first", [("A", "<p>a</p>")], tmp_path / "index.html")
    before = page.read_text()
    real = Path.write_text

    def cut_short(self, text, *args, **kwargs):  # a disk filling up, a kill, half-way through
        real(self, text[: len(text) // 2], *args, **kwargs)
        raise OSError("no space left on device")

    monkeypatch.setattr(Path, "write_text", cut_short)
    with pytest.raises(OSError, match="no space"):
        html.page("second", [("B", "<p>b</p>")], tmp_path / "index.html")
    monkeypatch.undo()
    assert page.read_text() == before and [p.name for p in tmp_path.iterdir()] == ["index.html"]


def test_the_writers_keep_the_format_of_the_name(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    atomic.savez(tmp_path / "arrays.npz", a=np.arange(3))
    np.testing.assert_array_equal(np.load(tmp_path / "arrays.npz")["a"], np.arange(3))
    fig, ax = plt.subplots()
    atomic.savefig(fig, tmp_path / "f.svg")
    atomic.savefig(fig, tmp_path / "f.png")
    plt.close(fig)
    atomic.imsave(tmp_path / "i.png", np.zeros((2, 2, 3)))
    assert "<svg" in (tmp_path / "f.svg").read_text()
    for name in ("f.png", "i.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    atomic.write_json(tmp_path / "s.json", {"x": float("nan")})
    assert (tmp_path / "s.json").read_text() == '{\n "x": NaN\n}'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["arrays.npz", "f.png", "f.svg", "i.png", "s.json"]
