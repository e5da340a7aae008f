"""``jaxinterp featvis`` as tasks: dataset statistics, renders, gather.

::

    graph = featvis_tasks(model, data, "layer3", units=(0, 64), steps=512)
    results, _ = tasks.run([graph["featvis"]], tasks.Store("out/store"))

Every check runs in :func:`featvis_tasks`, before any task: the data against the model, the
layer, the unit range against its channels (or the ``k`` directions), and the counts.

* ``featvis_stats``: one pass of the streaming engine over the data: per unit (or direction)
  the running mean, SD and maximum of its spatial mean, its top and bottom exemplars (moments,
  minmax, top-k and bottom-k on the device: memory does not grow with the dataset); then, on
  those exemplars only, where in each the unit is highest (top) or lowest (bottom, before the
  ReLU), receptive-field crops there (:func:`jaxinterp.circuits.examples.rf_crops`) and the
  unit's map drawn on each crop (heat, :func:`exemplar_crops`);
* ``capture`` and ``directions`` (``method="kmeans"``... only): the layer's spatial means
  (:func:`jaxinterp.steps.capture_task`) and the directions fitted on them
  (:func:`jaxinterp.steps.fit_task`);
* ``color_matrix`` (only where the renders use the data's colours, :func:`color_task`): the
  data's colour matrix, in one streamed pass; keyed by the data alone, so every render of every
  layer and set on that data shares it;
* ``featvis_render``, one task per chunk of units (``chunk``; all of them by default) and kind,
  each saved as it finishes (an interrupted run renders only the unfinished chunks):
  ``"max"``, one image per unit maximising its spatial mean (or its direction); ``"diversity"``,
  ``diversity`` images per unit maximising it minus Lucid's diversity term (weight 100) of
  the unit's set; ``"negative"``, one image per unit minimising its spatial mean before the
  layer's ReLU. Each keeps the images, the objective per step and every image's final
  activation. The diversity and negative renders take a quarter of ``steps`` by default
  (``diversity_steps``, ``negative_steps``; 0 skips them): 4 images per unit at a quarter of the
  steps cost what the main render costs;
* ``featvis``: per unit, the final activations against the dataset's (ratio to the top
  dataset activation, standard deviations above the mean), the exemplars, their crops and heat.
  The page (:mod:`jaxinterp.report.featvis`) draws from this result only.

Defaults follow the model (:func:`jaxinterp.featvis.transforms.name_for`,
:func:`jaxinterp.featvis.param.color_name_for`): the CIFAR transform set and the data's colour
matrix for a 32-px CIFAR ResNet, Lucid's standard set and ImageNet's matrix for an ImageNet
network; ``render`` picks the same for the API.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import jax
import numpy as np

from jaxinterp import door, stream
from jaxinterp.neurons.levels import project
from jaxinterp.steps import (DataSpec, ModelSpec, capture_task, check_data_for_model, fit_task, load_model, vectors,
                             open_source)
from jaxinterp.tasks import Result, Task

KINDS = ("max", "diversity", "negative")
#: Lucid's weight of the diversity term (``channel - 1e2 * diversity``)
DIVERSITY_WEIGHT = 100.0
#: seconds between progress lines of a render
PROGRESS_EVERY = 10.0


@dataclasses.dataclass(frozen=True)
class RenderConfig:
    """One render task. units: (start, stop) channel or direction indices of this chunk; part: the
    chunk's number (its PRNG key is the seed's, folded with it); kind: ``"max"``, ``"diversity"``
    or ``"negative"`` (module docstring); images: per unit (diversity); size: image side (None:
    the model's); param: "fft" or "pixel"; color: "imagenet" (Lucid's matrix) or "data" (estimated
    from ``data``), None: by model; transforms: "cifar", "standard" or "none", None: by model."""

    model: ModelSpec
    data: DataSpec
    layer: str
    units: tuple
    method: str = "neurons"
    steps: int = 512
    size: int | None = None
    param: str = "fft"
    color: str | None = None
    transforms: str | None = None
    lr: float = 0.05
    redirect_steps: int = 16
    seed: int = 0
    part: int = 0
    kind: str = "max"
    images: int = 1
    diversity_weight: float = DIVERSITY_WEIGHT


def _targets(config, model, variables, fit, size: int | None = None) -> np.ndarray | None:
    """[u, d] direction vectors for the unit range, or None for channels; checks the range
    (``size``: the input side the layer is read at, default the model's)."""
    start, stop = config.units
    if fit is not None:
        width = fit.arrays["directions"].shape[0]
    else:
        from jaxinterp.featvis import transforms

        size = transforms.side_for(model, size)
        width = door.graph(model, variables, (size, size, model.IN_CHANNELS))[config.layer].channels
    if not (0 <= start < stop <= width):
        what = f"{config.method} directions" if fit is not None else f"channels of layer {config.layer!r}"
        raise ValueError(f"--units {start}:{stop} is out of range: there are {width} {what} "
                         f"(valid: 0:{width})")
    return None if fit is None else vectors(fit)[start:stop]


@dataclasses.dataclass(frozen=True)
class StatsConfig:
    """units: (start, stop) channels or directions; exemplars: top (and bottom) images kept per
    unit; rf: the layer's receptive field (None: a layer without spatial axes, whose exemplars
    are shown whole); fill: the grey of crop pixels outside the image."""

    model: ModelSpec
    data: DataSpec
    layer: str
    units: tuple
    method: str = "neurons"
    exemplars: int = 8
    batch_size: int = 256
    rf: door.ReceptiveField | None = None
    fill: float = 0.5


@dataclasses.dataclass(frozen=True)
class Projected:
    """``fn(params, images01) -> [b, u]``: the layer's spatial mean projected on
    ``params["directions"]`` [u, C] (:func:`jaxinterp.stream.stream_map`'s fn)."""

    taps: stream.Taps

    def __call__(self, params, images01):
        a = self.taps(params["variables"], images01)[self.taps.layers[0]]     # [b, C]
        return project(a, params["directions"])


@dataclasses.dataclass(frozen=True)
class Peaks:
    """``fn(params, images01) -> {"high", "low": {"value", "y", "x"} [b, u], "map": [b, h, w, u]}``:
    where each unit is highest and lowest in each image, and its whole map: the layer's projected
    on ``params["directions"]`` [u, C] (one-hot rows for channels: exact)."""

    taps: stream.Taps

    def __call__(self, params, images01):
        a = self.taps(params["variables"], images01)[self.taps.layers[0]]     # [b, h, w, C]
        m = project(a, params["directions"])                                 # [b, h, w, u]
        hv, hy, hx = door.positions.best(m)
        lv, ly, lx = door.positions.best(-m)
        return {"high": {"value": hv, "y": hy, "x": hx}, "low": {"value": -lv, "y": ly, "x": lx}, "map": m}


def heat_scale(top_maps, bottom_maps) -> np.ndarray:
    """[u, M, h, w] maps of each unit on its top and bottom exemplars -> [u]: what its heat is
    divided by: its highest value on its top exemplars (one position of one image, the peak its
    top crops are centred on); a unit that is nowhere positive there, its largest magnitude on
    either set (1 where that is 0 too)."""
    peak = np.max(top_maps, axis=(1, 2, 3))
    size = np.maximum(np.max(np.abs(top_maps), axis=(1, 2, 3)), np.max(np.abs(bottom_maps), axis=(1, 2, 3)))
    return np.where(peak > 0, peak, np.where(size > 0, size, 1.0)).astype(np.float32)


def dataset_stats(model, variables, images, layer: str, units: tuple, exemplars: int = 8, directions=None,
                  batch_size: int = 256, mesh=None) -> dict:
    """Per unit ``units = (start, stop)`` (or per row of ``directions`` [u, C]) over ``images`` (an
    array, ``np.memmap`` or stream source): the mean, SD (ddof=0) and max of its spatial mean, its
    ``exemplars`` top images and its bottom ones (the lowest spatial mean before the layer's ReLU
    for channels; the lowest projection for directions), in one streamed pass whose memory does
    not grow with the dataset (moments, minmax, top-k and bottom-k on the device).

    Returns ``{"data_mean", "data_std", "data_max": [u], "top_idx", "top_act": [u, M] (most
    activating first), "bottom_idx", "bottom_act": [u, M] (least first), "images"}``.
    """
    from jaxinterp.circuits.reads import Reads

    start, stop = units
    n = getattr(images, "shape", (None,))[0]
    k = min(int(exemplars), n) if n else int(exemplars)
    spread = stream.fanout(moments=stream.moments(), range=stream.minmax(), top=stream.top_k(k))
    if directions is None:  # the lowest before the ReLU: after it, every image where the unit is silent ties at 0
        u = tuple(range(start, stop))
        fn = Reads(model, layer, (("post", "post", "mean", u), ("pre", "pre", "mean", u)))
        got = stream.stream_map(fn, {"variables": variables}, images,
                                stream.combine(post=spread, pre=stream.bottom_k(k)), batch_size=batch_size,
                                mesh=mesh, desc=layer)
    else:
        fn = Projected(stream.Taps(model, (layer,), "mean"))
        got = stream.stream_map(fn, {"variables": variables, "directions": np.asarray(directions, np.float32)},
                                images, stream.fanout(post=spread, pre=stream.bottom_k(k)), batch_size=batch_size,
                                mesh=mesh, desc=layer)
    post, low = got["post"], got["pre"]
    m = post["moments"]
    return {"data_mean": m["mean"], "data_std": m["sd"], "data_max": post["range"]["max"],
            "top_idx": post["top"]["image"], "top_act": post["top"]["value"],
            "bottom_idx": low["image"], "bottom_act": low["value"], "images": int(m["count"])}


def exemplar_crops(model, variables, images, layer: str, top_idx, bottom_idx, directions, rf, fill: float = 0.5,
                   pre_relu: bool = False, batch_size: int = 256) -> dict:
    """Receptive-field crops of each unit's exemplars: ``top_idx`` at the position where the unit
    is highest in that image, ``bottom_idx`` where it is lowest (its map: the layer's, before the
    ReLU with ``pre_relu``, projected on ``directions`` [u, C]). Only the exemplar images are
    streamed. Fields wider than the image show the image and a margin
    (:func:`jaxinterp.circuits.examples.rf_crops`); ``rf`` None (no spatial axes): whole images.

    In the same pass, each unit's map on each of its exemplars (the very map whose highest or
    lowest place centres the crop: before the ReLU with ``pre_relu``, else after it, projected)
    is drawn on the input pixels (nearest neighbour, aligned on the fields' centres:
    :func:`jaxinterp.circuits.examples.rf_heat`) and cut like the crop, so heat pixel (y, x)
    lies on crop pixel (y, x); NaN outside the image. It is divided by the unit's
    :func:`heat_scale` (its highest value on its top exemplars: 1 at the centre of its first top
    crop, comparable between its top and bottom crops and across units).

    Returns ``{"top_crops", "bottom_crops": [u, M, rh, rw, c], "top_y", "top_x", "bottom_y",
    "bottom_x": [u, M]}`` (positions -1 without a field) and, for a layer with a field,
    ``{"top_heat", "bottom_heat": [u, M, rh, rw] float32, "heat_scale": [u]}``.
    """
    from jaxinterp.circuits import examples
    from jaxinterp.data.checks import to_unit_float

    top_idx, bottom_idx = np.asarray(top_idx), np.asarray(bottom_idx)
    used, rows = np.unique(np.concatenate([top_idx.reshape(-1), bottom_idx.reshape(-1)]), return_inverse=True)
    images = stream.images_at(images, used)  # only the exemplars are read (a source: decoded)
    top_rows = rows[: top_idx.size].reshape(top_idx.shape)
    bottom_rows = rows[top_idx.size:].reshape(bottom_idx.shape)
    if rf is None:
        none = np.full(top_idx.shape, -1, np.int32)
        return {"top_crops": to_unit_float(images[top_rows]), "bottom_crops": to_unit_float(images[bottom_rows]),
                "top_y": none, "top_x": none, "bottom_y": none, "bottom_x": none}
    fn = Peaks(stream.Taps(model, (layer,), "all", pre_relu=pre_relu))
    unit = np.broadcast_to(np.arange(top_idx.shape[0])[:, None], top_rows.shape)
    # the maps of the (exemplar, unit) pairs only: O(u·M·h·w), not every unit on every exemplar
    pairs = stream.pick(np.stack([top_rows, bottom_rows]), np.stack([unit, unit]))
    got = stream.stream_map(fn, {"variables": variables, "directions": np.asarray(directions, np.float32)},
                            images, stream.combine(high=stream.collect(), low=stream.collect(), map=pairs),
                            batch_size=batch_size, desc=layer)
    unit = unit[:, :1]
    margin = examples.display_margin(images.shape[1])
    out = {"top_y": got["high"]["y"][top_rows, unit], "top_x": got["high"]["x"][top_rows, unit],
           "bottom_y": got["low"]["y"][bottom_rows, unit], "bottom_x": got["low"]["x"][bottom_rows, unit]}
    maps = dict(zip(("top", "bottom"), got["map"]))                                 # [u, M, h, w] each
    out["heat_scale"] = scale = heat_scale(maps["top"], maps["bottom"])
    for side, idx in (("top", top_rows), ("bottom", bottom_rows)):
        y, x = out[f"{side}_y"], out[f"{side}_x"]
        out[f"{side}_crops"] = np.asarray(examples.rf_crops(images, idx, y, x, rf, fill, margin))
        out[f"{side}_heat"] = np.asarray(examples.rf_heat(maps[side] / scale[:, None, None, None], y, x, rf,
                                                          images.shape[1:3], margin))
    return out


def _stats(ctx, c: StatsConfig, fit=None) -> Result:
    model, variables = load_model(c.model)
    vecs = _targets(c, model, variables, fit)
    images = open_source(c.data)  # streamed; the exemplars alone are read again for their crops
    got = dataset_stats(model, variables, images, c.layer, c.units, c.exemplars, vecs, c.batch_size)
    n = got.pop("images")
    if vecs is None:  # channels: one-hot rows, read before the ReLU (the lowest place is not a tie at 0)
        vecs = np.eye(door.graph(model, variables, images.image_shape)[c.layer].channels,
                      dtype=np.float32)[c.units[0]:c.units[1]]
        pre = True
    else:
        pre = False
    got.update(exemplar_crops(model, variables, images, c.layer, got["top_idx"], got["bottom_idx"], vecs, c.rf,
                              c.fill, pre, c.batch_size))
    summary = {"layer": c.layer, "units": [int(u) for u in c.units], "images": n,
               "crop_size": list(got["top_crops"].shape[2:4]), "rf": None if c.rf is None else c.rf._asdict()}
    return Result(got, summary)


def _progress(ctx, what: str, steps: int, per: int):
    """A ``render`` progress callback that logs a line every :data:`PROGRESS_EVERY` seconds (and
    after the first and last call): steps done and the objective per unit."""
    t0 = time.perf_counter()
    last = [None]

    def report(done: int, value: float):
        now = time.perf_counter()
        if done == steps or last[0] is None or now - last[0] >= PROGRESS_EVERY:
            last[0] = now
            ctx.log(f"{what}: step {done}/{steps}, mean objective {value / per:.4g} ({now - t0:.0f}s)")

    return report


def _color_matrix(ctx, data: DataSpec) -> Result:
    """``{"color": [3, 3]}``: the colour matrix of ``data`` (:func:`jaxinterp.featvis.param.color_matrix`),
    in one streamed pass."""
    from jaxinterp.featvis import param

    color = np.asarray(param.color_matrix(open_source(data)), np.float64)
    return Result({"color": color}, {"color": color.tolist()})


def color_task(model, data: DataSpec, color: str | None = None) -> Task | None:
    """The task of ``data``'s colour matrix when rendering ``model`` reads it (``color`` "data",
    by default for a model not of ImageNet's classes, and 3 input channels), else None. Its key
    is the DataSpec's: every render of every layer and set shares one pass over the data."""
    from jaxinterp.featvis import param

    name = color or param.color_name_for(model)
    if name not in ("imagenet", "data"):
        raise ValueError(f"--color must be 'imagenet' or 'data', got {name!r}")
    return Task("color_matrix", data, _color_matrix) if name == "data" and model.IN_CHANNELS == 3 else None


def color_of(color: Result | None):
    """The colour matrix of a :func:`color_task` result, as :func:`render_units` takes it (None: none)."""
    return None if color is None else tuple(map(tuple, np.asarray(color.arrays["color"]).tolist()))


def _render(ctx, config: RenderConfig, fit=None, color=None) -> Result:
    model, variables = load_model(config.model)
    vecs = _targets(config, model, variables, fit, config.size)
    return render_units(ctx, config, np.arange(*config.units), vecs, color_of(color))


def render_units(ctx, config: RenderConfig, units, vecs=None, color=None) -> Result:
    """The render of ``config`` for the channels ``units`` [u] (any indices; ``config.units`` is
    not read) or, with ``vecs`` [u, C], for those directions: ``{"images": [b, h, w, c], "values":
    [steps], "final_acts": [b, C] (spatial means), "units": [b] (the unit of each image), and for
    negative renders "final_pre": [b, C] before the ReLU}``, b = u · images per unit. ``color``:
    the 3x3 colour matrix (:func:`color_task`'s), or None to choose it here
    (:func:`jaxinterp.featvis.param.color_for`, a streamed pass over the data where it is read)."""
    import optax

    from jaxinterp.circuits.reads import Reads
    from jaxinterp.featvis import objectives, param, render, transforms

    if config.kind not in KINDS or config.images < 1:
        raise ValueError(f"kind must be one of {', '.join(KINDS)} and images >= 1, got {config.kind!r}, "
                         f"{config.images}")
    model, variables = load_model(config.model)
    units = np.asarray(units)
    per = config.images if config.kind == "diversity" else 1
    rows = np.repeat(units, per)                                   # the unit of each image
    size = transforms.side_for(model, config.size)
    if color is None:
        color = param.color_for(model, open_source(config.data), config.color)
    key = jax.random.fold_in(jax.random.key(config.seed), config.part)
    if config.kind != "max":
        key = jax.random.fold_in(key, KINDS.index(config.kind))
    k_param, k_render = jax.random.split(key)
    p = param.image(k_param, size, batch=len(rows), fft=config.param == "fft", color=color,
                    channels=model.IN_CHANNELS)
    obj = (objectives.channels(config.layer, rows) if vecs is None
           else objectives.directions(config.layer, np.repeat(vecs, per, axis=0)))
    if config.kind == "diversity":  # Lucid: channel (a mean over the set) - 1e2 * diversity
        obj = obj / per - config.diversity_weight * objectives.diversity(config.layer, group=per)
    elif config.kind == "negative":
        obj = -obj
    tf_name = config.transforms or transforms.name_for(model, size)
    what = f"{config.layer} {config.kind} {units[0]}..{units[-1]}"
    t0 = time.perf_counter()
    out = render(k_render, model, variables, obj, p, transforms.by_name(tf_name), steps=config.steps,
                 optimizer=optax.adam(config.lr), redirect_steps=config.redirect_steps,
                 pre_relu=config.kind == "negative" and vecs is None,
                 progress=_progress(ctx, what, config.steps, len(units)))
    images = np.asarray(out.images[-1])
    seconds = time.perf_counter() - t0
    reads = (("final_acts", "post", "mean", ()),) + ((("final_pre", "pre", "mean", ()),)  # one pass: [b, C] each
                                                      if config.kind == "negative" else ())
    read = stream.stream_map(Reads(model, config.layer, reads), {"variables": variables}, images,
                              stream.combine(**{name: stream.collect() for name, *_ in reads}), desc=config.layer)
    arrays = {"images": images, "values": np.asarray(out.values), "units": rows,
              **{name: np.asarray(a) for name, a in read.items()}}
    return Result(arrays, {"layer": config.layer, "units": [int(units[0]), int(units[-1]) + 1],  # [start, stop)
                           "method": config.method, "kind": config.kind, "images_per_unit": per,
                           "steps": config.steps, "size": size, "render_seconds": seconds,
                           "color": config.color or param.color_name_for(model), "transforms": tf_name,
                           "diversity_weight": config.diversity_weight})


@dataclasses.dataclass(frozen=True)
class GatherConfig:
    exemplars: int = 8
    parts: int = 1


def _joined(parts: dict, kind: str, count: int) -> dict | None:
    """The ``count`` chunks of one kind of render, concatenated (None if that kind was skipped)."""
    got = [parts[f"{kind}_{i}"] for i in range(count) if f"{kind}_{i}" in parts]
    if not got:
        return None
    arrays = {name: np.concatenate([g.arrays[name] for g in got]) for name in got[0].arrays if name != "values"}
    arrays["values"] = np.stack([g.arrays["values"] for g in got])
    summary = {**got[0].summary, "units": [got[0].summary["units"][0], got[-1].summary["units"][1]]}
    return {**arrays, "summary": summary, "seconds": [g.summary["render_seconds"] for g in got]}


def _gather(ctx, config: GatherConfig, stats, fit=None, **parts) -> Result:
    main = _joined(parts, "max", config.parts)
    units = main["units"]
    dirs = vectors(fit, np.float64)

    def along(final, rows):
        """Each image's activation along its own unit: final [b, C] spatial means -> [b]."""
        final = np.asarray(final, np.float64)
        return final[np.arange(len(rows)), rows] if dirs is None else np.einsum("bc,bc->b", final, dirs[rows])

    s = stats.arrays
    mean, std, high = (np.asarray(s[k], np.float64) for k in ("data_mean", "data_std", "data_max"))
    sd = lambda v: (v - mean.reshape((-1,) + (1,) * (v.ndim - 1))) / np.maximum(std, 1e-12).reshape(  # noqa: E731
        (-1,) + (1,) * (v.ndim - 1))
    vis = along(main["final_acts"], units)
    ratio = np.where(high > 0, vis / np.where(high > 0, high, 1), np.nan)
    z = sd(vis)
    q = np.nanpercentile(ratio, [25, 50, 75]) if np.isfinite(ratio).any() else [np.nan] * 3
    m = config.exemplars
    arrays = {"units": units, "images": main["images"], "vis_act": vis, "data_max": high,
              "data_mean": mean, "data_std": std, "ratio": ratio, "z": z, "values": main["values"],
              **{f"{side}_{what}": s[f"{side}_{what}"][:, :m] for side in ("top", "bottom")
                 for what in ("idx", "act", "crops", "heat") if f"{side}_{what}" in s}}
    if "heat_scale" in s:
        arrays["heat_scale"] = s["heat_scale"]
    summary = {**main["summary"], "render_seconds": main["seconds"],
               "ratio_q25": float(q[0]), "ratio_median": float(q[1]), "ratio_q75": float(q[2]),
               "above_top_fraction": float(np.mean(ratio > 1)), "z_median": float(np.median(z)),
               "images_in_data": int(stats.summary["images"]), "crop_size": stats.summary.get("crop_size"),
               "rf": stats.summary.get("rf")}
    div = _joined(parts, "diversity", config.parts)
    if div is not None:
        per = div["summary"]["images_per_unit"]
        act = along(div["final_acts"], div["units"]).reshape(len(units), per)
        arrays.update(diversity_images=div["images"].reshape((len(units), per) + div["images"].shape[1:]),
                      diversity_act=act, diversity_z=sd(act))
        summary.update(diversity=per, diversity_steps=div["summary"]["steps"],
                       diversity_weight=div["summary"]["diversity_weight"])
    neg = _joined(parts, "negative", config.parts)
    if neg is not None:
        act = along(neg["final_acts"], units)
        pre = along(neg["final_pre"], units) if dirs is None else act
        arrays.update(negative_images=neg["images"], negative_act=act, negative_z=sd(act), negative_pre=pre)
        summary["negative_steps"] = neg["summary"]["steps"]
    return Result(arrays, summary)


def featvis_tasks(model: ModelSpec, data: DataSpec, layer: str, units: tuple = (0, 64),
                  method: str = "neurons", k: int | None = None, exemplars: int = 8, chunk: int | None = None,
                  diversity: int = 4, diversity_steps: int | None = None, negative_steps: int | None = None,
                  rf: door.ReceptiveField | None = None, **render_options) -> dict[str, Task]:
    """The graph: ``{["capture", "directions"], "featvis_stats", ["color"], "max_0"..., ["diversity_0"...,
    "negative_0"...], "featvis"}``; ``["featvis"]`` gathers it.

    Args:
      model, data: :func:`jaxinterp.steps.model_spec`, :func:`~jaxinterp.steps.data_spec`.
      layer, units: the layer and the (start, stop) range of its channels (or directions).
      method, k: ``"neurons"`` or a direction method fitted on the layer's spatial means, k
        directions (default the layer's width).
      exemplars: top and bottom dataset images per unit.
      chunk: units per render task (default all in one): each task is saved when it finishes.
      diversity: images per unit of the diversity render (0: none); ``diversity_weight`` (in
        ``render_options``): its term's weight (default 100, Lucid's).
      diversity_steps, negative_steps: their steps (default a quarter of ``steps``; 0: none).
      rf: the layer's receptive field, when measured already (default: measured here).
      render_options: more :class:`RenderConfig` fields (``steps``, ``size``, ``color``...);
        ``color`` and ``transforms`` default by model (module docstring).

    Every check runs here, before any task (and before any store exists).
    """
    from jaxinterp.featvis import param, transforms
    from jaxinterp.directions.registry import NAMES as METHODS

    check_data_for_model(model, data)
    net, variables = load_model(model)
    shape = open_source(data).image_shape  # streamed: no image is decoded for the checks
    g = door.graph(net, variables, shape)
    g.check([layer])
    start, stop = (int(u) for u in units)
    if method not in METHODS:
        raise ValueError(f"unknown direction method {method!r}; choose one of {', '.join(METHODS)}")
    if not 0 <= start < stop:
        raise ValueError(f"--units {start}:{stop} is empty or negative; pass START:STOP with 0 <= START < STOP")
    if method == "neurons":
        g.check_units(layer, np.arange(start, stop))
    else:
        width = k or g[layer].channels
        if k is not None and k < 1:
            raise ValueError(f"--k must be a positive number of directions, got {k}")
        if stop > width:
            raise ValueError(f"--units {start}:{stop} is out of range: there are {width} {method} directions "
                             f"(valid: 0:{width}); pass units within them or a larger --k")
    steps = int(render_options.pop("steps", RenderConfig.steps))
    weight = float(render_options.pop("diversity_weight", DIVERSITY_WEIGHT))  # in the diversity renders' keys only
    diversity_steps = max(1, steps // 4) if diversity_steps is None else int(diversity_steps)
    negative_steps = max(1, steps // 4) if negative_steps is None else int(negative_steps)
    counts = {"--steps": steps, "--exemplars": exemplars, "--chunk": 1 if chunk is None else chunk}
    if min(counts.values()) < 1 or min(diversity, diversity_steps, negative_steps) < 0:
        raise ValueError(f"{', '.join(counts)} must be positive and --diversity, --diversity-steps and "
                         f"--negative-steps at least 0, got {counts}, {diversity}, {diversity_steps}, "
                         f"{negative_steps}")
    size = transforms.side_for(net, render_options.get("size"))
    render_options["color"] = render_options.get("color") or param.color_name_for(net)
    render_options["transforms"] = render_options.get("transforms") or transforms.name_for(net, size)
    if rf is None and g[layer].spatial:
        rf = door.receptive_field(net, variables, layer, shape)

    graph: dict[str, Any] = {}
    deps = {}
    if method != "neurons":
        graph["capture"] = acts = capture_task(model, data, layer, "mean")
        graph["directions"] = deps["fit"] = fit_task(acts, method, k=k, seed=render_options.get("seed", 0))
    # version 2: the heat maps of the exemplars' crops
    graph["featvis_stats"] = Task("featvis_stats", StatsConfig(model, data, layer, (start, stop), method,
                                                               exemplars, rf=rf), _stats, dict(deps), version=2)
    kinds = [("max", steps, 1, DIVERSITY_WEIGHT)]
    if diversity and diversity_steps:
        kinds.append(("diversity", diversity_steps, diversity, weight))
    if negative_steps:
        kinds.append(("negative", negative_steps, 1, DIVERSITY_WEIGHT))
    chunk = chunk or stop - start
    color = color_task(net, data, render_options["color"])
    if color is not None:
        graph["color"] = color
    parts = {}
    for i, lo in enumerate(range(start, stop, chunk)):
        for kind, n_steps, per, w in kinds:
            config = RenderConfig(model, data, layer, (lo, min(lo + chunk, stop)), method, n_steps, part=i,
                                  kind=kind, images=per, diversity_weight=w, **render_options)
            # version 2: the summary's units are [start, stop); the final activations in one pass
            parts[f"{kind}_{i}"] = Task("featvis_render", config, _render,
                                        {**deps, **({"color": color} if color else {})}, version=2)
    graph.update(parts)
    graph["featvis"] = Task("featvis", GatherConfig(exemplars, -(-(stop - start) // chunk)), _gather,
                            {**deps, "stats": graph["featvis_stats"], **parts})
    return graph
