"""Fig. 11: a power law fitted across a break is flagged in the task summary and on the figure."""

from __future__ import annotations

import types

import numpy as np

from jaxinterp.recipes.paper import SpectrumConfig, _spectrum
from jaxinterp.report.paper import _spectrum_figure
from tests.report._pages import svg_text
from tests.scores.test_spectrum import broken_law


def _acts(rng, eigenvalues, n=4000):
    """[n, d] activations whose covariance has ``eigenvalues`` along a random basis."""
    d = eigenvalues.size
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    return ((rng.standard_normal((n, d)) * np.sqrt(eigenvalues)) @ q.T).astype(np.float32)


def test_the_task_summary_flags_a_planted_break(rng):
    ranks = np.arange(1, 65.0)
    broken = _spectrum(None, SpectrumConfig(modes=("split",)),
                       types.SimpleNamespace(arrays={"acts": _acts(rng, broken_law(ranks))})).summary
    check = broken["spectrum_fit_check_split"]
    assert check["broken"] and abs(check["break_rank"] - 10) <= 2
    assert "bends at rank" in broken["spectrum_fit_warning_split"]
    clean = _spectrum(None, SpectrumConfig(modes=("split",)),
                      types.SimpleNamespace(arrays={"acts": _acts(rng, ranks ** -1.5)})).summary
    assert not clean["spectrum_fit_check_split"]["broken"] and "spectrum_fit_warning_split" not in clean


def test_the_figure_says_so(tmp_path):
    ranks = np.arange(1, 65.0)
    ss_clean, ss_broken = ranks ** -1.5, broken_law(ranks)
    summary = {"critical_alpha": 1 + 2 / 3072, "spectrum_alpha_ols_noncv": 1.5, "spectrum_alpha_ols_split": 2.3,
               "spectrum_fit_ranks": [5, 32], "spectrum_fit_check_noncv": {"broken": False},
               "spectrum_fit_check_split": {"broken": True, "break_rank": 10.0, "alpha_before": 1.0,
                                            "alpha_after": 3.0, "r2": 0.97}}
    _spectrum_figure({"spectrum_noncv": ss_clean / ss_clean.sum(), "spectrum_split": ss_broken / ss_broken.sum()},
                     summary, tmp_path / "fig11")
    text = svg_text(tmp_path / "fig11.svg")
    assert "split-half (cv): not one power law;" in text and "bends at rank 10 (α 1.00 → 3.00)" in text
    assert "non-cross-validated PCA: not one power law" not in text
    assert "OLS fit range (ranks 5-32)" in text  # the ranks the paper task saved (0.05N < i < 0.5N)
    summary["spectrum_fit_check_split"]["broken"] = False
    _spectrum_figure({"spectrum_noncv": ss_clean, "spectrum_split": ss_broken}, summary, tmp_path / "plain")
    assert "not one power law" not in svg_text(tmp_path / "plain.svg")
