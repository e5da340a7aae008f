"""The README's first command, end to end, on a fresh cache; and the CLI around it."""

import json

import pytest

from jaxinterp.cli import main


def test_demo_end_to_end(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("JAXINTERP_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "report"
    assert main(["demo", "--out", str(out), "--epochs", "3", "--no-progress",
                 "--directions", "kmeans,pca"]) == 0
    printed = capsys.readouterr().out
    assert f"report: {out / 'index.html'}" in printed and "mean II (test split" in printed
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_neurons"] == summary["k"] == 64
    assert summary["model"]["test_accuracy"] > 0.5  # a trained model, not random weights
    for metric in ("colour", "features", "label"):
        for split in ("test", "train"):
            assert set(summary["mean_ii"][split][metric]) == {"neurons", "kmeans", "pca"}
    assert summary["directions"]["kmeans"]["init"] == "k-means++"  # the one K-means default (directions.kmeans.DEFAULT_INIT)
    assert summary["directions"]["pca"]["input"] == "unit-norm rows"
    page = (out / "index.html").read_text()
    for png in ("ii_boxplot.png", "exemplars_colour.png", "exemplars_features.png", "exemplars_label.png"):
        assert (out / png).stat().st_size > 1000 and png in page
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
    assert "unknown layer name(s) ['layer9']" in err and "relu2" in err


def test_unknown_direction_set(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--directions", "kmeans,tsne"]) == 2
    assert "unknown direction set(s) ['tsne']" in capsys.readouterr().err
