"""The model interface every jaxinterp model follows.

A model is a Flax ``linen`` module whose submodules are named exactly like the
PyTorch modules they port (``conv1``, ``layer1`` > ``0`` > ``conv2``,
``features`` > ``3``). Any submodule's output can then be asked for by its
PyTorch name (``"layer1.0.conv2"``) without the model knowing which layers a
user wants: :mod:`jaxinterp.door` (the one way into a model's insides) reads them.

Each model class also declares its input convention as class variables:
``MEAN``, ``STD`` (per channel, applied to images in [0, 1]), ``IN_CHANNELS``,
``INPUT_SIZE`` (the spatial size it was trained at), ``PREPROCESS`` (how an image
file is brought to that size: :class:`Preprocess`, or None when files must already
have it) and ``CLASSES`` (the class list its outputs index: see
:func:`jaxinterp.models.class_names`).
"""

from __future__ import annotations

import contextlib
import contextvars
from typing import Any, Callable, ClassVar, Mapping, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

Variables = Mapping[str, Any]


_RELU: contextvars.ContextVar[Callable | None] = contextvars.ContextVar("jaxinterp_relu", default=None)


def relu(x: jax.Array) -> jax.Array:
    """Every ReLU of every model goes through here: ``nn.relu`` unless :func:`relu_override` is active.

    One entry point lets feature visualisation swap the ReLU's gradient (Lucid's
    redirected ReLU) in all models at trace time without touching their numbers.
    """
    override = _RELU.get()
    return nn.relu(x) if override is None else override(x)


def active_relu() -> Callable[[jax.Array], jax.Array]:
    """The function model ReLUs call right now (``nn.relu`` outside :func:`relu_override`)."""
    return _RELU.get() or nn.relu


@contextlib.contextmanager
def relu_override(fn: Callable[[jax.Array], jax.Array]):
    """Within this block (while tracing), every model ReLU calls ``fn(x)`` instead of ``nn.relu``."""
    token = _RELU.set(fn)
    try:
        yield
    finally:
        _RELU.reset(token)


class ReLU(nn.Module):
    """``torch.nn.ReLU`` as a module, so that its output has a name to capture."""

    @nn.compact
    def __call__(self, x):
        return relu(x)


class Preprocess(NamedTuple):
    """How an image file becomes a model input, as torchvision's evaluation transforms do it:
    resize the shorter side to ``resize`` pixels (bilinear, ``Resize(resize)``), then cut the
    centre ``crop`` x ``crop`` (``CenterCrop(crop)``). Scaling to [0, 1] and the model's
    normalisation (:meth:`ImageModel.normalize`) follow on the device."""

    resize: int
    crop: int


IMAGENET_PREPROCESS = Preprocess(resize=256, crop=224)  # torchvision's ImageNet evaluation transforms
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class ImageModel(nn.Module):
    """Base class: ``__call__(x, train=False)`` maps normalised NHWC images to logits."""

    MEAN: ClassVar[tuple[float, ...]] = (0.0, 0.0, 0.0)
    STD: ClassVar[tuple[float, ...]] = (1.0, 1.0, 1.0)
    IN_CHANNELS: ClassVar[int] = 3
    INPUT_SIZE: ClassVar[int | None] = None
    PREPROCESS: ClassVar[Preprocess | None] = None  # None: image files must be INPUT_SIZE already
    CLASSES: ClassVar[str | None] = None  # "imagenet", "cifar10", "digits" (models.classes) or None

    def normalize(self, images01: jax.Array) -> jax.Array:
        """[n, h, w, c] images in [0, 1] -> the model's normalised input."""
        mean = jnp.asarray(self.MEAN, images01.dtype)
        std = jnp.asarray(self.STD, images01.dtype)
        return (images01 - mean[None, None, None, :]) / std[None, None, None, :]


class ImageNetModel(ImageModel):
    """An RGB model of torchvision's ImageNet family: ImageNet mean/std, 224×224 inputs cut from
    images resized to 256 on their shorter side, the 1,000 ImageNet classes."""

    MEAN: ClassVar[tuple[float, ...]] = IMAGENET_MEAN
    STD: ClassVar[tuple[float, ...]] = IMAGENET_STD
    INPUT_SIZE: ClassVar[int | None] = 224
    PREPROCESS: ClassVar[Preprocess | None] = IMAGENET_PREPROCESS
    CLASSES: ClassVar[str | None] = "imagenet"


def init(model: ImageModel, key: jax.Array, input_size: int | None = None) -> dict:
    """Random initial variables for ``model`` (for tests and training from scratch)."""
    size = input_size or model.INPUT_SIZE or 32
    x = jnp.zeros((1, size, size, model.IN_CHANNELS), jnp.float32)
    return dict(model.init(key, x, train=False))
