"""Universality (Olah et al. 2020, claim 3): are two models' layers and units alike?

:func:`compare` takes the captured activations of two models on the same images
and returns (``arrays``, ``summary``): every layer pair's linear and RBF CKA,
SVCCA, PWCCA and mutual k-NN alignment; for every layer of A, its best-CKA
layer of B and the unit matching between the two (max correlation, Hungarian,
mutual best matches, and a shuffled-image null of the best-match correlation);
and the Interpretability Index (colour similarity, METHODS.md §2) of matched
against unmatched units. :func:`save` writes them; the report
(:mod:`jaxinterp.report.universality`) only reads what was saved.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Callable, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxinterp.universality._checks import check_layers, check_same_images
from jaxinterp.universality.cca import cca_all_pairs
from jaxinterp.universality.cka_pairs import cka_all_pairs
from jaxinterp.universality.knn import mutual_knn_all_pairs
from jaxinterp.universality.matching import match_hungarian, match_max, mutual_best, unit_correlations

MEASURES = ("cka_linear", "cka_rbf", "svcca", "pwcca", "knn")
MEASURE_LABELS = {"cka_linear": "linear CKA", "cka_rbf": "RBF CKA", "svcca": "SVCCA (99% var.)",
                  "pwcca": "PWCCA", "knn": "mutual k-NN"}


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


def _spearman(x, y):
    from scipy.stats import spearmanr

    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 3 or np.ptp(x[ok]) == 0 or np.ptp(y[ok]) == 0:
        return None
    rho, p = spearmanr(x[ok], y[ok])
    return {"rho": float(rho), "p": float(p), "n": int(ok.sum())}


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
        same n images (``capture(..., aggregation="mean")``).
      images: [n, h, w, c] those images (uint8 or [0, 1] float), for the colour II and exemplars.
      labels: [n] or None.
      m: top exemplars per unit (the II's M and the report's rows).
      top_pairs: matched unit pairs per layer shown with exemplars.
      k: neighbours of the mutual k-NN alignment.
      keep: variance kept by SVCCA.

    Returns:
      ``arrays`` (for ``arrays.npz``) and a JSON-able ``summary``.
    """
    from jaxinterp import similarity
    from jaxinterp.data.checks import to_unit_float
    from jaxinterp.scores import interpretability_index_all, top_exemplars

    n = check_layers(acts_a, "acts_a", 4)
    check_same_images(n, check_layers(acts_b, "acts_b", 4))
    check_same_images(n, len(images), ("acts_a", "the image array"))
    if not 1 <= m <= n:
        raise ValueError(f"m={m} exemplars per unit but only {n} images; pass m <= {n}")
    names_a, names_b = list(acts_a), list(acts_b)
    arrays: dict[str, np.ndarray] = {}
    arrays["cka_linear"] = np.asarray(cka_all_pairs(acts_a, acts_b, "linear"))
    log("linear CKA of all layer pairs")
    arrays["cka_rbf"] = np.asarray(cka_all_pairs(acts_a, acts_b, "rbf"))
    log("RBF CKA of all layer pairs")
    sv, pw = cca_all_pairs(acts_a, acts_b, keep)
    arrays["svcca"], arrays["pwcca"] = np.asarray(sv), np.asarray(pw)
    log("SVCCA and PWCCA of all layer pairs")
    arrays["knn"] = np.asarray(mutual_knn_all_pairs(acts_a, acts_b, min(k, n - 1)))
    log("mutual k-NN of all layer pairs")
    partner = arrays["cka_linear"].argmax(1)
    arrays["partner_layer"] = partner

    images01 = to_unit_float(np.asarray(images))
    feats = similarity.colour.featurize(jnp.asarray(images01), None)
    ii_cache: dict[tuple[str, str], np.ndarray] = {}
    top_cache: dict[tuple[str, str], np.ndarray] = {}

    def unit_info(side, name, acts):
        if (side, name) not in ii_cache:
            a = jnp.asarray(acts, jnp.float32)
            ii_cache[side, name] = np.asarray(interpretability_index_all(a, similarity.colour, feats, m=m))
            top_cache[side, name] = np.asarray(jax.vmap(lambda f: top_exemplars(f, m), 1)(a))  # [d, m]
        return ii_cache[side, name], top_cache[side, name]

    rng = np.random.default_rng(seed)
    shuffle = rng.permutation(n)
    per_layer, needed = [], set()
    all_ii, all_mutual = [], []
    for i, name in enumerate(names_a):
        other = names_b[partner[i]]
        xa, xb = np.asarray(acts_a[name]), np.asarray(acts_b[other])
        corr = np.asarray(unit_correlations(xa, xb))
        best, hung, mutual = match_max(corr), match_hungarian(corr), mutual_best(corr)
        null = match_max(np.asarray(unit_correlations(xa, xb[shuffle])))
        ii_a, top_a = unit_info("a", name, xa)
        ii_b, top_b = unit_info("b", other, xb)
        order = np.argsort(-np.nan_to_num(hung.correlation, nan=-np.inf))
        order = order[hung.partner[order] >= 0][:top_pairs]  # units left unassigned (dA > dB) are not shown
        shown = np.stack([order, hung.partner[order]], 1)
        needed.update(top_a[shown[:, 0]].ravel().tolist())
        needed.update(top_b[shown[:, 1]].ravel().tolist())
        p = f"L{i}_"
        arrays.update({p + "corr": corr, p + "best_partner": best.partner, p + "best_corr": best.correlation,
                       p + "hungarian_partner": hung.partner, p + "hungarian_corr": hung.correlation,
                       p + "mutual": mutual, p + "null_best_corr": null.correlation, p + "ii_a": ii_a,
                       p + "ii_b": ii_b, p + "top_a": top_a, p + "top_b": top_b, p + "shown": shown})
        all_ii.append(ii_a)
        all_mutual.append(mutual)
        per_layer.append({
            "layer": name, "units": int(xa.shape[1]), "partner": other, "partner_units": int(xb.shape[1]),
            **{f"{meas}_at_partner": float(arrays[meas][i, partner[i]]) for meas in MEASURES},
            **{f"{meas}_best": float(arrays[meas][i].max()) for meas in MEASURES},
            "best_match_corr": _quartiles(best.correlation),
            "hungarian_corr": _quartiles(hung.correlation),
            "null_best_corr": _quartiles(null.correlation),
            "mutual_matches": int(mutual.sum()),
            "ii_matched": _quartiles(ii_a[mutual]), "ii_unmatched": _quartiles(ii_a[~mutual]),
            "rho_ii_vs_best_corr": _spearman(ii_a, best.correlation),
        })
        log(f"{name} <-> {other}: median best-match r = {np.median(best.correlation):.3f}")

    index = np.asarray(sorted(needed), np.int64)
    arrays["thumb_index"] = index
    arrays["thumbs"] = np.round(images01[index] * 255).astype(np.uint8)
    ii_all, mut_all = np.concatenate(all_ii), np.concatenate(all_mutual)
    summary = {
        "n_images": int(n), "layers_a": names_a, "layers_b": names_b, "m": m, "k": min(k, n - 1),
        "svcca_keep": keep, "seed": seed, "measures": list(MEASURES), "per_layer": per_layer,
        "depth_trend": _depth_trend(arrays, per_layer),
        "ii_pooled": _ii_pooled(ii_all, mut_all),
        "notes": [
            "Activations are spatial means of each layer (capture aggregation='mean').",
            "CKA uses the unbiased HSIC; the RBF bandwidth is the median pairwise distance.",
            "Each layer of A is paired with the layer of B of highest linear CKA; units are matched "
            "between those two layers by Pearson correlation over the images.",
            "'matched' units: mutual best matches (A unit i's most correlated B unit has i as its "
            "most correlated A unit); 'unmatched': all other units of A.",
            "null: the best-match correlation after shuffling the images of B (what chance gives).",
            "II: Interpretability Index with colour similarity, M = m top exemplars (METHODS.md §2).",
        ],
    }
    return arrays, summary


def _trend(values) -> dict:
    values = np.asarray(values, float)
    third = max(1, len(values) // 3)
    return {"spearman_with_depth": _spearman(np.arange(len(values)), values),
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
    np.savez(out / "arrays.npz", **arrays)
    (out / "summary.json").write_text(json.dumps(_jsonable(summary), indent=1))
    return out
