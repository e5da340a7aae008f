"""Activation capture: named layers of a model over a dataset of any size.

``capture(model, variables, images, layers)`` streams ``images`` (an array, a
``np.memmap``, or anything with ``len`` and slicing) through the model in
batches of one fixed shape (the last batch is padded, so the forward pass is
compiled once), reduces each layer's spatial axes as asked, and shards the
batch axis over all local devices when there are several.
"""

from __future__ import annotations

from functools import partial
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from jaxinterp.data.checks import check_images, to_unit_float
from jaxinterp.models.base import ImageModel, forward, layer_names
from jaxinterp.parallel import distributed
from jaxinterp.parallel import mesh as meshlib

AGGREGATIONS = ("mean", "center", None)


def aggregate(act: jax.Array, aggregation: str | None) -> jax.Array:
    """Reduce the spatial axes of [n, h, w, c] activations.

    ``"mean"``: spatial mean -> [n, c]; ``"center"``: the centre position
    (``h // 2, w // 2``, as the authors' ``A[:, :, 8, 8]`` for 16×16) -> [n, c];
    ``None``: unchanged. Activations without spatial axes ([n, c]) pass through.
    """
    if aggregation is None or act.ndim != 4:
        return act
    if aggregation == "mean":
        return jnp.mean(act, axis=(1, 2))
    if aggregation == "center":
        return act[:, act.shape[1] // 2, act.shape[2] // 2, :]
    raise ValueError(f"aggregation must be one of {AGGREGATIONS}, got {aggregation!r}")


@partial(jax.jit, static_argnames=("model", "layers", "aggregation"))
def _capture_batch(model, variables, images01, layers, aggregation):
    x = model.normalize(images01)
    _, acts = forward(model, variables, x, layers)
    return {name: aggregate(a, aggregation) for name, a in acts.items()}


def capture(
    model: ImageModel,
    variables,
    images,
    layers: Sequence[str],
    aggregation: str | None = "mean",
    batch_size: int = 256,
    progress: bool = True,
    mesh: jax.sharding.Mesh | None = None,
    device_batch: int | None = None,
) -> dict[str, np.ndarray]:
    """Activations of ``layers`` for every image.

    Args:
      model: an :class:`~jaxinterp.models.ImageModel`.
      variables: its ``{"params", "batch_stats"}``.
      images: [n, h, w, c] uint8 (0..255) or float (0..1), NHWC; any object with
        ``shape``, ``dtype`` and slicing (a ``np.memmap`` streams from disk).
      layers: PyTorch-style layer names (``models.layer_names`` lists them).
      aggregation: ``"mean"`` (spatial mean), ``"center"`` or ``None`` (full maps).
      batch_size: images per step (rounded up to a multiple of the device count).
      progress: show a progress bar.
      mesh: device mesh for the batch axis (default: all local devices). A mesh over several
        processes (:func:`jaxinterp.parallel.distributed.global_mesh`) splits each batch over
        every process's devices; every process passes the same ``images`` and gets all rows back.
      device_batch: instead of ``batch_size``, images per device per step (at most ``n``), the
        last step padded: every image then goes through the same compiled per-device program
        on any number of devices, so its activations are bit-identical on 1 device, 8 devices
        or several processes (a per-device batch that varies with the device count can change
        a convolution's float rounding).

    Returns:
      ``{layer: array}`` on the host: [n, c] when aggregated, else [n, h', w', c].
    """
    if isinstance(layers, str):
        layers = [layers]
    layers = tuple(layers)
    if not layers:
        raise ValueError("no layers asked for; pass e.g. layers=['layer1']")
    if aggregation not in AGGREGATIONS:
        raise ValueError(f"aggregation must be one of {AGGREGATIONS}, got {aggregation!r}")
    check_images(images, channels=model.IN_CHANNELS)
    n = images.shape[0]
    mesh = mesh or meshlib.local_mesh()
    if device_batch is not None:
        if device_batch < 1:
            raise ValueError(f"device_batch must be a positive number of images, got {device_batch}")
        batch_size = min(device_batch, n) * mesh.size
    else:
        batch_size = meshlib.round_up(min(batch_size, meshlib.round_up(n, mesh.size)), mesh.size)
    multi = distributed.spans_processes(mesh)
    variables = distributed.replicate_global(variables, mesh) if multi else meshlib.replicate(variables, mesh)

    known = layer_names(model, variables, (1, *images.shape[1:]))
    unknown = [name for name in layers if name not in known]
    if unknown:
        raise ValueError(f"unknown layer name(s) {unknown}. Available layers: {', '.join(known)}")

    spec = jax.ShapeDtypeStruct((batch_size, *images.shape[1:]), jnp.float32)
    shapes = jax.eval_shape(
        lambda v, x: _capture_batch(model, v, x, layers, aggregation), variables, spec
    )
    out = {name: np.empty((n, *s.shape[1:]), np.float32) for name, s in shapes.items()}

    def drain(start, stop, pending):
        for name, value in pending.items():
            out[name][start:stop] = distributed.to_host(value)[: stop - start]

    in_flight = None
    bar = tqdm(total=n, unit="img", desc="capture", disable=not progress, leave=False)
    for start in range(0, n, batch_size):
        stop = min(start + batch_size, n)
        batch = to_unit_float(images[start:stop])
        if stop - start < batch_size:  # pad to the compiled shape
            pad = np.zeros((batch_size - (stop - start), *batch.shape[1:]), np.float32)
            batch = np.concatenate([batch, pad])
        placed = distributed.shard_rows(batch, mesh) if multi else meshlib.shard_batch(batch, mesh)
        result = _capture_batch(model, variables, placed, layers, aggregation)
        if in_flight is not None:  # copy the previous batch out while this one runs
            drain(*in_flight)
            bar.update(in_flight[1] - in_flight[0])
        in_flight = (start, stop, result)
    drain(*in_flight)
    bar.update(in_flight[1] - in_flight[0])
    bar.close()
    return out
