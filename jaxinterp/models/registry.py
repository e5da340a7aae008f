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


def _register_builtin() -> None:
    from jaxinterp.models.small_cnn import SmallCNN, SmallCNNRGB

    register("small_cnn", SmallCNN)
    register("small_cnn_rgb", SmallCNNRGB)


_register_builtin()
