"""What the unit pages show: weights out named by class (or "class i") beside the downstream units'
visualisations, crops at a readable size, polar plots whose rings start at zero with labels off
the curve, and grid titles that clear the row above."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from jaxinterp.report.html import png_size
from tests.report.test_escaping import _circuits_result, blank_figure

STUBBED = ("featvis_figure", "examples_figure", "synthetic_figure", "rotation_figure", "weights_in_figure")


def test_weights_out_name_the_classes_beside_the_downstream_units_and_crops_are_readable(tmp_path, monkeypatch):
    from jaxinterp.report import circuits

    for name in STUBBED:
        monkeypatch.setattr(circuits, name, blank_figure())
    seen = []

    def weights_out(w, idx, val, names, images, image_units, spatial, path):
        seen.append((list(names), np.asarray(images), np.asarray(image_units), spatial))
        return blank_figure()(path)

    monkeypatch.setattr(circuits, "weights_out_figure", weights_out)
    a, s = _circuits_result()                                    # top targets of unit 1: [0, 2]
    s = {**s, "downstream": "linear", "weights": {**s["weights"], "downstream_spatial": False}, "classifier": True}
    named = circuits.unit_page(tmp_path, a, {**s, "class_names": ["airplane", "automobile", "bird"]}, 0, {})
    assert seen[-1][0] == ["airplane", "bird"] and not seen[-1][3]
    np.testing.assert_array_equal(seen[-1][1], a["featvis_down"]["images"])   # the thumbnails' images
    np.testing.assert_array_equal(seen[-1][2], a["featvis_down"]["units"])
    assert "airplane (+" in named.read_text() and "bird (+" in named.read_text()
    circuits.unit_page(tmp_path, a, {**s, "class_names": None}, 0, {})
    assert seen[-1][0] == ["class 0", "class 2"]                # names unknown: the fallback
    circuits.unit_page(tmp_path, a, {**s, "classifier": False}, 0, {})
    assert seen[-1][0] == ["linear:0", "linear:2"]              # not the classifier: units
    page = named.read_text()
    figures = tmp_path / "figures"
    for part, crops in (("top", 3), ("bottom", 3), ("quilt", 4), ("featvis_diverse", 4), ("featvis_negative", 1)):
        path = figures / f"{s['layer']}_1_{part}.png"
        width = png_size(path)[0]
        assert width >= crops * 64, (part, width)                # 5-px crops repeated to 65 px each
        assert f"_1_{part}.png' width='{width}'" in page, part   # shown at its own size
    assert "Least activating" in page and "Diversity: 4 images" in page and "Negative: minimising" in page


def test_polar_rings_start_at_zero_and_their_labels_stay_off_the_curve(tmp_path, monkeypatch):
    from jaxinterp.report import circuits

    figs = []
    monkeypatch.setattr(circuits, "save", lambda fig, path: (figs.append(fig), [Path(path)])[1])
    angles = np.arange(0.0, 360.0, 30.0)
    curve = -1.5 + 3 * np.cos(np.deg2rad(angles - 90))          # lowest (-4.5) at 270°, negative SDs
    circuits.rotation_figure({"angles": angles, "curves": curve[:, None]}, 0, curve, angles, tmp_path / "r")
    for ax in figs[0].axes:
        assert ax.get_ylim()[0] == 0                             # the radius of the centre is 0
        assert ax.get_rlabel_position() == 270                   # labels where the curve is lowest
        rings = np.asarray(ax.get_yticks())
        assert rings.min() > 0 and [t.get_text() for t in ax.get_yticklabels()] == [
            f"{r + curve.min():.2g}".replace("-", "\u2212") for r in rings]


def test_grid_titles_clear_the_row_above(tmp_path, monkeypatch):
    from jaxinterp import atomic
    from jaxinterp.report import featvis

    figs = []
    monkeypatch.setattr(atomic, "savefig", lambda fig, path, **kw: figs.append(fig))
    rng = np.random.default_rng(0)
    arrays = {"images": rng.uniform(size=(12, 32, 32, 3)), "units": np.arange(12), "z": rng.normal(size=12) * 10}
    featvis.grid_figure(arrays, "layer3", "neurons", tmp_path / "grid")
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = figs[0]
    canvas = FigureCanvasAgg(fig)  # the figure was closed after saving
    canvas.draw()
    renderer = canvas.get_renderer()
    axes = fig.axes
    for below, above in zip(axes[8:12], axes[0:4]):
        title = below.title.get_window_extent(renderer)
        assert title.y1 <= above.get_window_extent(renderer).y0, (title, above.get_window_extent(renderer))


def test_a_224px_units_diverse_and_negative_images_share_one_readable_size(tmp_path, monkeypatch):
    """A 224-px model's negative image is not shown at twice the size of its diverse images (224
    CSS px beside a row squeezed into the column): every visualisation tile is at most 128 px."""
    import re

    from jaxinterp.report import circuits

    for name in (*STUBBED, "weights_out_figure"):
        monkeypatch.setattr(circuits, name, blank_figure())
    a, s = _circuits_result()
    rng = np.random.default_rng(0)
    n = len(a["units"])
    a["featvis"] = {**a["featvis"], "images": rng.uniform(size=(n, 224, 224, 3)),
                    "diversity_images": rng.uniform(size=(n, 4, 224, 224, 3)),
                    "negative_images": rng.uniform(size=(n, 224, 224, 3))}
    page = circuits.unit_page(tmp_path, a, s, 0, {}).read_text()
    widths = {k: int(re.search(rf"_featvis_{k}\.png' width='(\d+)'", page).group(1)) for k in ("diverse", "negative")}
    assert 100 <= widths["negative"] <= 128 and widths["diverse"] <= 4 * 128 + 16, widths
