"""Every report escapes the strings a user controls: a model, layer, folder or file name that holds
markup shows as text on the page and never reaches it as markup.

The ``compare`` report runs end to end (its model names come from the ``--params`` folder names,
its data from ``--data``); the other pages are drawn by their writers from small planted results,
their figures replaced by a blank PNG where drawing them would cost seconds each.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np
import pytest

EVIL = "<img src=x onerror=alert(1)>"
SHOWN = html.escape(EVIL)


def assert_escaped(out: Path, min_pages: int = 1) -> None:
    """No written page or SVG holds the raw markup; every page shows it escaped."""
    pages = sorted(out.rglob("*.html"))
    assert len(pages) >= min_pages, pages
    for path in pages + sorted(out.rglob("*.svg")):
        assert EVIL not in path.read_text(), f"{path} holds the markup unescaped"
    for path in pages:
        assert SHOWN in path.read_text(), f"{path} does not show the planted name"


def blank_figure(returns_best: bool = False):
    """Stands in for a figure function: writes a blank PNG at its stem (its first Path argument)."""
    import matplotlib.pyplot as plt

    def draw(*args, **kwargs):
        stem = next(a for a in (*args, *kwargs.values()) if isinstance(a, Path))
        path = stem.with_name(stem.name + ".png")
        path.parent.mkdir(parents=True, exist_ok=True)
        plt.imsave(path, np.zeros((4, 4, 3)))
        return (path, 0) if returns_best else path

    return draw


def test_compare_report(tmp_path, capsys):
    import jax

    from jaxinterp import cli, models
    from jaxinterp.checkpoint import save_variables

    model = models.get("small_cnn_rgb")
    params = []
    for seed in (0, 1):  # one arch twice: the report names each model by its --params folder
        params.append(tmp_path / f"{EVIL}{seed}")
        save_variables(params[-1], model.init(jax.random.key(seed), np.zeros((1, 32, 32, 3), np.float32)),
                       {"arch": "small_cnn_rgb"})
    rng = np.random.default_rng(0)
    data = tmp_path / f"{EVIL}.npz"
    np.savez(data, images=rng.integers(0, 256, (12, 32, 32, 3), dtype=np.uint8), labels=rng.integers(0, 10, 12))
    out = tmp_path / "out"
    code = cli.main(["compare", "--arch", "small_cnn_rgb", "--params", str(params[0]), "--arch", "small_cnn_rgb",
                     "--params", str(params[1]), "--data", str(data), "--out", str(out), "--layers-a", "relu1,fc",
                     "--layers-b", "relu1,fc", "--m", "2", "--top-pairs", "1", "--k", "3"])
    assert code == 0, capsys.readouterr().err
    assert_escaped(out)


def test_demo_page(tmp_path):
    from jaxinterp.recipes import demo

    summary = {"layer": EVIL, "m": 5, "n_neurons": 4, "directions": {"neurons": {}, "kmeans": {}},
               "model": {"seed": 0, "test_accuracy": 0.9},
               "mean_ii": {"test": {"colour": {"neurons": 0.1, "kmeans": 0.2}}}}
    demo.write_page(tmp_path, summary, [(tmp_path / "ii_boxplot.png", f"II of {EVIL}")], 0.8)
    assert_escaped(tmp_path)


def test_paper_report(tmp_path, monkeypatch):
    from jaxinterp.report import paper

    for name in ("ii_boxplot", "exemplar_grid", "_psychophysics_figure", "_sensitivity_figure",
                 "_synergy_figure", "_coactivation_figure", "_spectrum_figure"):
        monkeypatch.setattr(paper, name, blank_figure())
    monkeypatch.setattr(paper, "_manifold_figure", blank_figure(returns_best=True))
    rng = np.random.default_rng(0)
    arrays = {"psy_quantiles": np.array([0.0, 0.25]), "tsne": rng.normal(size=(6, 2)),
              "cross_ii": rng.normal(size=6), "synergy": rng.normal(size=6)}
    for d in ("neurons", "kmeans"):
        arrays |= {f"ii_{d}_colour": rng.normal(size=4), f"top_{d}": rng.integers(0, 6, (4, 3)),
                   f"psy_{d}_colour": rng.uniform(size=(2, 4)), f"psy_{d}_colour_mean": rng.uniform(size=2),
                   f"psy_{d}_colour_sem": rng.uniform(size=2)}
    summary = {"arch": EVIL, "layer": EVIL, "data": f"/data/{EVIL}.npz", "similarities": ["colour"],
               "main_similarity": "colour", "m": 3, "images": 6, "neurons": 4, "k": 4,
               "mean_ii_neurons_colour": 0.1, "mean_ii_kmeans_colour": 0.2, "ii_mean_sem_neurons_colour": [0.1, 0.01],
               "ii_mean_sem_kmeans_colour": [0.2, 0.01], "mean_ii_kmeans_minus_neurons_colour": 0.1,
               "trials_q0": 5, "trials_q0.25": 5, "d_input": 1000,
               "synergy_positive_fraction": 0.5, "critical_alpha": 1.002, "psy_pool": {"colour": EVIL},
               "psychophysics_scores": {"trials_drawn_as": EVIL}}
    paper.report(tmp_path, arrays, summary, np.zeros((6, 8, 8, 3)), facts={"params": f"/models/{EVIL}"})
    assert_escaped(tmp_path)


def test_roles_report(tmp_path):
    from jaxinterp.report import roles
    from jaxinterp.tasks import Result

    cols = ["neuron", "pixels.lf", "ii_colour"]
    table = {"neuron": np.arange(3.0), "pixels.lf": np.array([0.1, 0.5, 0.9]), "ii_colour": np.array([1.0, 2, 3])}
    test = {"p": 0.3, "n": 3, "p_holm": 0.6, "q_bh": 0.3}
    corr = {"similarities": ["colour"],
            "by_measure": {"pixels.lf": {"colour": {"rho": 0.5, **test}}, EVIL: {"colour": {"rho": -0.5, **test}}}}
    summary = {"columns": cols, "roles": [EVIL, "pass-along", "transforming"],
               "notes": [f"Measured on 3 images from /data/{EVIL}.npz."], "correlations": corr,
               "summary_columns": ["pixels.lf"]}
    roles.write(tmp_path, Result({"table": table}, summary), np.zeros((3, 8, 8, 1)), EVIL, EVIL,
                figures=False, facts={"params": f"/models/{EVIL}"})
    assert_escaped(tmp_path)


def test_featvis_page(tmp_path):
    from jaxinterp.report import featvis

    rng = np.random.default_rng(0)
    arrays = {"images": rng.uniform(size=(2, 8, 8, 3)), "units": np.array([3, 5]), "z": np.array([1.0, 2.0]),
              "ratio": np.array([0.5, 1.5]), "vis_act": np.array([1.0, 2.0]), "data_max": np.array([2.0, 1.3]),
              "data_mean": np.array([0.5, 0.4]), "data_std": np.array([0.2, 0.3]),
              "top_idx": np.array([[0, 1], [2, 3]]), "top_act": np.array([[2.0, 1.0], [1.3, 1.2]]),
              "bottom_idx": np.array([[3, 2], [1, 0]]), "bottom_act": np.array([[-2.0, -1.0], [-1.3, -1.2]]),
              "top_crops": rng.uniform(size=(2, 2, 5, 5, 3)), "bottom_crops": rng.uniform(size=(2, 2, 5, 5, 3))}
    summary = {"layer": EVIL, "method": "neurons", "steps": 2, "transforms": EVIL, "color": "cifar",
               "ratio_median": 1.0, "ratio_q25": 0.5, "ratio_q75": 1.5, "above_top_fraction": 0.5,
               "z_median": 1.5, "rf": {"size": [5, 5]}, "crop_size": [5, 5]}
    featvis.write(tmp_path, arrays, summary, {"data": f"{EVIL}.npz"})
    assert_escaped(tmp_path)


def _circuits_result(units=(1, 4), n=6) -> tuple[dict, dict]:
    """The parts of one layer's ``circuits`` result that the pages print (figures stubbed)."""
    rng = np.random.default_rng(0)
    u = len(units)
    per_unit = lambda *shape: rng.uniform(size=(u, *shape))  # noqa: E731
    arrays = {
        "units": np.array(units), "top_value": per_unit(3), "stats_mean": per_unit(), "stats_sd": per_unit(),
        "featvis": {"images": per_unit(8, 8, 3), "z": per_unit(), "ratio": per_unit(),
                    "diversity_images": per_unit(4, 8, 8, 3), "diversity_z": per_unit(4),
                    "negative_images": per_unit(8, 8, 3), "negative_z": -per_unit()},
        "featvis_up": {"images": rng.uniform(size=(2, 8, 8, 3)), "units": np.array([0, 1])},
        "featvis_down": {"images": rng.uniform(size=(2, 8, 8, 3)), "units": np.array([0, 2])},
        "examples": {"top_crops": per_unit(3, 5, 5, 3), "bottom_crops": per_unit(3, 5, 5, 3),
                     "bottom_value": -per_unit(3), "quilt_crops": per_unit(4, 5, 5, 3), "quilt_value": per_unit(4)},
        "pre": {"mean": per_unit(), "fraction_positive": per_unit(), "tail_mean": per_unit()},
        "rotation": {"vector_strength": per_unit(), "half_width": per_unit(), "curves": rng.uniform(size=(4, u))},
        "stimuli": {"curve": {"responses": rng.normal(size=(4, 2, u)), "orientation": np.arange(4.0) * 90,
                              "radius": np.array([2.0, 4.0])},
                    "line": {"responses": rng.normal(size=(4, u))}, "angle": {"responses": rng.normal(size=(4, 2, u))},
                    "grating": {"responses": rng.normal(size=(4, 2, 4, u))}},
        "layer": {"curves": rng.normal(size=(n, 4)), "angles": np.arange(4.0) * 90, "preferred": rng.uniform(size=n),
                  "vector_strength": rng.uniform(size=n), "families": np.arange(n) % 2,
                  "preferred_up": rng.uniform(size=3)},
        "weights_in": {"w": rng.normal(size=(u, 3, 3, 3)), "idx": np.array([[0, 1]] * u), "val": per_unit(2)},
        "weights_out": {"w": rng.normal(size=(u, 3, 3, 3)), "idx": np.array([[0, 2]] * u), "val": per_unit(2)},
    }
    eq = {"r2": 0.3, "r2_null_q95": 0.2, "r2_null_mean": 0.1, "permutations": 8, "r2_p": 0.05, "bin_deg": 15,
          "rotated_correlation": 0.2, "rotated_pairs": 4, "rotated_correlation_null": 0.0}
    summary = {"layer": EVIL, "upstream": EVIL + "up", "downstream": EVIL + "down", "featvis_steps": 2,
               "rf": {"size": [5, 5], "stride": [1, 1]}, "images": 16, "pre_is_relu_input": True,
               "stimuli": {"size": 32, "stroke_length": 8.0}, "exemplars": 3, "rotation_step": 45.0,
               "weights": {"downstream_spatial": True, "window_in": 3}, "equivariance": eq, "families": 2,
               "sharpest": [{"unit": 1, "vector_strength": 0.5, "half_width": 30.0}], "crop_size": [5, 5],
               "crop_margin": 2, "class_names": None, "classifier": False, "diversity_steps": 1,
               "negative_steps": 1, "diversity_weight": 100.0, "thumb_steps": 1}
    return arrays, summary


