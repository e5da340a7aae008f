"""torchvision's VGG-16 (configuration D, no batch norm), with torchvision's module names.

``features.N`` alternates 3x3 convs (pad 1) and ReLUs, with 2x2 max-pools at
``features.4, .9, .16, .23, .30``; ReLUs at ``features.1, .3, .6, .8, .11,
.13, .15, .18, .20, .22, .25, .27, .29`` (LPIPS taps ``.3, .8, .15, .22,
.29``); ``avgpool`` adaptive 7x7; ``classifier.0`` linear 25088 -> 4096, ``.1``
ReLU, ``.2`` dropout, ``.3`` linear 4096 -> 4096, ``.4`` ReLU, ``.5`` dropout,
``.6`` linear 4096 -> 1000.

Shapes at [n, 224, 224, 3]: features.29 [n, 14, 14, 512], features.30
[n, 7, 7, 512], logits [n, 1000]. At 32x32, features.30 is 1x1 and ``avgpool``
replicates it to 7x7, as PyTorch does.
"""

from __future__ import annotations

import functools
from typing import Sequence

import jax
import flax.linen as nn

from jaxinterp.models.base import ImageNetModel, ReLU
from jaxinterp.models.layers import AdaptiveAvgPool2d, MaxPool2d, Sequential, conv2d, flatten_nchw

P = functools.partial

VGG16_CONFIG = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")


class VGG(ImageNetModel):
    """VGG without batch norm: [n, h, w, 3] (h, w >= 32) -> [n, num_classes].

    Attributes:
      config: channels per conv and ``"M"`` for max-pools (torchvision's ``cfgs``).
      num_classes: outputs of ``classifier.6``.
      dropout: rate of ``classifier.2`` and ``classifier.5`` (only with ``train=True``).
    """

    config: Sequence[int | str] = VGG16_CONFIG
    num_classes: int = 1000
    dropout: float = 0.5

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        features = []
        for item in self.config:
            if item == "M":
                features.append(P(MaxPool2d, 2, 2))
            else:
                features += [P(conv2d, item, 3, 1, 1), ReLU]
        x = Sequential(tuple(features), name="features")(x)
        x = flatten_nchw(AdaptiveAvgPool2d(7, name="avgpool")(x))
        dropout = P(nn.Dropout, self.dropout, deterministic=not train)
        classifier = (
            P(nn.Dense, 4096), ReLU, dropout,
            P(nn.Dense, 4096), ReLU, dropout,
            P(nn.Dense, self.num_classes),
        )
        return Sequential(classifier, name="classifier")(x)
