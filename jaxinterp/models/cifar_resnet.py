"""He et al.'s CIFAR-10 ResNets (option-A shortcuts), as akamaster/pytorch_resnet_cifar10.

``CifarResNet(depth)`` with depth = 6n + 2 (20, 32, 44, 56, 110): a 3x3 stem
``conv1``/``bn1`` (3 -> 16), stages ``layer1..3`` of n :class:`BasicBlock` each
(16, 32, 64 channels; stride 2 at the first block of stages 2 and 3), global
average pooling and ``linear`` 64 -> 10. Layer names are the PyTorch module
names: ``layer2.0.conv1``, ``layer2.0.shortcut``, ``layer3`` ...

Shapes for a [n, 32, 32, 3] input: layer1 [n, 32, 32, 16], layer2 [n, 16, 16, 32],
layer3 [n, 8, 8, 64], logits [n, 10].

The reference applies ReLUs functionally (``F.relu``), so they have no names (they go
through :func:`jaxinterp.models.base.relu`, which feature visualisation can swap);
a block's output (``layer1.0``) is post-ReLU.
"""

from __future__ import annotations

import functools
from typing import ClassVar

import jax
import jax.numpy as jnp
import flax.linen as nn

from jaxinterp.models.base import IMAGENET_MEAN, IMAGENET_STD, ImageModel, relu
from jaxinterp.models.layers import Sequential, batch_norm, conv2d


class OptionAShortcut(nn.Module):
    """Identity, or ``x[:, ::2, ::2]`` zero-padded with ``pad`` channels on each side.

    [n, h, w, c] -> [n, h, w, c] (pad = 0) or [n, h/2, w/2, c + 2*pad].
    """

    pad: int = 0

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        if self.pad == 0:
            return x
        return jnp.pad(x[:, ::2, ::2, :], ((0, 0), (0, 0), (0, 0), (self.pad, self.pad)))


class BasicBlock(nn.Module):
    """relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)): [n,h,w,in] -> [n,h/s,w/s,planes]."""

    planes: int
    stride: int = 1
    train: bool = False

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        out = conv2d(self.planes, 3, self.stride, 1, bias=False, name="conv1")(x)
        out = relu(batch_norm(self.train, "bn1")(out))
        out = conv2d(self.planes, 3, 1, 1, bias=False, name="conv2")(out)
        out = batch_norm(self.train, "bn2")(out)
        changes = self.stride != 1 or x.shape[-1] != self.planes
        out = out + OptionAShortcut(self.planes // 4 if changes else 0, name="shortcut")(x)
        return relu(out)


class CifarResNet(ImageModel):
    """ResNet-(6n+2) for 32x32 CIFAR images: [n, 32, 32, 3] -> [n, num_classes].

    Attributes:
      depth: 20, 32, 44, 56 or 110 (any 6n + 2).
      num_classes: outputs of ``linear``.
    """

    depth: int = 20
    num_classes: int = 10

    MEAN: ClassVar[tuple[float, ...]] = IMAGENET_MEAN  # akamaster normalises with ImageNet stats
    STD: ClassVar[tuple[float, ...]] = IMAGENET_STD
    INPUT_SIZE: ClassVar[int] = 32
    CLASSES: ClassVar[str] = "cifar10"

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        if (self.depth - 2) % 6:
            raise ValueError(f"CifarResNet depth must be 6n + 2 (20, 32, 44, 56, 110), got {self.depth}")
        blocks = (self.depth - 2) // 6
        x = conv2d(16, 3, 1, 1, bias=False, name="conv1")(x)
        x = relu(batch_norm(train, "bn1")(x))
        for stage, (planes, stride) in enumerate(((16, 1), (32, 2), (64, 2)), start=1):
            layers = [
                functools.partial(BasicBlock, planes, stride if i == 0 else 1, train)
                for i in range(blocks)
            ]
            x = Sequential(tuple(layers), name=f"layer{stage}")(x)
        x = jnp.mean(x, axis=(1, 2))  # F.avg_pool2d over the whole 8x8 map
        return nn.Dense(self.num_classes, name="linear")(x)


DEPTHS = (20, 32, 44, 56, 110)

