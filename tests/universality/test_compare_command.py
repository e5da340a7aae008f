"""``jaxinterp compare`` end to end on tiny random models, and on the real ResNet-20 vs ResNet-32 (slow)."""

from __future__ import annotations

import json
import shutil

import jax
import numpy as np
import pytest

from jaxinterp import cli, models
from jaxinterp.checkpoint import save_variables
from jaxinterp.report.universality import report
from tests.conftest import shared_file

LAYERS = "relu1,relu2,relu3,fc"


def _run(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("compare")
    model = models.get("small_cnn_rgb")
    for seed in (0, 1):
        variables = model.init(jax.random.key(seed), np.zeros((1, 32, 32, 3), np.float32))
        save_variables(root / f"m{seed}", variables, {"arch": "small_cnn_rgb"})
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (40, 32, 32, 3), dtype=np.uint8)
    np.savez(root / "data.npz", images=images, labels=rng.integers(0, 10, 40))
    return root


def _compare(capsys, root, a, b, out, *extra):
    return _run(capsys, "compare", "--arch", "small_cnn_rgb", "--params", root / a, "--arch", "small_cnn_rgb",
                "--params", root / b, "--data", root / "data.npz", "--out", out, "--layers-a", LAYERS,
                "--layers-b", LAYERS, "--m", 3, "--top-pairs", 2, *extra)


def test_a_model_compared_with_itself_matches_every_unit_to_itself(setup, capsys):
    out = setup / "self"
    code, stdout, err = _compare(capsys, setup, "m0", "m0", out)
    assert code == 0, err
    s = json.loads((out / "summary.json").read_text())
    with np.load(out / "arrays.npz") as z:
        for meas in ("cka_linear", "cka_rbf", "svcca", "pwcca", "knn"):
            np.testing.assert_allclose(np.diag(z[meas]), 1.0, atol=1e-4, err_msg=meas)
        np.testing.assert_array_equal(z["partner_layer"], np.arange(4))
        for i in range(4):
            alive = z[f"L{i}_corr"].diagonal() > 0  # dead units correlate 0 with everything
            np.testing.assert_array_equal(z[f"L{i}_hungarian_partner"][alive], np.flatnonzero(alive))
            np.testing.assert_allclose(z[f"L{i}_best_corr"][alive], 1.0, atol=1e-4)
    assert s["layers_a"] == LAYERS.split(",") and s["n_images"] == 40
    assert s["name_a"] != s["name_b"]  # one arch twice: labelled by checkpoint directory


def test_two_models_write_arrays_summary_figures_and_html(setup, capsys):
    out = setup / "pair"
    code, stdout, err = _compare(capsys, setup, "m0", "m1", out)
    assert code == 0, err
    result = json.loads(stdout.strip().splitlines()[-1])
    assert result["report"].endswith("index.html")
    s = json.loads((out / "summary.json").read_text())
    with np.load(out / "arrays.npz") as z:
        assert z["cka_linear"].shape == (4, 4) and np.all(np.abs(z["cka_linear"]) <= 1 + 1e-5)
        for i, layer in enumerate(s["per_layer"]):
            assert layer["partner"] == s["layers_b"][int(z["cka_linear"][i].argmax())]
            assert layer["best_match_corr"]["median"] == pytest.approx(np.median(z[f"L{i}_best_corr"]))
            assert z[f"L{i}_top_a"].shape[1] == 3 and len(z[f"L{i}_shown"]) == 2
    for stem in ("cka_heatmap", "measures", "depth", "best_match", "matches_00", "ii_matched"):
        assert (out / f"{stem}.png").stat().st_size > 1000 and (out / f"{stem}.svg").exists()
    html = (out / "index.html").read_text()
    assert "cka_heatmap.png" in html and "matches_03.png" in html


def test_the_report_reads_only_the_saved_files(setup, capsys):
    src, dst = setup / "pair", setup / "copy"
    if not (src / "summary.json").exists():
        assert _compare(capsys, setup, "m0", "m1", src)[0] == 0
    dst.mkdir()
    for f in ("arrays.npz", "summary.json"):
        shutil.copy(src / f, dst / f)
    assert report(dst).exists() and (dst / "cka_heatmap.svg").exists()
    with pytest.raises(FileNotFoundError, match="no arrays.npz"):
        report(setup / "nowhere")


def test_bad_input_gives_clear_errors(setup, capsys):
    code, _, err = _compare(capsys, setup, "m0", "m1", setup / "x", "--layers-b", "relu1,layer9")
    assert code == 2 and "model B (small_cnn_rgb) has no layer named 'layer9'" in err and "relu2" in err
    code, _, err = _run(capsys, "compare", "--arch", "small_cnn_rgb", "--params", setup / "m0",
                        "--data", setup / "data.npz", "--out", setup / "x")
    assert code == 2 and "exactly two models" in err
    code, _, err = _compare(capsys, setup, "m0", "m1", setup / "x", "--limit", 3)
    assert code == 2 and "at least 4" in err


@pytest.mark.slow
def test_real_resnet20_vs_resnet32(shared_data, tmp_path, capsys):
    data = shared_file("cifar10/test_first932.npz")
    for name, arch in (("resnet20-12fca82f", "cifar_resnet20"), ("resnet32-d509ac18", "cifar_resnet32")):
        code, _, err = _run(capsys, "convert", shared_file(f"models/{name}.th"), "--arch", arch,
                            "--out", tmp_path / arch)
        assert code == 0, err
    out = tmp_path / "out"
    code, _, err = _run(capsys, "compare", "--arch", "cifar_resnet20", "--params", tmp_path / "cifar_resnet20",
                        "--arch", "cifar_resnet32", "--params", tmp_path / "cifar_resnet32", "--data", data,
                        "--out", out, "--limit", 256, "--top-pairs", 2)
    assert code == 0, err
    s = json.loads((out / "summary.json").read_text())
    assert s["n_images"] == 256 and len(s["layers_a"]) == 11 and len(s["layers_b"]) == 17
    with np.load(out / "arrays.npz") as z:
        cka = z["cka_linear"]
    # the stage outputs of the two independently trained nets are alike, and their units match
    # far better than chance (images of B shuffled)
    for p in s["per_layer"]:
        assert p["cka_linear_at_partner"] > 0.6, p["layer"]
        assert p["best_match_corr"]["median"] > p["null_best_corr"]["median"] + 0.2, p["layer"]
    names_b = s["layers_b"]
    assert cka[s["layers_a"].index("layer1.0"), names_b.index("layer1.0")] > \
        cka[s["layers_a"].index("layer1.0"), names_b.index("layer3.4")]
    assert (out / "index.html").exists()
