"""The capture task: one layer (or several, in one pass) of one model over one dataset, read at
one position.

Collective: with several processes every one of them takes part, each batch split
over the devices of all processes (the global mesh), and every process ends with
all rows; in a local run (a sweep's job array) the one process that needs it computes
it on its own devices. Each process reads only its own rows of each batch. Layout-invariant:
``batch_size`` is the images each device takes per step, whatever the number of devices, so the
activations are bit-identical on one device, eight, or several processes, and the key holds no
device count.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from jaxinterp.steps.specs import DataSpec, ModelSpec, check_data_for_model, load_model, open_source
from jaxinterp.tasks import Result, Task


@dataclasses.dataclass(frozen=True)
class CaptureConfig:
    model: ModelSpec
    data: DataSpec
    layer: str | tuple  # one name, or a tuple of names read in one pass
    position: str | tuple = "mean"
    batch_size: int = 256  # images per device per step


def _capture(ctx, config: CaptureConfig) -> Result:
    import jax

    from jaxinterp.capture import capture
    from jaxinterp.parallel import distributed, mesh as meshlib

    model, variables = load_model(config.model)
    source = open_source(config.data)  # streamed: each process decodes only its share of each batch
    mesh = distributed.global_mesh() if ctx.collective else meshlib.local_mesh()
    layers = (config.layer,) if isinstance(config.layer, str) else tuple(config.layer)
    got = capture(model, variables, source, layers, position=config.position,
                  device_batch=config.batch_size, progress=False, mesh=mesh)
    for layer, acts in got.items():
        if not np.isfinite(acts).all():
            bad = np.unique(np.nonzero(~np.isfinite(acts))[0])
            raise ValueError(f"layer {layer!r} of {config.model.arch} gives NaN/inf for {len(bad)} images "
                             f"(first: {bad[:5].tolist()}); check the weights and inputs")
    arrays = got[config.layer] if isinstance(config.layer, str) else got
    return Result({"acts": arrays}, {"arch": config.model.arch, "layer": config.layer,
                                     "shape": {layer: list(a.shape) for layer, a in got.items()}
                                     if not isinstance(config.layer, str) else list(arrays.shape),
                                     "random_weights": config.model.random,
                                     "devices": int(mesh.size),
                                     "processes": jax.process_count() if ctx.collective else 1})


def capture_task(model: ModelSpec, data: DataSpec, layer: str | tuple, position: str | tuple = "mean",
                 batch_size: int = 256) -> Task:
    """Task -> ``{"acts": [n, c]}`` (or full maps with ``position="all"``; see
    :mod:`jaxinterp.door.positions`); ``batch_size`` images per device per step (fewer for fewer
    images), so the result is the same on any device layout. ``layer`` a tuple of names: one
    pass reads them all, ``{"acts": {name: [n, c]}}``.

    The data is checked against the model now (:func:`~jaxinterp.steps.specs.check_data_for_model`)."""
    from jaxinterp.door import positions

    check_data_for_model(model, data)
    layer = layer if isinstance(layer, str) else tuple(layer)
    return Task("capture", CaptureConfig(model, data, layer, positions.check(position), batch_size), _capture,
                collective=True)
