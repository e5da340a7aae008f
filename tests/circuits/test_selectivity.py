"""Orientation selectivity of tuning curves against numpy formulas and planted curves."""

from __future__ import annotations

import numpy as np
import pytest

from jaxinterp.circuits.selectivity import orientation_selectivity


def test_against_numpy_and_planted_widths():
    angles = np.arange(0.0, 360.0, 1.0)
    box = np.where(np.abs((angles - 100 + 180) % 360 - 180) < 20, 3.0, -1.0)   # 39 samples at 3, rest -1
    flat = np.full(360, 2.0)
    vm = 5.0 * np.exp(4.0 * (np.cos(np.deg2rad(angles - 250)) - 1)) - 0.5
    s = orientation_selectivity(np.stack([box, flat, vm]), angles)
    r = vm - vm.min()
    t = np.deg2rad(angles)
    want = np.hypot(r @ np.cos(t), r @ np.sin(t)) / r.sum()
    assert float(s["vector_strength"][2]) == pytest.approx(want, rel=1e-5)
    assert float(s["vector_strength"][1]) == 0.0 and float(s["half_width"][1]) == 180.0
    assert float(s["half_width"][0]) == pytest.approx(19.5)  # 39 samples above half height, 1° apart
    np.testing.assert_allclose(s["preferred"], [81.0, 0.0, 250.0])  # box: its first maximum
    assert float(s["depth"][0]) == pytest.approx(4.0)
    # a sharper von Mises is more selective
    sharp = orientation_selectivity((np.exp(16 * (np.cos(t) - 1)))[None], angles)["vector_strength"]
    assert float(sharp[0]) > float(s["vector_strength"][2])


def test_bad_input():
    with pytest.raises(ValueError, match=r"curves must be \[U, A\]"):
        orientation_selectivity(np.zeros((2, 5)), np.arange(4.0))
    with pytest.raises(ValueError, match="period must be > 0"):
        orientation_selectivity(np.zeros((2, 4)), np.arange(4.0), period=0)
