"""``jaxinterp compare`` (universality, :mod:`jaxinterp.universality`) as a graph of tasks.

:func:`compare_tasks` builds, for two models on one dataset::

    capture (one pass per model reading all its layers; steps.capture_task, spatial mean)
      ├─ universality_pairs: cka_linear, cka_rbf, cca (SVCCA + PWCCA), knn   (every layer pair)
      ├─ universality_units: colour II and top-m images of every unit         (one per layer)
      └─ universality_match: the units of layer i of A against its best-CKA layer of B
    compare: the arrays and summary the report draws (universality.gather)

Each task is saved in the results store as it finishes, so a killed run resumes with the
unfinished tasks, a rerun computes nothing, and changing one option recomputes only what
depends on it (``k``: the k-NN task; ``seed``/``top_pairs``: the matchings; ``m``: the unit
tasks and the matchings; the gathering step always). Every task calls the same functions
as :func:`jaxinterp.universality.compare`, so both give the same numbers.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from jaxinterp.steps import DataSpec, ModelSpec, SimilaritySpec, capture_task, images01, similarity_features
from jaxinterp.tasks import Result, Task
from jaxinterp.universality.analysis import (
    PAIR_MEASURES,
    check_m,
    default_layers,
    gather,
    match_layer,
    null_order,
    pair_measure,
    unit_info,
)

COLOUR = SimilaritySpec("colour")


def _acts(inputs: dict, side: str, names: Sequence[str]) -> dict[str, np.ndarray]:
    return {name: inputs[side].arrays["acts"][name] for name in names}


@dataclasses.dataclass(frozen=True)
class PairsConfig:
    """measure: one of :data:`~jaxinterp.universality.analysis.PAIR_MEASURES`; k (knn) and keep
    (cca) are set only for the measure that reads them, so the others keep their keys."""

    measure: str
    layers_a: tuple
    layers_b: tuple
    k: int | None = None
    keep: float | None = None


def _pairs(ctx, c: PairsConfig, **inputs) -> Result:
    options = {name: v for name, v in (("k", c.k), ("keep", c.keep)) if v is not None}
    arrays = pair_measure(c.measure, _acts(inputs, "a", c.layers_a), _acts(inputs, "b", c.layers_b), **options)
    return Result(arrays, {"measure": c.measure, **{name: float(np.nanmax(a)) for name, a in arrays.items()}})


@dataclasses.dataclass(frozen=True)
class UnitsConfig:
    data: DataSpec
    m: int
    layer: str


def _units(ctx, c: UnitsConfig, acts) -> Result:
    ii, top = unit_info(acts.arrays["acts"][c.layer], similarity_features(COLOUR, c.data), c.m)
    return Result({"ii": ii, "top": top}, {"units": int(ii.shape[0]), "mean_ii": float(np.mean(ii))})


@dataclasses.dataclass(frozen=True)
class MatchConfig:
    """layer: the row of A; its partner is the layer of B of highest linear CKA."""

    layer: int
    layers_a: tuple
    layers_b: tuple
    seed: int
    top_pairs: int


def _match(ctx, c: MatchConfig, cka, a, units_a, **inputs) -> Result:
    j = int(cka.arrays["cka_linear"][c.layer].argmax())
    xa = a.arrays["acts"][c.layers_a[c.layer]]
    units_b = inputs[f"units_b{j}"].arrays
    got = match_layer(xa, inputs["b"].arrays["acts"][c.layers_b[j]], null_order(len(xa), c.seed), units_a.arrays["top"],
                      units_b["top"], c.top_pairs)
    got.update(ii_a=units_a.arrays["ii"], ii_b=units_b["ii"], top_a=units_a.arrays["top"], top_b=units_b["top"])
    return Result(got, {"partner": c.layers_b[j], "median_best_corr": float(np.median(got["best_corr"]))})


@dataclasses.dataclass(frozen=True)
class CompareConfig:
    data: DataSpec
    layers_a: tuple
    layers_b: tuple
    m: int
    k: int
    keep: float
    seed: int


def _gather(ctx, c: CompareConfig, **inputs) -> Result:
    measures = {}
    for measure in PAIR_MEASURES:
        measures.update(inputs[measure].arrays)
    layers = [inputs[f"match{i}"].arrays for i in range(len(c.layers_a))]
    images = images01(c.data)
    arrays, summary = gather(measures, c.layers_a, c.layers_b, layers, images, m=c.m,
                             k=min(c.k, len(images) - 1), keep=c.keep, seed=c.seed)
    return Result(arrays, summary)


def _layers(spec: ModelSpec, which: str, wanted: Sequence[str] | None, image_shape) -> tuple[str, ...]:
    """The layers of model ``which`` to compare (default: :func:`default_layers`), checked."""
    from jaxinterp import door
    from jaxinterp.steps import load_model

    model, variables = load_model(spec)
    if image_shape[-1] != model.IN_CHANNELS:
        raise ValueError(f"model {which} ({spec.arch}) takes {model.IN_CHANNELS}-channel images, the data "
                         f"has {image_shape[-1]}; pass images [n, h, w, {model.IN_CHANNELS}]")
    g = door.graph(model, variables, image_shape)
    layers = tuple(dict.fromkeys(default_layers(g.names) if wanted is None else wanted))  # each once
    if not layers:
        raise ValueError(f"no layers given for model {which}; pass --layers-{which.lower()} NAME[,NAME...]")
    try:
        g.check(layers, f"layer of model {which}")
    except ValueError as err:
        raise ValueError(f"{err}; fix --layers-{which.lower()}") from None
    flat = [name for name in layers if len(g[name].shape) not in (1, 3)]
    if flat:
        raise ValueError(f"layers {flat} of model {which} do not give [n, units] after the spatial mean "
                         f"(shapes {[g[name].shape for name in flat]}); pick conv or dense layers")
    return layers


def compare_tasks(model_a: ModelSpec, model_b: ModelSpec, data: DataSpec, *,
                  layers_a: Sequence[str] | None = None, layers_b: Sequence[str] | None = None, m: int = 5,
                  top_pairs: int = 6, k: int = 10, keep: float = 0.99, seed: int = 0,
                  batch_size: int = 256) -> dict[str, Task]:
    """The task graph of ``jaxinterp compare``; ``["compare"]`` gathers it all.

    Args:
      model_a, model_b, data: :func:`jaxinterp.steps.model_spec` / :func:`~jaxinterp.steps.data_spec`.
      layers_a, layers_b: layer names (default: stem, every residual block, classifier).
      m, top_pairs, k, keep, seed: as :func:`jaxinterp.universality.compare`.
      batch_size: images per capture step.

    Returns:
      ``{name: Task}``: ``capture_a``, ``capture_b``, ``units_a{i}``, ``units_b{j}``, one per
      name of :data:`PAIR_MEASURES`, ``match{i}`` and ``compare``; run
      ``tasks.run([graph["compare"]], store)``. Bad options fail here, before any work.
    """
    from jaxinterp.steps import load_data

    images = load_data(data)[0]
    if len(images) < 4:
        raise ValueError(f"{data.path} gives {len(images)} images; CKA (unbiased HSIC) needs at least 4")
    check_m(m, len(images))
    for name, value in (("top_pairs", top_pairs), ("k", k)):
        if value < 1:
            raise ValueError(f"{name} must be a positive number, got {value}")
    if not 0 < keep <= 1:
        raise ValueError(f"keep is the share of variance SVCCA keeps, in (0, 1]; got {keep}")
    names = {"a": _layers(model_a, "A", layers_a, images.shape[1:]),
             "b": _layers(model_b, "B", layers_b, images.shape[1:])}
    g: dict[str, Task] = {}
    for side, spec in (("a", model_a), ("b", model_b)):
        g[f"capture_{side}"] = capture_task(spec, data, names[side], "mean", batch_size)  # one pass
        for i, layer in enumerate(names[side]):
            g[f"units_{side}{i}"] = Task("universality_units", UnitsConfig(data, m, layer), _units,
                                         {"acts": g[f"capture_{side}"]})
    captures = {side: g[f"capture_{side}"] for side in "ab"}
    for measure in PAIR_MEASURES:
        config = PairsConfig(measure, names["a"], names["b"], k=k if measure == "knn" else None,
                             keep=keep if measure == "cca" else None)
        g[measure] = Task("universality_pairs", config, _pairs, captures)
    units_b = {f"units_b{j}": g[f"units_b{j}"] for j in range(len(names["b"]))}
    for i in range(len(names["a"])):
        deps = {"cka": g["cka_linear"], "a": g["capture_a"], "units_a": g[f"units_a{i}"], **units_b,
                "b": g["capture_b"]}
        g[f"match{i}"] = Task("universality_match", MatchConfig(i, names["a"], names["b"], seed, top_pairs),
                              _match, deps)
    deps = {**{measure: g[measure] for measure in PAIR_MEASURES},
            **{f"match{i}": g[f"match{i}"] for i in range(len(names["a"]))}}
    g["compare"] = Task("compare", CompareConfig(data, names["a"], names["b"], m, k, keep, seed), _gather, deps)
    return g