def test_circuits_pages(tmp_path, monkeypatch):
    from jaxinterp.report import circuits

    for name in ("featvis_figure", "examples_figure", "synthetic_figure", "rotation_figure", "weights_in_figure",
                 "weights_out_figure", "families_figure", "equivariance_figure", "tiles_figure"):
        monkeypatch.setattr(circuits, name, blank_figure())
    circuits.write(tmp_path, [_circuits_result()], {"model": "small_cnn_rgb", "data": f"/data/{EVIL}.npz"})
    assert_escaped(tmp_path, min_pages=4)  # index, the layer page, two unit pages


def test_sweep_report(tmp_path):
    from jaxinterp.recipes.sweep import groups
    from jaxinterp.report import sweep

    cells = [{"model": EVIL, "layer": EVIL, "method": m, "k": k, "seed": 0, "state": "done", "mean_ii_colour": v}
             for m, k, v in (("neurons", 4, 0.1), ("kmeans", 2, 0.2), ("kmeans", 4, 0.3))]
    cells.append({"model": EVIL, "layer": EVIL, "method": "pca", "k": 4, "seed": 0, "state": EVIL, "error": EVIL})
    config = {"similarities": ["colour"], "m": 5, "seeds": [0], "models": {EVIL: [EVIL, f"/models/{EVIL}"]},
              "layers": [EVIL], "data": f"/data/{EVIL}.npz", "limit": 10}
    (tmp_path / "cells.json").write_text(json.dumps(
        {"cells": cells, "config": config, "summary": {"done": 3, "cells": 4, "processes": 1, "devices": 1},
         "groups": groups(cells, ["colour"])}))
    sweep.write(tmp_path)
    assert_escaped(tmp_path)


@pytest.mark.parametrize("writer", ["table", "figure", "callout", "header", "page"])
def test_the_page_pieces_escape_what_they_are_given(tmp_path, writer):
    from jaxinterp.report import html as pieces

    made = {"table": lambda: pieces.table([EVIL], [[EVIL]], caption=EVIL),
            "figure": lambda: pieces.figure(f"{EVIL}.png", EVIL, label=EVIL, formats=("svg",)),
            "callout": lambda: pieces.callout(EVIL, kind=EVIL),
            "header": lambda: pieces.header({EVIL: EVIL}),
            "page": lambda: pieces.page(EVIL, [(EVIL, "")], tmp_path / "p.html", {EVIL: EVIL},
                                        subtitle=EVIL).read_text()}[writer]()
    assert EVIL not in made and SHOWN in made
