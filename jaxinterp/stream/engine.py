"""The streaming engine: every pass of a model over a dataset, of any size, on every device.

::

    acts = stream(model, variables, images, ["layer3"], position="mean")            # [n, 64]
    top = stream(model, variables, mmap, ["layer3"], stream.top_k(8), position="max")
    stats = stream(model, variables, mmap, ["layer3"], stream.moments(), position="centre")

:func:`stream_map` is the engine: it reads a :mod:`~jaxinterp.stream.sources` source one batch
at a time (the last batch padded to the compiled shape, so one program serves the whole pass),
splits each batch over every device of the mesh, runs ``fn`` and the reducer's update in one
jitted step whose state stays on the devices, and copies only what the reducer emits back to
the host while the next batch runs. Device memory is bounded by the batch size; host memory by
the batch size and the reducer's state, unless the caller collects every row. A second pass
with the same function, reducer and shapes reuses the compiled step.

With a mesh over several processes (:func:`jaxinterp.parallel.distributed.global_mesh`) every
process passes the same source (which must know its ``num_images``), reads only the rows of each
batch that its own devices hold (``source.batches(..., rows=(lo, hi))``), and gets the whole
result back.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec as P
from tqdm.auto import tqdm

from jaxinterp import door
from jaxinterp.data.checks import check_images
from jaxinterp.parallel import distributed
from jaxinterp.parallel import mesh as meshlib
from jaxinterp.stream import reducers
from jaxinterp.stream.sources import as_source

__all__ = ["Taps", "stream", "stream_map"]


def _to_unit(raw: jax.Array) -> jax.Array:
    """uint8 0..255 -> float32 0..1 on the device (a quarter of the bytes cross to it)."""
    return raw.astype(jnp.float32) / 255.0 if raw.dtype == jnp.uint8 else raw.astype(jnp.float32)


@functools.lru_cache(maxsize=64)
def _step(fn, reducer, mesh):
    replicated = NamedSharding(mesh, P())
    rows = NamedSharding(mesh, P(meshlib.AXIS))

    def step(params, state, raw, index, valid):
        return reducer.update(state, fn(params, _to_unit(raw)), index, valid)

    return jax.jit(step, out_shardings=(replicated, rows), donate_argnums=(1,))


def stream_map(fn: Callable, params: Any, source, reducer: reducers.Reducer = reducers.collect(), *,
               batch_size: int = 256, mesh: jax.sharding.Mesh | None = None, progress: bool = False,
               desc: str = "stream", device_batch: int | None = None) -> Any:
    """Fold ``fn(params, images01)`` over every image of ``source`` with ``reducer``.

    Args:
      fn: ``fn(params, images01 [b, H, W, C] float32 in [0, 1]) -> pytree of [b, ...]``, pure and
        hashable (a module-level function, or a frozen dataclass like :class:`Taps`), so that
        passes with the same ``fn`` share one compiled step.
      params: arrays ``fn`` reads (model variables): replicated over the mesh.
      source: images [n, H, W, C] (array, memmap) or any :mod:`~jaxinterp.stream.sources` source.
      reducer: a :class:`~jaxinterp.stream.reducers.Reducer` (default :func:`collect`: all rows).
      batch_size: images per step (rounded up to a multiple of the device count).
      mesh: a 1-D ``"data"`` mesh (default all local devices).
      progress: a progress bar (``desc`` names it).
      device_batch: instead of ``batch_size``, images per device per step (at most n): every
        device then runs the same program whatever the device count, so per-image results are
        bit-identical on any layout (the store relies on it for captures).

    Returns:
      ``reducer.finalize(state, outs)``.
    """
    source = as_source(source)
    n = source.num_images
    mesh = mesh or meshlib.local_mesh()
    if device_batch is not None:
        if int(device_batch) != device_batch or device_batch < 1:
            raise ValueError(f"device_batch must be a positive number of images, got {device_batch!r}")
        batch_size = min(int(device_batch), n or int(device_batch)) * mesh.size
    else:
        batch_size = meshlib.round_up(max(1, min(int(batch_size), n or int(batch_size))), mesh.size)
    multi = distributed.spans_processes(mesh)
    params = distributed.replicate_global(params, mesh) if multi else meshlib.replicate(params, mesh)
    if multi:
        if n is None:
            raise ValueError(f"a pass over several processes needs a source that knows its num_images, "
                             f"got {source!r}; pass an array, a np.memmap or a jaxinterp.data source")
        lo, hi = distributed.local_rows(mesh, batch_size)
        place = lambda a: distributed.from_local_rows(a, mesh, batch_size)  # noqa: E731
        host_batches = _local_batches(source, n, batch_size, lo, hi)
    else:
        place = lambda a: meshlib.shard_batch(a, mesh)  # noqa: E731
        host_batches = _whole_batches(source, batch_size)

    raw_spec = jax.ShapeDtypeStruct((batch_size, *source.image_shape), source.dtype)
    spec = jax.eval_shape(lambda p, x: fn(p, _to_unit(x)), params, raw_spec)
    one = jax.tree_util.tree_map(lambda s: jax.ShapeDtypeStruct(s.shape[1:], s.dtype), spec)
    state = jax.device_put(reducer.init(one), NamedSharding(mesh, P()))
    step = _step(fn, reducer, mesh)

    outs: list = []
    sink = None if n is None else {}

    def drain(start, stop, out):
        host = distributed.to_host(out)
        if jax.tree_util.tree_leaves(host):
            if sink is None:
                outs.append(jax.tree_util.tree_map(lambda a: a[: stop - start], host))
            else:
                leaves, treedef = jax.tree_util.tree_flatten(host)
                if not sink:
                    sink.update(treedef=treedef, arrays=[np.empty((n, *a.shape[1:]), a.dtype) for a in leaves])
                for dst, a in zip(sink["arrays"], leaves):
                    dst[start:stop] = a[: stop - start]

    bar = tqdm(total=n, unit="img", desc=desc, disable=not progress, leave=False)
    in_flight = None
    for start, stop, batch, index in host_batches:
        placed = place(batch), place(index), place(index < stop)
        # backpressure: the previous step must finish before this one is queued (the batch above
        # was read and copied while it ran), else with nothing coming back to the host every batch
        # of the dataset would be queued on the device at once
        jax.block_until_ready(state)
        state, out = step(params, state, *placed)
        if in_flight is not None:  # copy the previous batch's output while this one runs
            drain(*in_flight)
            bar.update(in_flight[1] - in_flight[0])
        in_flight = (start, stop, out)
    if in_flight is None:
        raise ValueError(f"{source!r} yielded no images; pass a non-empty dataset")
    drain(*in_flight)
    bar.update(in_flight[1] - in_flight[0])
    bar.close()
    if sink is None:
        collected = jax.tree_util.tree_map(lambda *a: np.concatenate(a), *outs) if outs else None
    else:
        collected = jax.tree_util.tree_unflatten(sink["treedef"], sink["arrays"]) if sink else None
    return reducer.finalize(distributed.to_host(state), collected)


def _padded(batch: np.ndarray, rows: int) -> np.ndarray:
    """``batch`` [b, ...] padded with zero images to [rows, ...] (one compiled shape)."""
    if len(batch) == rows:
        return batch
    return np.concatenate([batch, np.zeros((rows - len(batch), *batch.shape[1:]), batch.dtype)])


def _whole_batches(source, batch_size: int):
    """(start, stop, batch [batch_size, ...], image index [batch_size]) of every batch."""
    start = 0
    for batch in source.batches(batch_size):
        stop = start + len(batch)
        yield start, stop, _padded(batch, batch_size), np.arange(start, start + batch_size, dtype=np.int32)
        start = stop


def _local_batches(source, n: int, batch_size: int, lo: int, hi: int):
    """As :func:`_whole_batches`, but the batch and index hold only rows ``lo:hi`` (this
    process's share); the source reads only those images."""
    shares = source.batches(batch_size, 0, rows=(lo, hi))
    empty = np.zeros((0, *source.image_shape), source.dtype)
    for start in range(0, n, batch_size):
        stop = min(start + batch_size, n)
        want = max(0, min(stop, start + hi) - (start + lo))
        batch = next(shares, empty) if want else empty
        if len(batch) != want:
            raise RuntimeError(f"{source!r} gave {len(batch)} rows for images {start + lo}.. of this "
                               f"process, expected {want}: its batches(rows=...) must follow "
                               "jaxinterp.stream.sources.shares")
        yield start, stop, _padded(batch, hi - lo), np.arange(start + lo, start + hi, dtype=np.int32)


@dataclasses.dataclass(frozen=True)
class Taps:
    """``fn(variables, images01) -> {layer: activations read at position}``: the model's taps as a
    hashable function for :func:`stream_map` (equal fields share a compiled step).

    units: channel indices to keep (a tuple; () for all); pre_relu: read before the layer's ReLU.
    """

    model: Any
    layers: tuple
    position: Any = "all"
    units: tuple = ()
    pre_relu: bool = False

    def __call__(self, variables, images01):
        acts = door.taps(self.model, variables, self.model.normalize(images01), self.layers,
                         pre_relu=self.pre_relu)
        out = {}
        for name, a in acts.items():
            a = door.positions.read(a, self.position)
            out[name] = a[..., jnp.asarray(self.units)] if self.units else a
        return out


def stream(model, variables, source, layers: Sequence[str] | str,
           reduce: reducers.Reducer | dict = reducers.collect(), *, position="all", units=None,
           pre_relu: bool = False, batch_size: int = 256, mesh=None, progress: bool = False,
           device_batch: int | None = None) -> dict:
    """Run ``model`` over every image of ``source`` and reduce each layer's activations.

    Args:
      model, variables: a jaxinterp model and its variables.
      source: images [n, H, W, C] uint8 or float in [0, 1] (array, ``np.memmap``), an iterable of
        batches, or a :mod:`~jaxinterp.stream.sources` source.
      layers: layer names (:func:`jaxinterp.door.layer_names`).
      reduce: one :class:`~jaxinterp.stream.reducers.Reducer` for every layer, or ``{layer:
        Reducer}``; default :func:`~jaxinterp.stream.reducers.collect` (every image's values).
      position: where each unit is read (:mod:`jaxinterp.door.positions`): ``"all"`` (the map),
        ``"centre"``, ``"mean"``, ``"max"`` or ``(row, col)``.
      units: channel indices to keep (default all).
      pre_relu: read each layer before the ReLU that produces it.
      batch_size, mesh, progress, device_batch: as :func:`stream_map`.

    Returns:
      ``{layer: result}``: e.g. [n, C] for ``collect()`` with ``position="mean"``.
    """
    layers = (layers,) if isinstance(layers, str) else tuple(layers)
    source = as_source(source)
    check_images(jax.ShapeDtypeStruct((source.num_images or 1, *source.image_shape), source.dtype),
                 channels=model.IN_CHANNELS)
    g = door.graph(model, variables, source.image_shape)
    g.check(layers)
    position = door.positions.check(position)
    if isinstance(position, tuple):
        for name in layers:
            door.positions.check(position, g[name].shape, repr(name))
    if units is not None:
        units = tuple(int(u) for u in g.check_units(layers[0], units)) if len(layers) == 1 else tuple(
            int(u) for u in np.unique([g.check_units(name, units) for name in layers]))
    per_layer = reduce if isinstance(reduce, dict) else {name: reduce for name in layers}
    if set(per_layer) != set(layers):
        raise ValueError(f"reduce must have one reducer per layer {list(layers)}, got {sorted(per_layer)}")
    fn = Taps(model, layers, position, units or (), pre_relu)
    return stream_map(fn, variables, source, reducers.combine(**per_layer), batch_size=batch_size,
                      mesh=mesh, progress=progress, desc=", ".join(layers), device_batch=device_batch)
