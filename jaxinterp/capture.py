"""Activation capture: named layers of a model over a dataset of any size.

``capture(model, variables, images, layers)`` is the streaming engine
(:func:`jaxinterp.stream.stream`) with the reducer that keeps every image's values: ``images``
(an array, a ``np.memmap``, an iterable of batches, or any :mod:`jaxinterp.stream` source) is
read one batch at a time, each batch split over every device, and each layer read at
``position`` (the spatial mean by default, so the result is [n, C]).
"""

from __future__ import annotations

from typing import Sequence

import jax
import numpy as np

from jaxinterp import stream

__all__ = ["capture"]


def capture(
    model,
    variables,
    images,
    layers: Sequence[str] | str,
    position="mean",
    batch_size: int = 256,
    progress: bool = True,
    mesh: jax.sharding.Mesh | None = None,
    device_batch: int | None = None,
) -> dict[str, np.ndarray]:
    """Activations of ``layers`` for every image.

    Args:
      model: an :class:`~jaxinterp.models.ImageModel`.
      variables: its ``{"params", "batch_stats"}``.
      images: [n, h, w, c] uint8 (0..255) or float (0..1), NHWC; a ``np.memmap`` streams from
        disk; or any :mod:`jaxinterp.stream` source.
      layers: PyTorch-style layer names (``door.layer_names`` lists them).
      position: where each unit is read (:mod:`jaxinterp.door.positions`): ``"mean"`` (spatial
        mean, [n, c]), ``"centre"``, ``"max"``, ``(row, col)``, or ``"all"`` (full maps).
      batch_size: images per step (rounded up to a multiple of the device count).
      progress: show a progress bar.
      mesh: device mesh for the batch axis (default: all local devices). A mesh over several
        processes (:func:`jaxinterp.parallel.distributed.global_mesh`) splits each batch over
        every process's devices; every process passes the same ``images`` and gets all rows back.
      device_batch: instead of ``batch_size``, images per device per step: the same program on
        every device whatever their number, so the result is bit-identical on any layout.

    Returns:
      ``{layer: array}`` on the host: [n, c] when read at one position, else [n, h', w', c].
    """
    return stream.stream(model, variables, images, layers, stream.collect(), position=position,
                         batch_size=batch_size, mesh=mesh, progress=progress, device_batch=device_batch)
