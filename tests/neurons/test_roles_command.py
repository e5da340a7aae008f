"""``jaxinterp roles`` end to end on a tiny model, its errors, and (slow) on the real ResNet-20."""

import csv
import json

import numpy as np
import pytest
from scipy.stats import spearmanr

from jaxinterp import cli, models, save_variables
from tests.conftest import shared_file
from tests.fixtures import ROLES_ARGS, roles_fixture

TINY = ROLES_ARGS[2:]  # the tiny run's options after --layer relu2


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("roles")
    roles_fixture(root)  # random small_cnn, 48 random 8x8 images
    return root


def _args(root, layer, *extra):
    return ["roles", "--arch", "small_cnn", "--params", str(root / "params"), "--data",
            str(root / "data.npz"), "--layer", layer, "--out", str(root / f"out_{layer}"), *extra]


def test_tiny_end_to_end(roles_run):
    """The shared tiny run (tests/fixtures.py, the TINY options on relu2): the CSV and JSON hold
    the computed table (tests/recipes/test_roles_tasks.py checks it against references), one
    row per channel, and the roles follow from the CSV's own columns by the stated rule."""
    out = roles_run.out
    rows = list(csv.DictReader(open(out / "neurons.csv")))
    assert [int(r["neuron"]) for r in rows] == list(range(models.get("small_cnn").widths[1]))
    col = lambda c: np.array([float(r[c]) for r in rows])
    for c in ("pixels.r2_lin", "pixels.lf", "pixels.axis_focus", "pixels.h_mix", "mi_knn",
              "saliency_kappa_top", "ii_colour", "ii_label"):
        np.testing.assert_allclose(col(c), roles_run.stored("roles", f"table/{c}"), rtol=1e-5, atol=1e-7,
                                   err_msg=c)  # the CSV keeps 6 significant digits
    lf, h, ii = col("pixels.lf"), col("pixels.h_mix"), col("ii_colour")
    representational = (lf >= np.nanmedian(lf)) & (h <= np.nanmedian(h)) & (ii >= np.nanmedian(ii))
    assert representational.any()
    assert [("representational" in r["role"]) for r in rows] == representational.tolist()
    assert [("pass-along" in r["role"]) for r in rows] == (col("pixels.axis_focus") > 0.5).tolist()
    corr = json.loads((out / "correlations.json").read_text())
    assert corr["similarities"] == ["colour", "label"]
    ok = np.isfinite(lf)
    rho = spearmanr(lf[ok], ii[ok])[0]
    assert corr["by_measure"]["pixels.lf"]["colour"]["rho"] == pytest.approx(rho, abs=1e-3)
    html = (out / "index.html").read_text()
    assert "II similarity used: colour, label" in html and "exploratory" in html
    assert (out / "scatter_matrix.png").stat().st_size > 1000


def test_window_level_needs_a_resnet_stage(tiny, capsys):
    assert cli.main(_args(tiny, "relu2", *TINY[2:], "--levels", "window")) == 2
    err = capsys.readouterr().err
    assert "not a ResNet stage" in err and "--levels pixels" in err


def test_layer_without_spatial_axes(tiny, capsys):
    assert cli.main(_args(tiny, "pool", *TINY)) == 2
    assert "has no spatial axes" in capsys.readouterr().err


@pytest.mark.slow
def test_real_resnet20_layer1(shared_data, tmp_path):
    from converters import convert

    ckpt = shared_file("models/resnet20-12fca82f.th")
    data = shared_file("cifar10/test_first932.npz")
    save_variables(tmp_path / "r20", convert(ckpt, "cifar_resnet20"), {"arch": "cifar_resnet20"})
    args = ["roles", "--arch", "cifar_resnet20", "--params", str(tmp_path / "r20"), "--data", str(data),
            "--layer", "layer1", "--out", str(tmp_path / "out"), "--images", "300", "--samples", "1000",
            "--mlp-steps", "100", "--jacobian-samples", "64", "--ksg-samples", "400",
            "--saliency-images", "20", "--top", "5"]
    assert cli.main(args) == 0
    rows = list(csv.DictReader(open(tmp_path / "out" / "neurons.csv")))
    assert len(rows) == 16
    col = lambda c: np.array([float(r[c]) for r in rows])
    # the immediate level is affine up to the output ReLU: far more linear than the stage window
    assert np.median(col("immediate.r2_lin")) > 0.8 > np.median(col("window.r2_lin"))
    # residual identity skip: the immediate Jacobian concentrates on the skip inputs (columns >= 144)
    assert np.mean(col("immediate.focus_index") >= 144) >= 0.75
    # the ceiling starts from the ridge fit, so LF <= 1 (up to held-out noise)
    assert np.nanmax(col("window.lf")) <= 1.0
    corr = json.loads((tmp_path / "out" / "correlations.json").read_text())
    assert corr["similarities"] == ["colour", "label"]
