"""``jaxinterp convert`` and ``jaxinterp evaluate`` end to end, on random and on real weights."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from jaxinterp import cli  # noqa: E402
from jaxinterp.checkpoint import load_variables  # noqa: E402
from tests.conftest import shared_file  # noqa: E402
from tests.models import torch_refs  # noqa: E402


def _run(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _centred_reference(images):
    """A random ResNet-20 whose classifier bias is shifted so that the mean logit over ``images``
    is 0 for every class: a random net otherwise predicts one class for every image."""
    reference = torch_refs.build("cifar_resnet20", seed=5)
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    x = torch.from_numpy(((images / 255.0 - mean) / std).astype(np.float32).transpose(0, 3, 1, 2))
    with torch.no_grad():
        reference.linear.bias -= reference(x).mean(0)
        predicted = reference(x).argmax(1).numpy()
    return reference, predicted


def test_convert_then_evaluate_agrees_with_torch(tmp_path, capsys):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(7, 32, 32, 3), dtype=np.uint8)
    reference, predicted = _centred_reference(images)
    assert len(set(predicted.tolist())) >= 4  # the check below can tell classes apart
    ckpt = tmp_path / "r20.th"
    torch.save({"state_dict": {f"module.{k}": v for k, v in reference.state_dict().items()}}, ckpt)
    code, out, _ = _run(capsys, "convert", ckpt, "--arch", "cifar_resnet20", "--out", tmp_path / "flax")
    assert code == 0 and json.loads(out)["arch"] == "cifar_resnet20"
    _, meta = load_variables(tmp_path / "flax")
    assert meta["arch"] == "cifar_resnet20"

    labels = predicted.copy()
    labels[:3] = (labels[:3] + 1) % 10  # three wrong on purpose
    np.savez(tmp_path / "data.npz", images=images, labels=labels)
    code, out, _ = _run(capsys, "evaluate", "--arch", "cifar_resnet20", "--params", tmp_path / "flax",
                        "--data", tmp_path / "data.npz", "--batch-size", "3")  # 3 + 3 + a padded 1
    assert code == 0
    assert json.loads(out) == {"accuracy": 4 / 7, "correct": 4, "n": 7}
    # one label per class in turn: only images whose prediction is that class count
    for cls in sorted(set(predicted.tolist()))[:2]:
        np.savez(tmp_path / "one.npz", images=images, labels=np.full(7, cls))
        code, out, _ = _run(capsys, "evaluate", "--arch", "cifar_resnet20", "--params", tmp_path / "flax",
                            "--data", tmp_path / "one.npz")
        assert code == 0 and json.loads(out)["correct"] == int((predicted == cls).sum())

    # float NHWC in [0, 1], as the README promises: the same predictions
    np.savez(tmp_path / "float.npz", images=images.astype(np.float32) / 255, labels=labels)
    code, out, err = _run(capsys, "evaluate", "--arch", "cifar_resnet20", "--params", tmp_path / "flax",
                          "--data", tmp_path / "float.npz")
    assert code == 0, err
    assert json.loads(out) == {"accuracy": 4 / 7, "correct": 4, "n": 7}


def test_evaluate_refuses_bad_data_without_a_traceback(tmp_path, capsys):
    torch.save(torch_refs.build("cifar_resnet20", seed=1).state_dict(), tmp_path / "r20.th")
    assert _run(capsys, "convert", tmp_path / "r20.th", "--arch", "cifar_resnet20", "--out",
                tmp_path / "flax")[0] == 0
    rng = np.random.default_rng(0)
    images = rng.random((4, 32, 32, 3)).astype(np.float32)
    labels = np.arange(4)
    cases = {
        "empty.npz": (dict(images=np.zeros((0, 32, 32, 3), np.uint8), labels=np.zeros(0, np.int64)),
                      r"holds 0 images .* needs at least one image"),
        "pixels.npz": (dict(images=images * 255, labels=labels), r"must lie in \[0, 1\].*divide by 255"),
        "normalised.npz": (dict(images=(images - 0.5) / 0.25, labels=labels), r"must lie in \[0, 1\].*normalised"),
        "nchw.npz": (dict(images=images.transpose(0, 3, 1, 2), labels=labels), r"looks NCHW.*transpose"),
        "labels.npz": (dict(images=images, labels=labels[:3]), r"labels in labels.npz must be integers \[n\]"),
        "objects.npz": (dict(images=np.array([images[0], "x"], dtype=object), labels=labels),
                        r"object \(pickled\) arrays.*np.savez"),
    }
    for name, (arrays, message) in cases.items():
        np.savez(tmp_path / name, **arrays)
    (tmp_path / "notes.txt").write_text("not data")
    np.save(tmp_path / "images.npy", images)
    cases["notes.txt"] = (None, r"notes.txt is not a dataset jaxinterp reads; pass a dataset: a folder")
    cases["images.npy"] = (None, r"images.npy has no labels; an accuracy needs one class per image.*--labels")
    cases["absent.npz"] = (None, r"no data at .*absent.npz; pass a dataset")
    for name, (_, message) in cases.items():
        code, out, err = _run(capsys, "evaluate", "--arch", "cifar_resnet20", "--params", tmp_path / "flax",
                              "--data", tmp_path / name)
        assert code == 2 and out == "", (name, out)
        assert re.search(message, err), (name, err)
        assert "Traceback" not in err and "allow_pickle" not in err, (name, err)


def test_unknown_arch_lists_known_ones(tmp_path, capsys):
    code, _, err = _run(capsys, "convert", tmp_path / "x.pth", "--arch", "resnet21", "--out", tmp_path / "o")
    assert code == 2
    assert "unknown architecture 'resnet21'" in err and "cifar_resnet20" in err and "googlenet" in err


def test_convert_refuses_a_non_checkpoint_without_a_traceback(tmp_path, capsys):
    bad = tmp_path / "notes.pth"
    bad.write_text("not weights")
    code, _, err = _run(capsys, "convert", bad, "--arch", "cifar_resnet20", "--out", tmp_path / "o")
    assert code == 2 and "is not a readable PyTorch checkpoint" in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_pretrained_resnet20_scores_854_of_932(shared_data, tmp_path, capsys):
    checkpoint = shared_file("models/resnet20-12fca82f.th")
    data = shared_file("cifar10/test_first932.npz")
    code, _, err = _run(capsys, "convert", checkpoint, "--arch", "cifar_resnet20", "--out", tmp_path / "r20")
    assert code == 0, err
    code, out, err = _run(capsys, "evaluate", "--arch", "cifar_resnet20", "--params", tmp_path / "r20",
                          "--data", data)
    assert code == 0, err
    result = json.loads(out)
    assert (result["correct"], result["n"]) == (854, 932)
    assert result["accuracy"] == pytest.approx(0.9163, abs=1e-4)


def test_convert_out_naming_a_file_is_a_clean_error(tmp_path, capsys):
    torch.save(torch_refs.build("cifar_resnet20", seed=1).state_dict(), tmp_path / "r20.th")
    (tmp_path / "taken").write_text("mine")
    code, out, err = _run(capsys, "convert", tmp_path / "r20.th", "--arch", "cifar_resnet20", "--out",
                          tmp_path / "taken")
    assert code == 2 and out == "" and "Traceback" not in err
    assert "--out must be a folder, got the existing file" in err
    assert (tmp_path / "taken").read_text() == "mine"
