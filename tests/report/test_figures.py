"""The shared figure pieces: which units a quantile picks, and the exemplar grid's strips."""

from __future__ import annotations

import numpy as np

from jaxinterp.report import QUANTILES, exemplar_grid, figures, quantile_units
from tests.report._pages import Captured


def test_quantile_units_pick_the_min_quartiles_median_and_max():
    ii = np.array([5.0, 1.0, 4.0, 2.0, 3.0, np.nan])  # NaN (a dead unit) is never picked
    assert QUANTILES == (0.0, 0.25, 0.5, 0.75, 1.0)
    np.testing.assert_array_equal(quantile_units(ii), [1, 3, 4, 2, 0])  # II 1, 2, 3, 4, 5
    np.testing.assert_array_equal(quantile_units(ii[:5], (0.0, 1.0)), [1, 0])


def test_exemplar_grid_rows_are_the_quantile_units_drawn_pixel_for_pixel(tmp_path, monkeypatch):
    """Image i is filled with the grey level i/10, so each strip says which images it shows."""
    images = np.repeat(np.linspace(0, 0.9, 10, dtype=np.float32)[:, None, None, None], 4, 1).repeat(4, 2)
    exemplars = {"neurons": np.arange(10).reshape(5, 2)[::-1].copy()}  # unit u shows images 8-2u, 9-2u
    ii = {"neurons": np.array([0.3, -0.2, 0.1, 0.5, -0.4])}
    cap = Captured(monkeypatch, figures)
    path = exemplar_grid(images, exemplars, ii, tmp_path / "grid", "colour")
    assert path.is_file()
    strips = [ax for ax in cap.figs["grid"].axes if ax.images]
    units = [int(ax.get_title(loc="left").split()[1]) for ax in strips]
    assert units == [4, 1, 2, 0, 3]  # lowest II first
    for ax, unit in zip(strips, units):
        shown = np.asarray(ax.images[0].get_array())
        first = exemplars["neurons"][unit, 0]
        np.testing.assert_allclose(shown[0, 0], [first / 10] * 3, atol=1e-6)


def test_heat_overlay_blends_the_colour_map_of_the_heat_over_its_span_and_leaves_nan_pixels():
    import matplotlib

    crops = np.random.default_rng(0).uniform(size=(2, 3, 4, 3)).astype(np.float32)
    heat = np.array([[[-2.0, 0.0, 0.25, 0.5], [1.0, 3.0, np.nan, 0.5], [0.0] * 4]] * 2, np.float32)
    got = figures.heat_overlay(crops, heat, (0.0, 1.0), alpha=0.5)
    want = 0.5 * crops + 0.5 * matplotlib.colormaps["inferno"](np.clip(np.nan_to_num(heat), 0, 1))[..., :3]
    finite = np.isfinite(heat)
    np.testing.assert_allclose(got[finite], want[finite], atol=1e-6)
    np.testing.assert_array_equal(got[~finite], crops[~finite])                   # outside the image: the crop
    assert figures.heat_span(heat, "top") == (0.0, 1.0)
    assert figures.heat_span(heat, "bottom") == (-2.0, 0.0)                       # its lowest value to 0
    assert figures.heat_span(np.abs(heat), "bottom") == (0.0, 1.0)                # nowhere below 0
