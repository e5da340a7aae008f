"""The PyTorch state_dict converter: wrappers and prefixes, and every way a checkpoint can be wrong."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from converters import CheckpointError, convert, load_state_dict, to_variables  # noqa: E402
from jaxinterp import models  # noqa: E402
from tests.conftest import REPO  # noqa: E402
from tests.models import torch_refs  # noqa: E402


@pytest.fixture(scope="module")
def resnet20_state():
    return torch_refs.build("cifar_resnet20", seed=3).state_dict()


def test_package_import_does_not_import_torch():
    code = "import sys, converters, jaxinterp.models; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("wrap", ["bare", "state_dict", "model", "module_prefix"])
def test_wrappers_and_prefixes_give_the_same_variables(wrap, resnet20_state, tmp_path):
    state = resnet20_state
    saved = {
        "bare": state,
        "state_dict": {"state_dict": state, "best_prec1": 91.6},
        "model": {"model": state, "epoch": 3},
        "module_prefix": {"state_dict": {f"module.{k}": v for k, v in state.items()}},
    }[wrap]
    path = tmp_path / "ckpt.th"
    torch.save(saved, path)
    variables = convert(path, "cifar_resnet20")
    kernel = variables["params"]["layer2"]["0"]["conv1"]["kernel"]
    np.testing.assert_array_equal(kernel, state["layer2.0.conv1.weight"].numpy().transpose(2, 3, 1, 0))
    np.testing.assert_array_equal(
        variables["batch_stats"]["layer3"]["2"]["bn2"]["var"], state["layer3.2.bn2.running_var"].numpy()
    )
    np.testing.assert_array_equal(variables["params"]["linear"]["kernel"], state["linear.weight"].numpy().T)


def test_checkpoint_of_another_architecture_names_mismatched_keys_and_shapes(resnet20_state):
    state = {k: v.numpy() for k, v in resnet20_state.items()}
    with pytest.raises(CheckpointError) as err:
        to_variables(state, models.get("cifar_resnet18"), "cifar_resnet18")
    message = str(err.value)
    assert "'cifar_resnet18'" in message
    assert "conv1.weight (16, 3, 3, 3) vs (64, 3, 3, 3)" in message
    assert "missing key(s): fc.bias, fc.weight" in message
    assert "unexpected key(s): layer1.2.conv1.weight" in message
    assert "--arch" in message


def test_missing_and_unexpected_keys_are_named(resnet20_state):
    state = {k: v.numpy() for k, v in resnet20_state.items()}
    del state["layer2.1.bn1.running_mean"]
    state["layer9.weight"] = np.zeros(3, np.float32)
    with pytest.raises(CheckpointError, match=r"1 missing key\(s\): layer2.1.bn1.running_mean; "
                                              r"1 unexpected key\(s\): layer9.weight"):
        to_variables(state, models.get("cifar_resnet20"))


def test_num_batches_tracked_is_ignored_and_googlenet_aux_heads_are_dropped():
    state = {k: v.numpy() for k, v in torch_refs.build("googlenet").state_dict().items()}
    assert any(k.startswith("aux1.") for k in state) and any(k.endswith("num_batches_tracked") for k in state)
    variables = to_variables(state, models.get("googlenet"))
    assert "aux1" not in variables["params"]
    state["aux3.fc.weight"] = np.zeros(1, np.float32)  # only the documented heads are ignored
    with pytest.raises(CheckpointError, match="unexpected key.*aux3.fc.weight"):
        to_variables(state, models.get("googlenet"))


def test_truncated_checkpoints_get_a_clear_message(resnet20_state, tmp_path):
    for legacy in (False, True):
        whole = tmp_path / f"whole{legacy}.pt"
        torch.save(resnet20_state, whole, _use_new_zipfile_serialization=not legacy)
        cut = tmp_path / f"cut{legacy}.pt"
        cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
        with pytest.raises(CheckpointError, match=r"not a readable PyTorch checkpoint.*(truncated|damaged).*Fix"):
            load_state_dict(cut)


@pytest.mark.parametrize("kind", ["text", "npz", "empty", "pickled_module", "tensor"])
def test_non_checkpoint_files_get_a_clear_message(kind, tmp_path):
    path = tmp_path / f"not_a_checkpoint.{kind}"
    if kind == "text":
        path.write_text("hello, I am a README\n")
    elif kind == "npz":
        np.savez(path, images=np.zeros((2, 2), np.uint8))  # path ends in .npz: kept as is
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "pickled_module":
        torch.save(torch.nn.Linear(2, 2), path)
    else:
        torch.save(torch.zeros(3), path)
    with pytest.raises(CheckpointError) as err:
        load_state_dict(path)
    message = str(err.value)
    assert "expected a file written by torch.save" in message or "not a state_dict" in message
    assert "Fix" in message and "Traceback" not in message
    expected = {
        "text": "begins with b'hello, I'",
        "npz": "without data.pkl",
        "empty": "empty",
        "pickled_module": "state_dict()",
        "tensor": "holds a Tensor",
    }[kind]
    assert expected in message


def test_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint file"):
        load_state_dict(tmp_path / "nope.pth")
