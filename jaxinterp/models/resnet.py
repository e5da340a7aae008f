"""torchvision's ResNets (ImageNet) and huyvnphan/PyTorch_CIFAR10's CIFAR variant.

:class:`ResNet` is ``torchvision.models.resnet``: ``conv1`` 7x7/2 (pad 3),
``bn1``, ``relu``, ``maxpool`` 3x3/2 (pad 1), ``layer1..4`` of
:class:`BasicBlock` or :class:`Bottleneck`, ``avgpool`` (adaptive, 1x1) and ``fc``.
:class:`CifarStemResNet` is huyvnphan's copy for CIFAR-10: the same network with
a 3x3 stride-1 stem (pad 1), the max-pool kept, 10 classes and CIFAR mean/std
(METHODS §1.1).

Shapes: ResNet-50 at [n, 224, 224, 3]: layer1 [n, 56, 56, 256] ... layer4
[n, 7, 7, 2048], logits [n, 1000]. CIFAR ResNet-50 at [n, 32, 32, 3]: layer1
[n, 16, 16, 256], layer2 [n, 8, 8, 512], layer3 [n, 4, 4, 1024], layer4
[n, 2, 2, 2048], logits [n, 10].

Each block has one ``relu`` module called after every BN and after the residual
sum, as in torchvision; capturing ``layer1.0.relu`` returns its last call (the
block output), like a PyTorch forward hook.
"""

from __future__ import annotations

import functools
from typing import ClassVar

import jax
import flax.linen as nn

from jaxinterp.models.base import ImageNetModel, ReLU
from jaxinterp.models.layers import (
    AdaptiveAvgPool2d, MaxPool2d, Sequential, batch_norm, conv2d, flatten_nchw,
)

CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2471, 0.2435, 0.2616)


def _downsample(planes: int, stride: int, train: bool) -> Sequential:
    """``downsample``: 1x1 conv with stride ``stride`` (``.0``) then BN (``.1``)."""
    return functools.partial(
        Sequential,
        (
            functools.partial(conv2d, planes, 1, stride, 0, False),
            functools.partial(batch_norm, train),
        ),
    )


class BasicBlock(nn.Module):
    """Two 3x3 convs and an identity (or ``downsample``) shortcut: [n,h,w,in] -> [n,h/s,w/s,planes]."""

    planes: int
    stride: int = 1
    train: bool = False

    EXPANSION: ClassVar[int] = 1

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        relu = ReLU(name="relu")
        out = conv2d(self.planes, 3, self.stride, 1, False, name="conv1")(x)
        out = relu(batch_norm(self.train, "bn1")(out))
        out = conv2d(self.planes, 3, 1, 1, False, name="conv2")(out)
        out = batch_norm(self.train, "bn2")(out)
        if self.stride != 1 or x.shape[-1] != self.planes:
            x = _downsample(self.planes, self.stride, self.train)(name="downsample")(x)
        return relu(out + x)


class Bottleneck(nn.Module):
    """1x1 -> 3x3 (stride here, torchvision v1.5) -> 1x1 x4: [n,h,w,in] -> [n,h/s,w/s,4*planes]."""

    planes: int
    stride: int = 1
    train: bool = False

    EXPANSION: ClassVar[int] = 4

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        relu = ReLU(name="relu")
        width = self.planes * self.EXPANSION
        out = conv2d(self.planes, 1, 1, 0, False, name="conv1")(x)
        out = relu(batch_norm(self.train, "bn1")(out))
        out = conv2d(self.planes, 3, self.stride, 1, False, name="conv2")(out)
        out = relu(batch_norm(self.train, "bn2")(out))
        out = conv2d(width, 1, 1, 0, False, name="conv3")(out)
        out = batch_norm(self.train, "bn3")(out)
        if self.stride != 1 or x.shape[-1] != width:
            x = _downsample(width, self.stride, self.train)(name="downsample")(x)
        return relu(out + x)


BLOCKS = {"basic": BasicBlock, "bottleneck": Bottleneck}
LAYOUTS = {18: ("basic", (2, 2, 2, 2)), 34: ("basic", (3, 4, 6, 3)), 50: ("bottleneck", (3, 4, 6, 3))}


class ResNet(ImageNetModel):
    """torchvision ResNet-18/34/50 for ImageNet: [n, h, w, 3] -> [n, num_classes].

    Attributes:
      depth: 18, 34 or 50.
      num_classes: outputs of ``fc``.
    """

    depth: int = 50
    num_classes: int = 1000

    STEM: ClassVar[tuple[int, int, int]] = (7, 2, 3)  # kernel, stride, padding of conv1

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        if self.depth not in LAYOUTS:
            raise ValueError(f"ResNet depth must be one of {sorted(LAYOUTS)}, got {self.depth}")
        kind, counts = LAYOUTS[self.depth]
        block = BLOCKS[kind]
        kernel, stride, padding = self.STEM
        x = conv2d(64, kernel, stride, padding, False, name="conv1")(x)
        x = ReLU(name="relu")(batch_norm(train, "bn1")(x))
        x = MaxPool2d(3, 2, 1, name="maxpool")(x)
        for stage, (planes, count) in enumerate(zip((64, 128, 256, 512), counts), start=1):
            first_stride = 1 if stage == 1 else 2
            layers = [
                functools.partial(block, planes, first_stride if i == 0 else 1, train)
                for i in range(count)
            ]
            x = Sequential(tuple(layers), name=f"layer{stage}")(x)
        x = flatten_nchw(AdaptiveAvgPool2d(1, name="avgpool")(x))
        return nn.Dense(self.num_classes, name="fc")(x)


class CifarStemResNet(ResNet):
    """huyvnphan/PyTorch_CIFAR10 ResNet-18/34/50: torchvision's with a 3x3/1 stem, 10 classes."""

    depth: int = 50
    num_classes: int = 10

    MEAN: ClassVar[tuple[float, ...]] = CIFAR_MEAN
    STD: ClassVar[tuple[float, ...]] = CIFAR_STD
    INPUT_SIZE: ClassVar[int] = 32
    PREPROCESS: ClassVar[None] = None  # CIFAR images are 32 px already
    CLASSES: ClassVar[str] = "cifar10"
    STEM: ClassVar[tuple[int, int, int]] = (3, 1, 1)
