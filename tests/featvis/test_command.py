"""``jaxinterp featvis`` end to end on a tiny random CNN: files, the store, numbers, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from jaxinterp.cli import main


@pytest.fixture
def data(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "data.npz"
    np.savez(path, images=rng.integers(0, 256, (40, 32, 32, 3), dtype=np.uint8),
             labels=rng.integers(0, 10, 40))
    return path


def featvis(data, out, *extra):
    return main(["featvis", "--arch", "small_cnn_rgb", "--params", "random:0", "--data", str(data),
                 "--layer", "relu2", "--steps", "6", "--out", str(out), "--exemplars", "3", *extra])


def test_command_writes_grid_arrays_and_page_from_the_store(data, tmp_path, capsys):
    out = tmp_path / "out"
    assert featvis(data, out, "--units", "2:6") == 0
    first = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert first["computed"] == 3
    for name in ("featvis_relu2.png", "featvis_relu2.svg", "ratio_relu2.png", "index.html",
                 "units/relu2_2.png", "units/relu2_5_top.png"):
        assert (out / name).is_file(), name
    arrays = np.load(out / "featvis_relu2.npz")
    assert arrays["images"].shape == (4, 32, 32, 3)
    np.testing.assert_array_equal(arrays["units"], [2, 3, 4, 5])
    # the numbers are the dataset's: ratio = own activation / top dataset activation, top exemplars sorted
    np.testing.assert_allclose(arrays["ratio"], arrays["vis_act"] / arrays["data_max"], rtol=1e-6)
    np.testing.assert_allclose(arrays["top_act"][:, 0], arrays["data_max"], rtol=1e-6)
    assert np.all(np.diff(arrays["top_act"], axis=1) <= 0)
    # the streamed dataset statistics against numpy on every image's spatial mean (Flax's own capture)
    from jaxinterp import steps
    from tests.flax_reference import forward

    model, variables = steps.load_model(steps.model_spec("small_cnn_rgb", "random:0"))
    images = np.load(data)["images"].astype(np.float32) / 255
    acts = np.asarray(forward(model, variables, model.normalize(images), ["relu2"])[1]["relu2"])
    spatial = acts.mean(axis=(1, 2))[:, 2:6].astype(np.float64)                      # [40, 4]
    np.testing.assert_allclose(arrays["data_mean"], spatial.mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(arrays["data_std"], spatial.std(0), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(arrays["data_max"], spatial.max(0), rtol=1e-5)
    np.testing.assert_array_equal(arrays["top_idx"], np.argsort(-spatial, axis=0, kind="stable")[:3].T)
    page = (out / "index.html").read_text()
    assert "units/relu2_3_top.png" in page and "SD above mean" in page
    # a rerun only redraws: every task comes from the store
    assert featvis(data, out, "--units", "2:6") == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["computed"] == 0


def test_kmeans_directions(data, tmp_path, capsys):
    """Each rendered image's and each dataset image's activation along its K-means centroid,
    recomputed in torch from the same weights: the scores, the dataset maximum, the exemplars."""
    torch = pytest.importorskip("torch")
    from jaxinterp import models, steps
    from tests import _refs as ref
    from tests.fixtures import Run

    out = tmp_path / "km"
    assert featvis(data, out, "--units", "0:3", "--directions", "kmeans", "--k", "3") == 0
    arrays = np.load(out / "featvis_relu2.npz")
    centroids = Run(tmp_path, [], out).stored("directions", "directions", method="kmeans").astype(np.float64)
    assert centroids.shape == (3, 64)
    model = models.get("small_cnn_rgb")
    _, variables = steps.load_model(steps.model_spec("small_cnn_rgb", "random:0"))
    relu2 = lambda x01: ref.torch_small_cnn(variables, model.MEAN, model.STD)(
        torch.tensor(np.asarray(x01, np.float64)), 2)[1].mean((2, 3)).numpy()
    along = relu2(np.load(data)["images"] / 255.0) @ centroids.T  # [40, 3]
    np.testing.assert_allclose(arrays["data_max"], along.max(0), rtol=1e-4)
    np.testing.assert_array_equal(arrays["top_idx"][:, 0], along.argmax(0))
    vis = np.einsum("uc,uc->u", relu2(arrays["images"]), centroids)
    np.testing.assert_allclose(arrays["vis_act"], vis, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(arrays["ratio"], vis / along.max(0), rtol=1e-4)


def test_bad_input_is_a_clear_error(data, tmp_path, capsys):
    assert featvis(data, tmp_path / "a", "--units", "60:70") == 2
    assert "out of range: there are 64 channels of layer 'relu2'" in capsys.readouterr().err
    assert featvis(data, tmp_path / "b", "--units", "5:2") == 2
    assert "START:STOP" in capsys.readouterr().err
    assert featvis(data, tmp_path / "c", "--units", "0:4", "--directions", "kmeans", "--k", "3") == 2
    assert "there are 3 kmeans directions" in capsys.readouterr().err
