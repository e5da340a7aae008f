"""The README's first command, end to end, on a fresh cache; and the CLI around it."""

import json

import numpy as np
import pytest

from jaxinterp.cli import main


def _numpy_ii(exemplars, sim):
    """[k, m] exemplar indices, [n, n] similarities -> [k] mean over each M×M block (j = k included)."""
    return np.array([sim[np.ix_(e, e)].mean() for e in exemplars])


def _check_values_against_references(out, summary, cache):
    """The saved numbers are what independent routes give: the cached model run in torch
    (activations, test accuracy), numpy top-M exemplars and colour/label II, numpy's PCA,
    a K-means fixed point, and the summary's means of the saved arrays."""
    torch = pytest.importorskip("torch")
    from jaxinterp import models
    from jaxinterp.checkpoint import load_variables
    from jaxinterp.data import load_digits
    from tests import _refs as ref

    arrays = np.load(out / "arrays.npz")
    test = load_digits("test")
    model = models.get("small_cnn")
    variables, _ = load_variables(cache / "small_cnn-digits-e3-s0")
    blocks = ref.torch_small_cnn(variables, model.MEAN, model.STD)(torch.tensor(test.images / 255.0), 3)
    np.testing.assert_allclose(arrays["acts_test"], blocks[1].mean((2, 3)).numpy(), rtol=1e-5, atol=1e-6)
    fc = variables["params"]["fc"]
    logits = blocks[2].mean((2, 3)).numpy() @ np.asarray(fc["kernel"], float) + np.asarray(fc["bias"], float)
    assert summary["model"]["test_accuracy"] == pytest.approx(np.mean(logits.argmax(1) == test.labels), abs=1e-9)
    assert summary["model"]["test_accuracy"] > 0.5  # a trained model, not random weights

    unit = ref.unit_rows(arrays["acts_train"])  # PCA and K-means are fit on the training rows
    _, s, vt = np.linalg.svd(unit - unit.mean(0), full_matrices=False)
    clear = np.flatnonzero(np.r_[-np.diff(s**2) > 1e-3 * s[0] ** 2, False][:10])  # axes with a gap
    assert clear.size >= 3
    cos = np.abs(np.sum(arrays["directions_pca"][clear] * vt[clear], axis=1))
    np.testing.assert_allclose(cos, 1.0, atol=1e-4)
    cents = arrays["directions_kmeans"].astype(float)
    nearest = np.argmin(((unit[:, None] - cents[None]) ** 2).sum(-1), 1)
    for c in np.unique(nearest):  # Lloyd's fixed point: each centroid is its cluster's mean
        np.testing.assert_allclose(cents[c], unit[nearest == c].mean(0), atol=1e-4)

    m = summary["m"]
    top = np.argsort(-arrays["acts_test"], axis=0, kind="stable")[:m].T  # ties: lowest index first
    neurons = arrays["exemplars_test_neurons"]
    sim_label = (test.labels[:, None] == test.labels[None]).astype(float)
    colours = test.images.astype(float).mean(axis=(1, 2)) / 255
    sim_colour = -np.linalg.norm(colours[:, None] - colours[None], axis=-1)
    for e_set in (neurons, top):  # the saved exemplars and numpy's agree on the II (ties may reorder)
        np.testing.assert_allclose(arrays["ii_test_label_neurons"], _numpy_ii(e_set, sim_label), atol=1e-6)
        np.testing.assert_allclose(arrays["ii_test_colour_neurons"], _numpy_ii(e_set, sim_colour), atol=1e-5)
    for d in ("kmeans", "pca"):
        np.testing.assert_allclose(arrays[f"ii_test_label_{d}"],
                                   _numpy_ii(arrays[f"exemplars_test_{d}"], sim_label), atol=1e-6)
    for metric in ("colour", "features", "label"):
        for d in ("neurons", "kmeans", "pca"):
            assert summary["mean_ii"]["test"][metric][d] == pytest.approx(
                float(np.mean(arrays[f"ii_test_{metric}_{d}"])), rel=1e-6)
        ii = {d: arrays[f"ii_test_{metric}_{d}"] for d in ("neurons", "kmeans", "pca")}
        assert summary["frac_above_neuron_median"][metric]["kmeans"] == pytest.approx(
            float(np.mean(ii["kmeans"] > np.median(ii["neurons"]))))


def test_demo_end_to_end(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("JAXINTERP_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "report"
    assert main(["demo", "--out", str(out), "--epochs", "3", "--no-progress",
                 "--directions", "kmeans,pca"]) == 0
    printed = capsys.readouterr().out
    assert f"report: {out / 'index.html'}" in printed and "mean II (test split" in printed
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_neurons"] == summary["k"] == 64
    for metric in ("colour", "features", "label"):
        for split in ("test", "train"):
            assert set(summary["mean_ii"][split][metric]) == {"neurons", "kmeans", "pca"}
    assert summary["directions"]["kmeans"]["init"] == "k-means++"  # the one K-means default (directions.kmeans.DEFAULT_INIT)
    assert summary["directions"]["pca"]["input"] == "unit-norm rows"
    page = (out / "index.html").read_text()
    for png in ("ii_boxplot.png", "exemplars_colour.png", "exemplars_features.png", "exemplars_label.png"):
        assert (out / png).stat().st_size > 1000 and png in page
    _check_values_against_references(out, summary, tmp_path / "cache")
    # the second run reuses the cached model instead of training again
    assert main(["demo", "--out", str(out), "--epochs", "3", "--no-progress"]) == 0
    assert "loaded the demo model" in capsys.readouterr().out


def test_help_lists_commands(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    assert "demo" in capsys.readouterr().out


def test_bad_layer_is_a_clean_cli_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("JAXINTERP_CACHE", str(tmp_path / "cache"))
    code = main(["demo", "--out", str(tmp_path / "o"), "--epochs", "1", "--layer", "layer9",
                 "--no-progress"])
    assert code == 2
    err = capsys.readouterr().err
    assert "unknown layer 'layer9' in SmallCNN" in err and "jaxinterp layers --arch small_cnn" in err


def test_unknown_direction_set(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--directions", "kmeans,tsne"]) == 2
    assert "unknown direction set(s) ['tsne']" in capsys.readouterr().err
