"""``jaxinterp atlas`` as one graph of tasks: every unit and learned direction of a model's layers.

:func:`atlas_tasks` builds, for each layer, from the other recipes' own task builders::

    featvis (recipes.featvis)   per set (neurons, kmeans, sae...): main, diverse and negative images,
                                top and bottom dataset crops, maximum activation
    ii / psychophysics          per set and similarity (steps.ii_task, recipes.paper's psychophysics)
    roles (recipes.roles)       per set: linearity R², MI, entropy, role label (a direction's of
                                the layer's maps projected on it)
    circuits_* (recipes.circuits) per set, spatial layers: quilt, synthetic and rotation tuning
                                (circuits.unit_tasks); expanded weights in and out (a direction's
                                are its neurons' projected on it)
    synergy (recipes.paper)     neurons: synergy of every pair (strongest partners); atlas_synergy:
                                the same for each direction set, over its fit's activations
    cka_linear, match (recipes.compare)  with ``compare``: linear CKA and best-matched units;
                                atlas_match_directions: each direction set's best matches (its
                                projection's correlation with the partner layer's units)
    atlas_match_render          with ``compare``: the main visualisation of every compared unit that
                                a unit or direction of the layer is best matched to (each once)
    atlas_layer                 the per-unit tables (with percentiles in the layer) and images

A direction "unit" reads the layer as featvis does: the layer's maps projected on its vector (a
neuron is a one-hot row), so its expanded weights in and out are its neurons' projected on it
(:func:`direction_weights`). The site (:mod:`jaxinterp.report.atlas`) is drawn from the
``atlas_layer`` results only. Each
task is saved when it finishes, so an interrupted run resumes with the unfinished tasks; a task
that another recipe builds with the same config (the capture, a fit, a render) is the same task
and is computed once. Every check runs in :func:`atlas_tasks`, before any task or store exists.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from jaxinterp import door, stream
from jaxinterp.recipes.compare import MatchConfig
from jaxinterp.recipes.featvis import RenderConfig
from jaxinterp.steps import (
    DataSpec,
    ModelSpec,
    SimilaritySpec,
    capture_task,
    check_data_for_model,
    fit_task,
    ii_task,
    load_model,
    open_source,
    vectors,
)
from jaxinterp.tasks import Result, Task

PSY_QUANTILE = 0.0  # psychophysics at the easiest difficulty only: the score per unit the pages show
PARTNERS = 3        # strongest synergy partners shown per unit
#: roles_tasks options of the atlas: saliency is not shown, so it runs on few images (the role label
#: reads the linearity, entropy and Jacobians)
ROLE_DEFAULTS = {"top": 5, "saliency_images": 16}


def percentile_in_layer(values) -> np.ndarray:
    """[u] -> [u]: the share (in %) of the layer's units whose value is at most each one's (NaN
    stays NaN and is left out of the others' counts)."""
    v = np.asarray(values, np.float64)
    ok = np.isfinite(v)
    finite = np.sort(v[ok])
    out = np.full(v.shape, np.nan)
    if finite.size:
        out[ok] = 100.0 * np.searchsorted(finite, v[ok], side="right") / finite.size
    return out


@dataclasses.dataclass(frozen=True)
class LayerConfig:
    """What the layer's gathering step reads: names and sizes, not numbers."""

    layer: str
    data: DataSpec
    sets: tuple
    similarities: tuple
    units: tuple            # per set: the number of units (or directions) shown
    upstream: str | None = None
    downstream: str | None = None
    class_names: tuple | None = None
    partner_layer: int | None = None  # the layer's row in the comparison (None: no comparison)


def _synthetic(stimuli: Result, units: np.ndarray) -> dict:
    from jaxinterp.circuits import selectivity
    from jaxinterp.recipes.circuits import orientation_curves

    curves, orient = orientation_curves(stimuli)                                   # [C, O]
    sel = selectivity.orientation_selectivity(curves[units], orient)
    return {"curve": curves[units], "orientations": orient,
            "orientation_selectivity": np.asarray(sel["vector_strength"], np.float64),
            "preferred_orientation": np.asarray(sel["preferred"], np.float64)}


def _images_uint8(data: DataSpec, idx) -> np.ndarray:
    """The images of ``data`` at ``idx`` [...] as uint8 [..., H, W, C]: only those are read (a
    folder of ImageNet decoded whole would be tens of GB per layer)."""
    from jaxinterp.data.checks import to_unit_float

    idx = np.asarray(idx)
    used, rows = np.unique(idx, return_inverse=True)
    got = np.round(to_unit_float(stream.images_at(open_source(data), used)) * 255).astype(np.uint8)
    return got[rows.reshape(idx.shape)]


def direction_weights(weights: Result, directions) -> dict:
    """The expanded weights in and out of directions [k, C] (rows over the layer's channels), from
    the ``circuits_weights`` result of the layer: the projections of the neurons' expanded weights
    (linear in the layer's channels), ranked as :func:`jaxinterp.circuits.expanded.top_connections`
    ranks a neuron's. Returns ``in_idx``, ``in_val``, ``out_idx``, ``out_val`` [k, connections]."""
    from jaxinterp.circuits import expanded

    w = weights.arrays
    d = np.asarray(directions, np.float32)
    w_in = np.einsum("kc,chwu->khwu", d, np.asarray(w["w_in"], np.float32))      # [k, h, w, C_up]
    w_out = np.einsum("nhwc,kc->nhwk", np.asarray(w["w_out"], np.float32), d)     # [C_down, h, w, k]
    in_idx, in_val = expanded.top_connections(w_in, int(w["in_idx"].shape[1]), "in")
    out_idx, out_val = expanded.top_connections(w_out, int(w["out_idx"].shape[1]), "out")
    return {"in_idx": np.asarray(in_idx), "in_val": np.asarray(in_val), "out_idx": np.asarray(out_idx),
            "out_val": np.asarray(out_val)}


def _fit_synergy(ctx, c, fit) -> Result:
    """Synergy of every pair of a direction set, over the activations its II reads (the fit's)."""
    from jaxinterp.recipes import paper

    return paper._synergy(ctx, c, Result({"acts": fit.arrays["activations"]}, {}))


@dataclasses.dataclass(frozen=True)
class DirectionMatchConfig:
    """A direction set's match: the compare recipe's :class:`~jaxinterp.recipes.compare.MatchConfig`
    of its layer, and the images and M of its directions' top exemplars."""

    match: MatchConfig
    data: DataSpec
    m: int


def _match_directions(ctx, c: DirectionMatchConfig, cka, a, fit, **inputs) -> Result:
    """A direction set of layer ``c.match.layer`` of A matched to the units of its best-CKA layer of
    B as the compare recipe matches A's neurons (:func:`jaxinterp.universality.analysis.match_layer`),
    each direction's activation being the layer's spatial means projected on it."""
    from jaxinterp.recipes.compare import COLOUR
    from jaxinterp.steps import similarity_features
    from jaxinterp.universality.analysis import match_layer, null_order, unit_info

    mc = c.match
    j = int(cka.arrays["cka_linear"][mc.layer].argmax())
    xa = (np.asarray(a.arrays["acts"][mc.layers_a[mc.layer]], np.float64) @ vectors(fit, np.float64).T).astype(np.float32)
    xb = np.asarray(inputs["b"].arrays["acts"][mc.layers_b[j]])
    units_b = inputs[f"units_b{j}"].arrays
    ii_a, top_a = unit_info(xa, similarity_features(COLOUR, c.data), c.m)
    got = match_layer(xa, xb, null_order(len(xa), mc.seed), top_a, units_b["top"], mc.top_pairs)
    got.update(ii_a=ii_a, ii_b=units_b["ii"], top_a=top_a, top_b=units_b["top"])
    return Result(got, {"partner": mc.layers_b[j], "median_best_corr": float(np.median(got["best_corr"]))})


def _dep(inputs: dict, name: str, s: str):
    """The input ``name`` of set ``s``: ``name`` for the neurons, ``name_s`` for a direction set."""
    return inputs.get(name if s == "neurons" else f"{name}_{s}")


def _role_columns(r: Result, n: int) -> tuple[dict, dict]:
    """The role measures of the first ``n`` units of a roles result: table columns and summary."""
    t = r.arrays["table"]
    lf = next(f"{lv}.r2_lin" for lv in ("window", "immediate", "pixels") if f"{lv}.r2_lin" in t)
    h = next(f"{lv}.h_mix" for lv in ("window", "immediate", "pixels") if f"{lv}.h_mix" in t)
    table = {"linearity_r2": np.asarray(t[lf][:n], np.float64),
             "linearity_fraction": np.asarray(t[lf.replace("r2_lin", "lf")][:n], np.float64),
             "entropy": np.asarray(t[h][:n], np.float64)}
    if "mi_knn" in t:
        table["mi"] = np.asarray(t["mi_knn"][:n], np.float64)
    roles = list(r.summary["roles"])  # fractions among every unit of the layer's set, shown or not
    return table, {"roles": roles[:n], "role_columns": {"linearity_r2": lf, "entropy": h},
                   "role_fractions": {name: roles.count(name) / len(roles) for name in sorted(set(roles))}}


def _tuning(inputs: dict, s: str, n: int) -> tuple[dict, dict]:
    """Orientation and rotation tuning and the quilt of the first ``n`` units: (columns, images)."""
    syn = _synthetic(_dep(inputs, "stimuli", s), np.arange(n))
    rot = _dep(inputs, "rotation", s).arrays
    ex = _dep(inputs, "examples", s).arrays
    table = {"orientation_selectivity": syn["orientation_selectivity"],
             "preferred_orientation": syn["preferred_orientation"],
             "rotation_sharpness": np.asarray(rot["vector_strength"][:n], np.float64)}
    images = {"tuning_curve": syn["curve"], "tuning_orientations": syn["orientations"],
              "rotation_curve": np.asarray(rot["curves"])[:, :n].T, "rotation_angles": rot["angles"],
              "quilt_crops": ex["quilt_crops"][:n], "quilt_value": ex["quilt_value"][:n]}
    return table, images


def _partners(sy: Result, n: int) -> dict:
    """Each of the first ``n`` units' :data:`PARTNERS` strongest synergy partners and values."""
    pairs = np.asarray(sy.arrays["synergy_pairs"])
    width = max(int(pairs.max()) + 1, n)
    full = np.full((width, width), -np.inf)
    i, j = pairs.T
    full[i, j] = full[j, i] = np.asarray(sy.arrays["synergy"], np.float64)
    order = np.argsort(-full[:n], axis=1, kind="stable")[:, :PARTNERS]
    return {"synergy_partner": order, "synergy_value": np.take_along_axis(full[:n], order, axis=1)}


def _layer(ctx, c: LayerConfig, **inputs) -> Result:
    arrays, summary = {}, {"layer": c.layer, "sets": list(c.sets), "similarities": list(c.similarities),
                           "upstream": c.upstream, "downstream": c.downstream,
                           "class_names": None if c.class_names is None else list(c.class_names)}
    render = inputs.get("match_render")
    for s, n in zip(c.sets, c.units):
        fv = inputs[f"featvis_{s}"]
        f = fv.arrays
        table = {"unit": np.arange(n), "max_activation": np.asarray(f["data_max"][:n], np.float64),
                 "featvis_sd": np.asarray(f["z"][:n], np.float64)}
        means = {}
        for sim in c.similarities:  # percentiles among every unit of the set, shown or not
            ii = np.asarray(inputs[f"ii_{s}_{sim}"].arrays["ii"], np.float64)
            psy = inputs[f"psy_{s}_{sim}"].arrays
            soft = np.asarray(psy["soft"][0], np.float64)
            table[f"ii_{sim}"], table[f"ii_{sim}_pct"] = ii[:n], percentile_in_layer(ii)[:n]
            table[f"psy_{sim}"], table[f"psy_{sim}_pct"] = soft[:n], percentile_in_layer(soft)[:n]
            table[f"psy_hard_{sim}"] = np.asarray(psy["accuracy"][0][:n], np.float64)
            means[f"mean_ii_{sim}"] = float(np.nanmean(ii))
        images = {k: f[k][:n] for k in ("images", "diversity_images", "negative_images", "top_crops",
                                        "bottom_crops", "top_heat", "bottom_heat", "heat_scale", "top_act",
                                        "bottom_act", "top_idx", "diversity_z", "negative_z") if k in f}
        set_summary = {"units": n, "width": int(ii.size), "steps": fv.summary["steps"],
                       "diversity_steps": fv.summary.get("diversity_steps"),
                       "negative_steps": fv.summary.get("negative_steps"), "crop_size": fv.summary.get("crop_size"),
                       "rf": fv.summary.get("rf"), "transforms": fv.summary.get("transforms"),
                       "color": fv.summary.get("color"), **means}
        if _dep(inputs, "roles", s) is not None:
            cols, more = _role_columns(_dep(inputs, "roles", s), n)
            table.update(cols)
            set_summary.update(more)
        if _dep(inputs, "stimuli", s) is not None:
            cols, more = _tuning(inputs, s, n)
            table.update(cols)
            images.update(more)
        if "weights" in inputs:
            w = (inputs["weights"].arrays if s == "neurons"
                 else direction_weights(inputs["weights"], vectors(inputs[f"fit_{s}"])))
            images.update({k: w[k][:n] for k in ("in_idx", "in_val", "out_idx", "out_val")})
        if _dep(inputs, "synergy", s) is not None:
            images.update(_partners(_dep(inputs, "synergy", s), n))
        m = _dep(inputs, "match", s)
        if m is not None:
            best = np.asarray(m.arrays["best_partner"][:n])
            table["match_corr"] = np.asarray(m.arrays["best_corr"][:n], np.float64)
            images["match_unit"] = best
            images["match_images"] = _images_uint8(c.data, np.asarray(m.arrays["top_b"])[best])  # [n, M, ...]
            if render is not None:  # the matched units' own visualisations (rendered: each of them once)
                rows = np.searchsorted(render.arrays["units"], best)
                images["match_featvis"] = render.arrays["images"][rows]
            set_summary["compare"] = {"partner": m.summary["partner"],
                                      "median_best_corr": float(np.median(table["match_corr"]))}
            if s == "neurons":
                summary["compare"] = {**set_summary["compare"],
                                      "cka": float(inputs["cka"].arrays["cka_linear"][c.partner_layer].max())}
        arrays[s] = {"table": table, **images}
        summary[s] = set_summary
    return Result(arrays, summary)


@dataclasses.dataclass(frozen=True)
class MatchRenderConfig:
    """The visualisations of the compared model's units that a layer's units (and directions) are
    best matched to: ``render`` is the compared model's main render (its layer is the partner's,
    read at run time), ``layer`` the row of A and ``units`` per match input how many are shown."""

    render: RenderConfig
    layer: int
    layers_b: tuple
    units: tuple


def _match_render(ctx, c: MatchRenderConfig, cka, color=None, **matches) -> Result:
    from jaxinterp.recipes.featvis import color_of, render_units

    partner = c.layers_b[int(cka.arrays["cka_linear"][c.layer].argmax())]
    wanted = np.unique(np.concatenate([np.asarray(matches[name].arrays["best_partner"][:n])
                                       for name, n in c.units]))
    config = dataclasses.replace(c.render, layer=partner, units=(int(wanted[0]), int(wanted[-1]) + 1))
    got = render_units(ctx, config, wanted, None, color_of(color))
    return Result({"images": got.arrays["images"], "units": wanted},
                  {"partner": partner, "steps": config.steps, "units": int(wanted.size)})


def block_layers(model, variables, shape) -> list[str]:
    """The model's top-level layers with spatial axes that end in a ReLU (a CIFAR ResNet's stem
    ReLU and its stages ``layer1``..``layer3``): the atlas's default layers and the compared model's."""
    g = door.graph(model, variables, shape)
    return [n for n in g.names if "." not in n and n not in ("input", "logits") and g[n].spatial and g[n].relu]


def _role_levels(net, variables, layer: str, shape) -> tuple[str, ...]:
    """The roles levels of ``layer`` by default: the "window" level of a ResNet stage that has one
    (:func:`~jaxinterp.recipes.roles.has_stage_levels`), "pixels" for any other layer."""
    from jaxinterp.recipes.roles import has_stage_levels

    return ("window",) if has_stage_levels(net, variables, layer, shape) else ("pixels",)


def _compare_render(compare: ModelSpec, other, data: DataSpec, steps: int, seed: int):
    """The main render of the compared model's matched units, as ``jaxinterp featvis`` renders it
    (colour and transforms by model), and its colour task (or None)."""
    from jaxinterp.featvis import param, transforms
    from jaxinterp.recipes.featvis import RenderConfig, color_task

    size = transforms.side_for(other, None)
    color = param.color_name_for(other)
    config = RenderConfig(compare, data, "", (0, 1), steps=steps, seed=seed, color=color,
                          transforms=transforms.name_for(other, size))
    return config, color_task(other, data, color)


def atlas_tasks(model: ModelSpec, data: DataSpec, layers: Sequence[str], *, directions: Sequence[str] = (),
                direction_layers: Sequence[str] | None = None, k: int | None = None, units: int | None = None,
                compare: ModelSpec | None = None, similarities: Sequence[str] | None = None, m: int = 5,
                steps: int = 512, diversity: int = 4, diversity_steps: int | None = None,
                diversity_weight: float = 100.0,
                negative_steps: int | None = None, exemplars: int = 8, chunk: int | None = None, seed: int = 0,
                role_levels: Sequence[str] | None = None, role_options: dict | None = None,
                rotation_step: float = 10.0, roles: bool = True, circuits: bool = True, synergy: bool = True
                ) -> dict[str, Task]:
    """The atlas graph; ``graph[f"layer:{name}"]`` is each layer's gathering task (the targets).

    Args:
      model, data: :func:`jaxinterp.steps.model_spec`, :func:`~jaxinterp.steps.data_spec`.
      layers: layers with spatial axes, in page order.
      directions, direction_layers, k: direction methods (e.g. ``("kmeans", "sae")``) fitted on the
        spatial means of ``direction_layers`` (default: every layer), k directions each (default
        the layer's width).
      units: show only the first ``units`` units and directions of each set (default all).
      compare: a second model on the same data: linear CKA per layer and best-matched units.
      similarities: of II and psychophysics (default colour, and label when the data has labels).
      steps, diversity, diversity_steps, diversity_weight, negative_steps, exemplars, chunk: the feature
        visualisations (:func:`~jaxinterp.recipes.featvis.featvis_tasks`).
      role_levels, role_options: :func:`~jaxinterp.recipes.roles.roles_tasks`'s levels (default
        :func:`_role_levels`) and options (``samples``, ``mlp_steps``...; default :data:`ROLE_DEFAULTS`).
      rotation_step: degrees between rotations of each unit's exemplars (circuits §6.4).
      roles, circuits, synergy: add those measures of the neurons.

    Every check runs here, before any task: the layers (the door's message for an unknown one),
    the direction methods, k and units, the compared model's input size and the data against both
    models.
    """
    from jaxinterp.directions import registry
    from jaxinterp.recipes import circuits as circ
    from jaxinterp.recipes import paper
    from jaxinterp.recipes.compare import compare_tasks
    from jaxinterp.recipes.featvis import featvis_tasks
    from jaxinterp.recipes.roles import roles_tasks

    check_data_for_model(model, data)
    net, variables = load_model(model)
    source = open_source(data)
    shape = source.image_shape
    n_images = source.num_images
    g = door.graph(net, variables, shape)
    layers = tuple(layers)
    if not layers or len(set(layers)) != len(layers):
        raise ValueError(f"--layers {','.join(layers) or '(none)'} is empty or repeats a layer; pass distinct "
                         "names, e.g. --layers layer1 layer2 layer3")
    g.check(layers)
    for name in layers:
        g.check_spatial(name, "the atlas")
    directions = tuple(dict.fromkeys(directions))
    bad = [d for d in directions if d not in registry.NAMES or d == "neurons"]
    if bad:
        raise ValueError(f"unknown direction set(s) {bad}; choose from "
                         f"{', '.join(n for n in registry.NAMES if n != 'neurons')} (neurons are always shown)")
    direction_layers = layers if direction_layers is None else tuple(direction_layers)
    stray = [d for d in direction_layers if d not in layers]
    if stray:
        raise ValueError(f"--direction-layers {stray} are not among --layers {list(layers)}; add them to --layers")
    if k is not None and not 1 <= k <= n_images:
        raise ValueError(f"--k must be between 1 and the number of images ({n_images}), got {k}")
    if units is not None and units < 1:
        raise ValueError(f"--units must be a positive number of units per layer, got {units}; leave it out "
                         "for every unit")
    if n_images < 2 * m + 2:
        raise ValueError(f"{n_images} images are too few for M={m} exemplars; use at least {2 * m + 2}")
    if exemplars > n_images:
        raise ValueError(f"--exemplars {exemplars} is more than the {n_images} images; pass fewer")
    if not 0 < rotation_step <= 90:
        raise ValueError(f"--rotation-step must be in (0, 90] degrees, got {rotation_step}")
    if compare is not None:
        other, other_variables = load_model(compare)
        if (other.INPUT_SIZE, other.IN_CHANNELS) != (net.INPUT_SIZE, net.IN_CHANNELS):
            raise ValueError(f"--compare {compare.arch} takes {other.INPUT_SIZE}-px images with {other.IN_CHANNELS} "
                             f"channels, {model.arch} takes {net.INPUT_SIZE}-px images with {net.IN_CHANNELS}; "
                             "compare models that take the same inputs")
        check_data_for_model(compare, data)
    labelled = source.labels is not None
    similarities = tuple(similarities or (("colour", "label") if labelled else ("colour",)))
    if "label" in similarities and not labelled:
        raise ValueError(f"the label similarity needs labels, and {data.name} has none; pass --labels or drop it")
    specs = {s: SimilaritySpec(s) for s in similarities}
    main = paper.main_similarity(similarities)
    fv_options = dict(steps=int(steps), diversity=diversity, diversity_steps=diversity_steps,
                      diversity_weight=float(diversity_weight),
                      negative_steps=negative_steps, exemplars=exemplars, chunk=chunk, seed=seed)

    graph: dict[str, Task] = {}
    cmp = compare_render = color = None
    if compare is not None:  # units are matched among the compared model's blocks (a ReLU's maps), not its logits
        cmp = compare_tasks(model, compare, data, layers_a=layers, layers_b=block_layers(other, other_variables, shape),
                            m=m, seed=seed)
        compare_render, color = _compare_render(compare, other, data, int(steps), seed)
    for li, layer in enumerate(layers):
        width = g[layer].channels
        rf = door.receptive_field(net, variables, layer, shape)
        acts = capture_task(model, data, layer)
        fits = {"neurons": fit_task(acts, "neurons")}
        counts = {"neurons": min(units or width, width)}
        deps: dict[str, Task] = {}
        fv = featvis_tasks(model, data, layer, (0, counts["neurons"]), rf=rf, **fv_options)
        deps["featvis_neurons"] = fv["featvis"]
        for d in directions if layer in direction_layers else ():
            kd = registry.default_k(d, width, k)
            counts[d] = min(units or kd, kd)
            fv = featvis_tasks(model, data, layer, (0, counts[d]), method=d, k=k, rf=rf, **fv_options)
            fits[d] = fv["directions"]
            deps[f"featvis_{d}"] = fv["featvis"]
        for s, fit in fits.items():
            for sim, spec in specs.items():
                deps[f"ii_{s}_{sim}"] = ii_task(fit, spec, data, m)
                config = paper.PsychophysicsConfig(spec, data, seed, paper.K_PSYCHOPHYSICS, (PSY_QUANTILE,))
                deps[f"psy_{s}_{sim}"] = Task("psychophysics", config, paper._psychophysics, {"directions": fit})
        if roles:
            options = {**ROLE_DEFAULTS, **(role_options or {}), "m": m, "seed": seed}
            levels = tuple(role_levels or _role_levels(net, variables, layer, shape))
            for d, fit in fits.items():
                deps["roles" if d == "neurons" else f"roles_{d}"] = roles_tasks(
                    model, data, layer, levels=levels, directions=None if d == "neurons" else fit, **options)["roles"]
        up = down = names = None
        if circuits:
            up, down = circ.neighbours(net, variables, layer, shape)
            g.check_spatial(up, "'weights in' (the layer before)")
            for d, fit in fits.items():  # the neurons' tasks keep the keys of the hand-built ones they replace
                got = circ.unit_tasks(model, data, layer, range(counts[d]), None if d == "neurons" else fit,
                                      top=exemplars, exemplars=exemplars, rotation_step=rotation_step, rf=rf)
                for name, task in got.items():
                    deps[name if d == "neurons" else f"{name}_{d}"] = task
            deps["weights"] = Task("circuits_weights", circ.WeightsConfig(model, up, layer, down, tuple(shape)),
                                   circ._weights)
            if circ.is_classifier(g, down):
                names = circ.class_names(model.arch, g[down].channels)
        for d in fits:  # the direction sets' inputs, named as the neurons' with "_<set>"
            if d != "neurons":
                deps[f"fit_{d}"] = fits[d]
        if synergy:
            measure = paper.MeasureConfig(specs[main], data, m)
            deps["synergy"] = Task("synergy", measure, paper._synergy, {"acts": acts})
            for d in fits:
                if d != "neurons":
                    deps[f"synergy_{d}"] = Task("atlas_synergy", measure, _fit_synergy, {"fit": fits[d]})
        if cmp is not None:
            deps["match"], deps["cka"] = cmp[f"match{li}"], cmp["cka_linear"]
            side = {k: v for k, v in cmp[f"match{li}"].deps.items() if k != "units_a"}  # cka, a, b, units_b*
            for d in fits:
                if d != "neurons":
                    config = DirectionMatchConfig(cmp[f"match{li}"].config, data, m)
                    deps[f"match_{d}"] = Task("atlas_match_directions", config, _match_directions,
                                              {**side, "fit": fits[d]})
            shown = tuple(("match" if d == "neurons" else f"match_{d}", counts[d]) for d in fits)
            config = MatchRenderConfig(compare_render, li, cmp["match0"].config.layers_b, shown)
            deps["match_render"] = Task("atlas_match_render", config, _match_render,
                                        {"cka": cmp["cka_linear"], **({"color": color} if color else {}),
                                         **{name: deps[name] for name, _ in shown}})
        sets = tuple(counts)
        config = LayerConfig(layer, data, sets, similarities, tuple(counts[s] for s in sets), up, down,
                             tuple(names) if names else None, li if cmp is not None else None)
        graph[f"layer:{layer}"] = Task("atlas_layer", config, _layer, deps)
    return graph
