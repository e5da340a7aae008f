"""The analyses of "Identifying interpretable features in CNNs" (seed 001) as a graph of tasks.

:func:`paper_tasks` builds, for one layer of one model, the tasks of METHODS.md §2-4:
capture, neurons and K-means directions, II and psychophysics per similarity,
manifold, sensitivity, synergy, co-activation, spectrum, and the 4 × 4 SAE sweep of
Fig. 9, one task per cell, then a ``paper`` task that gathers them into the arrays
and summary the report draws (:mod:`jaxinterp.report.paper`). Run it with
:func:`jaxinterp.tasks.run`: every task is saved as it finishes, so an interrupted
run resumes where it stopped. Fig. 2 needs the IMI human data
(``jaxinterp.scores.human``), which is not shipped, so it is not drawn.

Keys follow the monolithic recipe this replaced: ``split(key(seed), 3)`` gives the
K-means, psychophysics and spectrum keys; ``fold_in(key(seed), 9)`` the SAE grid. Each
task's config holds only what it reads: the seed goes to the tasks that draw random
numbers (K-means with k-means++, psychophysics unless ``reproduce``, the spectrum's split
halves, the SAE cells), so ``--seed 1`` recomputes those and what depends on them, and
reuses the capture, the neurons' scores, synergy and co-activation. The SAE cells fit
over the local devices, so their keys also record the device count (``Task.layout``).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from jaxinterp.scores import coactivation as coact_lib
from jaxinterp.scores import manifold, psychophysics, sensitivity, spectrum, synergy
from jaxinterp.scores._stats import correlations, mean_sem
from jaxinterp.scores.ii import cross_interpretability_index, interpretability_index_all
from jaxinterp.steps import (
    DataSpec,
    ModelSpec,
    SimilaritySpec,
    build_similarity,
    capture_task,
    fit_task,
    ii_task,
    images01,
    key_of,
    load_model,
    similarity_features,
)
from jaxinterp.tasks import Result, Task

SAE_RATIOS = (0.5, 1.0, 2.0, 4.0)
SAE_L1 = (1e-3, 1e-2, 1e-1, 1.0)
QUANTILES = (0.0, 0.1, 0.25)
SETS = ("neurons", "kmeans")
K_KMEANS, K_PSYCHOPHYSICS, K_SPECTRUM = ((("split", 3, i),) for i in range(3))
K_SAE = (("fold", 9),)


def _tasks_that_fit(acts, quantile, refs=9, trials=20):
    """Largest T <= ``trials`` satisfying |keep| > 4·T·(R+1) for these activations."""
    n = acts.shape[0]
    kept = int(np.floor(n * (1 - 2 * quantile)))
    return int(min(trials, max(0, (kept - 1) // (4 * (refs + 1)))))


def sae_cell(key, acts, size: int, lam: float, sim, feats, m: int = 5, steps: int = 400,
             checkpoint_dir=None) -> tuple[float, float]:
    """One cell of Fig. 9 on raw activations ``acts`` [n, d]: (mean II of the live codes or NaN,
    fraction of live codes).

    The SAE follows the seed authors' notebook (METHODS.md §4.4): untied L1 autoencoder
    with unit-norm decoder columns on Â z-scored per dimension (the input
    :func:`jaxinterp.directions.registry.fit_by_name` gives it); Sharkey's normalisation of
    the penalty (λ·mean_batch‖c‖₁/K). Dead codes never fire, so they have no exemplars worth
    the name and are left out of the mean.
    """
    from jaxinterp.directions import registry

    kw = {} if checkpoint_dir is None else {"checkpoint_dir": checkpoint_dir}
    fitted = registry.fit_by_name("sae", key, acts, size, l1_coeff=lam, batch_size=min(4096, acts.shape[0]),
                                  max_steps=steps, **kw)
    codes = fitted.transform(acts)
    live = np.asarray(jnp.max(codes, axis=0) > 0)
    ii = float(np.mean(np.asarray(interpretability_index_all(codes[:, live], sim, feats, m=m)))) \
        if live.any() else float("nan")
    return ii, float(live.mean())


def sae_sweep(key, acts, sim, feats, ratios=SAE_RATIOS, l1_coeffs=SAE_L1, m: int = 5,
              steps: int = 400, log=print) -> dict:
    """Fig. 9 in one call: mean II of SAE directions over dictionary size × L1 penalty.

    Cell (i, j) uses ``fold_in(key, i * len(l1_coeffs) + j)`` (:func:`sae_cell`). Returns
    ``sae_ii`` [len(ratios), len(l1_coeffs)], ``sae_alive``, ``sae_ratios``, ``sae_l1``.
    The ``paper`` graph runs the same cells as separate tasks.
    """
    n = acts.shape[1]
    ii = np.full((len(ratios), len(l1_coeffs)), np.nan)
    alive = np.zeros_like(ii)
    for i, ratio in enumerate(ratios):  # a 4 x 4 grid of fits, each one jitted training run
        size = max(1, int(round(ratio * n)))
        for j, lam in enumerate(l1_coeffs):
            ii[i, j], alive[i, j] = sae_cell(jax.random.fold_in(key, i * len(l1_coeffs) + j), acts, size,
                                             lam, sim, feats, m=m, steps=steps)
        log(f"SAE sweep: dictionary {size} done")
    return {"sae_ii": ii, "sae_alive": alive, "sae_ratios": np.asarray(ratios),
            "sae_l1": np.asarray(l1_coeffs)}


# ---------------------------------------------------------------- task functions


@dataclasses.dataclass(frozen=True)
class MeasureConfig:
    """What the deterministic measures read: the similarity, the images it reads, M."""

    similarity: SimilaritySpec
    data: DataSpec
    m: int = 5


@dataclasses.dataclass(frozen=True)
class PsychophysicsConfig:
    """The trials: similarity, images, seed and key path (0 and () with ``reproduce``, which
    draws from the paper's fixed numpy seed), difficulty quantiles."""

    similarity: SimilaritySpec
    data: DataSpec
    seed: int = 0
    key_path: tuple = ()
    quantiles: tuple = QUANTILES
    reproduce: bool = False  # psychophysics trials drawn as the paper's own code draws them


def _psychophysics(ctx, c: PsychophysicsConfig, directions) -> Result:
    f = jnp.asarray(directions.arrays["activations"])
    sim, feats = build_similarity(c.similarity), similarity_features(c.similarity, c.data)
    pool = "mean" if c.similarity.name == "label" else "max"
    hard, soft, trials = [], [], {}
    for q in c.quantiles:
        t = _tasks_that_fit(f, q)
        if t < 1:
            hard.append(np.full(f.shape[1], np.nan))
            soft.append(np.full(f.shape[1], np.nan))
            continue
        res = psychophysics.psychophysics_scores(key_of(c.seed, c.key_path), f, sim, feats, q, trials=t,
                                                 hard_pool=pool, reproduce=c.reproduce,
                                                 paper_quantiles=tuple(c.quantiles))
        hard.append(np.asarray(res.hard))
        soft.append(np.asarray(res.soft_mean))
        trials[f"trials_q{q}"] = t
    return Result({"accuracy": np.stack(hard), "soft": np.stack(soft)},
                  {"pool": pool, "reproduce": c.reproduce, **trials})


def _manifold(ctx, c: MeasureConfig, acts, neurons, kmeans) -> Result:
    sim, ft = build_similarity(c.similarity), similarity_features(c.similarity, c.data)
    from jaxinterp.directions.kmeans import unit_rows

    sets = {"neurons": jnp.asarray(neurons.arrays["activations"]),
            "kmeans": jnp.asarray(kmeans.arrays["activations"])}
    emb_images = manifold.embedding_set(*sets.values(), m=c.m)
    sub = jax.tree_util.tree_map(lambda x: x[emb_images], ft)
    dist = manifold.distances_from_similarity(np.asarray(jnp.mean(
        jnp.atleast_3d(sim.pairwise(sub, sub)).reshape(len(emb_images), len(emb_images), -1), -1)))
    emb = manifold.tsne(dist, perplexity=min(10.0, len(emb_images) - 1.0), seed=0)
    images = images01(c.data)[emb_images]
    colour = np.clip(images.reshape(len(emb_images), -1, images.shape[-1]).mean(1), 0, 1)
    out = {"tsne": emb, "tsne_images": emb_images,  # each embedded image's mean colour, RGB
           "tsne_colour": np.repeat(colour, 3, 1) if colour.shape[1] == 1 else colour}
    for dname, f in sets.items():
        out[f"sparsity_{dname}"] = np.asarray(manifold.manifold_sparsity(jnp.asarray(emb), jnp.asarray(
            manifold.top_positions(f, emb_images, c.m))))
    unit = unit_rows(jnp.asarray(acts.arrays["acts"]))
    out["tsne_act_kmeans"] = np.asarray(manifold.manifold_activations(
        unit[emb_images], jnp.asarray(kmeans.arrays["directions"])))
    return Result(out, {"embedded_images": int(len(emb_images))})


@dataclasses.dataclass(frozen=True)
class SensitivityConfig:
    score: MeasureConfig
    model: ModelSpec | None = None  # given: also the input-gradient norms of Fig. 7
    layer: str = ""


def _sensitivity(ctx, c: SensitivityConfig, acts, kmeans) -> Result:
    from jaxinterp import door
    from jaxinterp.directions.kmeans import unit_rows

    s = c.score
    sim, ft = build_similarity(s.similarity), similarity_features(s.similarity, s.data)
    unit = unit_rows(jnp.asarray(acts.arrays["acts"]))
    cents = np.asarray(kmeans.arrays["directions"])
    k = cents.shape[0]
    cpairs = np.stack(np.triu_indices(k, 1), 1)
    out = {"cross_ii": np.asarray(cross_interpretability_index(
        jnp.asarray(kmeans.arrays["activations"]), sim, ft, cpairs, m=s.m))}
    out["centroid_dist"] = np.linalg.norm(cents[cpairs[:, 0]] - cents[cpairs[:, 1]], axis=1)
    hp = sensitivity.hungarian_pairs(cents)
    out["path_ii"] = np.asarray(sensitivity.path_ii(unit, cents, hp, sim, ft, m=s.m))
    out["alphas"] = np.asarray(sensitivity.ALPHAS)
    if c.model is not None:
        model, variables = load_model(c.model)

        def embed(x):
            a = door.taps(model, variables, model.normalize(x), [c.layer])[c.layer]
            return unit_rows(door.positions.read(a, "mean"))

        top = jax.lax.top_k(sensitivity.direction_activations(unit, jnp.asarray(cents)).T, s.m)[1]
        g = sensitivity.gradient_norms(embed, jnp.asarray(images01(s.data)), jnp.asarray(cents), top)
        out["grad_mean"], out["grad_min"] = np.asarray(g.mean), np.asarray(g.min)
    return Result(out, {"pairs": int(len(cpairs))})


def _synergy(ctx, c: MeasureConfig, acts) -> Result:
    syn = synergy.synergy(jnp.asarray(acts.arrays["acts"]), build_similarity(c.similarity),
                          similarity_features(c.similarity, c.data), m=c.m)
    return Result({"synergy": np.asarray(syn.synergy), "synergy_rho": np.asarray(syn.rho),
                   "synergy_pairs": np.asarray(syn.pairs), "max_synergy": np.asarray(syn.max_synergy),
                   "synergy_ii": np.asarray(syn.ii)}, {"pairs": int(np.asarray(syn.pairs).shape[0])})


def _coactivation(ctx, c, acts) -> Result:
    return Result({"coactivation": np.asarray(coact_lib.coactivation(jnp.asarray(acts.arrays["acts"])))}, {})


@dataclasses.dataclass(frozen=True)
class SpectrumConfig:
    seed: int = 0  # (draws the halves of the "split" mode; "noncv" takes none)
    key_path: tuple = K_SPECTRUM
    modes: tuple = ("noncv", "split")


def _spectrum(ctx, c: SpectrumConfig, acts) -> Result:
    out, summary = {}, {}
    for mode in c.modes:
        ss = np.asarray(spectrum.spectrum(key_of(c.seed, c.key_path), acts.arrays["acts"], mode))
        out[f"spectrum_{mode}"] = ss
        summary[f"spectrum_alpha_ols_{mode}"] = spectrum.fit_ols(ss)[0]
        check = spectrum.power_law_break(ss)  # the same ranks as fit_ols
        summary[f"spectrum_fit_check_{mode}"] = check._asdict()
        if check.broken:
            summary[f"spectrum_fit_warning_{mode}"] = check.warning
    return Result(out, summary)


@dataclasses.dataclass(frozen=True)
class SAECellConfig:
    score: MeasureConfig
    ratio: float
    l1_coeff: float
    seed: int = 0
    key_path: tuple = ()
    steps: int = 400


def _sae_cell(ctx, c: SAECellConfig, acts) -> Result:
    a = acts.arrays["acts"]
    s = c.score
    size = max(1, int(round(c.ratio * a.shape[1])))
    ii, alive = sae_cell(key_of(c.seed, c.key_path), a, size, c.l1_coeff,
                         build_similarity(s.similarity), similarity_features(s.similarity, s.data),
                         m=s.m, steps=c.steps, checkpoint_dir=str(ctx.scratch))
    return Result({"ii": np.asarray(ii), "alive": np.asarray(alive)}, {"size": size, "mean_ii": ii})


@dataclasses.dataclass(frozen=True)
class PaperConfig:
    """The gathering step: names and sizes the summary reports."""

    similarities: tuple
    main: str
    m: int
    k: int
    quantiles: tuple
    sae_ratios: tuple
    sae_l1: tuple
    d_input: int
    reproduce: bool = False


def _gather(ctx, c: PaperConfig, **inputs) -> Result:
    acts = inputs["acts"].arrays["acts"]
    km = inputs["fit_kmeans"].arrays
    arrays = {"acts": acts, "centroids": km["directions"]}
    summary = {"images": int(acts.shape[0]), "neurons": int(acts.shape[1]), "k": c.k, "m": c.m,
               "similarities": list(c.similarities)}
    for s in c.similarities:
        for dname in SETS:
            ii = inputs[f"ii_{dname}_{s}"].arrays["ii"]
            arrays[f"ii_{dname}_{s}"] = ii
            summary[f"mean_ii_{dname}_{s}"] = float(np.mean(ii))
            summary[f"ii_mean_sem_{dname}_{s}"] = [float(v) for v in mean_sem(ii)]  # float64, over units
            psy = inputs[f"psy_{dname}_{s}"]
            arrays[f"psy_{dname}_{s}"] = psy.arrays["accuracy"]
            arrays[f"psy_soft_{dname}_{s}"] = psy.arrays["soft"]
            for prefix, scores in (("psy", psy.arrays["accuracy"]), ("psy_soft", psy.arrays["soft"])):
                # per quantile over units: what Fig. 5 and its table show
                arrays[f"{prefix}_{dname}_{s}_mean"], arrays[f"{prefix}_{dname}_{s}_sem"] = mean_sem(scores, 1)
            summary[f"mean_psy_hard_{dname}_{s}"] = float(np.nanmean(psy.arrays["accuracy"][0])) \
                if np.isfinite(psy.arrays["accuracy"][0]).any() else None
            summary[f"mean_psy_soft_{dname}_{s}"] = float(np.nanmean(psy.arrays["soft"][0])) \
                if np.isfinite(psy.arrays["soft"][0]).any() else None
            summary.update({k: v for k, v in psy.summary.items() if k.startswith("trials_q")})
    for s in c.similarities:
        summary[f"mean_ii_kmeans_minus_neurons_{s}"] = summary[f"mean_ii_kmeans_{s}"] - summary[f"mean_ii_neurons_{s}"]
    summary["psychophysics_scores"] = {
        "psy_<set>_<similarity>": "hard 2-AFC accuracy: max pooling over references (mean for label), "
                                  "a tie counts 0.5",
        "psy_soft_<set>_<similarity>": "soft score, mean pooling: the score the paper reports",
        "mean_psy_*": "mean over directions at the first difficulty quantile",
        "trials_drawn_as": "the paper's code (numpy RandomState(42))" if c.reproduce else "jax.random keys"}
    arrays["psy_quantiles"] = np.asarray(c.quantiles, np.float64)
    main = c.main
    summary["main_similarity"] = main
    for dname in SETS:  # each unit's top-M images, for the exemplar figure
        f = inputs[f"fit_{dname}"].arrays["activations"]
        arrays[f"top_{dname}"] = np.argsort(f, axis=0)[-c.m:][::-1].T
    man = inputs["manifold"].arrays
    arrays.update(tsne=man["tsne"], tsne_images=man["tsne_images"], tsne_act_kmeans=man["tsne_act_kmeans"],
                  tsne_colour=man["tsne_colour"])
    summary["tsne_best_kmeans"] = int(np.nanargmax(arrays[f"ii_kmeans_{main}"]))  # Fig. 6B's direction
    for dname in SETS:
        arrays[f"sparsity_{dname}"] = man[f"sparsity_{dname}"]
        summary[f"sparsity_vs_ii_{dname}"] = correlations(man[f"sparsity_{dname}"], arrays[f"ii_{dname}_{main}"])
    sens = inputs["sensitivity"].arrays
    arrays.update(sens)
    arrays["path_ii_mean"], arrays["path_ii_sem"] = mean_sem(sens["path_ii"], 0)  # over pairs
    summary["cross_ii_vs_distance"] = correlations(arrays["centroid_dist"], arrays["cross_ii"])
    if "grad_min" in sens:
        summary["ii_vs_min_gradient"] = correlations(arrays[f"ii_kmeans_{main}"], arrays["grad_min"])
    syn = inputs["synergy"].arrays
    arrays.update({k: syn[k] for k in ("synergy", "synergy_rho", "synergy_pairs", "max_synergy")})
    summary["synergy_positive_fraction"] = float(np.mean(arrays["synergy"] > 0))
    summary["synergy_vs_rho"] = correlations(arrays["synergy_rho"], arrays["synergy"])
    summary["ii_vs_max_synergy"] = correlations(syn["synergy_ii"], arrays["max_synergy"])
    arrays["coactivation"] = inputs["coactivation"].arrays["coactivation"]
    summary["coactivation_vs_ii"] = correlations(arrays["coactivation"], arrays[f"ii_neurons_{main}"])
    sp = inputs["spectrum"]
    arrays.update(sp.arrays)
    summary.update(sp.summary)
    ranks = spectrum.ols_range(max(a.size for a in sp.arrays.values())) + 1  # fit_ols's ranks
    summary["spectrum_fit_ranks"] = [int(ranks[0]), int(ranks[-1])]
    summary["critical_alpha"] = spectrum.critical_exponent(c.d_input)
    summary["d_input"] = c.d_input
    if c.sae_ratios:
        grid = np.array([[inputs[f"sae_{i}_{j}"].arrays["ii"] for j in range(len(c.sae_l1))]
                         for i in range(len(c.sae_ratios))], dtype=np.float64)
        alive = np.array([[inputs[f"sae_{i}_{j}"].arrays["alive"] for j in range(len(c.sae_l1))]
                          for i in range(len(c.sae_ratios))], dtype=np.float64)
        arrays.update(sae_ii=grid, sae_alive=alive, sae_ratios=np.asarray(c.sae_ratios),
                      sae_l1=np.asarray(c.sae_l1))
        if np.isfinite(grid).any():
            best = np.unravel_index(np.nanargmax(grid), grid.shape)
            summary["sae_best"] = {"ratio": float(c.sae_ratios[best[0]]), "l1_coeff": float(c.sae_l1[best[1]]),
                                   "mean_ii": float(grid[best])}
    return Result(arrays, summary)


def warnings(n_images: int, quantiles=QUANTILES) -> list[str]:
    """What the figures will lack with this many images (said before the work starts)."""
    empty = [q for q in quantiles if _tasks_that_fit(np.zeros((n_images, 1)), q) < 1]
    if not empty:
        return []
    need = 4 * 10 + 2
    return [f"{n_images} images are too few for psychophysics trials at quantiles {empty} (each trial keeps "
            f"4 x (9 references + 1) images from the central (1 - 2q) share of the ranking; at q=0 that needs "
            f"{need}+ images): those points of Fig. 5 stay empty"]


def main_similarity(names) -> str:
    """The similarity that drives Figs. 4, 6-8, 10: the first that is not ``label``."""
    names = list(names)
    return next((s for s in names if s != "label"), names[0])


def paper_tasks(model: ModelSpec, data: DataSpec, layer: str, similarities: dict[str, SimilaritySpec],
                *, k: int | None = None, m: int = 5, seed: int = 0, gradients: bool = True,
                sae_grid: bool = True, quantiles=QUANTILES, sae_ratios=SAE_RATIOS, sae_l1=SAE_L1,
                sae_steps: int = 400, reproduce: bool = False, kmeans_init: str | None = None
                ) -> dict[str, Task]:
    """The task graph of the paper's analyses of ``layer``; ``["paper"]`` gathers them all.

    Args:
      model, data: what to analyse (:func:`jaxinterp.steps.model_spec`, :func:`~jaxinterp.steps.data_spec`).
      layer: a layer with channels (``door.layer_names`` lists them).
      similarities: ``{name: SimilaritySpec}`` in report order.
      k: K-means clusters (default: the layer's width, resolved when the graph is built).
      gradients: add Fig. 7's input-gradient norms (needs a differentiable model).
      sae_grid: add Fig. 9's 16 SAE fits.
      reproduce: draw psychophysics trials as the paper's code does (numpy ``RandomState(42)``,
        its order of draws, numpy's tie order), so per-unit scores equal the paper's; the II's
        top-M images among tied activations are chosen by numpy's argsort, as there.
      kmeans_init: K-means initialisation (default :data:`jaxinterp.directions.kmeans.DEFAULT_INIT`,
        k-means++, as the paper; ``"identity"`` starts on the neuron axes and needs K = N).

    Returns:
      ``{name: Task}``; run ``tasks.run([graph["paper"]], store)``.
    """
    from jaxinterp import door
    from jaxinterp.directions import registry

    if not similarities:
        raise ValueError("pass at least one similarity, e.g. {'colour': SimilaritySpec('colour')}")
    net, variables = load_model(model)
    images = images01(data)
    width = door.graph(net, variables, images.shape[1:]).check_spatial(layer, "the paper's analyses").channels
    n = images.shape[0]
    if k is None and width > n:
        raise ValueError(f"K-means K defaults to the layer's width ({width}), more than the {n} images; "
                         f"pass --k {n} or fewer, or use more images")
    k = registry.default_k("kmeans", width, k)
    if not 1 <= k <= n:
        raise ValueError(f"--k must be between 1 and the number of images ({n}), got {k}")
    if n < 2 * m + 2:
        raise ValueError(f"{n} images are too few for M={m} exemplars; use at least {2 * m + 2}")

    g: dict[str, Task] = {"acts": capture_task(model, data, layer)}
    g["fit_neurons"] = fit_task(g["acts"], "neurons")
    from jaxinterp.directions.kmeans import DEFAULT_INIT, INITS

    if kmeans_init is not None and kmeans_init not in INITS:
        raise ValueError(f"--kmeans-init must be one of {', '.join(INITS)}, got {kmeans_init!r}")
    if kmeans_init == "identity" and k != width:
        raise ValueError(f"--kmeans-init identity starts on the {width} neuron axes, so it needs --k {width} "
                         f"(got {k}); use k-means++ for another K")
    init = {} if kmeans_init in (None, DEFAULT_INIT) else {"init": kmeans_init}
    g["fit_kmeans"] = fit_task(g["acts"], "kmeans", k=k, seed=seed, key_path=K_KMEANS, **init)
    for name, spec in similarities.items():
        sc = PsychophysicsConfig(spec, data, *((0, ()) if reproduce else (seed, K_PSYCHOPHYSICS)),
                                 tuple(quantiles), reproduce)
        for dname in SETS:
            g[f"ii_{dname}_{name}"] = ii_task(g[f"fit_{dname}"], spec, data, m,
                                              ties="numpy" if reproduce else "lowest_index")
            g[f"psy_{dname}_{name}"] = Task("psychophysics", sc, _psychophysics, {"directions": g[f"fit_{dname}"]})
    main = main_similarity(similarities)
    sc = MeasureConfig(similarities[main], data, m)
    g["manifold"] = Task("manifold", sc, _manifold,
                         {"acts": g["acts"], "neurons": g["fit_neurons"], "kmeans": g["fit_kmeans"]})
    g["sensitivity"] = Task("sensitivity", SensitivityConfig(sc, model if gradients else None,
                                                             layer if gradients else ""),
                            _sensitivity, {"acts": g["acts"], "kmeans": g["fit_kmeans"]})
    g["synergy"] = Task("synergy", sc, _synergy, {"acts": g["acts"]})
    g["coactivation"] = Task("coactivation", (), _coactivation, {"acts": g["acts"]})
    g["spectrum"] = Task("spectrum", SpectrumConfig(seed), _spectrum, {"acts": g["acts"]})
    ratios, l1s = (tuple(sae_ratios), tuple(sae_l1)) if sae_grid else ((), ())
    for i, ratio in enumerate(ratios):
        for j, lam in enumerate(l1s):
            cell = SAECellConfig(sc, float(ratio), float(lam), seed, K_SAE + (("fold", i * len(l1s) + j),),
                                 sae_steps)
            g[f"sae_{i}_{j}"] = Task("sae_cell", cell, _sae_cell, {"acts": g["acts"]}, layout=True)
    config = PaperConfig(tuple(similarities), main, m, k, tuple(quantiles), ratios, l1s,
                         int(np.prod(images.shape[1:])), reproduce)
    g["paper"] = Task("paper", config, _gather, dict(g))
    return g
