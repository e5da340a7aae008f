"""Universality (Olah et al. 2020, claim 3): are two models' layers and units alike?

:func:`compare` takes the captured activations of two models on the same images
and returns (``arrays``, ``summary``): every layer pair's linear and RBF CKA,
SVCCA, PWCCA and mutual k-NN alignment; for every layer of A, its best-CKA
layer of B and the unit matching between the two (max correlation, Hungarian,
mutual best matches, and a shuffled-image null of the best-match correlation);
and the Interpretability Index (colour similarity, METHODS.md §2) of matched
against unmatched units. :func:`save` writes them; the report
(:mod:`jaxinterp.report.universality`) only reads what was saved.

:func:`compare` is the composition of its parts, :func:`pair_measure`, :func:`unit_info`,
:func:`match_layer` and :func:`gather`, which ``jaxinterp compare`` runs as resumable tasks
(:mod:`jaxinterp.recipes.compare`): both routes give the same numbers.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Callable, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxinterp import atomic

from jaxinterp.scores._stats import spearman
from jaxinterp.universality._checks import check_layers, check_same_images
from jaxinterp.universality.cca import cca_all_pairs
from jaxinterp.universality.cka_pairs import cka_all_pairs
from jaxinterp.universality.knn import mutual_knn_all_pairs
from jaxinterp.universality.matching import match_hungarian, match_max, mutual_best, unit_correlations

MEASURES = ("cka_linear", "cka_rbf", "svcca", "pwcca", "knn")
MEASURE_LABELS = {"cka_linear": "linear CKA", "cka_rbf": "RBF CKA", "svcca": "SVCCA (99% var.)",
                  "pwcca": "PWCCA", "knn": "mutual k-NN"}
#: the all-pairs computations (:func:`pair_measure`); ``cca`` gives ``svcca`` and ``pwcca``
PAIR_MEASURES = ("cka_linear", "cka_rbf", "cca", "knn")
#: what :func:`gather` keeps of each layer of A, as ``L{i}_<name>`` in the arrays
LAYER_ARRAYS = ("corr", "best_partner", "best_corr", "hungarian_partner", "hungarian_corr", "mutual",
                "null_best_corr", "ii_a", "ii_b", "top_a", "top_b", "shown")
NOTES = [
    "Activations are spatial means of each layer (capture position='mean').",
    "CKA uses the unbiased HSIC; the RBF bandwidth is the median pairwise distance.",
    "Each layer of A is paired with the layer of B of highest linear CKA; units are matched "
    "between those two layers by Pearson correlation over the images.",
    "'matched' units: mutual best matches (A unit i's most correlated B unit has i as its "
    "most correlated A unit); 'unmatched': all other units of A.",
    "null: the best-match correlation after shuffling the images of B (what chance gives).",
    "II: Interpretability Index with colour similarity, M = m top exemplars (METHODS.md §2).",
]


def default_layers(names: Sequence[str]) -> list[str]:
    """The layers to compare by default: a CIFAR/ImageNet ResNet's stem (``bn1``), every
    residual block (``layerS.B``) and the classifier (``linear``/``fc``); any other model,
    every named layer but ``input`` and ``logits``."""
    blocks = [n for n in names if re.fullmatch(r"layer\d+\.\d+", n)]
    if blocks:
        head = [n for n in ("bn1",) if n in names]
        tail = [n for n in ("linear", "fc") if n in names]
        return head + blocks + tail
    return [n for n in names if n not in ("input", "logits")]


def _quartiles(v) -> dict:
    v = np.asarray(v, float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return {"n": 0}
    q = np.quantile(v, [0.0, 0.25, 0.5, 0.75, 1.0])
    return {"n": int(v.size), "min": q[0], "q25": q[1], "median": q[2], "q75": q[3], "max": q[4],
            "mean": float(v.mean())}


def pair_measure(measure: str, acts_a: Mapping[str, np.ndarray], acts_b: Mapping[str, np.ndarray],
                 k: int = 10, keep: float = 0.99) -> dict[str, np.ndarray]:
    """One all-layer-pairs measure -> ``{name: [LA, LB]}``.

    measure: ``"cka_linear"``, ``"cka_rbf"``, ``"cca"`` (gives ``svcca`` and ``pwcca``; ``keep``:
    the variance SVCCA keeps) or ``"knn"`` (``k`` neighbours, at most n - 1).
    """
    if measure in ("cka_linear", "cka_rbf"):
        return {measure: np.asarray(cka_all_pairs(acts_a, acts_b, measure[len("cka_"):]))}
    if measure == "cca":
        sv, pw = cca_all_pairs(acts_a, acts_b, keep)
        return {"svcca": np.asarray(sv), "pwcca": np.asarray(pw)}
    if measure == "knn":
        n = len(next(iter(acts_a.values())))
        return {"knn": np.asarray(mutual_knn_all_pairs(acts_a, acts_b, min(k, n - 1)))}
    raise ValueError(f"measure must be one of {', '.join(PAIR_MEASURES)}, got {measure!r}")


def unit_info(acts: np.ndarray, feats, m: int) -> tuple[np.ndarray, np.ndarray]:
    """Per unit of one layer: the colour Interpretability Index [d] (METHODS.md §2) and the
    indices of its ``m`` top images [d, m], highest first.

    acts: [n, d]; feats: ``similarity.colour.featurize`` of the n images.
    """
    from jaxinterp import similarity
    from jaxinterp.scores import interpretability_index_all, top_exemplars

    a = jnp.asarray(acts, jnp.float32)
    ii = np.asarray(interpretability_index_all(a, similarity.colour, feats, m=m))
    return ii, np.asarray(jax.vmap(lambda f: top_exemplars(f, m), 1)(a))


def null_order(n: int, seed: int) -> np.ndarray:
    """[n] the image order of B in the shuffled-image null (one permutation for every layer)."""
    return np.random.default_rng(seed).permutation(n)


def match_layer(xa: np.ndarray, xb: np.ndarray, shuffle: np.ndarray, top_a: np.ndarray, top_b: np.ndarray,
                top_pairs: int) -> dict[str, np.ndarray]:
    """The units of layer ``xa`` [n, dA] of A matched to those of its partner layer ``xb`` [n, dB].

    Returns ``corr`` [dA, dB], ``best_partner``/``best_corr`` (max correlation), ``hungarian_partner``/
    ``hungarian_corr`` (one to one), ``mutual`` [dA], ``null_best_corr`` (B's images in ``shuffle``
    order) and ``shown`` [<= top_pairs, 2]: the best Hungarian pairs, whose exemplars
    (rows of ``top_a``/``top_b``) the report shows.
    """
    corr = np.asarray(unit_correlations(xa, xb))
    best, hung, mutual = match_max(corr), match_hungarian(corr), mutual_best(corr)
    null = match_max(np.asarray(unit_correlations(xa, xb[shuffle])))
    order = np.argsort(-np.nan_to_num(hung.correlation, nan=-np.inf))
    order = order[hung.partner[order] >= 0][:top_pairs]  # units left unassigned (dA > dB) are not shown
    return {"corr": corr, "best_partner": best.partner, "best_corr": best.correlation,
            "hungarian_partner": hung.partner, "hungarian_corr": hung.correlation, "mutual": mutual,
            "null_best_corr": null.correlation, "shown": np.stack([order, hung.partner[order]], 1)}


def gather(measures: Mapping[str, np.ndarray], names_a: Sequence[str], names_b: Sequence[str],
           layers: Sequence[Mapping[str, np.ndarray]], images01: np.ndarray, *, m: int, k: int, keep: float,
           seed: int) -> tuple[dict[str, np.ndarray], dict]:
    """The arrays and summary of :func:`compare` from its parts.

    measures: ``{measure: [LA, LB]}`` for every name of :data:`MEASURES`; layers: per layer i
    of A, :func:`match_layer`'s arrays with ``ii_a``, ``ii_b``, ``top_a``, ``top_b`` of it and
    its partner (:func:`unit_info`); images01: [n, h, w, c] in [0, 1] (thumbnails of the
    exemplars shown); k: the k-NN's neighbours as used.
    """
    arrays = {meas: np.asarray(measures[meas]) for meas in MEASURES}
    partner = arrays["cka_linear"].argmax(1)
    arrays["partner_layer"] = partner
    per_layer, needed = [], set()
    for i, (name, got) in enumerate(zip(names_a, layers)):
        arrays.update({f"L{i}_{key}": got[key] for key in LAYER_ARRAYS})
        shown, mutual, best, ii_a = got["shown"], got["mutual"], got["best_corr"], got["ii_a"]
        needed.update(got["top_a"][shown[:, 0]].ravel().tolist())
        needed.update(got["top_b"][shown[:, 1]].ravel().tolist())
        per_layer.append({
            "layer": name, "units": int(got["corr"].shape[0]), "partner": names_b[partner[i]],
            "partner_units": int(got["corr"].shape[1]),
            **{f"{meas}_at_partner": float(arrays[meas][i, partner[i]]) for meas in MEASURES},
            **{f"{meas}_best": float(arrays[meas][i].max()) for meas in MEASURES},
            "best_match_corr": _quartiles(best),
            "hungarian_corr": _quartiles(got["hungarian_corr"]),
            "null_best_corr": _quartiles(got["null_best_corr"]),
            "mutual_matches": int(mutual.sum()),
            "ii_matched": _quartiles(ii_a[mutual]), "ii_unmatched": _quartiles(ii_a[~mutual]),
            "rho_ii_vs_best_corr": spearman(ii_a, best),
        })
    index = np.asarray(sorted(needed), np.int64)
    arrays["thumb_index"] = index
    arrays["thumbs"] = np.round(np.asarray(images01)[index] * 255).astype(np.uint8)
    ii_all = np.concatenate([got["ii_a"] for got in layers])
    mut_all = np.concatenate([got["mutual"] for got in layers])
    summary = {
        "n_images": int(len(images01)), "layers_a": list(names_a), "layers_b": list(names_b), "m": m, "k": k,
        "svcca_keep": keep, "seed": seed, "measures": list(MEASURES), "per_layer": per_layer,
        "depth_trend": _depth_trend(arrays, per_layer),
        "ii_pooled": _ii_pooled(ii_all, mut_all),
        "notes": NOTES,
    }
    return arrays, summary


def compare(
    acts_a: Mapping[str, np.ndarray],
    acts_b: Mapping[str, np.ndarray],
    images: np.ndarray,
    labels: np.ndarray | None = None,
    m: int = 5,
    top_pairs: int = 6,
    k: int = 10,
    keep: float = 0.99,
    seed: int = 0,
    log: Callable[[str], None] = lambda s: None,
) -> tuple[dict[str, np.ndarray], dict]:
    """All measures between the layers and units of two models.

    Args:
      acts_a, acts_b: ``{layer: [n, d]}`` spatial-mean activations of the two models on the
        same n images (``capture(..., position="mean")``).
      images: [n, h, w, c] those images (uint8 or [0, 1] float), for the colour II and exemplars.
      labels: [n] or None.
      m: top exemplars per unit (the II's M and the report's rows).
      top_pairs: matched unit pairs per layer shown with exemplars.
      k: neighbours of the mutual k-NN alignment.
      keep: variance kept by SVCCA.

    Returns:
      ``arrays`` (for ``arrays.npz``) and a JSON-able ``summary``. ``jaxinterp compare`` computes
      the same parts as resumable tasks (:mod:`jaxinterp.recipes.compare`).
    """
    from jaxinterp import similarity
    from jaxinterp.data.checks import to_unit_float

    n = check_inputs(acts_a, acts_b, len(images), m)
    names_a, names_b = list(acts_a), list(acts_b)
    measures: dict[str, np.ndarray] = {}
    for measure in PAIR_MEASURES:
        measures.update(pair_measure(measure, acts_a, acts_b, k, keep))
        log(f"{measure} of all layer pairs")
    partner = measures["cka_linear"].argmax(1)
    images01 = to_unit_float(np.asarray(images))
    feats = similarity.colour.featurize(jnp.asarray(images01), None)
    info = {}  # a layer of B may be the partner of several layers of A

    def unit_info_of(side, name, acts):
        if (side, name) not in info:
            info[side, name] = unit_info(acts, feats, m)
        return info[side, name]

    shuffle = null_order(n, seed)
    layers = []
    for i, name in enumerate(names_a):
        other = names_b[partner[i]]
        xa, xb = np.asarray(acts_a[name]), np.asarray(acts_b[other])
        (ii_a, top_a), (ii_b, top_b) = unit_info_of("a", name, xa), unit_info_of("b", other, xb)
        got = match_layer(xa, xb, shuffle, top_a, top_b, top_pairs)
        layers.append({**got, "ii_a": ii_a, "ii_b": ii_b, "top_a": top_a, "top_b": top_b})
        log(f"{name} <-> {other}: median best-match r = {np.median(got['best_corr']):.3f}")
    return gather(measures, names_a, names_b, layers, images01, m=m, k=min(k, n - 1), keep=keep, seed=seed)


def check_inputs(acts_a: Mapping, acts_b: Mapping, n_images: int, m: int) -> int:
    """n, or ValueError unless both models cover the same n >= 4 images and 1 <= m <= n."""
    n = check_layers(acts_a, "acts_a", 4)
    check_same_images(n, check_layers(acts_b, "acts_b", 4))
    check_same_images(n, n_images, ("acts_a", "the image array"))
    check_m(m, n)
    return n


def check_m(m: int, n: int) -> None:
    """ValueError unless 1 <= m <= n (top exemplars per unit among n images)."""
    if not 1 <= m <= n:
        raise ValueError(f"m={m} exemplars per unit but {n} images; pass 1 <= m <= {n}")


def _trend(values) -> dict:
    values = np.asarray(values, float)
    third = max(1, len(values) // 3)
    return {"spearman_with_depth": spearman(np.arange(len(values)), values),
            "first_third_mean": float(values[:third].mean()), "last_third_mean": float(values[-third:].mean())}


def _depth_trend(arrays, per_layer) -> dict:
    """Is the best match of a layer of A better early than late? Spearman ρ with depth, over all
    layers and over the residual blocks only (``blocks``): under spatial means the stem is close
    to a linear function of the mean colour and both classifiers fit the same labels, so the two
    ends are alike for reasons that say little about learned features."""
    names = [p["layer"] for p in per_layer]
    blocks = np.asarray([bool(re.fullmatch(r"layer\d+\.\d+", n)) for n in names])
    med = np.asarray([p["best_match_corr"].get("median", np.nan) for p in per_layer])
    out = {}
    for key, values in [*((m, arrays[m].max(1)) for m in MEASURES), ("best_match_median", med)]:
        out[key] = _trend(values)
        if 3 <= blocks.sum() < len(names):
            out[key]["blocks"] = _trend(np.asarray(values)[blocks])
    return out


def _ii_pooled(ii, mutual) -> dict:
    out = {"matched": _quartiles(ii[mutual]), "unmatched": _quartiles(ii[~mutual])}
    if mutual.sum() and (~mutual).sum():
        from scipy.stats import mannwhitneyu

        u = mannwhitneyu(ii[mutual], ii[~mutual], alternative="two-sided")
        out["mann_whitney_p"] = float(u.pvalue)
    return out


def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.floating, float)):
        return float(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    return value


def save(out: str | Path, arrays: Mapping[str, np.ndarray], summary: dict) -> Path:
    """Write ``arrays.npz`` and ``summary.json`` into ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    atomic.savez(out / "arrays.npz", **arrays)
    atomic.write_json(out / "summary.json", _jsonable(summary))
    return out
