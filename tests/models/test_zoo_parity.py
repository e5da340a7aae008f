"""Every registered architecture against its PyTorch original: logits and every named layer.

Each reference (tests/models/torch_refs.py) gets seeded random weights and random
BatchNorm statistics, is saved with torch.save, converted with the converter,
and both frameworks run the same batch of 2 images in float32.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from converters import convert  # noqa: E402
from jaxinterp import door, models  # noqa: E402
from tests.models import torch_refs  # noqa: E402

# the smallest input each family handles
SIZES = {
    **{f"cifar_resnet{d}": 32 for d in (20, 32, 44, 56, 110, 18, 34, 50)},
}  # the 224-px ImageNet models: against torchvision's own classes (test_torchvision_parity.py)
REL_TOL = 1e-4


def relative_error(ours: np.ndarray, theirs: np.ndarray) -> float:
    """max |ours - theirs| / max |theirs|: float32 rounding is relative to a layer's scale."""
    scale = max(float(np.abs(theirs).max()), 1e-12)
    return float(np.abs(ours - theirs).max()) / scale


def to_nhwc(t: "torch.Tensor") -> np.ndarray:
    a = t.numpy()
    return a.transpose(0, 2, 3, 1) if a.ndim == 4 else a


def test_every_registered_architecture_has_a_parity_case():
    from tests.models.test_torchvision_parity import SIZES as TORCHVISION

    ported = {n for n in models.names() if not n.startswith("small_cnn")}
    assert ported == set(SIZES) | set(TORCHVISION)


@pytest.mark.parametrize("arch", list(SIZES))
def test_flax_matches_torch_on_logits_and_every_named_layer(arch, tmp_path):
    size = SIZES[arch]
    reference = torch_refs.build(arch, seed=0)
    path = tmp_path / f"{arch}.pth"
    torch.save(reference.state_dict(), path)

    x = np.random.default_rng(1).normal(size=(2, size, size, 3)).astype(np.float32)
    torch_logits, torch_acts = torch_refs.activations(reference, torch.from_numpy(x.transpose(0, 3, 1, 2)))

    model = models.get(arch)
    variables = convert(path, arch)
    flax_names = door.layer_names(model, variables, x.shape)
    not_ported = sorted(set(torch_acts) - set(flax_names))
    assert not not_ported, f"PyTorch modules without a Flax layer of the same name: {not_ported}"
    common = [name for name in flax_names if name in torch_acts]
    acts = door.taps(model, variables, x, common + ["logits"])
    logits = acts["logits"]

    assert relative_error(np.asarray(logits), torch_logits.numpy()) < REL_TOL
    errors = {name: relative_error(np.asarray(acts[name]), to_nhwc(torch_acts[name])) for name in common}
    worst = max(errors, key=errors.get)
    assert errors[worst] < REL_TOL, f"{worst}: relative error {errors[worst]:.2e}"
    assert len(common) >= 10
