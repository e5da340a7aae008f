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
    extra = ("--units", "2:6", "--chunk", "2", "--diversity", "2", "--diversity-steps", "2", "--negative-steps", "24")
    assert featvis(data, out, *extra) == 0
    printed = capsys.readouterr().out.strip().splitlines()
    first = json.loads(printed[-1])
    assert first["computed"] == 9  # stats, colour, gather, and per chunk of 2 units: max, diversity, negative
    assert "featvis: relu2 max 2..3: step 6/6, mean objective " in "\n".join(printed)  # progress
    for name in ("featvis_relu2.png", "featvis_relu2.svg", "ratio_relu2.png", "index.html", "units/relu2_2.png",
                 "units/relu2_5_top.png", "units/relu2_5_bottom.png", "units/relu2_5_top_heat.png",
                 "units/relu2_5_bottom_heat.png", "units/relu2_3_diverse.png",
                 "units/relu2_3_negative.png"):
        assert (out / name).is_file(), name
    arrays = np.load(out / "featvis_relu2.npz")
    assert arrays["images"].shape == (4, 32, 32, 3)
    assert arrays["diversity_images"].shape == (4, 2, 32, 32, 3) and arrays["diversity_z"].shape == (4, 2)
    assert arrays["negative_images"].shape == (4, 32, 32, 3)
    assert arrays["top_crops"].shape[:2] == arrays["bottom_crops"].shape[:2] == (4, 3)
    assert arrays["top_heat"].shape == arrays["top_crops"].shape[:-1] and arrays["heat_scale"].shape == (4,)
    np.testing.assert_array_equal(arrays["units"], [2, 3, 4, 5])
    assert json.loads((out / "summary.json").read_text())["units"] == [2, 6]  # [start, stop) of both chunks
    # the numbers are the dataset's: ratio = own activation / top dataset activation, top exemplars sorted
    np.testing.assert_allclose(arrays["ratio"], arrays["vis_act"] / arrays["data_max"], rtol=1e-6)
    np.testing.assert_allclose(arrays["top_act"][:, 0], arrays["data_max"], rtol=1e-6)
    assert np.all(np.diff(arrays["top_act"], axis=1) <= 0)
    # the streamed dataset statistics against numpy on every image's spatial mean (Flax's own capture)
    from jaxinterp import steps
    from tests.flax_reference import forward

    model, variables = steps.load_model(steps.model_spec("small_cnn_rgb", "random:0"))
    images = np.load(data)["images"].astype(np.float32) / 255
    acts = forward(model, variables, model.normalize(images), ["relu2", "bn2"])[1]
    spatial = np.asarray(acts["relu2"]).mean(axis=(1, 2))[:, 2:6].astype(np.float64)       # [40, 4]
    pre = np.asarray(acts["bn2"]).mean(axis=(1, 2))[:, 2:6]                                # before the ReLU
    np.testing.assert_allclose(arrays["data_mean"], spatial.mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(arrays["data_std"], spatial.std(0), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(arrays["data_max"], spatial.max(0), rtol=1e-5)
    np.testing.assert_array_equal(arrays["top_idx"], np.argsort(-spatial, axis=0, kind="stable")[:3].T)
    np.testing.assert_array_equal(arrays["bottom_idx"], np.argsort(pre, axis=0, kind="stable")[:3].T)
    np.testing.assert_allclose(arrays["bottom_act"], np.sort(pre, axis=0)[:3].T, rtol=1e-5, atol=1e-6)
    # crops of the receptive field where the unit is highest (top) and lowest (bottom) before its ReLU
    from jaxinterp import door
    from jaxinterp.circuits import examples

    maps = np.asarray(acts["bn2"])[..., 2:6]                                               # [40, 16, 16, 4]
    rf = door.receptive_field(model, variables, "relu2", (32, 32, 3))
    for side, pick in (("top", np.argmax), ("bottom", np.argmin)):
        idx = arrays[f"{side}_idx"]
        where = np.array([[divmod(int(pick(maps[i, :, :, j])), 16) for i in row] for j, row in enumerate(idx)])
        want = examples.rf_crops(images, idx, where[..., 0], where[..., 1], rf, margin=2)
        np.testing.assert_allclose(arrays[f"{side}_crops"], want, atol=1e-6, err_msg=side)
    # the negative image (minimising the unit before its ReLU) ends below the dataset mean, the
    # maximising one above it
    assert np.all(arrays["negative_act"] < arrays["data_mean"]), (arrays["negative_act"], arrays["data_mean"])
    assert np.all(arrays["negative_z"] < 0) and np.all(arrays["negative_act"] < arrays["vis_act"])
    page = (out / "index.html").read_text()
    for shown in ("units/relu2_3_top.png", "units/relu2_3_bottom.png", "units/relu2_3_top_heat.png",
                  "units/relu2_3_bottom_heat.png", "the same crops coloured by the unit", "units/relu2_3_diverse.png",
                  "units/relu2_3_negative.png", "least activating", "most activating"):
        assert shown in page, shown
    assert page.count("<table") == 1  # the summary; the units are cards, never a table wider than the page
    # a rerun only redraws: every task comes from the store
    assert featvis(data, out, *extra) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["computed"] == 0


def test_defaults_follow_the_model_and_an_interrupted_run_resumes(data, tmp_path, capsys, monkeypatch):
    """The colour matrix and transforms are the model's (the data's matrix and the CIFAR set for a
    32-px model), as ``render`` picks them; each chunk of renders is saved when it finishes, so
    after Ctrl-C a rerun renders only the rest."""
    from jaxinterp import steps
    from jaxinterp.recipes import featvis as recipe

    model = steps.model_spec("small_cnn_rgb", "random:0")
    graph = recipe.featvis_tasks(model, steps.data_spec(data), "relu2", (0, 4), chunk=2, diversity=0,
                                 negative_steps=0, steps=6)
    assert (graph["max_1"].config.color, graph["max_1"].config.transforms) == ("data", "cifar")
    assert sorted(k for k in graph if k.startswith("max_")) == ["max_0", "max_1"]
    calls = []
    real = recipe.render_units

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(recipe, "render_units", interrupted)
    out = tmp_path / "out"
    args = ("--units", "0:4", "--chunk", "2", "--diversity", "0", "--negative-steps", "0")
    assert featvis(data, out, *args) == 130
    assert "rerun the same command to resume" in capsys.readouterr().err
    monkeypatch.setattr(recipe, "render_units", real)
    assert featvis(data, out, *args) == 0
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["reused"] >= 1 and line["computed"] + line["reused"] == 5  # stats, colour, 2 renders, gather


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


def test_bad_input_is_one_line_before_any_work(data, tmp_path, capsys):
    """Units, layer and directions are checked before any capture: one line, no store."""
    def refused(out, *extra):
        assert featvis(data, tmp_path / out, *extra) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and not (tmp_path / out).exists(), err
        return err

    assert "unit(s) [64, 65, 66, 67, 68, 69] out of range: layer 'relu2' has 64 channels" in refused(
        "a", "--units", "60:70")
    assert "START:STOP" in refused("b", "--units", "5:2")
    assert "there are 3 kmeans directions" in refused("c", "--units", "0:4", "--directions", "kmeans", "--k", "3")
    assert "unknown layer 'relu7'" in refused("d", "--units", "0:4", "--layer", "relu7")
    assert "--steps" in refused("e", "--units", "0:4", "--steps", "0")
