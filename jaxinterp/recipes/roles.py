"""Every METHODS.md §5 measure for every neuron of a layer (or every direction of a fit on it),
as a graph of tasks.

:func:`roles_tasks` builds: the capture and the II of the layer's neurons (colour,
and label when the data has labels); one task per input level (``immediate``,
``window``: ResNet stages; ``pixels``: any model) with its linearity, Jacobian,
entropy and expanded-weight measures; saliency on each neuron's top exemplars and
on random images; label information of the image-level activations; and a
``roles`` task that gathers the per-neuron table, the exploratory role labels,
the Spearman correlation of every measure with II (with Holm and Benjamini-Hochberg
adjusted p values) and the Spearman ρ of each pair of headline measures. With ``directions``
(a direction-fit task), every measure is of the layer's maps projected on each direction.
:mod:`jaxinterp.report.roles` writes the CSV/JSON tables, figures and page from that saved result.

Keys follow the monolithic command this replaced: ``key(seed)`` is split in three
once per level in order (the first part carries on, the second draws the
positions, the third the measures), and saliency draws its random images from
what is left.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from jaxinterp import door
from jaxinterp.steps import (
    DataSpec,
    ModelSpec,
    SimilaritySpec,
    capture_task,
    fit_task,
    ii_task,
    images01,
    key_of,
    load_data,
    load_model,
    open_source,
    vectors,
)
from jaxinterp.tasks import Result, Task

LEVELS = ("immediate", "window", "pixels")
SUMMARY = ["window.lf", "immediate.lf", "pixels.lf", "window.axis_focus", "immediate.axis_focus",
           "window.h_mix", "mi_knn", "saliency_kappa_top", "weights.window.effective_rank", "ii_colour"]


SAMPLES_PER_INPUT = 3
AUTO_MIN_SAMPLES = 8000


def auto_samples(dim: int) -> int:
    """Position samples for a level of ``dim`` inputs: at least 8,000 and more than 3x its inputs
    (fitting uses 80%), rounded up to a thousand, so the MLP ceiling can beat ridge where it should."""
    need = int(np.ceil(SAMPLES_PER_INPUT * dim / 0.8 / 1000.0)) * 1000
    return max(AUTO_MIN_SAMPLES, need)


def _carry(i: int) -> tuple:
    return (("split", 3, 0),) * i


@dataclasses.dataclass(frozen=True)
class LevelConfig:
    model: ModelSpec
    data: DataSpec
    layer: str
    level: str
    samples: int
    mlp_hidden: tuple
    mlp_steps: int
    jacobian_samples: int
    ksg_samples: int
    seed: int
    index: int  # position among the requested levels: which keys it draws


def has_stage_levels(model, variables, layer: str, shape) -> bool:
    """Whether ``layer`` has the "immediate" and "window" levels
    (:func:`jaxinterp.neurons.resnet_levels`): a ResNet stage ``layerK`` of two or more basic blocks
    (``layerK.0.bn1`` ...) whose maps keep the size of the stage's input (``layer1`` of a CIFAR
    ResNet; later stages downsample, and a torchvision stem's max-pool halves ``bn1``). Every
    other layer has the "pixels" level only. Reads the layer graph for inputs of ``shape``
    ([H, W, C]), no image."""
    if layer == "layer1":
        stage_in = "bn1"
    elif layer.startswith("layer") and layer[5:].isdigit():
        stage_in = f"layer{int(layer[5:]) - 1}"
    else:
        return False
    g = door.graph(model, variables, shape)
    blocks = sorted(int(n.split(".")[1]) for n in g.names
                    if n.startswith(layer + ".") and n.count(".") == 1 and n.split(".")[1].isdigit())
    return (len(blocks) > 1 and f"{layer}.{blocks[-1]}.bn1" in g and layer in g and stage_in in g
            and g[layer].spatial and g[layer].shape[:2] == g[stage_in].shape[:2])


def _levels(model, variables, images, layer, wanted, directions=None):
    """{name: Level} and the layer's output maps [n, h, w, N] (the levels are checked by
    :func:`roles_tasks`); with ``directions`` [k, N], both of the k projected units instead
    (:func:`jaxinterp.neurons.project_level`): every level measure then reads them."""
    from jaxinterp import neurons

    stage_levels = [lv for lv in wanted if lv != "pixels"]
    levels, layer_out = {}, None
    if stage_levels:
        levels, layer_out = neurons.resnet_levels(model, variables, images, layer, levels=stage_levels)
    if "pixels" in wanted:
        levels["pixels"] = neurons.pixel_level(model, variables, images, layer)
        if layer_out is None:
            layer_out = neurons.level_outputs(levels["pixels"])
    if directions is not None:
        levels = {name: neurons.project_level(lv, directions) for name, lv in levels.items()}
        layer_out = neurons.project(layer_out, directions)
    return levels, layer_out


def _level(ctx, c: LevelConfig, directions: Result | None = None) -> Result:
    from jaxinterp import neurons

    model, variables = load_model(c.model)
    images, _ = load_data(c.data)
    levels, layer_out = _levels(model, variables, images, c.layer, [c.level], vectors(directions))
    level = levels[c.level]
    n, h, w, _ = layer_out.shape
    samples = c.samples or auto_samples(level.dim)
    warning = ""
    if samples < SAMPLES_PER_INPUT * level.dim:
        warning = (f"{c.level}: {samples} position samples for {level.dim} inputs (fewer than "
                   f"{SAMPLES_PER_INPUT}x): the MLP ceiling cannot beat ridge here, so its LF near 1 says "
                   f"little; use --samples auto or at least {SAMPLES_PER_INPUT * level.dim}")
        ctx.log("warning: " + warning)
    k_pos, k_meas = key_of(c.seed, _carry(c.index) + (("split", 3, 1),)), \
        key_of(c.seed, _carry(c.index) + (("split", 3, 2),))
    positions = neurons.sample_positions(k_pos, n, h, w, samples)
    m = neurons.level_measures(k_meas, level, layer_out, positions, mlp_hidden=c.mlp_hidden,
                               mlp_steps=c.mlp_steps, jacobian_samples=c.jacobian_samples,
                               ksg_samples=c.ksg_samples, log=ctx.log)
    out = {f"{c.level}.{k}": np.asarray(v) for k, v in m.items()}
    if c.level in ("window", "immediate"):
        e = neurons.expanded_weights(level)
        part = level.parts[0]
        k_win = level.windows[0]
        e0 = e[:, : k_win * k_win * part.shape[-1]]
        mats = jax.vmap(lambda r: neurons.window_matrix(r, k_win, part.shape[-1]))(e0)
        stats = neurons.spectrum_stats_all(mats)
        for stat in ("effective_rank", "separability", "norm"):
            out[f"weights.{c.level}.{stat}"] = np.asarray(stats[stat])
        if c.level == "immediate":  # share of the expanded weight on the skip input
            skip = np.asarray(e[:, k_win * k_win * part.shape[-1]:])
            out["weights.immediate.skip_share"] = np.sum(skip**2, 1) / np.sum(np.asarray(e) ** 2, 1)
    # JSON keys cannot hold '/', and the store nests on it; '.' is kept as in the table
    return Result({"columns": out}, {"level": c.level, "dim": int(level.dim),
                                     "samples": int(positions.shape[0]), "warning": warning})


@dataclasses.dataclass(frozen=True)
class SaliencyConfig:
    model: ModelSpec
    data: DataSpec
    layer: str
    top: int
    saliency_images: int
    seed: int
    key_path: tuple
    structured: bool  # a ResNet stage: the structured channel-gradient kernel


def _saliency(ctx, c: SaliencyConfig, acts, directions: Result | None = None) -> Result:
    from jaxinterp import door, neurons
    from jaxinterp.neurons import channel_gradients as cg
    from jaxinterp.scores import top_exemplars

    model, variables = load_model(c.model)
    images = load_data(c.data)[0]
    x01 = images01(c.data)
    d = vectors(directions)
    a = jnp.asarray(acts.arrays["acts"])
    if d is not None:  # the spatial mean of a projected map is the projected spatial mean
        a = neurons.project(a, d)
    n_neurons = a.shape[1]
    top = np.asarray(jax.vmap(lambda f: top_exemplars(f, c.top), in_axes=1)(a))
    key = key_of(c.seed, c.key_path)
    rand = np.asarray(jax.random.choice(key, len(images), (min(c.saliency_images, len(images)),), replace=False))
    wanted = np.unique(np.concatenate([top.ravel(), rand]))
    x = model.normalize(jnp.asarray(x01[wanted]))
    stage_blocks = None
    if c.structured:
        names_ = door.layer_names(model, variables, images.shape[1:])
        stage_blocks = tuple(nm for nm in names_ if nm.startswith("layer1.") and nm.count(".") == 1)
    at = np.searchsorted(wanted, top)  # [N, top]: rows of `wanted` (sorted, unique)
    at_random = np.searchsorted(wanted, rand)
    units = np.arange(n_neurons)
    if stage_blocks:  # CIFAR: every gradient at once, by the structured kernel
        stem, blocks = cg.from_variables(variables, blocks=stage_blocks)
        grads = cg.channel_mean_gradients(stem, blocks, x)  # [u, N, H, W, C]
        if d is not None:  # the gradient of a projection is the projection of the gradients
            grads = jnp.einsum("unhwc,kn->ukhwc", grads, jnp.asarray(d), precision=jax.lax.Precision.HIGHEST)
        sal = jnp.max(jnp.abs(grads), axis=-1)  # [u, N, H, W]
        kappa = np.asarray(neurons.concentration(sal))  # [u, N]
        best_saliency = np.asarray(sal[at[:, 0], units])
    else:  # any layer: per image, a block of channels at a time (a 224-px layer's maps are GBs)
        fn = neurons.subnetwork(model, variables, ["input"], c.layer, x.shape[1:])
        unit = (lambda z: fn((z,))) if d is None else (lambda z: neurons.project(fn((z,)), d))
        kappa, maps = neurons.saliency_summary(unit, x, jnp.asarray(at[:, 0]))
        kappa, best_saliency = np.asarray(kappa), np.asarray(maps)
    kappa_top = kappa[at, units[:, None]].mean(1)
    kappa_random = kappa[at_random].mean(0)
    return Result({"saliency_kappa_top": kappa_top, "saliency_kappa_random": kappa_random, "top": top,
                   "best_saliency": best_saliency},
                  {"images": int(len(wanted)), "kernel": "structured ResNet" if stage_blocks else "autodiff"})


def _image_level(ctx, c: DataSpec, acts, directions: Result | None = None) -> Result:
    from jaxinterp import neurons

    a = acts.arrays["acts"]
    if directions is not None:
        a = np.asarray(neurons.project(jnp.asarray(a), vectors(directions)))
    labels = load_data(c)[1]
    out = dict(neurons.image_measures(a, labels))
    out["image.h_mix"] = np.asarray(neurons.mixed_entropy_all(jnp.asarray(a))["h_mix"])
    return Result(out, {})


@dataclasses.dataclass(frozen=True)
class RolesConfig:
    arch: str
    layer: str
    data_name: str
    levels: tuple
    similarities: tuple
    m: int
    mlp_hidden: tuple
    mlp_steps: int


def spearman_table(table: dict, ii_columns: dict) -> dict:
    """{measure: {similarity: {"rho", "p", "n", "p_holm", "q_bh"} or None}} over finite pairs.

    ``p_holm`` (Holm, family-wise error) and ``q_bh`` (Benjamini-Hochberg) adjust each p value
    over every test of the table: all measures × similarities that have one.
    """
    from jaxinterp.scores._stats import adjusted_p, spearman

    out = {name: {sim: spearman(col, table[ii_name]) for sim, ii_name in ii_columns.items()}
           for name, col in table.items() if name not in ("neuron", "role") and not name.startswith("ii_")}
    tests = [v for by in out.values() for v in by.values() if v]
    holm, bh = adjusted_p([v["p"] for v in tests])
    for v, h, q in zip(tests, holm, bh):
        v.update(p_holm=float(h), q_bh=float(q))
    return out


def extreme_neurons(values, n: int = 2) -> np.ndarray:
    """[N] measure -> [2, n]: the ``n`` neurons with the lowest values (lowest first) and the ``n``
    with the highest (highest first); NaN counts as the median."""
    values = np.asarray(values, float)
    order = np.argsort(np.where(np.isfinite(values), values, np.nanmedian(values)))
    return np.stack([order[:n], order[::-1][:n]])


def _gather(ctx, c: RolesConfig, **inputs) -> Result:
    from jaxinterp import neurons
    from jaxinterp.scores._stats import spearman_matrix

    acts = inputs["acts"].arrays["acts"]
    fit = inputs.get("directions")
    n_neurons = acts.shape[1] if fit is None else fit.arrays["directions"].shape[0]
    units = f"{n_neurons} neurons" if fit is None else (
        f"{n_neurons} {fit.summary.get('method') or 'fitted'} directions (the layer's {acts.shape[1]} channel "
        "maps projected on each; the column 'neuron' numbers the directions)")
    table = {"neuron": np.arange(n_neurons)}
    ii_columns = {}
    for sim in c.similarities:
        table[f"ii_{sim}"] = inputs[f"ii_{sim}"].arrays["ii"]
        ii_columns[sim] = f"ii_{sim}"
    for level in c.levels:
        table.update(inputs[f"level_{level}"].arrays["columns"])
    sal = inputs["saliency"].arrays
    table["saliency_kappa_top"] = sal["saliency_kappa_top"]
    table["saliency_kappa_random"] = sal["saliency_kappa_random"]
    table.update(inputs["image"].arrays)
    lf_col = next((f"{lv}.lf" for lv in ("window", "pixels", "immediate") if f"{lv}.lf" in table), None)
    h_col = next((f"{lv}.h_mix" for lv in ("window", "pixels", "immediate") if f"{lv}.h_mix" in table), None)
    af_col = next((f"{lv}.axis_focus" for lv in ("immediate", "window", "pixels") if f"{lv}.axis_focus" in table),
                  None)
    roles = neurons.role_labels(table[lf_col], table[h_col], table[af_col], table["ii_colour"])
    notes = [
        f"Layer {c.layer} of {c.arch}: {units}, {acts.shape[0]} images from {c.data_name}.",
        "II similarity used: " + ", ".join(ii_columns) + f" (M={c.m}), over "
        + ("spatial-mean activations (capture position='mean')." if fit is None else
           "the direction fit's activations (the method's own transform of the spatial means)."),
        f"Role labels use LF from {lf_col}, entropy from {h_col}, axis focus from {af_col}. "
        + neurons.EXPLORATORY_NOTE,
        f"MLP ceiling: hidden {c.mlp_hidden}, {c.mlp_steps} Adam steps with early stopping (the method's "
        "reference setting is 2×256 hidden units and 100k samples).",
        "Position samples per level: " + ", ".join(
            f"{lv} {inputs[f'level_{lv}'].summary['samples']} for {inputs[f'level_{lv}'].summary['dim']} inputs"
            for lv in c.levels) + ".",
        *[f"Warning: {inputs[f'level_{lv}'].summary['warning']}." for lv in c.levels
          if inputs[f"level_{lv}"].summary.get("warning")],
    ]
    correlations = {"similarities": list(ii_columns), "ii_columns": ii_columns,
                    "by_measure": spearman_table(table, ii_columns), "notes": notes}
    shown = [s for s in SUMMARY if s in table]
    arrays = {"table": {k.replace("/", "_"): np.asarray(v) for k, v in table.items()},
              "top": sal["top"], "best_saliency": sal["best_saliency"],
              # the scatter matrix's upper triangle: Spearman ρ of each pair of headline measures
              "summary_rho": spearman_matrix(np.stack([np.asarray(table[s], float) for s in shown], 1)),
              # the neurons the extremes figures show, for each headline measure that is not an II
              "extremes": {s: extreme_neurons(table[s]) for s in shown if not s.startswith("ii_")}}
    summary = {"columns": list(table), "roles": roles, "notes": notes, "correlations": correlations,
               "summary_columns": shown}
    if fit is not None:
        summary["directions"] = {"method": fit.summary.get("method"), "k": int(n_neurons),
                                 "channels": int(acts.shape[1])}
    return Result(arrays, summary)


def _check_directions(directions, layer: str) -> None:
    """Refuse what is not a task, or a fit on a capture of another layer, before any work."""
    if not isinstance(directions, Task):
        raise ValueError(f"directions must be a direction-fit Task (steps.fit_task(capture_task(model, data, "
                         f"{layer!r}), 'kmeans', k=...)), got {type(directions).__name__}")
    captured = getattr(getattr(directions.deps.get("acts"), "config", None), "layer", layer)
    if captured != layer:
        raise ValueError(f"the directions were fit on layer {captured!r}, not {layer!r}; fit them on "
                         f"capture_task(model, data, {layer!r})")


def roles_tasks(model: ModelSpec, data: DataSpec, layer: str, *, levels=LEVELS, samples: int = 0,
                jacobian_samples: int = 128, ksg_samples: int = 1000, mlp_hidden=(128, 128),
                mlp_steps: int = 1500, saliency_images: int = 200, top: int = 20, m: int = 5,
                seed: int = 0, directions: Task | None = None) -> dict[str, Task]:
    """The task graph of the per-neuron role measures of ``layer``; ``["roles"]`` gathers them.

    ``samples`` position samples per level; 0 ("auto") picks :func:`auto_samples` of each
    level's input dimension. Fewer than 3x a level's inputs are allowed but warned about.

    ``directions``: a direction-fit task of this layer (:func:`jaxinterp.steps.fit_task` of its
    capture, whose result holds ``"directions"`` [k, C]): every measure is then of the k
    directions, a direction's response being the layer's maps projected on it (``maps @ Dᵀ``, as
    the feature renders read it): the level measures (:func:`jaxinterp.neurons.project_level`),
    saliency of the projected spatial mean, the image-level measures of the projected spatial
    means, the II of the fit's activations, and the role labels; the table's ``neuron`` column
    numbers the directions. The tasks that measure units take the fit as an input, so their keys
    differ from the neurons' (a graph without ``directions`` keeps its keys). They draw the same
    keys as the neurons' tasks, so one-hot rows equal the neurons they pick, in every measure but
    the MLP ceiling's, whose key is per column index (the identity rows equal it too). Each set
    costs as much again as the neurons.
    """
    levels = tuple(levels)
    unknown = [lv for lv in levels if lv not in LEVELS]
    if unknown or not levels:
        raise ValueError(f"unknown level(s) {unknown or levels}; choose from {', '.join(LEVELS)} "
                         "(comma-separated, e.g. --levels immediate,window,pixels)")
    net, variables = load_model(model)
    source = open_source(data)  # the checks read the layer graph: no image is decoded
    g = door.graph(net, variables, source.image_shape)
    g.check([layer])
    if not g[layer].spatial:
        raise ValueError(f"layer {layer!r} has no spatial axes (output shape {g[layer].shape}); the pixel and "
                         "window levels need a convolutional layer [h, w, channels]")
    resnet = has_stage_levels(net, variables, layer, source.image_shape)
    if not resnet and set(levels) - {"pixels"}:
        raise ValueError(f"{layer!r} is not a ResNet stage with the immediate and window levels (a stage of two or "
                         "more basic blocks that keeps its input's size, such as layer1 of a CIFAR ResNet). "
                         "Pass --levels pixels for this layer")
    if directions is not None:
        _check_directions(directions, layer)
    g: dict[str, Task] = {"acts": capture_task(model, data, layer)}
    if directions is None:
        g["fit_neurons"] = fit_task(g["acts"], "neurons")
    else:
        g["directions"] = directions
    # the direction fit is an input of every task that measures units: their keys differ from
    # the neurons' tasks, whose inputs (and configs) stay as they were
    units = {} if directions is None else {"directions": directions}
    sims = ("colour", "label") if source.labels is not None else ("colour",)
    for sim in sims:
        g[f"ii_{sim}"] = ii_task(g.get("fit_neurons", directions), SimilaritySpec(sim), data, m)
    for i, level in enumerate(levels):
        g[f"level_{level}"] = Task("role_level", LevelConfig(model, data, layer, level, samples,
                                                             tuple(mlp_hidden), mlp_steps, jacobian_samples,
                                                             ksg_samples, seed, i), _level, units)
    structured = resnet and layer == "layer1"
    # the structured kernel splits the images over the local devices: the key records how many
    g["saliency"] = Task("saliency", SaliencyConfig(model, data, layer, top, saliency_images, seed,
                                                    _carry(len(levels)), structured),
                         _saliency, {"acts": g["acts"], **units}, layout=structured)
    g["image"] = Task("image_measures", data, _image_level, {"acts": g["acts"], **units})
    config = RolesConfig(model.arch, layer, data.path.rsplit("/", 1)[-1], levels, sims, m,
                         tuple(mlp_hidden), mlp_steps)
    g["roles"] = Task("roles", config, _gather, {k: v for k, v in g.items() if k != "fit_neurons"})
    return g

