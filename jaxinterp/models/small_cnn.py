"""A small CNN for the demo: three conv-BN-ReLU blocks, global average pool, linear.

Layer names follow what a PyTorch port would call them:
``conv1 bn1 relu1 conv2 bn2 relu2 conv3 bn3 relu3 pool fc``.
"""

from __future__ import annotations

from typing import ClassVar, Sequence

import jax.numpy as jnp
import flax.linen as nn

from jaxinterp.models.base import ImageModel, ReLU
from jaxinterp.models.layers import batch_norm


class GlobalAvgPool(nn.Module):
    """``nn.AdaptiveAvgPool2d(1)`` followed by ``flatten``: [n, h, w, c] -> [n, c]."""

    @nn.compact
    def __call__(self, x):
        return jnp.mean(x, axis=(1, 2))


class SmallCNN(ImageModel):
    """conv(3x3, w0) -> conv(3x3, w1, stride 2) -> conv(3x3, w2, stride 2) -> pool -> fc.

    Attributes:
      widths: channels of the three conv blocks.
      num_classes: outputs of ``fc``.
    """

    widths: Sequence[int] = (16, 64, 64)
    num_classes: int = 10

    MEAN: ClassVar[tuple[float, ...]] = (0.5,)
    STD: ClassVar[tuple[float, ...]] = (0.25,)
    IN_CHANNELS: ClassVar[int] = 1
    INPUT_SIZE: ClassVar[int] = 8
    CLASSES: ClassVar[str | None] = "digits"

    @nn.compact
    def __call__(self, x, train: bool = False):
        for i, (width, stride) in enumerate(zip(self.widths, (1, 2, 2)), start=1):
            x = nn.Conv(
                width, (3, 3), strides=(stride, stride), padding=((1, 1), (1, 1)),
                use_bias=False, name=f"conv{i}",
            )(x)
            x = batch_norm(train, f"bn{i}")(x)
            x = ReLU(name=f"relu{i}")(x)
        x = GlobalAvgPool(name="pool")(x)
        return nn.Dense(self.num_classes, name="fc")(x)


class SmallCNNRGB(SmallCNN):
    """The same network for 32x32 RGB images (CIFAR size); used by benchmarks and tests."""

    widths: Sequence[int] = (32, 64, 128)

    MEAN: ClassVar[tuple[float, ...]] = (0.4914, 0.4822, 0.4465)
    STD: ClassVar[tuple[float, ...]] = (0.2471, 0.2435, 0.2616)
    IN_CHANNELS: ClassVar[int] = 3
    INPUT_SIZE: ClassVar[int] = 32
    CLASSES: ClassVar[str | None] = None  # trained on whatever a test or benchmark gives it
