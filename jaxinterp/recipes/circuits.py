"""The seven arguments of the circuits thread (METHODS.md §6.7) for chosen units, as tasks.

:func:`circuits_tasks` builds, for one layer of one model, the graph that the
``jaxinterp circuits`` command runs and :mod:`jaxinterp.report.circuits` draws::

    g = circuits_tasks(model, data, "layer3", units=(0, 1, 2, 3))
    results, report = tasks.run([g["circuits"]], tasks.Store("out/store"))

* ``circuits_examples`` (layer and upstream layer): the receptive field (measured from the
  model before any task runs), in one streamed pass over the data
  (:func:`jaxinterp.circuits.examples.layer_examples`) the top images of every unit at their
  best positions and the dataset statistics of the centre activation (for "in dataset SD"),
  and, for the chosen units, receptive-field crops of the top images and of the minimally
  activating ones (the lowest pre-ReLU value anywhere in the image, cropped there), a quilt
  sampled by activation level and the pre-ReLU distribution over every position (a second
  pass: the median and tail quantile from a fine histogram per unit) (§6.2). A field wider
  than the image is shown as the image and a margin, dimmed outside the field
  (:func:`jaxinterp.circuits.examples.rf_crops`);
* ``featvis`` (:func:`jaxinterp.recipes.featvis.featvis_tasks`) of the chosen units (with 4
  diverse and one negative image each, at a quarter of the steps) and of every upstream unit
  (shown beside "weights in") (§6.1); ``featvis_thumbs``: the downstream units that the chosen
  units drive most (their top "weights out"), rendered at ``thumb_steps`` (a quarter of the
  steps by default: thumbnails) beside "weights out";
* ``circuits_stimuli`` (layer and upstream layer): responses of every unit to curves
  (orientation × radius), lines, angles (orientation × opening) and gratings (orientation ×
  frequency × phase) in dataset SD (§6.3). The curve responses, maximised over radius, are
  each unit's *synthetic orientation tuning* over 0..360°, in one frame for every layer:
  they give the preferred orientations (argmax) of the equivariance tests and the curves
  the families are clustered from;
* ``circuits_rotation``: each chosen unit's own top exemplars, recentred on its field, rotated
  in ``rotation_step`` degrees (1° by default) (§6.4). A unit's own exemplars are chosen
  unrotated, so this curve peaks near 0° by construction: it measures how *sharply* the
  unit is tuned (vector strength, half-width), not which orientation it prefers;
* ``circuits_weights``: expanded weights in (upstream -> layer) and out (layer -> downstream)
  through the linearised network, top connections (§6.5);
* ``circuits``: families (clustered synthetic orientation curves) with their joint tuning,
  the equivariance tests of §6.6 with permutation nulls, and everything the pages draw.

The examples, stimuli and rotation tasks read channels, or, with a ``directions`` dependency (a
fit of :func:`jaxinterp.steps.fit_task`: K-means, SAE...), the fit's k directions: each one's map
is the layer's output projected on it, ``maps @ directions.T`` (:mod:`jaxinterp.circuits.reads`),
and every per-unit array is over the k directions. :func:`unit_tasks` builds the three for
either; without directions their keys are those they always had.

Every pass over the dataset is the streaming engine (:mod:`jaxinterp.stream`): batches sharded
over every device, reduced on the device; only the chosen units' per-image maxima (for the
quilt) are kept per image. Nothing in the report computes; every number on a page is in the
``circuits`` result.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from jaxinterp import door
from jaxinterp.recipes.featvis import RenderConfig, color_of, featvis_tasks, render_units
from jaxinterp.steps import DataSpec, ModelSpec, check_data_for_model, load_data, load_model, vectors
from jaxinterp.tasks import Result, Task

# stimulus grids: (family, ((parameter, values), ...)); lines/curves/angles get length = RF size
CURVE_GRID = (("orientation", tuple(float(a) for a in range(0, 360, 5))),
              ("radius", (2.0, 4.0, 8.0, 16.0, 32.0)))
LINE_GRID = (("orientation", tuple(float(a) for a in range(0, 180, 5))),)
ANGLE_GRID = (("orientation", tuple(float(a) for a in range(0, 360, 10))),
              ("opening", (30.0, 60.0, 90.0, 120.0, 150.0)))
GRATING_GRID = (("orientation", tuple(float(a) for a in range(0, 180, 10))),
                ("frequency", (0.05, 0.1, 0.2, 0.3)), ("phase", (0.0, 90.0, 180.0, 270.0)))
GRIDS = (("curve", CURVE_GRID), ("line", LINE_GRID), ("angle", ANGLE_GRID), ("grating", GRATING_GRID))
STROKES = ("line", "curve", "angle")


def _rf(summary: dict) -> door.ReceptiveField:
    r = summary["rf"]
    return door.ReceptiveField(tuple(r["box"]), tuple(r["size"]), tuple(r["stride"]), tuple(r["offset"]),
                               tuple(r["at"]), bool(r["clipped"]))


def _images(data: DataSpec):
    """The images as stored (uint8 or float in [0, 1]): the engine converts each batch on the
    device, so no float copy of the dataset is made."""
    return load_data(data)[0]


def _rows(directions, examples=None) -> np.ndarray | None:
    """The [k, C] float32 rows of a ``directions`` dependency (a fit's Result), or None (channels);
    with ``examples``, checks that they were read for the same units (channels or k directions)."""
    rows = vectors(directions)
    if examples is not None:
        want = None if rows is None else int(rows.shape[0])
        if examples.summary.get("directions") != want:
            got = examples.summary.get("directions")
            what = lambda k: "channels" if k is None else f"{k} directions"  # noqa: E731
            raise ValueError(f"the examples dependency was read for {what(got)} but this task for {what(want)}; "
                             "give both the same directions dependency (circuits.unit_tasks does)")
    return rows


# ---------------------------------------------------------------- dataset examples


@dataclasses.dataclass(frozen=True)
class ExamplesConfig:
    """units: the chosen units (crops, quilt, pre-ReLU); every unit gets its top images and the
    centre statistics. rf: the layer's receptive field, measured before the task runs. With a
    ``directions`` dependency, units index its k directions."""

    model: ModelSpec
    data: DataSpec
    layer: str
    units: tuple = ()
    top: int = 8
    quilt: int = 12
    fill: float = 0.5
    bins: int = 64
    batch_size: int = 256
    crop: str = "field_on_image"  # or "field": the whole field, however wide
    rf: door.ReceptiveField | None = None


def _examples(ctx, c: ExamplesConfig, directions=None) -> Result:
    """Arrays per unit (C channels, or the k rows of ``directions``): ``top_*`` [C, top],
    ``stats_mean``/``stats_sd`` [C]; per chosen unit [U, ...]: crops, bottom, quilt, pre."""
    from jaxinterp.circuits import examples as ex

    if c.crop not in ("field", "field_on_image"):
        raise ValueError(f"crop must be 'field' or 'field_on_image', got {c.crop!r}")
    model, variables = load_model(c.model)
    images = _images(c.data)
    n = images.shape[0]
    rows = _rows(directions)
    rf = c.rf or door.receptive_field(model, variables, c.layer, images.shape[1:])
    got = ex.layer_examples(model, variables, c.layer, images, k=min(c.top, n), units=c.units, bins=c.bins,
                            batch_size=c.batch_size, directions=rows)                # two passes at most
    top = got.top                                                                     # [C, k]
    arrays = {"top_value": top.value, "top_image": top.image, "top_y": top.y, "top_x": top.x,
              "stats_mean": got.mean, "stats_sd": got.sd}
    summary = {"layer": c.layer, "images": int(n), "channels": int(top.value.shape[0]),
               "rf": rf._asdict(), "units": list(c.units)}
    if rows is not None:  # the units are these k directions ("channels" counts them too)
        summary["directions"] = int(rows.shape[0])
    margin = None if c.crop == "field" else ex.display_margin(images.shape[1])
    crops = lambda image, y, x: ex.rf_crops(images, image, y, x, rf, c.fill, margin)  # noqa: E731
    summary["crop_margin"] = margin
    if c.units:
        u = np.asarray(c.units)
        arrays["top_crops"] = crops(top.image[u], top.y[u], top.x[u])                     # [U, k, rh, rw, c]
        bottom = got.bottom                                                               # [U, k], least first
        arrays.update(bottom_value=bottom.value, bottom_image=bottom.image,
                      bottom_crops=crops(bottom.image, bottom.y, bottom.x))
        summary["crop_size"] = list(arrays["top_crops"].shape[2:4])
        best = got.maxima                                                              # [n, U]
        q = np.asarray(ex.quilt(best.value, min(c.quilt, n)))                          # [U, q]
        pick = lambda a: np.take_along_axis(np.asarray(a), q.T, axis=0).T  # noqa: E731
        arrays.update(quilt_image=q, quilt_value=pick(best.value),
                      quilt_crops=crops(q, pick(best.y), pick(best.x)))
        arrays["pre"] = {k: np.asarray(v) for k, v in got.pre.items() if k != "count"}
        # a direction has no ReLU of its own: its "pre" values are its projection (circuits.reads)
        relu = door.graph(model, variables, images.shape[1:])[c.layer].relu
        summary["pre_is_relu_input"] = rows is None and bool(relu)
        summary["pre_positions"] = int(got.pre["count"])
    return Result({k: v if isinstance(v, dict) else np.asarray(v) for k, v in arrays.items()}, summary)


# ---------------------------------------------------------------- rotation tuning


@dataclasses.dataclass(frozen=True)
class RotationConfig:
    """units: () for every unit of the layer (or of its ``directions`` dependency); step: degrees
    between rotations."""

    model: ModelSpec
    data: DataSpec
    layer: str
    units: tuple = ()
    step: float = 1.0
    exemplars: int = 8
    fill: float = 0.5
    batch: int = 256


def _rotation(ctx, c: RotationConfig, examples, directions=None) -> Result:
    from jaxinterp.circuits import examples as ex
    from jaxinterp.circuits import selectivity, tuning

    rows = _rows(directions, examples)
    model, variables = load_model(c.model)
    images = _images(c.data)
    e = examples.arrays
    channels = e["top_image"].shape[0]
    u = np.asarray(c.units) if c.units else np.arange(channels)
    k = min(c.exemplars, e["top_image"].shape[1])
    rf = _rf(examples.summary)
    centred = ex.recentre(images, e["top_image"][u, :k], e["top_y"][u, :k], e["top_x"][u, :k], rf, c.fill)
    angles = np.arange(0.0, 360.0, c.step, dtype=np.float32)
    curves = np.asarray(ex.exemplar_rotation_tuning(model, variables, c.layer, centred, angles, u,
                                                    stats=(e["stats_mean"], e["stats_sd"]), fill=c.fill,
                                                    batch=c.batch, directions=rows))   # [A, U] in SD
    curves = np.nan_to_num(curves, nan=0.0)  # a unit constant over the data has no SD: flat 0
    sel = selectivity.orientation_selectivity(curves.T, angles)
    circ = np.asarray(tuning.preferred_orientation(curves.T, angles, "circular_mean"))
    return Result({"curves": curves, "angles": angles, "units": u, "preferred": np.asarray(sel["preferred"]),
                   "preferred_circular": circ, "vector_strength": np.asarray(sel["vector_strength"]),
                   "half_width": np.asarray(sel["half_width"]), "depth": np.asarray(sel["depth"])},
                  {"layer": c.layer, "step": c.step, "exemplars": int(k), "units": int(len(u))})


# ---------------------------------------------------------------- synthetic stimuli


@dataclasses.dataclass(frozen=True)
class StimuliConfig:
    model: ModelSpec
    layer: str
    grids: tuple = GRIDS
    batch_size: int = 256


def _stimuli(ctx, c: StimuliConfig, examples, directions=None) -> Result:
    from jaxinterp.circuits import tuning

    rows = _rows(directions, examples)
    model, variables = load_model(c.model)
    rf = _rf(examples.summary)
    size = model.INPUT_SIZE or 32
    length = float(min(size, max(8, max(rf.size))))
    stats = (examples.arrays["stats_mean"], examples.arrays["stats_sd"])
    families = tuple((name, {**dict(grid), **({"length": length} if name in STROKES else {})})
                     for name, grid in c.grids)
    got = tuning.stimulus_tunings(model, variables, c.layer, families, int(size), stats=stats,
                                  batch_size=c.batch_size, directions=rows)        # one pass, every family
    arrays, summary = {}, {"size": int(size), "stroke_length": length}
    for name, grid in c.grids:
        r = got[name].reshape(tuple(len(v) for _, v in grid) + (-1,))              # [*grid, C]
        arrays[name] = {"responses": np.nan_to_num(r), **{p: np.asarray(v, np.float32) for p, v in grid}}
        summary[f"{name}_max_sd"] = float(np.nanmax(r))
    return Result(arrays, summary)


# ---------------------------------------------------------------- expanded weights


@dataclasses.dataclass(frozen=True)
class WeightsConfig:
    model: ModelSpec
    upstream: str
    layer: str
    downstream: str
    input_shape: tuple
    connections: int = 6


def _crop_to_support(w: np.ndarray) -> tuple[np.ndarray, int]:
    """Expanded weights [N, h, w, C] cut to the smallest odd square around their support:
    ([N, k, k, C], k), zero where the square runs past the map."""
    support = np.any(w != 0, axis=(0, 3))
    rows, cols = np.nonzero(support.any(1))[0], np.nonzero(support.any(0))[0]
    if rows.size == 0:
        return w[:, :1, :1], 1
    side = max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1
    k = int(side + 1 - side % 2)
    y0 = rows[0] + (rows[-1] - rows[0] + 1 - k) // 2
    x0 = cols[0] + (cols[-1] - cols[0] + 1 - k) // 2
    padded = np.pad(w, ((0, 0), (k, k), (k, k), (0, 0)))
    return padded[:, y0 + k:y0 + 2 * k, x0 + k:x0 + 2 * k], k


def _weights(ctx, c: WeightsConfig) -> Result:
    from jaxinterp.circuits import expanded

    model, variables = load_model(c.model)
    full_in = np.asarray(expanded.expanded_weights(model, variables, c.upstream, c.layer, c.input_shape))
    w_in, win_in = _crop_to_support(full_in)                                            # [C_L, k, k, C_up]
    full_out = np.asarray(expanded.expanded_weights(model, variables, c.layer, c.downstream, c.input_shape))
    spatial_out = door.graph(model, variables, c.input_shape)[c.downstream].spatial
    w_out, win_out = _crop_to_support(full_out) if spatial_out else (full_out, None)
    k_in = min(c.connections, full_in.shape[-1])
    k_out = min(c.connections, full_out.shape[0])
    in_idx, in_val = expanded.top_connections(full_in, k_in, "in")      # [C_L, k]
    out_idx, out_val = expanded.top_connections(full_out, k_out, "out")  # [C_L, k]
    return Result({"w_in": w_in, "w_out": w_out, "in_idx": np.asarray(in_idx), "in_val": np.asarray(in_val),
                   "out_idx": np.asarray(out_idx), "out_val": np.asarray(out_val),
                   "conn_in": np.asarray(expanded.connection_matrix(full_in, "sum")),     # [C_up, C_L]
                   "conn_out": np.asarray(expanded.connection_matrix(full_out, "sum"))},  # [C_L, C_down]
                  {"upstream": c.upstream, "downstream": c.downstream, "window_in": win_in,
                   "window_out": win_out, "downstream_spatial": bool(spatial_out)})


def class_names(arch: str, classes: int) -> list[str] | None:
    """The names of the ``classes`` outputs of ``arch`` (:func:`jaxinterp.models.class_names`:
    ImageNet's 1,000, CIFAR-10's 10, the digits), or None when they are unknown or another number
    (the pages then say "class i")."""
    from jaxinterp import models

    names = models.class_names(arch)
    return list(names) if names is not None and len(names) == classes else None


def is_classifier(graph: door.LayerGraph, layer: str) -> bool:
    """Whether ``layer``'s output is the logits (the last layer, or one whose every later layer has
    the logits' shape: nothing but reshapes follows)."""
    if layer == "logits":
        return True
    if "logits" not in graph:
        return False
    later = graph.names[graph.index(layer):graph.index("logits") + 1]
    return all(graph[n].shape == graph["logits"].shape for n in later)


@dataclasses.dataclass(frozen=True)
class ThumbsConfig:
    """render: the downstream (or upstream) layer's render (its ``units`` are not read); units: the
    chosen units of the layer, whose top targets (side ``"out"``: ``out_idx``) or top sources
    (``"in"``: ``in_idx``) are rendered: a few per unit, not the whole neighbouring layer (480
    channels of a 224-px Inception block would take most of an hour on a CPU)."""

    render: RenderConfig
    units: tuple
    side: str = "out"


def _thumbs(ctx, c: ThumbsConfig, weights, color=None) -> Result:
    targets = np.unique(weights.arrays[f"{c.side}_idx"][np.asarray(c.units)])
    return render_units(ctx, c.render, targets, color=color_of(color))


# ---------------------------------------------------------------- the layer: families, equivariance, pages


@dataclasses.dataclass(frozen=True)
class CircuitsConfig:
    layer: str
    upstream: str
    downstream: str
    units: tuple
    families: int = 4
    bin_deg: float = 15.0
    permutations: int = 200
    seed: int = 0
    class_names: tuple | None = None   # of the downstream units, when they are the classes
    classifier: bool = False           # whether the downstream layer's output is the logits


def _equivariance(w_in, conn_in, phi, theta, c: CircuitsConfig) -> tuple[dict, dict]:
    import jax

    from jaxinterp.circuits import equivariance as eq

    rng = np.random.default_rng(c.seed)
    fit = eq.binned_fit(conn_in, phi, theta, c.bin_deg)
    flat = conn_in.reshape(-1)
    shuffled = np.stack([rng.permutation(flat).reshape(conn_in.shape) for _ in range(c.permutations)])
    null_r2 = np.asarray(jax.vmap(lambda w: eq.binned_fit(w, phi, theta, c.bin_deg)["r2"])(shuffled))
    rwc = eq.rotated_weights_correlation(w_in, phi, theta, c.bin_deg, max_pairs=20000,
                                         key=jax.random.key(c.seed))
    null_rwc = np.array([float(eq.rotated_weights_correlation(w_in, rng.permutation(phi), rng.permutation(theta),
                                                              c.bin_deg, max_pairs=5000,
                                                              key=jax.random.key(c.seed + 1 + i))["score"])
                         for i in range(5)])  # 5 draws of shuffled orientations: a reference, not a hot path
    r2 = float(fit["r2"])
    arrays = {"g": np.asarray(fit["g"]), "counts": np.asarray(fit["counts"]), "centres": np.asarray(fit["centres"]),
              "relative": np.asarray(fit["relative"]), "null_r2": null_r2, "rwc_correlations":
              np.asarray(rwc["correlations"]), "null_rwc": null_rwc}
    summary = {"r2": r2, "r2_null_mean": float(null_r2.mean()), "r2_null_q95": float(np.quantile(null_r2, 0.95)),
               "r2_p": float((1 + np.sum(null_r2 >= r2)) / (1 + len(null_r2))),
               "rotated_correlation": float(rwc["score"]), "rotated_pairs": int(len(rwc["correlations"])),
               "rotated_correlation_null": float(np.nanmean(null_rwc)), "bin_deg": c.bin_deg,
               "permutations": c.permutations}
    return arrays, summary


def orientation_curves(stimuli: Result) -> tuple[np.ndarray, np.ndarray]:
    """Each unit's synthetic orientation tuning: curves [C, O] (max over radius, dataset SD) and
    the orientations [O] in degrees (0..360: curves tell a cup from a cap)."""
    curve = stimuli.arrays["curve"]
    return np.max(curve["responses"], axis=1).T, np.asarray(curve["orientation"])


def _gather(ctx, c: CircuitsConfig, examples, examples_up, rotation, stimuli, stimuli_up, weights, featvis,
            featvis_up, thumbs) -> Result:
    from jaxinterp.circuits import equivariance as eq
    from jaxinterp.circuits import tuning

    from jaxinterp.circuits import selectivity

    u = np.asarray(c.units)
    e, w = examples.arrays, weights.arrays

    curves_layer, orient = orientation_curves(stimuli)                                  # [C, O]
    curves_up, _ = orientation_curves(stimuli_up)
    theta = np.asarray(tuning.preferred_orientation(curves_layer, orient, "argmax"))
    phi = np.asarray(tuning.preferred_orientation(curves_up, orient, "argmax"))
    synthetic = {k2: np.asarray(v) for k2, v in selectivity.orientation_selectivity(curves_layer, orient).items()}
    k = min(c.families, curves_layer.shape[0])
    labels = np.asarray(eq.families(curves_layer, k))
    # joint tuning (tuning.joint_tuning's definition: peaks rolled to A // 2, averaged) per family,
    # from one alignment of every curve
    aligned = np.roll(np.asarray(eq.align_peaks(curves_layer)[0]), curves_layer.shape[1] // 2, axis=1)
    joint = np.stack([aligned[labels == f].mean(0) if np.any(labels == f)
                      else np.full(curves_layer.shape[1], np.nan) for f in range(k)])
    eq_arrays, eq_summary = _equivariance(w["w_in"], w["conn_in"], phi, theta, c)
    fv, fvu = featvis.arrays, featvis_up.arrays
    pos = np.searchsorted(fv["units"], u)
    rot = rotation.arrays
    sharp = np.argsort(-rot["vector_strength"], kind="stable")
    arrays = {
        "units": u,
        "featvis": {"images": fv["images"][pos], "z": fv["z"][pos], "ratio": fv["ratio"][pos],
                    **{k2: fv[k2][pos] for k2 in ("diversity_images", "diversity_z", "negative_images", "negative_z")
                       if k2 in fv}},
        "featvis_up": {"images": fvu["images"], "units": fvu["units"]},
        "featvis_down": {"images": thumbs.arrays["images"], "units": thumbs.arrays["units"]},
        "examples": {k2: e[k2] for k2 in ("top_crops", "bottom_crops", "bottom_value", "quilt_crops", "quilt_value",
                                          "quilt_image")},
        "top_value": e["top_value"][u], "top_image": e["top_image"][u],
        "pre": e["pre"], "stats_mean": e["stats_mean"][u], "stats_sd": e["stats_sd"][u],
        "rotation": {k2: rot[k2] for k2 in ("curves", "angles", "preferred", "preferred_circular",
                                           "vector_strength", "half_width", "depth")},
        "stimuli": {name: {**{p: v for p, v in grid.items() if p != "responses"},
                           "responses": grid["responses"][..., u]} for name, grid in stimuli.arrays.items()},
        "weights_in": {"w": w["w_in"][u], "idx": w["in_idx"][u], "val": w["in_val"][u]},
        "weights_out": {"w": np.moveaxis(w["w_out"], 3, 0)[u], "idx": w["out_idx"][u], "val": w["out_val"][u]},
        "layer": {"curves": curves_layer, "angles": orient, "preferred": theta,
                  "vector_strength": synthetic["vector_strength"], "half_width": synthetic["half_width"],
                  "families": labels, "joint": joint, "preferred_up": phi, "curves_up": curves_up,
                  "conn_in": w["conn_in"], **eq_arrays},
    }
    summary = {
        "layer": c.layer, "upstream": c.upstream, "downstream": c.downstream, "units": u.tolist(),
        "rf": examples.summary["rf"], "rf_up": examples_up.summary["rf"], "images": examples.summary["images"],
        "crop_size": examples.summary["crop_size"], "crop_margin": examples.summary["crop_margin"],
        "class_names": None if c.class_names is None else list(c.class_names), "classifier": c.classifier,
        "pre_is_relu_input": examples.summary.get("pre_is_relu_input"),
        "rotation_step": rotation.summary["step"],
        "exemplars": rotation.summary["exemplars"], "stimuli": stimuli.summary, "weights": weights.summary,
        "featvis_steps": featvis.summary["steps"], "families": int(k),
        "diversity_steps": featvis.summary.get("diversity_steps"), "negative_steps": featvis.summary.get("negative_steps"),
        "diversity_weight": featvis.summary.get("diversity_weight"), "thumb_steps": thumbs.summary["steps"],
        "sharpest": [{"unit": int(u[i]), "vector_strength": float(rot["vector_strength"][i]),
                      "half_width": float(rot["half_width"][i]),
                      "synthetic_vector_strength": float(synthetic["vector_strength"][u[i]]),
                      "synthetic_half_width": float(synthetic["half_width"][u[i]]),
                      "preferred": float(theta[u[i]])} for i in sharp],
        "equivariance": eq_summary,
    }
    return Result(arrays, summary)


# ---------------------------------------------------------------- the graph


def neighbours(model, variables, layer: str, input_shape) -> tuple[str, str]:
    """Default (upstream, downstream) of ``layer``: the nearest layers before and after it at the
    same nesting depth that end in a ReLU or are blocks of layers ("layer2" for "layer3"; "relu1"
    for "relu2"; "inception3b", not its max-pool, for "inception4a"), else the nearest such layer
    of any kind ("bn1" before "layer1"); after the last block, "logits" (not a global pool)."""
    g = door.graph(model, variables, input_shape)
    depth = layer.count(".")
    peers = [n for n in g.names if n not in ("input", "logits") and n.count(".") == depth]
    i = peers.index(g[layer].name)
    before = [n for n in peers[:i] if g[n].spatial][::-1]
    after = peers[i + 1:]
    blocks = {g[n].parent for n in g.names}  # an Inception block ends in a concat of ReLUs, not one
    pick = lambda cands: next((n for n in cands if g[n].relu or n in blocks), cands[0] if cands else None)  # noqa: E731
    up = pick(before) or "input"
    # a global pool (1x1 maps) mixes no channels: past the last block, weights out go to the logits
    down = pick([n for n in after if g[n].spatial and g[n].shape[:2] != (1, 1)]) or "logits"
    return up, down


def unit_tasks(model: ModelSpec, data: DataSpec, layer: str, units, fit: Task | None = None, *, top: int = 8,
               exemplars: int = 8, quilt: int = 12, rotation_step: float = 1.0,
               rf: door.ReceptiveField | None = None) -> dict[str, Task]:
    """``{"examples", "stimuli", "rotation"}``: the tasks of a unit page's dataset examples, quilt,
    synthetic-stimulus tuning and rotation tuning, for ``units`` of ``layer`` (with spatial axes).

    Args:
      units: the chosen units (crops, quilt, pre-ReLU, rotation); every unit of the layer gets its
        top images, centre statistics and stimulus responses.
      fit: None: the units are the layer's channels (these are the tasks :func:`circuits_tasks`
        has always built: same keys). A fit of this layer (:func:`jaxinterp.steps.fit_task`,
        ``arrays["directions"]`` [k, C]): the units are its k directions, each one's map the
        layer's output projected on it; every task then depends on the fit as ``"directions"``,
        and its arrays keep their names and shapes with k in place of C (``top_*`` [k, top],
        ``stats_*`` [k], stimulus ``responses`` [..., k]; the chosen units' [U, ...] as before);
        the examples' summary says ``"directions": k`` and ``"pre_is_relu_input": False`` (a
        direction's "pre" values are its projection).
      top: top images kept per unit (and the crops shown); exemplars: of them, rotated per unit;
      quilt: its size; rotation_step: degrees between rotations; rf: the layer's receptive field
        (default: measured in the examples task).
    """
    chosen = tuple(sorted(int(u) for u in units))
    if len(set(chosen)) != len(chosen) or any(u < 0 for u in chosen):
        raise ValueError(f"units {list(units)} repeat or are negative; pass distinct indices from 0")
    if fit is not None and not isinstance(fit, Task):
        raise ValueError(f"fit must be a directions Task (steps.fit_task), got {type(fit).__name__}")
    deps = {} if fit is None else {"directions": fit}
    examples = Task("circuits_examples", ExamplesConfig(model, data, layer, chosen, top, quilt, rf=rf), _examples,
                    dict(deps))
    return {"examples": examples,
            "stimuli": Task("circuits_stimuli", StimuliConfig(model, layer), _stimuli,
                            {"examples": examples, **deps}),
            "rotation": Task("circuits_rotation", RotationConfig(model, data, layer, chosen, float(rotation_step),
                                                                 exemplars), _rotation,
                             {"examples": examples, **deps})}


def circuits_tasks(model: ModelSpec, data: DataSpec, layer: str, units, *, upstream: str | None = None,
                   downstream: str | None = None, steps: int = 256, rotation_step: float = 1.0,
                   exemplars: int = 8, top: int = 8, quilt: int = 12,
                   connections: int = 6, families: int = 4, bin_deg: float = 15.0, permutations: int = 200,
                   seed: int = 0, thumb_steps: int | None = None,
                   featvis_options: dict | None = None) -> dict[str, Task]:
    """The task graph of the seven arguments for ``units`` of ``layer``; ``["circuits"]`` gathers it.

    Args:
      model, data: :func:`jaxinterp.steps.model_spec`, :func:`~jaxinterp.steps.data_spec`.
      layer: a layer with spatial axes; units: its channel indices to report.
      upstream / downstream: the layers of "weights in" / "weights out" (default :func:`neighbours`).
      steps: feature-visualisation steps (Lucid: 512; 256 keeps a CPU run short).
      rotation_step: degrees between rotations of the chosen units' exemplars (§6.4: 1).
      exemplars: top images per unit that are rotated; top: RF crops shown; quilt: its size.
      connections: top-k weights in and out; families: K of the tuning-curve clustering;
      bin_deg: relative-orientation bins of the equivariance tests; permutations: of the null.
      thumb_steps: steps of the downstream units' thumbnails (default a quarter of ``steps``).
      featvis_options: more options of :func:`~jaxinterp.recipes.featvis.featvis_tasks` for the
        chosen units (``diversity``, ``diversity_steps``, ``negative_steps``, RenderConfig fields).

    Every check runs here, before any task: the layers (known, with spatial axes, in order), the
    units, the counts, and the receptive fields of the layer and its upstream layer (measured
    now, so a model whose fields cannot be measured fails at once, not after the dataset passes).
    """
    check_data_for_model(model, data)
    net, variables = load_model(model)
    images = _images(data)
    shape = tuple(int(s) for s in images.shape[1:])
    layers = door.graph(net, variables, shape)
    width = layers.check_spatial(layer, "the circuits analysis").channels
    units = tuple(int(x) for x in units)
    if not units or len(set(units)) != len(units):
        raise ValueError(f"--units {','.join(map(str, units)) or '(none)'} for layer {layer!r} is empty or "
                         f"repeats a unit; pass distinct indices in 0..{width - 1}, e.g. 0:8 or 0,3,5")
    layers.check_units(layer, units)
    if exemplars > images.shape[0] or top > images.shape[0]:
        raise ValueError(f"{images.shape[0]} images are fewer than --exemplars {exemplars} / top {top}; "
                         "use more images or fewer exemplars")
    if not 0 < rotation_step <= 90:
        raise ValueError(f"--rotation-step must be in (0, 90] degrees, got {rotation_step}")
    thumb_steps = max(1, steps // 4) if thumb_steps is None else thumb_steps
    if min(steps, thumb_steps) < 1:
        raise ValueError(f"--steps and --thumb-steps must be positive numbers of optimisation steps, got {steps} "
                         f"and {thumb_steps}")
    default_up, default_down = neighbours(net, variables, layer, shape)
    upstream, downstream = upstream or default_up, downstream or default_down
    layers.check_order(upstream, layer)
    layers.check_order(layer, downstream)
    up_width = layers.check_spatial(upstream, "'weights in' (the upstream layer: pick a convolutional layer "
                                         "before the layer)").channels
    rf = door.receptive_field(net, variables, layer, shape)
    rf_up = door.receptive_field(net, variables, upstream, shape)

    g: dict[str, Task] = {}
    chosen = tuple(sorted(units))
    g.update(unit_tasks(model, data, layer, chosen, top=top, exemplars=exemplars, quilt=quilt,
                        rotation_step=rotation_step, rf=rf))
    g["examples_up"] = Task("circuits_examples", ExamplesConfig(model, data, upstream, (), top, quilt, rf=rf_up),
                            _examples)
    g["stimuli_up"] = Task("circuits_stimuli", StimuliConfig(model, upstream), _stimuli,
                           {"examples": g["examples_up"]})
    g["weights"] = Task("circuits_weights", WeightsConfig(model, upstream, layer, downstream, shape, connections),
                        _weights)
    opts = {"steps": int(steps), "seed": seed, **(featvis_options or {})}
    fv = featvis_tasks(model, data, layer, (min(chosen), max(chosen) + 1), exemplars=top, rf=rf, **opts)
    g["featvis"] = fv["featvis"]
    up = dataclasses.replace(fv["max_0"].config, layer=upstream, units=(0, up_width), method="neurons", part=0)
    thumb_deps = {"weights": g["weights"], **({"color": fv["color"]} if "color" in fv else {})}  # one matrix
    g["featvis_up"] = Task("featvis_thumbs", ThumbsConfig(up, chosen, "in"), _thumbs, thumb_deps)
    thumbs = dataclasses.replace(fv["max_0"].config, layer=downstream, units=(0, layers[downstream].channels),
                                 method="neurons", steps=int(thumb_steps), part=0)
    g["thumbs"] = Task("featvis_thumbs", ThumbsConfig(thumbs, chosen), _thumbs, thumb_deps)
    classifier = is_classifier(layers, downstream)
    names = class_names(model.arch, layers[downstream].channels) if classifier else None
    config = CircuitsConfig(layer, upstream, downstream, chosen, families, float(bin_deg), permutations, seed,
                            tuple(names) if names else None, classifier)
    g["circuits"] = Task("circuits", config, _gather, {k: g[k] for k in (
        "examples", "examples_up", "rotation", "stimuli", "stimuli_up", "weights", "featvis", "featvis_up",
        "thumbs")})
    return g
