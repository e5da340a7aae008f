"""Models by name: ``get("small_cnn") -> ImageModel``; ``names()`` lists them.

A model family registers a factory with :func:`register`. Factories take no
arguments: a name fixes an architecture completely (depth, widths, classes).
"""

from __future__ import annotations

from typing import Callable

from jaxinterp.models.base import ImageModel

_REGISTRY: dict[str, Callable[[], ImageModel]] = {}


def register(name: str, factory: Callable[[], ImageModel]) -> None:
    if name in _REGISTRY:
        raise ValueError(f"model name {name!r} is registered twice")
    _REGISTRY[name] = factory


def names() -> list[str]:
    """The registered architecture names, sorted."""
    return sorted(_REGISTRY)


def get(name: str) -> ImageModel:
    """The model registered as ``name``; unknown names list the known ones."""
    try:
        return _REGISTRY[name]()
    except KeyError:
        raise ValueError(
            f"unknown architecture {name!r}; known architectures: {', '.join(names())}"
        ) from None


def class_names(name: str) -> tuple[str, ...] | None:
    """The names of the classes architecture ``name`` predicts, in output order (ImageNet's 1,000,
    CIFAR-10's 10, the digits), or None when its classes have no names."""
    from jaxinterp.models import classes

    model = get(name)
    found = classes.names(model.CLASSES)
    width = getattr(model, "num_classes", None)
    if found is not None and width is not None and len(found) != width:
        return None  # a variant with another head (num_classes=...) predicts other classes
    return found


def _register_builtin() -> None:
    import functools

    from jaxinterp.models import cifar_resnet
    from jaxinterp.models.alexnet import AlexNet
    from jaxinterp.models.googlenet import GoogLeNet
    from jaxinterp.models.resnet import CifarStemResNet, ResNet
    from jaxinterp.models.small_cnn import SmallCNN, SmallCNNRGB
    from jaxinterp.models.vgg import VGG

    register("small_cnn", SmallCNN)
    register("small_cnn_rgb", SmallCNNRGB)
    for depth in cifar_resnet.DEPTHS:  # He et al. option A, akamaster/pytorch_resnet_cifar10
        register(f"cifar_resnet{depth}", functools.partial(cifar_resnet.CifarResNet, depth=depth))
    for depth in (18, 34, 50):  # huyvnphan/PyTorch_CIFAR10
        register(f"cifar_resnet{depth}", functools.partial(CifarStemResNet, depth=depth))
    register("alexnet", AlexNet)  # torchvision, ImageNet
    register("vgg16", VGG)
    register("resnet18", functools.partial(ResNet, depth=18))
    register("resnet50", functools.partial(ResNet, depth=50))
    register("googlenet", GoogLeNet)


_register_builtin()


def name_of(model: ImageModel) -> str | None:
    """The registered name of an architecture equal to ``model`` (None if it has none)."""
    for name, factory in _REGISTRY.items():
        try:
            if factory() == model:
                return name
        except Exception:  # noqa: BLE001 - a factory that cannot build here is not it
            continue
    return None
