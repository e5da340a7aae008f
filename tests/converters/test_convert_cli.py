"""``jaxinterp convert`` and ``jaxinterp evaluate`` end to end, on random and on real weights."""

from __future__ import annotations

import json

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


def test_convert_then_evaluate_agrees_with_torch(tmp_path, capsys):
    reference = torch_refs.build("cifar_resnet20", seed=5)
    ckpt = tmp_path / "r20.th"
    torch.save({"state_dict": {f"module.{k}": v for k, v in reference.state_dict().items()}}, ckpt)
    code, out, _ = _run(capsys, "convert", ckpt, "--arch", "cifar_resnet20", "--out", tmp_path / "flax")
    assert code == 0 and json.loads(out)["arch"] == "cifar_resnet20"
    _, meta = load_variables(tmp_path / "flax")
    assert meta["arch"] == "cifar_resnet20"

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(7, 32, 32, 3), dtype=np.uint8)
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    x = ((images / 255.0 - mean) / std).astype(np.float32).transpose(0, 3, 1, 2)
    with torch.no_grad():
        predicted = reference(torch.from_numpy(x)).argmax(1).numpy()
    labels = predicted.copy()
    labels[:3] = (labels[:3] + 1) % 10  # three wrong on purpose
    np.savez(tmp_path / "data.npz", images=images, labels=labels)

    code, out, _ = _run(capsys, "evaluate", "--arch", "cifar_resnet20", "--params", tmp_path / "flax",
                        "--data", tmp_path / "data.npz", "--batch-size", "3")  # 3 + 3 + a padded 1
    assert code == 0
    assert json.loads(out) == {"accuracy": 4 / 7, "correct": 4, "n": 7}


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
