"""torchvision's GoogLeNet (Inception v1), with torchvision's module names.

``conv1`` 7x7/2 64, ``maxpool1`` 3/2 (ceil), ``conv2`` 1x1 64, ``conv3`` 3x3 192,
``maxpool2`` 3/2 (ceil), ``inception3a``, ``inception3b``, ``maxpool3``,
``inception4a`` ... ``inception4e``, ``maxpool4`` 2/2 (ceil), ``inception5a``,
``inception5b``, ``avgpool`` (adaptive 1x1), ``dropout``, ``fc`` 1024 -> 1000.
Every conv is a :class:`BasicConv2d` (``conv`` without bias, ``bn`` with eps
1e-3, functional ReLU). An :class:`Inception` block concatenates ``branch1``
(1x1), ``branch2.0/.1`` (1x1, 3x3), ``branch3.0/.1`` (1x1, 3x3: torchvision's
"5x5" branch really is 3x3) and ``branch4.0/.1`` (3x3/1 max-pool, 1x1).

Shapes at [n, 224, 224, 3]: inception3a [n, 28, 28, 256], inception4a
[n, 14, 14, 512], inception5b [n, 7, 7, 1024], logits [n, 1000].

Differences from ``torchvision.models.googlenet``, deliberate:

* No ``transform_input``. torchvision's pretrained weights run with
  ``transform_input=True``, which maps ImageNet-normalised input to
  ``(x - 0.5) / 0.5``; the port does that in :meth:`normalize` instead, so
  ``MEAN = STD = (0.5, 0.5, 0.5)``.
* No auxiliary heads (they only act in training). Checkpoints that carry
  ``aux1.*``/``aux2.*`` keys convert: those keys are listed in
  ``IGNORED_CHECKPOINT_PREFIXES`` and dropped by the converter.
"""

from __future__ import annotations

import functools
from typing import ClassVar

import jax
import jax.numpy as jnp
import flax.linen as nn

from jaxinterp.models.base import IMAGENET_PREPROCESS, ImageModel, Preprocess, relu
from jaxinterp.models.layers import (
    AdaptiveAvgPool2d, MaxPool2d, Sequential, batch_norm, conv2d, flatten_nchw,
)

P = functools.partial


class BasicConv2d(nn.Module):
    """relu(bn(conv(x))) with bn eps 1e-3: [n, h, w, c] -> [n, h', w', features]."""

    features: int
    kernel: int
    stride: int = 1
    padding: int = 0
    train: bool = False

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        x = conv2d(self.features, self.kernel, self.stride, self.padding, False, name="conv")(x)
        return relu(batch_norm(self.train, "bn", epsilon=1e-3)(x))


class Inception(nn.Module):
    """Four parallel branches, concatenated: [n, h, w, c] -> [n, h, w, c1 + c3 + c5 + pool_proj]."""

    ch1x1: int
    ch3x3red: int
    ch3x3: int
    ch5x5red: int
    ch5x5: int
    pool_proj: int
    train: bool = False

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        def conv(*args, **kwargs):  # a factory for Sequential, not yet a module
            return P(BasicConv2d, *args, train=self.train, **kwargs)

        b1 = conv(self.ch1x1, 1)(name="branch1")(x)
        b2 = Sequential((conv(self.ch3x3red, 1), conv(self.ch3x3, 3, padding=1)), name="branch2")(x)
        b3 = Sequential((conv(self.ch5x5red, 1), conv(self.ch5x5, 3, padding=1)), name="branch3")(x)
        pool = P(MaxPool2d, 3, 1, 1, True)
        b4 = Sequential((pool, conv(self.pool_proj, 1)), name="branch4")(x)
        return jnp.concatenate([b1, b2, b3, b4], axis=-1)


INCEPTIONS = {
    "inception3a": (64, 96, 128, 16, 32, 32),
    "inception3b": (128, 128, 192, 32, 96, 64),
    "inception4a": (192, 96, 208, 16, 48, 64),
    "inception4b": (160, 112, 224, 24, 64, 64),
    "inception4c": (128, 128, 256, 24, 64, 64),
    "inception4d": (112, 144, 288, 32, 64, 64),
    "inception4e": (256, 160, 320, 32, 128, 128),
    "inception5a": (256, 160, 320, 32, 128, 128),
    "inception5b": (384, 192, 384, 48, 128, 128),
}


class GoogLeNet(ImageModel):
    """GoogLeNet: [n, h, w, 3] (h, w >= 33) -> [n, num_classes].

    Attributes:
      num_classes: outputs of ``fc``.
      dropout: rate of ``dropout`` before ``fc`` (only with ``train=True``).
    """

    num_classes: int = 1000
    dropout: float = 0.2

    MEAN: ClassVar[tuple[float, ...]] = (0.5, 0.5, 0.5)
    STD: ClassVar[tuple[float, ...]] = (0.5, 0.5, 0.5)
    INPUT_SIZE: ClassVar[int] = 224
    PREPROCESS: ClassVar[Preprocess] = IMAGENET_PREPROCESS
    CLASSES: ClassVar[str] = "imagenet"
    IGNORED_CHECKPOINT_PREFIXES: ClassVar[tuple[str, ...]] = ("aux1.", "aux2.")

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        conv = P(BasicConv2d, train=train)
        x = conv(64, 7, 2, 3, name="conv1")(x)
        x = MaxPool2d(3, 2, 0, True, name="maxpool1")(x)
        x = conv(64, 1, name="conv2")(x)
        x = conv(192, 3, padding=1, name="conv3")(x)
        x = MaxPool2d(3, 2, 0, True, name="maxpool2")(x)
        for name, channels in INCEPTIONS.items():
            x = Inception(*channels, train=train, name=name)(x)
            if name == "inception3b":
                x = MaxPool2d(3, 2, 0, True, name="maxpool3")(x)
            elif name == "inception4e":
                x = MaxPool2d(2, 2, 0, True, name="maxpool4")(x)
        x = flatten_nchw(AdaptiveAvgPool2d(1, name="avgpool")(x))
        x = nn.Dropout(self.dropout, deterministic=not train, name="dropout")(x)
        return nn.Dense(self.num_classes, name="fc")(x)
