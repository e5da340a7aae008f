"""``jaxinterp featvis`` as tasks: capture (dataset statistics, exemplars), render, gather.

::

    graph = featvis_tasks(model, data, "layer3", units=(0, 64), steps=512)
    results, _ = tasks.run([graph["featvis"]], tasks.Store("out/store"))

* ``capture``: :func:`jaxinterp.steps.capture_task`, spatial means of the layer over the data;
* ``directions`` (``method="kmeans"``...): :func:`jaxinterp.steps.fit_task` on those;
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

import numpy as np

from jaxinterp.steps import DataSpec, ModelSpec, capture_task, fit_task, images01, load_model
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


def _targets(config: RenderConfig, acts: np.ndarray, fit) -> np.ndarray | None:
    """[u, d] direction vectors for the unit range, or None for channels."""
    start, stop = config.units
    width = fit.arrays["directions"].shape[0] if fit is not None else acts.shape[1]
    if not (0 <= start < stop <= width):
        what = f"{config.method} directions" if fit is not None else f"channels of layer {config.layer!r}"
        raise ValueError(f"--units {start}:{stop} is out of range: there are {width} {what} "
                         f"(valid: 0:{width})")
    return None if fit is None else np.asarray(fit.arrays["directions"][start:stop], np.float32)


def _render(ctx, config: RenderConfig, acts, fit=None) -> Result:
    import jax
    import optax

    from jaxinterp.featvis import objectives, param, render, transforms
    from jaxinterp.models.base import forward

    model, variables = load_model(config.model)
    vecs = _targets(config, acts.arrays["acts"], fit)
    start, stop = config.units
    units = np.arange(start, stop)
    size = config.size or model.INPUT_SIZE or 128
    color = param.IMAGENET_COLOR
    if config.color == "data" and model.IN_CHANNELS == 3:
        color = param.color_matrix(images01(config.data))
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
    _, a = jax.jit(lambda v, x: forward(model, v, model.normalize(x), [config.layer]))(variables, images)
    a = np.asarray(a[config.layer])
    final = a.reshape(a.shape[0], -1, a.shape[-1]).mean(axis=1)  # [u, c] spatial means
    return Result({"images": images, "values": np.stack(values), "final_acts": final, "units": units},
                  {"layer": config.layer, "units": [int(start), int(stop)], "method": config.method,
                   "steps": config.steps, "size": size, "render_seconds": seconds,
                   "color": config.color, "transforms": config.transforms})


@dataclasses.dataclass(frozen=True)
class GatherConfig:
    exemplars: int = 8


def _gather(ctx, config: GatherConfig, acts, render, fit=None) -> Result:
    a = np.asarray(acts.arrays["acts"], np.float64)           # [n, c]
    units = render.arrays["units"]
    final = np.asarray(render.arrays["final_acts"], np.float64)  # [u, c]
    if fit is None:
        data = a[:, units]                                     # [n, u]
        vis = final[np.arange(len(units)), units]
    else:
        dirs = np.asarray(fit.arrays["directions"][units], np.float64)  # [u, c]
        data = a @ dirs.T
        vis = np.einsum("uc,uc->u", final, dirs)
    top = np.argsort(-data, axis=0, kind="stable")[: config.exemplars].T  # [u, M]
    mean, std, high = data.mean(0), data.std(0), data.max(0)
    ratio = np.where(high > 0, vis / np.where(high > 0, high, 1), np.nan)
    z = (vis - mean) / np.maximum(std, 1e-12)
    q = np.nanpercentile(ratio, [25, 50, 75]) if np.isfinite(ratio).any() else [np.nan] * 3
    arrays = {"units": units, "images": render.arrays["images"], "vis_act": vis, "data_max": high,
              "data_mean": mean, "data_std": std, "ratio": ratio, "z": z, "top_idx": top,
              "top_act": np.take_along_axis(data, top.T, axis=0).T, "values": render.arrays["values"]}
    summary = {**render.summary, "ratio_q25": float(q[0]), "ratio_median": float(q[1]),
               "ratio_q75": float(q[2]), "above_top_fraction": float(np.mean(ratio > 1)),
               "z_median": float(np.median(z)), "images_in_data": int(a.shape[0])}
    return Result(arrays, summary)


def featvis_tasks(model: ModelSpec, data: DataSpec, layer: str, units: tuple = (0, 64),
                  method: str = "neurons", k: int | None = None, exemplars: int = 8,
                  **render_options) -> dict[str, Task]:
    """The graph: ``{"capture", ["directions"], "featvis_render", "featvis"}``."""
    acts = capture_task(model, data, layer, "mean")
    graph = {"capture": acts}
    deps = {"acts": acts}
    if method != "neurons":
        graph["directions"] = deps["fit"] = fit_task(acts, method, k=k, seed=render_options.get("seed", 0))
    config = RenderConfig(model, data, layer, tuple(int(u) for u in units), method, **render_options)
    graph["featvis_render"] = Task("featvis_render", config, _render, dict(deps))
    graph["featvis"] = Task("featvis", GatherConfig(exemplars), _gather,
                            {**deps, "render": graph["featvis_render"]})
    return graph
