"""Every registered ImageNet architecture against torchvision 0.28.0's own model class.

Each torchvision model gets seeded random weights and BatchNorm statistics
(``torch_refs.randomize``), is saved with ``torch.save``, converted with the converter, and
both run one batch: logits and every layer of the same name must agree. GoogLeNet also runs
with ``transform_input=True``, as torchvision's pretrained weights do: the port folds that
transform into its normalisation (MEAN = STD = 0.5), so the two see the same pixels through
their own conventions.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from converters import convert  # noqa: E402
from jaxinterp import door, models  # noqa: E402
from tests._refs import torchvision_or_skip  # noqa: E402
from tests.models.torch_refs import activations, randomize  # noqa: E402
from tests.models.test_zoo_parity import REL_TOL, relative_error, to_nhwc  # noqa: E402

IMAGENET_MEAN, IMAGENET_STD = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
SIZES = {"alexnet": 64, "vgg16": 32, "resnet18": 64, "resnet50": 64, "googlenet": 64}


def build(arch: str, **kwargs):
    tv = torchvision_or_skip()
    with torch.device("meta"):  # no default init: randomize() sets every tensor
        model = getattr(tv.models, arch)(weights=None, **kwargs)
    return randomize(model.to_empty(device="cpu"), seed=0)


def test_every_imagenet_architecture_is_covered():
    imagenet = {n for n in models.names() if models.get(n).INPUT_SIZE == 224}
    assert imagenet == set(SIZES)


@pytest.mark.parametrize("arch,kwargs", [(a, {}) for a in SIZES] + [("googlenet", {"transform_input": True})],
                         ids=[*SIZES, "googlenet-transform_input"])
def test_equals_torchvisions_class(arch, kwargs, tmp_path):
    reference = build(arch, **kwargs)
    path = tmp_path / f"{arch}.pth"
    torch.save(reference.state_dict(), path)
    size = SIZES[arch]
    pixels = np.random.default_rng(1).uniform(size=(2, size, size, 3))  # [0, 1] images
    if kwargs.get("transform_input"):
        # torchvision: ImageNet-normalised input, mapped inside to (pixels - 0.5) / 0.5
        theirs = (pixels - IMAGENET_MEAN) / IMAGENET_STD
    else:
        theirs = pixels
    model = models.get(arch)
    # with transform_input, the port's own normalisation (MEAN = STD = 0.5) of the same pixels
    ours = (pixels - np.array(model.MEAN)) / np.array(model.STD) if kwargs.get("transform_input") else theirs
    logits, acts = activations(reference, torch.from_numpy(theirs.transpose(0, 3, 1, 2)).float(), once=True)

    variables = convert(path, arch)
    x = ours.astype(np.float32)
    names = door.layer_names(model, variables, x.shape)
    common = [n for n in names if n in acts]
    assert len(common) >= 8, common
    got = door.taps(model, variables, x, common + ["logits"])
    assert relative_error(np.asarray(got["logits"]), logits.numpy()) < REL_TOL
    errors = {n: relative_error(np.asarray(got[n]), to_nhwc(acts[n])) for n in common}
    worst = max(errors, key=errors.get)
    assert errors[worst] < REL_TOL, f"{worst}: relative error {errors[worst]:.2e}"
    # every name the port lists is addressable
    assert set(door.taps(model, variables, x[:1], names)) == set(names)
