"""Figures (PNG + SVG) and ``index.html`` of a universality comparison; reads the saved files only.

``report(out)`` reads ``out/arrays.npz`` and ``out/summary.json`` written by
:func:`jaxinterp.universality.save` (``jaxinterp compare``) and computes nothing but layout:
every number it shows is in those files. Every string that came from the user (model names,
the data path, layer names) is HTML-escaped where it enters the page.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from jaxinterp import atomic  # noqa: E402
from jaxinterp.universality.analysis import MEASURE_LABELS, MEASURES  # noqa: E402
from jaxinterp.report.html import figure, page, table  # noqa: E402


def _median(quartiles: dict) -> float:
    """The median of a saved quartile summary (NaN when it covered no finite value)."""
    return quartiles.get("median", float("nan"))


def _save(fig, out: Path, stem: str) -> str:
    atomic.savefig(fig, out / f"{stem}.png", dpi=110, bbox_inches="tight")
    atomic.savefig(fig, out / f"{stem}.svg", bbox_inches="tight")
    plt.close(fig)
    return f"{stem}.png"


def _heat(ax, mat, s, title, partner=None):
    im = ax.imshow(mat, vmin=0, vmax=1, cmap="viridis", aspect="auto", interpolation="nearest")
    ax.set_xticks(range(len(s["layers_b"])), s["layers_b"], rotation=90, fontsize=7)
    ax.set_yticks(range(len(s["layers_a"])), s["layers_a"], fontsize=7)
    ax.set_xlabel(f"layer of B ({s['name_b']})")
    ax.set_ylabel(f"layer of A ({s['name_a']})")
    ax.set_title(title, fontsize=10)
    if partner is not None:
        ax.plot(partner, np.arange(len(partner)), "o", mfc="none", mec="red", ms=6, label="best B layer")
    return im


def heatmap(z, s, out: Path) -> str:
    fig, ax = plt.subplots(figsize=(1.0 + 0.42 * len(s["layers_b"]), 1.6 + 0.42 * len(s["layers_a"])))
    im = _heat(ax, z["cka_linear"], s, "Linear CKA (unbiased HSIC), every layer pair", z["partner_layer"])
    fig.colorbar(im, ax=ax, label="linear CKA (0 = unrelated, 1 = identical up to rotation/scale)")
    ax.legend(loc="lower left", fontsize=7, framealpha=0.8)
    return _save(fig, out, "cka_heatmap")


def measures(z, s, out: Path) -> str:
    others = [m for m in MEASURES if m != "cka_linear"]
    fig, axes = plt.subplots(2, 2, figsize=(2 + 0.55 * len(s["layers_b"]), 2.8 + 0.6 * len(s["layers_a"])))
    for ax, meas in zip(axes.flat, others):
        im = _heat(ax, z[meas], s, MEASURE_LABELS[meas])
        fig.colorbar(im, ax=ax, label=MEASURE_LABELS[meas])
    fig.tight_layout()
    return _save(fig, out, "measures")


def depth(z, s, out: Path) -> str:
    x = np.arange(len(s["layers_a"]))
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    for meas in MEASURES:
        ax.plot(x, [p[f"{meas}_best"] for p in s["per_layer"]], "o-",
                label=f"{MEASURE_LABELS[meas]} (best B layer)")
    med = [p["best_match_corr"]["median"] for p in s["per_layer"]]
    null = [p["null_best_corr"]["median"] for p in s["per_layer"]]
    ax.plot(x, med, "s--", color="k", label="median best-match unit correlation")
    ax.plot(x, null, ":", color="grey", label="same, images of B shuffled (chance)")
    ax.set_xticks(x, s["layers_a"], rotation=60, fontsize=8)
    ax.set_xlabel(f"layer of A ({s['name_a']}), input to output")
    ax.set_ylabel("similarity to the most similar layer of B")
    ax.set_ylim(-0.05, 1.05)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower left")
    ax.set_title("Is an early layer more alike across the two models than a late one?", fontsize=10)
    return _save(fig, out, "depth")


def best_match(z, s, out: Path) -> str:
    la = len(s["layers_a"])
    fig, ax = plt.subplots(figsize=(1.5 + 0.6 * la, 4.2))
    data = [z[f"L{i}_best_corr"] for i in range(la)]
    ax.boxplot(data, positions=np.arange(la), widths=0.5)
    ax.plot(np.arange(la), [_median(p["hungarian_corr"]) for p in s["per_layer"]], "D", color="C1",
            label="median, one-to-one (Hungarian) matching")
    ax.plot(np.arange(la), [_median(p["null_best_corr"]) for p in s["per_layer"]], "v", color="grey",
            label="median best match, images of B shuffled (chance)")
    ticks = [f"{a}\n↔ {p['partner']}" for a, p in zip(s["layers_a"], s["per_layer"])]
    ax.set_xticks(np.arange(la), ticks, rotation=60, fontsize=7)
    ax.set_ylabel("Pearson r of a unit of A with its best unit of B")
    ax.set_xlabel("layer of A ↔ its best-CKA layer of B")
    ax.set_ylim(-0.1, 1.05)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=7, loc="lower left")
    ax.set_title("Best-match correlation of every unit (box: quartiles, whiskers 1.5 IQR)", fontsize=10)
    return _save(fig, out, "best_match")


def matches(z, s, out: Path, i: int) -> str:
    thumbs = {int(j): t for j, t in zip(z["thumb_index"], z["thumbs"])}
    shown, top_a, top_b = z[f"L{i}_shown"], z[f"L{i}_top_a"], z[f"L{i}_top_b"]
    corr = z[f"L{i}_corr"]
    m = top_a.shape[1]
    rows = len(shown)
    fig, axes = plt.subplots(rows, 2 * m + 1, figsize=(0.62 * (2 * m + 1) + 1.6, 0.7 * rows + 0.7),
                             squeeze=False, gridspec_kw={"width_ratios": [1] * m + [0.3] + [1] * m,
                                                         "wspace": 0.05, "hspace": 0.12})
    for r, (ua, ub) in enumerate(shown):
        for j in range(2 * m + 1):
            ax = axes[r, j]
            ax.set_xticks([])
            ax.set_yticks([])
            if j == m:
                ax.axis("off")
                continue
            idx = top_a[ua, j] if j < m else top_b[ub, j - m - 1]
            ax.imshow(thumbs[int(idx)], interpolation="nearest")
        axes[r, 0].set_ylabel(f"A#{ua} ↔ B#{ub}\nr = {corr[ua, ub]:.2f}", fontsize=7, rotation=0,
                              ha="right", va="center")
    axes[0, m // 2].set_title(f"A {s['layers_a'][i]}: top {m}", fontsize=8)
    axes[0, m + 1 + m // 2].set_title(f"B {s['per_layer'][i]['partner']}: top {m}", fontsize=8)
    fig.suptitle(f"Best one-to-one matched units, {s['layers_a'][i]} ↔ {s['per_layer'][i]['partner']}",
                 fontsize=9, y=1.0)
    return _save(fig, out, f"matches_{i:02d}")


def ii_figure(z, s, out: Path) -> str:
    la = len(s["layers_a"])
    mut = [z[f"L{i}_mutual"].astype(bool) for i in range(la)]
    ii = [z[f"L{i}_ii_a"] for i in range(la)]
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(10, 4), gridspec_kw={"width_ratios": [1, 2.6]})
    pooled_m = np.concatenate([v[k] for v, k in zip(ii, mut)])
    pooled_u = np.concatenate([v[~k] for v, k in zip(ii, mut)])
    ax0.boxplot([pooled_m, pooled_u], showmeans=True)
    ax0.set_xticks([1, 2], [f"matched\n(n={pooled_m.size})", f"unmatched\n(n={pooled_u.size})"])
    ax0.set_ylabel("II, colour similarity (higher = more interpretable)")
    ax0.set_title("All layers of A pooled", fontsize=9)
    x = np.arange(la)
    for off, sel, lab, col in ((-0.12, True, "matched (mutual best)", "C2"), (0.12, False, "unmatched", "C3")):
        for i in range(la):
            vals = ii[i][mut[i] == sel]
            ax1.plot(np.full(vals.size, i + off), vals, ".", color=col, alpha=0.5, ms=4,
                     label=lab if i == 0 else None)
            mean = s["per_layer"][i]["ii_matched" if sel else "ii_unmatched"].get("mean")
            if mean is not None:
                ax1.plot([i + off - 0.1, i + off + 0.1], [mean] * 2, "-", color=col, lw=2)
    ax1.set_xticks(x, s["layers_a"], rotation=60, fontsize=7)
    ax1.set_xlabel(f"layer of A ({s['name_a']}); bars: means")
    ax1.set_ylabel("II, colour similarity")
    ax1.legend(fontsize=7)
    ax1.grid(axis="y", alpha=0.3)
    fig.suptitle("Interpretability Index of units that have a mutual best match in B vs those that do not",
                 fontsize=10)
    fig.tight_layout()
    return _save(fig, out, "ii_matched")


def _findings(s) -> str:
    t = s["depth_trend"]
    lines = []
    for key, lab in [("cka_linear", "linear CKA"), ("best_match_median", "median best-match correlation")]:
        d = t[key]
        sp = d["spearman_with_depth"]
        lines.append(f"{lab} of each layer of A with its most similar layer of B: first third of the "
                     f"layers {d['first_third_mean']:.3f}, last third {d['last_third_mean']:.3f}"
                     + (f"; Spearman ρ with depth {sp['rho']:+.2f} (p = {sp['p']:.2g}, n = {sp['n']})" if sp else ""))
        if "blocks" in d:
            b, bs = d["blocks"], d["blocks"]["spearman_with_depth"]
            lines.append(f"the same over the residual blocks only (the stem and the classifier are alike for "
                         f"trivial reasons under spatial means): first third {b['first_third_mean']:.3f}, "
                         f"last third {b['last_third_mean']:.3f}"
                         + (f"; ρ {bs['rho']:+.2f} (p = {bs['p']:.2g}, n = {bs['n']})" if bs else ""))
    ii = s["ii_pooled"]
    if ii["matched"].get("n") and ii["unmatched"].get("n"):
        lines.append(f"II (colour) of matched units: median {ii['matched']['median']:.4f} (n = {ii['matched']['n']}); "
                     f"unmatched: median {ii['unmatched']['median']:.4f} (n = {ii['unmatched']['n']}); "
                     f"Mann-Whitney p = {ii.get('mann_whitney_p', float('nan')):.2g}")
    return "<ul>" + "".join(f"<li>{html.escape(line)}</li>" for line in lines) + "</ul>"


def report(out: str | Path) -> Path:
    """Draw every figure and write ``index.html`` from ``out/arrays.npz`` and ``out/summary.json``."""
    out = Path(out)
    for f in ("arrays.npz", "summary.json"):
        if not (out / f).is_file():
            raise FileNotFoundError(f"no {f} in {out}; run `jaxinterp compare ... --out {out}` first")
    s = json.loads((out / "summary.json").read_text())
    s.setdefault("name_a", "A")
    s.setdefault("name_b", "B")
    with np.load(out / "arrays.npz") as data:
        z = {k: data[k] for k in data.files}
    title = f"Universality: {s['name_a']} (A) vs {s['name_b']} (B), {s['n_images']} images"
    rows = [[p["layer"], p["units"], p["partner"], p["cka_linear_at_partner"], p["cka_rbf_at_partner"],
             p["svcca_at_partner"], p["pwcca_at_partner"], p["knn_at_partner"],
             p["best_match_corr"]["q25"], p["best_match_corr"]["median"], p["best_match_corr"]["q75"],
             p["hungarian_corr"]["median"], p["null_best_corr"]["median"], p["mutual_matches"]]
            for p in s["per_layer"]]
    header = ["layer of A", "units", "best layer of B", "linear CKA", "RBF CKA", "SVCCA", "PWCCA",
              "mutual k-NN", "best r q25", "best r median", "best r q75", "Hungarian r median",
              "chance r median", "mutual best matches"]
    esc = lambda text: html.escape(str(text))  # noqa: E731 - names and paths come from the user
    intro = (f"<p>A: <code>{esc(s['name_a'])}</code>, B: <code>{esc(s['name_b'])}</code>, data "
             f"<code>{esc(s.get('data', ''))}</code>. " + esc(" ".join(s["notes"])) + "</p>")
    sections = [
        ("What this shows", intro + _findings(s)),
        ("Layer × layer similarity", figure(heatmap(z, s, out),
            "Linear CKA of every layer of A (rows) with every layer of B (columns) over the images; red "
            "circles: each row's best layer of B (the pairs whose units are matched below).")
         + figure(measures(z, s, out), "The same layer pairs under RBF CKA, SVCCA (99% of variance kept), "
                  f"PWCCA (weights from A's units) and mutual k-NN alignment (k = {s['k']}, cosine).")),
        ("Early vs late layers", figure(depth(z, s, out),
            "For each layer of A, the similarity to its most similar layer of B under each measure, and the "
            "median best-match correlation of its units (dashed) against chance (dotted).")),
        ("Unit matches", figure(best_match(z, s, out),
            "Distribution over units of A of the Pearson correlation with the best unit of the paired layer "
            "of B (boxes), the one-to-one Hungarian median (diamonds) and chance (images of B shuffled, triangles).")
         + table(header, rows)),
        ("Matched units and their top exemplars", "".join(
            figure(matches(z, s, out, i), f"{s['layers_a'][i]} ↔ {s['per_layer'][i]['partner']}: the "
                   f"{len(z[f'L{i}_shown'])} best one-to-one matched unit pairs, each unit's top-{s['m']} "
                   "dataset images (A left, B right) and their correlation r.")
            for i in range(len(s["layers_a"])))),
        ("Interpretability of matched vs unmatched units", figure(ii_figure(z, s, out),
            "Colour-similarity II (mean similarity of a unit's top-M images) of units of A that are mutual "
            "best matches of a unit of B against the others.")),
        ("Files", "<p><code>arrays.npz</code> (all matrices and per-layer matchings), <code>summary.json</code>; "
                  "each figure also as SVG.</p>"),
    ]
    weights = f"A: {s['params_a']}, B: {s['params_b']}" if "params_a" in s else None
    return page(title, sections, out / "index.html", facts={"weights": weights} if weights else None)
