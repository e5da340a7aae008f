"""The zoo is reachable by name, with each family's input convention."""

from __future__ import annotations

import jax
import pytest

from jaxinterp import door, models

ZOO = [f"cifar_resnet{d}" for d in (20, 32, 44, 56, 110, 18, 34, 50)] + [
    "alexnet", "vgg16", "resnet18", "resnet50", "googlenet",
]


def test_every_port_is_registered():
    assert set(ZOO) <= set(models.names())


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


def test_names_of_lpips_taps_and_shapes_at_cifar_size(key):
    model = models.get("alexnet")
    variables = jax.eval_shape(lambda: models.init(model, key, 64))  # shapes only: no 61M floats
    shapes = door.layer_shapes(model, variables, (1, 32, 32, 3))
    assert [shapes[f"features.{i}"][1:] for i in (1, 4, 7, 9, 11)] == [
        (7, 7, 64), (3, 3, 192), (1, 1, 384), (1, 1, 256), (1, 1, 256)
    ]
    assert shapes["avgpool"] == (1, 6, 6, 256) and shapes["classifier.6"] == (1, 1000)
