"""Data is checked against the model it goes into: labels among its classes, its input size.

A label outside the classes is never predicted (accuracy 0.0, silently); 64×64 images run
through a 32-px CIFAR network without complaint (global pooling takes any size). Both are
refused with the bad values, the valid range and the fix.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxinterp import cli, models, steps
from jaxinterp.checkpoint import save_variables
from jaxinterp.data import load_npz
from jaxinterp.data.checks import check_fits_model, check_labels

BAD_LABELS = r"must be class indices 0\.\.9 \(.* has 10 classes\), got 3 label\(s\) outside that range: " \
             r"values -5, 10, 1000 at image\(s\) 1, 4, 6; relabel them to 0\.\.9"


def _labels():
    labels = np.arange(8) % 10
    labels[[1, 4, 6]] = (-5, 1000, 10)
    return labels


def _save(path, size=32, labels=None, n=8):
    images = np.random.default_rng(0).integers(0, 256, (n, size, size, 3), dtype=np.uint8)
    np.savez(path, images=images, labels=np.arange(n) % 10 if labels is None else labels)
    return path


def test_check_labels_names_values_positions_and_range():
    with pytest.raises(ValueError, match=BAD_LABELS):
        check_labels(_labels(), 10, classes_of="the model")
    check_labels(np.arange(10), 10)  # every class once: fine
    check_labels(_labels(), None)  # no class count: nothing to check against
    many = np.full(30, 12)
    with pytest.raises(ValueError, match=r"got 30 label\(s\).*values 12 at image\(s\) 0, 1, 2, 3, 4, \.\.\."):
        check_labels(many, 10)


def test_load_npz_checks_labels_against_a_class_count(tmp_path):
    path = _save(tmp_path / "d.npz", labels=_labels())
    with pytest.raises(ValueError, match=r"labels in d\.npz " + BAD_LABELS):
        load_npz(path, num_classes=10)
    assert load_npz(path).labels.tolist() == _labels().tolist()  # no class count given
    # the stored class names are a class count too
    np.savez(tmp_path / "named.npz", images=np.zeros((3, 32, 32, 3), np.uint8), labels=[0, 1, 2],
             class_names=np.array(["cat", "dog"]))
    with pytest.raises(ValueError, match=r"0\.\.1 \(named\.npz's class_names has 2 classes\).*values 2"):
        load_npz(tmp_path / "named.npz")


def test_check_fits_model_refuses_other_sizes_and_says_how_to_resize():
    model = models.get("cifar_resnet20")
    with pytest.raises(ValueError, match=r"cifar_resnet20 was trained on 32×32 images, but images are 64×64; "
                                         r"resize them to 32×32 first \(e\.g\. jax\.image\.resize"):
        check_fits_model((5, 64, 64, 3), None, model, "cifar_resnet20")
    with pytest.raises(ValueError, match=r"takes 3-channel images, got 1 channels"):
        check_fits_model((5, 32, 32, 1), None, model, "cifar_resnet20")
    check_fits_model((5, 32, 32, 3), np.arange(5), model, "cifar_resnet20")
    any_size = type("AnySize", (), {"IN_CHANNELS": 3, "INPUT_SIZE": None})()  # declares no size
    check_fits_model((5, 64, 64, 3), None, any_size, "any")


@pytest.fixture(scope="module")
def params(tmp_path_factory):
    root = tmp_path_factory.mktemp("params")
    model = models.get("small_cnn_rgb")  # 32-px RGB, 10 classes
    save_variables(root / "p", model.init(jax.random.key(0), jnp.zeros((1, 32, 32, 3))),
                   {"arch": "small_cnn_rgb"})
    return root / "p"


def _evaluate(capsys, params, data):
    code = cli.main(["evaluate", "--arch", "small_cnn_rgb", "--params", str(params), "--data", str(data)])
    out, err = capsys.readouterr()
    return code, out, err


def test_evaluate_refuses_labels_outside_the_classes(tmp_path, capsys, params):
    code, out, err = _evaluate(capsys, params, _save(tmp_path / "d.npz", labels=_labels()))
    assert code == 2 and out == ""
    assert "labels of images in d.npz must be class indices 0..9 (small_cnn_rgb has 10 classes)" in err
    assert "values -5, 10, 1000 at image(s) 1, 4, 6" in err
    code, out, _ = _evaluate(capsys, params, _save(tmp_path / "ok.npz"))
    assert code == 0 and '"n": 8' in out


def test_evaluate_refuses_images_of_another_size(tmp_path, capsys, params):
    code, out, err = _evaluate(capsys, params, _save(tmp_path / "big.npz", size=64))
    assert code == 2 and out == ""
    assert "small_cnn_rgb was trained on 32×32 images, but images in big.npz are 64×64" in err


def test_commands_refuse_before_any_work(tmp_path, capsys):
    """A command that runs a registered model over a dataset checks it when it builds its graph."""
    data = _save(tmp_path / "big.npz", size=64, n=40)
    model = steps.model_spec("small_cnn_rgb", "random:0")
    with pytest.raises(ValueError, match=r"trained on 32×32 images, but images in big\.npz are 64×64"):
        steps.capture_task(model, steps.data_spec(data), "relu1")
    with pytest.raises(ValueError, match=r"trained on 32×32 images"):
        steps.check_data_for_model(model, steps.data_spec(data))
    labelled = _save(tmp_path / "labels.npz", labels=np.r_[_labels(), np.zeros(32, int)], n=40)
    with pytest.raises(ValueError, match=r"labels of images in labels\.npz " + BAD_LABELS):
        steps.capture_task(model, steps.data_spec(labelled), "relu1")
    out = tmp_path / "out"
    code = cli.main(["paper", "--arch", "small_cnn_rgb", "--params", "random:0", "--data", str(data),
                     "--layer", "relu1", "--out", str(out)])
    assert code == 2 and "trained on 32×32 images" in capsys.readouterr().err
    assert not out.exists()  # refused before the store was made


@pytest.mark.parametrize("command", [
    ["circuits", "--arch", "small_cnn_rgb", "--params", "random:0", "--layer", "relu2", "--units", "1"],
    ["compare", "--arch", "small_cnn_rgb", "--params", "PARAMS", "--arch", "small_cnn_rgb", "--params", "PARAMS"],
    ["featvis", "--arch", "small_cnn_rgb", "--params", "random:0", "--layer", "relu2", "--units", "0:2"],
])
def test_every_command_over_a_dataset_refuses_other_sizes(tmp_path, capsys, params, command):
    data = _save(tmp_path / "big.npz", size=64, n=40)
    argv = [str(params) if a == "PARAMS" else a for a in command]
    out = tmp_path / "out"
    assert cli.main([*argv, "--data", str(data), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "was trained on 32×32 images, but images in big.npz are 64×64; resize them to 32×32" in err
    assert not (out / "store").exists()
