"""``jaxinterp featvis`` as tasks: dataset statistics, render, gather.

::

    graph = featvis_tasks(model, data, "layer3", units=(0, 64), steps=512)
    results, _ = tasks.run([graph["featvis"]], tasks.Store("out/store"))

* ``featvis_stats``: one pass of the streaming engine over the data: per unit (or direction)
  the running mean, SD and maximum of its spatial mean and its top exemplars (moments, minmax
  and top-k on the device: memory does not grow with the dataset);
* ``capture`` and ``directions`` (``method="kmeans"``... only): the layer's spatial means
  (:func:`jaxinterp.steps.capture_task`) and the directions fitted on them
  (:func:`jaxinterp.steps.fit_task`);
* ``featvis_render``: one :func:`~jaxinterp.featvis.render` call per chunk of units (all of
  them by default), each image maximising its unit's spatial mean (or its direction);
  keeps the images, the objective per step and every image's final activation;
* ``featvis``: per unit, the final activation against the dataset's (ratio to the top
  dataset activation, standard deviations above the mean) and the top exemplars' indices.
  The page (:mod:`jaxinterp.report.featvis`) draws from this result only.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import jax.numpy as jnp
import numpy as np

from jaxinterp import door, stream
from jaxinterp.steps import DataSpec, ModelSpec, capture_task, check_data_for_model, fit_task, load_data, load_model
from jaxinterp.tasks import Result, Task


@dataclasses.dataclass(frozen=True)
class RenderConfig:
    """units: (start, stop) channel or direction indices; size: image side (None: the model's);
    param: "fft" or "pixel"; color: "imagenet" (Lucid's matrix) or "data" (estimated from
    ``data``); transforms: "cifar", "standard" or "none"; chunk: units per render call (None: all)."""

    model: ModelSpec
    data: DataSpec
    layer: str
    units: tuple
    method: str = "neurons"
    steps: int = 512
    size: int | None = None
    param: str = "fft"
    color: str = "data"
    transforms: str = "cifar"
    lr: float = 0.05
    redirect_steps: int = 16
    seed: int = 0
    chunk: int | None = None


def _targets(config, model, variables, fit, size: int | None = None) -> np.ndarray | None:
    """[u, d] direction vectors for the unit range, or None for channels; checks the range
    (``size``: the input side the layer is read at, default the model's)."""
    start, stop = config.units
    if fit is not None:
        width = fit.arrays["directions"].shape[0]
    else:
        size = size or model.INPUT_SIZE or 128
        width = door.graph(model, variables, (size, size, model.IN_CHANNELS))[config.layer].channels
    if not (0 <= start < stop <= width):
        what = f"{config.method} directions" if fit is not None else f"channels of layer {config.layer!r}"
        raise ValueError(f"--units {start}:{stop} is out of range: there are {width} {what} "
                         f"(valid: 0:{width})")
    return None if fit is None else np.asarray(fit.arrays["directions"][start:stop], np.float32)


@dataclasses.dataclass(frozen=True)
class StatsConfig:
    """units: (start, stop) channels or directions; exemplars: top images kept per unit."""

    model: ModelSpec
    data: DataSpec
    layer: str
    units: tuple
    method: str = "neurons"
    exemplars: int = 8
    batch_size: int = 256


@dataclasses.dataclass(frozen=True)
class Projected:
    """``fn(params, images01) -> [b, u]``: the layer's spatial mean projected on
    ``params["directions"]`` [u, C] (:func:`jaxinterp.stream.stream_map`'s fn)."""

    taps: stream.Taps

    def __call__(self, params, images01):
        a = self.taps(params["variables"], images01)[self.taps.layers[0]]     # [b, C]
        return jnp.matmul(a, params["directions"].T, precision="highest")


def dataset_stats(model, variables, images, layer: str, units: tuple, exemplars: int = 8, directions=None,
                  batch_size: int = 256, mesh=None) -> dict:
    """Per unit ``units = (start, stop)`` (or per row of ``directions`` [u, C]) over ``images`` (an
    array, ``np.memmap`` or stream source): the mean, SD (ddof=0) and max of its spatial mean and
    its ``exemplars`` top images, in one streamed pass whose memory does not grow with the
    dataset (moments, minmax and top-k on the device).

    Returns ``{"data_mean", "data_std", "data_max": [u], "top_idx", "top_act": [u, M], "images"}``.
    """
    start, stop = units
    n = getattr(images, "shape", (None,))[0]
    k = min(int(exemplars), n) if n else int(exemplars)
    reducer = stream.fanout(moments=stream.moments(), range=stream.minmax(), top=stream.top_k(k))
    if directions is None:
        got = stream.stream(model, variables, images, layer, reducer, position="mean", units=range(start, stop),
                            batch_size=batch_size, mesh=mesh)[layer]
    else:
        fn = Projected(stream.Taps(model, (layer,), "mean"))
        got = stream.stream_map(fn, {"variables": variables, "directions": np.asarray(directions, np.float32)},
                                images, reducer, batch_size=batch_size, mesh=mesh, desc=layer)
    m = got["moments"]
    return {"data_mean": m["mean"], "data_std": m["sd"], "data_max": got["range"]["max"],
            "top_idx": got["top"]["image"], "top_act": got["top"]["value"], "images": int(m["count"])}


def _stats(ctx, c: StatsConfig, fit=None) -> Result:
    model, variables = load_model(c.model)
    vecs = _targets(c, model, variables, fit)
    got = dataset_stats(model, variables, load_data(c.data)[0], c.layer, c.units, c.exemplars, vecs, c.batch_size)
    n = got.pop("images")
    return Result(got, {"layer": c.layer, "units": [int(u) for u in c.units], "images": n})


def _render(ctx, config: RenderConfig, fit=None) -> Result:
    import jax
    import optax

    from jaxinterp.featvis import objectives, param, render, transforms

    model, variables = load_model(config.model)
    vecs = _targets(config, model, variables, fit, config.size)
    start, stop = config.units
    units = np.arange(start, stop)
    size = config.size or model.INPUT_SIZE or 128
    color = param.IMAGENET_COLOR
    if config.color == "data" and model.IN_CHANNELS == 3:
        color = param.color_matrix(load_data(config.data)[0])
    chunk = config.chunk or len(units)
    key = jax.random.key(config.seed)
    tf = transforms.by_name(config.transforms)
    optimizer = optax.adam(config.lr)
    images, values, seconds = [], [], []
    for i, lo in enumerate(range(0, len(units), chunk)):
        part = units[lo:lo + chunk]
        k_param, k_render = jax.random.split(jax.random.fold_in(key, i))
        p = param.image(k_param, size, batch=len(part), fft=config.param == "fft", color=color,
                        channels=model.IN_CHANNELS)
        obj = (objectives.channels(config.layer, part) if vecs is None
               else objectives.directions(config.layer, vecs[lo:lo + chunk]))
        t0 = time.perf_counter()
        out = render(k_render, model, variables, obj, p, tf, steps=config.steps, optimizer=optimizer,
                     redirect_steps=config.redirect_steps)
        images.append(np.asarray(out.images[-1]))
        seconds.append(time.perf_counter() - t0)
        values.append(np.asarray(out.values))
        ctx.log(f"rendered units {part[0]}..{part[-1]} of {config.layer} in {seconds[-1]:.1f}s")
    images = np.concatenate(images)
    a = jax.jit(lambda v, x: door.taps(model, v, model.normalize(x), [config.layer]))(variables, images)
    a = np.asarray(a[config.layer])
    final = a.reshape(a.shape[0], -1, a.shape[-1]).mean(axis=1)  # [u, c] spatial means
    return Result({"images": images, "values": np.stack(values), "final_acts": final, "units": units},
                  {"layer": config.layer, "units": [int(start), int(stop)], "method": config.method,
                   "steps": config.steps, "size": size, "render_seconds": seconds,
                   "color": config.color, "transforms": config.transforms})


@dataclasses.dataclass(frozen=True)
class GatherConfig:
    exemplars: int = 8


def _gather(ctx, config: GatherConfig, stats, render, fit=None) -> Result:
    units = render.arrays["units"]
    final = np.asarray(render.arrays["final_acts"], np.float64)  # [u, c]
    if fit is None:
        vis = final[np.arange(len(units)), units]
    else:
        dirs = np.asarray(fit.arrays["directions"][units], np.float64)  # [u, c]
        vis = np.einsum("uc,uc->u", final, dirs)
    s = stats.arrays
    mean, std, high = (np.asarray(s[k], np.float64) for k in ("data_mean", "data_std", "data_max"))
    top = s["top_idx"][:, : config.exemplars]                              # [u, M], most activating first
    ratio = np.where(high > 0, vis / np.where(high > 0, high, 1), np.nan)
    z = (vis - mean) / np.maximum(std, 1e-12)
    q = np.nanpercentile(ratio, [25, 50, 75]) if np.isfinite(ratio).any() else [np.nan] * 3
    arrays = {"units": units, "images": render.arrays["images"], "vis_act": vis, "data_max": high,
              "data_mean": mean, "data_std": std, "ratio": ratio, "z": z, "top_idx": top,
              "top_act": s["top_act"][:, : config.exemplars], "values": render.arrays["values"]}
    summary = {**render.summary, "ratio_q25": float(q[0]), "ratio_median": float(q[1]),
               "ratio_q75": float(q[2]), "above_top_fraction": float(np.mean(ratio > 1)),
               "z_median": float(np.median(z)), "images_in_data": int(stats.summary["images"])}
    return Result(arrays, summary)


def featvis_tasks(model: ModelSpec, data: DataSpec, layer: str, units: tuple = (0, 64),
                  method: str = "neurons", k: int | None = None, exemplars: int = 8,
                  **render_options) -> dict[str, Task]:
    """The graph: ``{["capture", "directions"], "featvis_stats", "featvis_render", "featvis"}``."""
    check_data_for_model(model, data)  # labels and image size, before any task
    graph: dict[str, Any] = {}
    deps = {}
    if method != "neurons":
        graph["capture"] = acts = capture_task(model, data, layer, "mean")
        graph["directions"] = deps["fit"] = fit_task(acts, method, k=k, seed=render_options.get("seed", 0))
    units = tuple(int(u) for u in units)
    graph["featvis_stats"] = Task("featvis_stats", StatsConfig(model, data, layer, units, method, exemplars),
                                  _stats, dict(deps))
    config = RenderConfig(model, data, layer, units, method, **render_options)
    graph["featvis_render"] = Task("featvis_render", config, _render, dict(deps))
    graph["featvis"] = Task("featvis", GatherConfig(exemplars), _gather,
                            {**deps, "stats": graph["featvis_stats"], "render": graph["featvis_render"]})
    return graph
