"""The taps of a perceptual similarity: named layers of a backbone, run only up to the last.

LPIPS needs the ReLU outputs inside ``features`` and nothing after them: at 32×32 AlexNet's
last max-pool and 6×6 average pool are degenerate, and VGG16's classifier alone holds 120M
parameters. :func:`jaxinterp.door.taps` stops the forward pass after the last wanted layer,
so the head is neither run nor needs parameters (a backbone initialised or converted without
its classifier works).
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import jax

from jaxinterp import door
from jaxinterp.door import init_truncated

__all__ = ["init_truncated", "truncated_taps"]


def truncated_taps(model, layers: Sequence[str]) -> Callable[[Any, jax.Array], list]:
    """(variables, x [n, h, w, c]) -> [activation of each of ``layers``], the model cut after the last."""
    layers = tuple(layers)

    def taps(variables, x):
        acts = door.taps(model, variables, x, layers)
        return [acts[name] for name in layers]

    return taps
