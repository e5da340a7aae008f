"""The zoo is reachable by name, with each family's input convention."""

from __future__ import annotations

import jax
import pytest

from jaxinterp import door, models

# trainable parameters of each original, as published: akamaster/pytorch_resnet_cifar10's README
# (ResNet-20 .. 110), huyvnphan/PyTorch_CIFAR10 (ResNet-18/34/50), torchvision's model docs
# (GoogLeNet without its auxiliary heads, which are training-only)
PUBLISHED_PARAMETERS = {
    "cifar_resnet20": 269_722, "cifar_resnet32": 464_154, "cifar_resnet44": 658_586,
    "cifar_resnet56": 853_018, "cifar_resnet110": 1_727_962,
    "cifar_resnet18": 11_173_962, "cifar_resnet34": 21_282_122, "cifar_resnet50": 23_520_842,
    "alexnet": 61_100_840, "vgg16": 138_357_544, "resnet18": 11_689_512, "resnet50": 25_557_032,
    "googlenet": 6_624_904,
}
ZOO = list(PUBLISHED_PARAMETERS)


@pytest.mark.parametrize("arch", ZOO)
def test_every_port_is_registered_with_the_originals_parameter_count(arch, key):
    assert arch in models.names()
    model = models.get(arch)
    size = 32 if model.INPUT_SIZE == 32 else 64  # counts do not depend on the input size
    shapes = jax.eval_shape(lambda: models.init(model, key, size))  # shapes only: no weights
    assert sum(x.size for x in jax.tree_util.tree_leaves(shapes["params"])) == PUBLISHED_PARAMETERS[arch]


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(ValueError, match="known architectures: .*cifar_resnet20.*vgg16"):
        models.get("resnet21")


@pytest.mark.parametrize(
    "arch,mean,size",
    [
        ("cifar_resnet20", (0.485, 0.456, 0.406), 32),  # akamaster normalises with ImageNet stats
        ("cifar_resnet50", (0.4914, 0.4822, 0.4465), 32),
        ("resnet50", (0.485, 0.456, 0.406), 224),
        ("googlenet", (0.5, 0.5, 0.5), 224),  # torchvision's transform_input folded in
    ],
)
def test_input_convention(arch, mean, size):
    model = models.get(arch)
    assert model.MEAN == mean and model.INPUT_SIZE == size and model.IN_CHANNELS == 3


def test_families_and_registering_a_new_model(monkeypatch):
    """torchvision's ImageNet family shares mean, std and 224-px inputs; the CIFAR-stem ResNets are
    that family's networks with CIFAR's convention; a registered factory is found by name, once."""
    from jaxinterp.models import registry

    for name in ("alexnet", "vgg16", "resnet18", "resnet50"):
        model = models.get(name)
        assert isinstance(model, models.ImageNetModel) and model.INPUT_SIZE == 224
        assert model.STD == (0.229, 0.224, 0.225)
    for depth in (18, 34, 50):
        model = models.get(f"cifar_resnet{depth}")
        assert isinstance(model, models.CifarStemResNet) and model.depth == depth and model.INPUT_SIZE == 32
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))  # leave the zoo as it was
    models.register("tiny_rgb", lambda: models.get("small_cnn_rgb").clone(widths=(4, 4, 4)))
    assert "tiny_rgb" in models.names() and models.get("tiny_rgb").widths == (4, 4, 4)
    with pytest.raises(ValueError, match="registered twice"):
        models.register("tiny_rgb", lambda: None)


def test_names_of_lpips_taps_and_shapes_at_cifar_size(key):
    model = models.get("alexnet")
    variables = jax.eval_shape(lambda: models.init(model, key, 64))  # shapes only: no 61M floats
    shapes = door.layer_shapes(model, variables, (1, 32, 32, 3))
    assert [shapes[f"features.{i}"][1:] for i in (1, 4, 7, 9, 11)] == [
        (7, 7, 64), (3, 3, 192), (1, 1, 384), (1, 1, 256), (1, 1, 256)
    ]
    assert shapes["avgpool"] == (1, 6, 6, 256) and shapes["classifier.6"] == (1, 1000)
