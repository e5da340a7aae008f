"""torchvision's AlexNet (ImageNet), with torchvision's module names.

``features.0`` conv 11x11/4 (pad 2) 64, ``.1`` ReLU, ``.2`` max-pool 3/2,
``.3`` conv 5x5 (pad 2) 192, ``.4`` ReLU, ``.5`` max-pool, ``.6`` conv 3x3 384,
``.7`` ReLU, ``.8`` conv 256, ``.9`` ReLU, ``.10`` conv 256, ``.11`` ReLU,
``.12`` max-pool; ``avgpool`` adaptive 6x6; ``classifier.0`` dropout, ``.1``
linear 9216 -> 4096, ``.2`` ReLU, ``.3`` dropout, ``.4`` linear 4096 -> 4096,
``.5`` ReLU, ``.6`` linear 4096 -> 1000. LPIPS taps ``features.1, .4, .7, .9, .11``.

Shapes at [n, 224, 224, 3]: features.1 [n, 55, 55, 64], features.12
[n, 6, 6, 256], logits [n, 1000]. At 32x32 (CIFAR-size LPIPS) the taps are
7x7, 3x3, 1x1, 1x1, 1x1.

Unlike PyTorch, where in-place ReLUs overwrite a hooked conv output, the
``features.0`` activation here is the conv output before the ReLU.
"""

from __future__ import annotations

import functools

import jax
import flax.linen as nn

from jaxinterp.models.base import ImageNetModel, ReLU
from jaxinterp.models.layers import AdaptiveAvgPool2d, MaxPool2d, Sequential, conv2d, flatten_nchw

P = functools.partial


class AlexNet(ImageNetModel):
    """AlexNet: [n, h, w, 3] (h, w >= 63) -> [n, num_classes].

    Attributes:
      num_classes: outputs of ``classifier.6``.
      dropout: rate of ``classifier.0`` and ``classifier.3`` (active only with ``train=True``).
    """

    num_classes: int = 1000
    dropout: float = 0.5

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        pool = P(MaxPool2d, 3, 2)
        features = (
            P(conv2d, 64, 11, 4, 2), ReLU, pool,
            P(conv2d, 192, 5, 1, 2), ReLU, pool,
            P(conv2d, 384, 3, 1, 1), ReLU,
            P(conv2d, 256, 3, 1, 1), ReLU,
            P(conv2d, 256, 3, 1, 1), ReLU, pool,
        )
        x = Sequential(features, name="features")(x)
        x = flatten_nchw(AdaptiveAvgPool2d(6, name="avgpool")(x))
        dropout = P(nn.Dropout, self.dropout, deterministic=not train)
        classifier = (
            dropout, P(nn.Dense, 4096), ReLU,
            dropout, P(nn.Dense, 4096), ReLU,
            P(nn.Dense, self.num_classes),
        )
        return Sequential(classifier, name="classifier")(x)
