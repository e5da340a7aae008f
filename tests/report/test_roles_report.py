"""The `roles` report drawn from a real tiny run: files, facts, captions, the multiple-comparison
caveat with adjusted p values, readable scatter-matrix labels."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from PIL import Image
from scipy.stats import false_discovery_control

from jaxinterp._version import __version__
from jaxinterp.report import roles
from tests.report._pages import Captured, facts, figures, svg_text


def _holm_by_definition(p):
    """Holm-Bonferroni written out: step down through the sorted p values."""
    p = np.asarray(p, float)
    m = len(p)
    order = np.argsort(p, kind="stable")
    out = np.empty(m)
    running = 0.0
    for i, j in enumerate(order):
        running = max(running, min(1.0, (m - i) * p[j]))
        out[j] = running
    return out


@pytest.fixture(scope="module")
def run(roles_run):
    return roles_run.out


def _tests(corr):
    return [(m, s, v) for m, by in corr["by_measure"].items() for s, v in by.items() if v]


def test_every_figure_is_png_and_svg_with_a_caption(run):
    imgs = figures(run / "index.html")
    assert imgs[0]["src"] == "scatter_matrix.png" and len(imgs) >= 2
    page = (run / "index.html").read_text()
    for f in imgs:
        assert f["in_figure"] and f["caption"] and len(f["caption"]) > 60, f["src"]
        png = run / f["src"]
        with Image.open(png) as im:
            assert min(im.info["dpi"]) >= 150
        assert png.with_suffix(".svg").is_file()
        assert f'href="{png.stem}.svg"' in page


def test_header_names_model_layer_data_counts_and_version(run):
    f = facts(run / "index.html")
    corr = json.loads((run / "correlations.json").read_text())
    assert f["model"] == "small_cnn" and f["layer"] == "relu2" and f["data"] == "data.npz"
    assert f["images"] == "48" and f["levels"] == "pixels" and f["similarities"] == "colour, label"
    assert f["neurons"] == str(len(json.loads((run / "neurons.json").read_text())["neurons"]))
    assert f["position samples"].startswith("300 per level") and f["jaxinterp"] == __version__
    assert f["tests"] == str(len(_tests(corr)))


def test_correlation_table_carries_the_caveat_and_adjusted_p(run):
    page = (run / "index.html").read_text()
    corr = json.loads((run / "correlations.json").read_text())
    tests = _tests(corr)
    m = len(tests)
    assert f"{m} Spearman tests" in page and "Holm" in page and "Benjamini-Hochberg" in page
    assert "Exploratory" in page and "exploratory" in page
    holm = _holm_by_definition([v["p"] for _, _, v in tests])
    bh = false_discovery_control([v["p"] for _, _, v in tests], method="bh")
    # the row of one measure in the full table holds its rho, p, Holm p and BH q for each similarity
    for (measure, sim, v), h, b in zip(tests, holm, bh):
        row = re.search(rf"<tr><td class=text>{re.escape(measure)}</td>.*?</tr>", page.split("Every measure")[1])
        assert row, measure
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row.group(0))
        k = 3 + 4 * corr["similarities"].index(sim)
        assert cells[k:k + 4] == [f"{v['rho']:.3f}".replace("-", "−"), f"{v['p']:.2g}", f"{h:.2g}", f"{b:.2g}"]
        np.testing.assert_allclose([v["p_holm"], v["q_bh"]], [h, b], rtol=1e-12)  # saved by the roles task


def test_scatter_matrix_is_labelled_and_readable(run, monkeypatch, tmp_path):
    cap = Captured(monkeypatch, roles)
    table = {"a.lf": np.linspace(0, 1, 12), "b.h_mix": np.linspace(1, 0, 12) ** 2,
             "ii_colour": np.random.default_rng(0).normal(size=12)}
    rho = np.array([[1.0, -1.0, 0.25], [-1.0, 1.0, np.nan], [0.25, np.nan, 1.0]])
    roles.scatter_matrix(table, list(table), rho, tmp_path / "m")
    fig = cap.figs["m"]
    grid = np.array(fig.axes).reshape(3, 3)
    assert [ax.get_xlabel() for ax in grid[-1]] == ["LF", "H_mix\nnats", "II colour\na.u."]
    assert [ax.get_ylabel() for ax in grid[:, 0]] == ["LF", "H_mix\nnats", "II colour\na.u."]
    for ax in grid.flat:
        for t in (*ax.get_xticklabels(), *ax.get_yticklabels()):
            assert t.get_fontsize() >= 6
    # above the diagonal: the saved Spearman rho of the pair, a dash where it is undefined
    assert [grid[0, 1].texts[0].get_text(), grid[0, 2].texts[0].get_text(), grid[1, 2].texts[0].get_text()] \
        == ["−1.00", "0.25", "–"]
    text = svg_text(tmp_path / "m.svg")
    assert "H_mix" in text and "II colour" in text
    # the real run's matrix carries each headline measure's label
    real = svg_text(run / "scatter_matrix.svg")
    assert "LF" in real and "pixels" in real and "saliency κ (top)" in real
