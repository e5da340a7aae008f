"""The `paper` report drawn from a real tiny run: files, facts, captions, axis labels, values."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from PIL import Image

from jaxinterp._version import __version__
from jaxinterp.report import figures as figures_mod
from jaxinterp.report import paper
from tests.report._pages import Captured, facts, figures, svg_text

FIGS = ("fig3_ii", "fig4_exemplars", "fig5_psychophysics", "fig6_manifold", "fig7_sensitivity",
        "fig8_synergy", "fig9_sae_sweep", "fig10_coactivation", "fig11_spectrum")
# strings each figure's axes must show (read back from the SVG, where text stays text)
LABELS = {
    "fig3_ii": ["Interpretability Index (a.u.)", "direction set", "colour similarity", "label similarity"],
    "fig5_psychophysics": ["2-AFC hard accuracy", "2-AFC soft score", "fraction of trials correct",
                           "difficulty: quantile q",
                           "max pooling", "mean pooling", "0.25"],
    "fig6_manifold": ["t-SNE 1 (arbitrary units)", "t-SNE 2 (arbitrary units)", "manifold sparsity",
                      "II, colour (a.u.)"],
    "fig7_sensitivity": ["centroid distance", "cross-II", "interpolation weight α", "II of v(α)",
                         "min input-gradient norm"],
    "fig8_synergy": ["synergy = II(a+b) − max(II(a), II(b))", "neuron pairs (count)",
                     "activation correlation ρab (Pearson)", "max synergy of a"],
    "fig9_sae_sweep": ["L1 coefficient λ", "dictionary size / N", "mean II of live codes"],
    "fig10_coactivation": ["co-activation", "II of the neuron (colour, a.u.)"],
    "fig11_spectrum": ["principal component rank", "variance fraction", "critical α"],
    "fig4_exemplars": ["neurons", "K-means directions", "II quantile", "unit"],
}


@pytest.fixture(scope="module")
def run(paper_run):
    root, out = paper_run.root, paper_run.out
    arrays = dict(np.load(out / "arrays.npz"))
    summary = json.loads((out / "summary.json").read_text())
    images = np.load(root / "data.npz")["images"].astype(np.float32) / 255.0
    return out, arrays, summary, images


def test_every_figure_is_png_at_150_dpi_or_more_with_an_svg_beside_it(run):
    out = run[0]
    shown = [f["src"] for f in figures(out / "report.html")]
    assert shown == [f"{f}.png" for f in FIGS]
    page = (out / "report.html").read_text()
    for name in FIGS:
        with Image.open(out / f"{name}.png") as im:
            assert min(im.info["dpi"]) >= 150, name
            assert im.size[0] >= 600, name  # readable: at least 3 in wide at 200 dpi
        svg = (out / f"{name}.svg").read_text()
        assert svg.lstrip().startswith("<?xml") and "<svg" in svg, name
        assert f'href="{name}.svg"' in page


def test_every_image_has_a_caption_naming_its_similarity(run):
    out = run[0]
    imgs = figures(out / "report.html")
    assert imgs and all(f["in_figure"] and f["caption"] and len(f["caption"]) > 80 for f in imgs)
    for f in imgs:
        if f["src"] != "fig11_spectrum.png":  # the spectrum uses no similarity, and says so
            assert "colour" in f["caption"], f["src"]
    assert "no similarity" in next(f for f in imgs if f["src"] == "fig11_spectrum.png")["caption"]


def test_header_names_model_layer_data_counts_and_version(run):
    out, _, summary, _ = run
    f = facts(out / "report.html")
    assert f["model"] == "small_cnn_rgb" and f["layer"] == "relu1" and f["data"] == "data.npz"
    assert f["images"] == "120" and f["neurons N"] == str(summary["neurons"]) and f["K-means K"] == "8"
    assert f["similarities"] == "colour (main), label" and f["jaxinterp"] == __version__
    assert f["psychophysics"] == "hard accuracy and soft score" and f["seed"] == "0"
    page = (out / "report.html").read_text()
    assert "<title>Interpretable features of small_cnn_rgb relu1</title>" in page


def test_summary_is_a_table_of_the_saved_numbers_not_a_json_dump(run):
    out, arrays, summary, _ = run
    page = (out / "report.html").read_text()
    assert "<pre" not in page and '{"' not in page and '"mean_ii' not in page
    assert (out / "summary.json").is_file()  # still on disk
    for s in ("colour", "label"):
        for d in ("neurons", "kmeans"):
            ii = arrays[f"ii_{d}_{s}"].astype(float)
            sem = ii.std(ddof=1) / np.sqrt(ii.size)
            assert f"{ii.mean():.4f} ± {sem:.4f}".replace("-", "−") in page, (d, s)
    rho = summary["cross_ii_vs_distance"]["spearman"]
    assert f"{rho:.3f}".replace("-", "−") in page
    assert "hard accuracy" in page and "soft score" in page  # which psychophysics score, and the other


def test_axis_labels_and_titles_are_in_each_svg(run):
    out = run[0]
    for name, wanted in LABELS.items():
        text = svg_text(out / f"{name}.svg")
        for w in wanted:
            assert w in text, (name, w)
    # a bare rotated "II" reads as "=": no text of any figure is just "II"
    for name in FIGS:
        texts = re.findall(r"<text[^>]*>(.*?)</text>", (out / f"{name}.svg").read_text(), re.S)
        assert texts and "II" not in [t.strip() for t in texts], name


@pytest.fixture(scope="module")
def drawn(run, tmp_path_factory):
    """Redraw the report from the saved result with every figure kept for inspection."""
    out, arrays, summary, images = run
    mp = pytest.MonkeyPatch()
    cap = Captured(mp, paper, figures_mod)
    redo = tmp_path_factory.mktemp("redraw")
    paper.report(redo, arrays, summary, images)
    mp.undo()
    return cap.figs, redo, arrays


def test_every_axis_with_ticks_has_a_label(drawn):
    figs = drawn[0]
    assert set(figs) == set(FIGS)
    for name, fig in figs.items():
        for ax in fig.axes:
            if not ax.get_visible():
                continue
            if len(ax.get_xticks()) and ax.xaxis.get_visible() and any(
                    t.get_text() for t in ax.get_xticklabels()):
                assert ax.get_xlabel().strip(), (name, ax)
            if len(ax.get_yticks()) and any(t.get_text() for t in ax.get_yticklabels()):
                assert ax.get_ylabel().strip() and ax.get_ylabel().strip() != "II", (name, ax)
            for t in (*ax.get_xticklabels(), *ax.get_yticklabels()):
                assert t.get_fontsize() >= 6, name


def test_fig5_x_axis_is_the_quantiles_with_sem_error_bars(drawn):
    figs, _, arrays = drawn
    q = arrays["psy_quantiles"]
    axes = [ax for ax in figs["fig5_psychophysics"].axes if ax.containers]
    assert len(axes) == 4  # (hard, soft) x (colour, label)
    panels = [(prefix, sim) for prefix in ("psy", "psy_soft") for sim in ("colour", "label")]
    for ax, (prefix, sim) in zip(axes, panels):
        np.testing.assert_allclose(ax.get_xticks(), q)
        assert [t.get_text() for t in ax.get_xticklabels()] == [f"{v:g}" for v in q]
        for container, d in zip(ax.containers, ("neurons", "kmeans")):
            acc = arrays[f"{prefix}_{d}_{sim}"].astype(float)
            mean = np.array([np.nanmean(r) for r in acc])
            n = np.isfinite(acc).sum(1)
            sem = np.array([np.nanstd(r, ddof=1) for r in acc]) / np.sqrt(n)
            segs = container.lines[2][0].get_segments()
            lo = np.array([s[0][1] for s in segs])
            hi = np.array([s[1][1] for s in segs])
            ok = np.isfinite(mean)
            np.testing.assert_allclose((lo + hi) / 2, mean[ok][: len(lo)], rtol=1e-6)
            np.testing.assert_allclose((hi - lo) / 2, sem[ok][: len(lo)], rtol=1e-6)


def test_exemplar_grid_is_pixel_exact_and_not_mostly_white(drawn, run):
    figs, redo, arrays = drawn
    images = run[3]
    fig = figs["fig4_exemplars"]
    strips = [ax for ax in fig.axes if ax.images]
    assert len(strips) == 10  # 5 quantiles x 2 sets
    shown = np.asarray(strips[0].images[0].get_array())
    unit = int(strips[0].get_title(loc="left").split()[1])
    first = images[arrays["top_neurons"][unit, 0]]
    s = shown.shape[0] // first.shape[0]
    assert s >= 3  # enlarged by pixel repetition, no smoothing
    np.testing.assert_allclose(shown[:, : first.shape[1] * s], first.repeat(s, 0).repeat(s, 1), atol=1e-6)
    with Image.open(redo / "fig4_exemplars.png") as im:
        rgb = np.asarray(im.convert("RGB"), float)
    white = np.mean(np.all(rgb > 245, axis=-1))
    assert white < 0.4, white


def test_the_drawn_statistics_are_saved_by_the_task_and_equal_numpy(run):
    """The report computes nothing: the task saves what Figs. 5-7 and 11 and the tables show."""
    out, arrays, summary, images = run
    import scipy.stats

    ranks = np.arange(arrays["spectrum_noncv"].size)
    kept = ranks[(ranks > 0.05 * ranks.size) & (ranks < 0.5 * ranks.size)] + 1
    assert summary["spectrum_fit_ranks"] == [kept[0], kept[-1]]
    assert summary["d_input"] == int(np.prod(images.shape[1:]))
    colour = images[arrays["tsne_images"]].mean(axis=(1, 2))
    np.testing.assert_allclose(arrays["tsne_colour"], colour, atol=1e-5)
    assert summary["tsne_best_kmeans"] == int(np.argmax(arrays["ii_kmeans_colour"]))
    path = arrays["path_ii"].astype(float)
    np.testing.assert_allclose(arrays["path_ii_mean"], np.nanmean(path, 0), rtol=1e-12)
    np.testing.assert_allclose(arrays["path_ii_sem"], scipy.stats.sem(path, axis=0, nan_policy="omit"), rtol=1e-9)
    for s in ("colour", "label"):
        for d in ("neurons", "kmeans"):
            ii = arrays[f"ii_{d}_{s}"].astype(float)
            np.testing.assert_allclose(summary[f"ii_mean_sem_{d}_{s}"], [ii.mean(), scipy.stats.sem(ii)], rtol=1e-9)
        diff = summary[f"mean_ii_kmeans_{s}"] - summary[f"mean_ii_neurons_{s}"]
        assert summary[f"mean_ii_kmeans_minus_neurons_{s}"] == pytest.approx(diff, abs=1e-12)
