"""The seed paper's figures (Figs. 3-11) and report page, drawn from a saved ``paper`` result.

Reads only: ``arrays`` and ``summary`` are the ``paper`` task's result (``arrays.npz`` and
``summary.json`` in the output directory, or the store entry), ``images01`` the dataset the
exemplar indices point into. Redrawing after a change of style needs no recomputation: every
number drawn (means ± s.e.m. over units, correlations, fit ranges) is the task's
(:mod:`jaxinterp.recipes.paper`); the only arithmetic here places things on the page.

Every figure is written as ``figN_name.png`` (200 dpi) with ``.svg`` beside it.
"""

from __future__ import annotations

from pathlib import Path

import html
import matplotlib
import matplotlib.ticker
import numpy as np

from jaxinterp.report.figures import exemplar_grid, ii_boxplot, minus
from jaxinterp.report.html import callout, display_width, figure, page, table
from jaxinterp.report.style import DOUBLE, SET_STYLE, new_figure, save, styled

SETS = ("neurons", "kmeans")
SET_NAME = {"neurons": "neurons", "kmeans": "K-means directions"}
SIMILARITY_TEXT = {
    "colour": "colour (s = −‖c(x) − c(x′)‖₂, c the per-channel mean colour)",
    "label": "label (s = 1 when two images share a class label, else 0)",
    "l2": "pixel L2 (s = −‖x − x′‖₂)",
    "features": "model features (s = −LPIPS-style distance on the model's own layers, uniform weights)",
    "lpips": "LPIPS (s = −d_LPIPS, AlexNet v0.1)",
}
# The psychophysics scores the ``paper`` result holds, as (array prefix, name shown):
# ``psy_{set}_{similarity}`` hard 2-AFC accuracy and ``psy_soft_{set}_{similarity}`` the soft
# score with mean pooling, each [quantiles, units].
PSY_SCORES = (("psy", "hard accuracy"), ("psy_soft", "soft score (mean pooling, as the paper reports)"))
PSY_AXIS = {"psy": "2-AFC hard accuracy\n(fraction of trials correct)",
            "psy_soft": "2-AFC soft score\n(mean softmax of the evidence)"}


def _pool(summary: dict, sim: str) -> str:
    """How the trial evidence pools the similarities to the references: the summary's record when
    it has one, else the rule of ``jaxinterp.recipes.paper`` (mean for labels, max otherwise)."""
    saved = summary.get("psy_pool")
    if isinstance(saved, dict) and sim in saved:
        return str(saved[sim])
    return "mean" if sim == "label" else "max"


def _corr(c: dict | None, kind: str = "spearman") -> str:
    """``ρ = −0.59 (p = 0.017, n = 16)`` from a saved ``correlations`` dict."""
    if not c or c.get(kind) is None or not np.isfinite(c.get(kind, np.nan)):
        return "ρ undefined" if kind == "spearman" else "r undefined"
    sym = "ρ" if kind == "spearman" else "r"
    return minus(f"{sym} = {c[kind]:.2f} (p = {c[kind + '_p']:.2g}, n = {c['n']})")


def _tags(fig, axes, letters="ABCDEF") -> None:
    """Panel letters just above the top-left corner of each panel's full extent (labels and title
    included); call after ``tight_layout``."""
    renderer = fig.canvas.get_renderer()
    inv = fig.transFigure.inverted()
    for ax, letter in zip(axes, letters):
        bb = ax.get_tightbbox(renderer).transformed(inv)
        fig.text(bb.x0, bb.y1 + 0.01, letter, fontsize=10, fontweight="bold", ha="left", va="bottom")


def _fewer_ticks(axes, n: int = 4) -> None:
    """At most ``n`` x ticks on panels that still use matplotlib's automatic ticks (long tick
    labels such as −0.0175 collide otherwise)."""
    for ax in np.ravel(axes):
        if isinstance(ax.xaxis.get_major_locator(), matplotlib.ticker.AutoLocator):
            ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(n))


def _sub(n: int) -> str:
    return str(n).translate(str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉"))


def _stat(ax, text: str) -> None:
    """A panel's statistic, set above the panel at its right edge (never over the data)."""
    ax.set_title(text, loc="right", fontsize=6.8, color="0.25", pad=3)


@styled
def _psychophysics_figure(arrays, summary, sims, stem) -> Path:
    quantiles = np.asarray(arrays["psy_quantiles"], float)
    prefixes = [p for p, _ in PSY_SCORES if all(f"{p}_{d}_{s}" in arrays for d in SETS for s in sims)]
    fig, axes = new_figure(len(prefixes), len(sims), figsize=(min(DOUBLE, 0.4 + 2.5 * len(sims)),
                                                                2.5 * len(prefixes)), sharey=True)
    step = 0.006 * max(1.0, np.ptp(quantiles) / 0.25)
    for r, prefix in enumerate(prefixes):
        for c, s in enumerate(sims):
            ax = axes[r, c]
            for j, dname in enumerate(SETS):
                mean = arrays[f"{prefix}_{dname}_{s}_mean"]  # [quantiles]: over units
                st = SET_STYLE[dname]
                ax.errorbar(quantiles + (j - 0.5) * step, mean, yerr=arrays[f"{prefix}_{dname}_{s}_sem"],
                            color=st["color"],
                            marker=st["marker"], capsize=2.5, label=st["label"], lw=1.2, elinewidth=0.8)
            ax.axhline(0.5, color="0.6", ls=":", lw=0.8)
            ax.text(quantiles.min(), 0.495, "chance", color="0.45", fontsize=6.5, ha="left", va="top")
            ax.set_xticks(quantiles, [f"{q:g}" for q in quantiles])
            ax.set_xlabel("difficulty: quantile q of the activations\n(queries, references from [q, 1 − q])")
            pool = "mean" if prefix == "psy_soft" else _pool(summary, s)
            ax.set_title(f"{s} similarity, {pool} pooling")
            if c == 0:
                ax.set_ylabel(PSY_AXIS.get(prefix, dict(PSY_SCORES)[prefix]))
            ax.grid(alpha=0.3, lw=0.5)
    low = min(ax.get_ylim()[0] for ax in axes.flat)
    axes[0, 0].set_ylim(min(0.4, low), 1.02)
    axes[0, 0].legend(loc="lower left")
    fig.tight_layout()
    return save(fig, stem)[0]


@styled
def _manifold_figure(arrays, summary, main, stem) -> tuple[Path, int]:
    emb = np.asarray(arrays["tsne"], float)
    fig, axes = new_figure(1, 3, figsize=(DOUBLE, 2.5), gridspec_kw={"width_ratios": [1, 1.22, 1.15]})
    a, b, c = axes[0]
    a.scatter(emb[:, 0], emb[:, 1], c=arrays["tsne_colour"], s=9, lw=0)
    a.set_title("mean image colour")
    best = summary["tsne_best_kmeans"]
    sc = b.scatter(emb[:, 0], emb[:, 1], c=arrays["tsne_act_kmeans"][:, best], s=9, lw=0, cmap="viridis")
    fig.colorbar(sc, ax=b, fraction=0.07, pad=0.03, label=f"activation f{_sub(best)}(x), Eq. 4")
    b.set_title(f"K-means direction {best} (highest II)")
    for ax in (a, b):
        ax.set_xlabel("t-SNE 1 (arbitrary units)")
        ax.set_ylabel("t-SNE 2 (arbitrary units)")
        ax.set_xticks([])
        ax.set_yticks([])
    for dname in SETS:
        st = SET_STYLE[dname]
        stat = _corr(summary.get(f"sparsity_vs_ii_{dname}")).split(", n =")[0] + ")"
        c.scatter(arrays[f"sparsity_{dname}"], arrays[f"ii_{dname}_{main}"], s=11, color=st["color"],
                  marker=st["marker"], label=f"{st['label']}, {stat}", alpha=0.8, lw=0)
    c.set_xlabel("manifold sparsity: mean t-SNE distance\namong a unit's top-M exemplars (a.u.)")
    c.set_ylabel(f"II, {main} (a.u.)")
    c.legend(loc="upper center", bbox_to_anchor=(0.5, 1.22), ncol=1, fontsize=6.5, handletextpad=0.2)
    _fewer_ticks(axes)
    fig.tight_layout()
    _tags(fig, axes[0])
    return save(fig, stem)[0], best


@styled
def _sensitivity_figure(arrays, summary, main, stem) -> Path:
    grads = "grad_min" in arrays
    fig, axes = new_figure(1, 3 if grads else 2, figsize=(DOUBLE if grads else 4.8, 2.45))
    a, b = axes[0][:2]
    a.scatter(arrays["centroid_dist"], arrays["cross_ii"], s=6, color=SET_STYLE["kmeans"]["color"],
              alpha=0.6, lw=0)
    a.set_xlabel("centroid distance ‖μa − μb‖\n(unit-norm activation space)")
    a.set_ylabel(f"cross-II of directions a, b\n({main}, a.u.)")
    _stat(a, _corr(summary.get("cross_ii_vs_distance")))
    alphas = np.asarray(arrays["alphas"], float)
    path = np.asarray(arrays["path_ii"], float)  # [pairs, alphas]
    b.plot(alphas, path.T, color="0.6", alpha=0.35, lw=0.6)
    mean, err = arrays["path_ii_mean"], arrays["path_ii_sem"]
    b.fill_between(alphas, mean - err, mean + err, color=SET_STYLE["kmeans"]["color"], alpha=0.25, lw=0)
    b.plot(alphas, mean, color=SET_STYLE["kmeans"]["color"], lw=1.6)
    _stat(b, f"blue: mean ± s.e.m. over {path.shape[0]} pairs")
    for x in (0.0, 1.0):
        b.axvline(x, color="k", ls=":", lw=0.7)
    b.set_xlabel("interpolation weight α\n(α = 1: centroid μa, α = 0: μb)")
    b.set_ylabel(f"II of v(α) ({main}, a.u.)")
    if grads:
        c = axes[0][2]
        c.scatter(arrays["grad_min"], arrays[f"ii_kmeans_{main}"], s=10, color=SET_STYLE["kmeans"]["color"],
                  lw=0)
        c.set_xlabel("min input-gradient norm ‖∇x fv‖₂\nover the top-M exemplars (per unit pixel)")
        c.set_ylabel(f"II, {main} (a.u.)")
        _stat(c, _corr(summary.get("ii_vs_min_gradient")))
    _fewer_ticks(axes)
    fig.tight_layout()
    _tags(fig, axes[0])
    return save(fig, stem)[0]


@styled
def _synergy_figure(arrays, summary, main, stem) -> Path:
    fig, axes = new_figure(1, 3, figsize=(DOUBLE, 2.45))
    a, b, c = axes[0]
    syn = np.asarray(arrays["synergy"], float)
    a.hist(syn[np.isfinite(syn)], bins=min(60, max(10, syn.size // 4)), color="0.45")
    a.axvline(0, color="k", ls=":", lw=0.8)
    a.set_xlabel("synergy = II(a+b) − max(II(a), II(b))")
    a.set_ylabel("neuron pairs (count)")
    a.yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    _stat(a, f"{100 * summary['synergy_positive_fraction']:.1f}% of "
             f"{syn.size} pairs > 0")
    b.scatter(arrays["synergy_rho"], syn, s=4 if syn.size > 2000 else 8, alpha=0.4, lw=0, color="0.3")
    b.axhline(0, color="k", ls=":", lw=0.8)
    b.set_xlabel("activation correlation ρab (Pearson)")
    b.set_ylabel(f"synergy ({main}, a.u.)")
    _stat(b, _corr(summary.get("synergy_vs_rho")))
    c.scatter(arrays[f"ii_neurons_{main}"], arrays["max_synergy"], s=10, color=SET_STYLE["neurons"]["color"],
              marker="s", lw=0)
    c.set_xlabel(f"II of neuron a ({main}, a.u.)")
    c.set_ylabel("max synergy of a over partners b")
    _stat(c, _corr(summary.get("ii_vs_max_synergy")))
    _fewer_ticks(axes)
    fig.tight_layout()
    _tags(fig, axes[0])
    return save(fig, stem)[0]


@styled
def _sae_figure(arrays, summary, main, stem) -> Path:
    grid = np.asarray(arrays["sae_ii"], float)
    fig, axes = new_figure(1, 1, figsize=(3.9, 2.9))
    ax = axes[0, 0]
    im = ax.imshow(grid, origin="lower", cmap="viridis", aspect="auto")
    ax.set_xticks(range(grid.shape[1]), [f"{v:g}" for v in arrays["sae_l1"]])
    ax.set_yticks(range(grid.shape[0]), [f"{v:g}" for v in arrays["sae_ratios"]])
    ax.set_xlabel("L1 coefficient λ (Sharkey normalisation)")
    ax.set_ylabel("dictionary size / N")
    lo, hi = np.nanmin(grid) if np.isfinite(grid).any() else 0, np.nanmax(grid) if np.isfinite(grid).any() else 1
    for (r, c), v in np.ndenumerate(grid):
        dark = np.isfinite(v) and hi > lo and (v - lo) / (hi - lo) > 0.6
        ax.text(c, r, "dead" if np.isnan(v) else minus(f"{v:.3g}"), ha="center", va="center",
                fontsize=6.5, color="k" if dark else "w")
    fig.colorbar(im, ax=ax, label=f"mean II of live codes\n({main}, a.u.)")
    fig.tight_layout()
    return save(fig, stem)[0]


@styled
def _coactivation_figure(arrays, summary, main, stem) -> Path:
    fig, axes = new_figure(1, 1, figsize=(3.3, 2.6))
    ax = axes[0, 0]
    ax.scatter(arrays["coactivation"], arrays[f"ii_neurons_{main}"], s=12, color=SET_STYLE["neurons"]["color"],
               marker="s", lw=0)
    ax.set_xlabel("co-activation: Pearson r of a neuron with\nthe mean of the other neurons")
    ax.set_ylabel(f"II of the neuron ({main}, a.u.)")
    _stat(ax, _corr(summary.get("coactivation_vs_ii")))
    _fewer_ticks(axes)
    fig.tight_layout()
    return save(fig, stem)[0]


@styled
def _spectrum_figure(arrays, summary, stem) -> Path:
    fig, axes = new_figure(1, 1, figsize=(3.4, 2.7))
    ax = axes[0, 0]
    styles = {"noncv": ("k", "-", "non-cross-validated PCA"), "split": ("tab:orange", "--", "split-half (cv)")}
    n, notes = 0, []
    for mode, (colour, ls, name) in styles.items():
        if f"spectrum_{mode}" not in arrays:
            continue
        ss = np.asarray(arrays[f"spectrum_{mode}"], float)
        n = max(n, ss.size)
        rank = np.arange(1, ss.size + 1)
        keep = ss > 0
        alpha = summary.get(f"spectrum_alpha_ols_{mode}")
        label = name + (minus(f", α = {alpha:.2f}") if alpha is not None else "")
        ax.loglog(rank[keep], ss[keep], color=colour, ls=ls, marker="o", ms=2.5, label=label)
        check = summary.get(f"spectrum_fit_check_{mode}") or {}
        if check.get("broken"):  # the one α is fitted across a bend or fits poorly: say so here
            bend = check["break_rank"]
            if np.isfinite(bend):
                ax.axvline(bend, color=colour, ls="-.", lw=0.8)
                note = (f"{name}: not one power law;\nbends at rank {bend:.0f} "
                        + minus(f"(α {check['alpha_before']:.2f} → {check['alpha_after']:.2f})"))
            else:
                note = f"{name}: not one power law\n(R² = {check['r2']:.2f})"
            notes.append((note, colour))
    ss0 = np.asarray(arrays["spectrum_noncv"], float)
    r = np.arange(1, ss0.size + 1)
    ax.loglog(r, ss0[0] * r ** -summary["critical_alpha"], color="tab:red", ls=":", lw=1.2,
              label=minus(f"critical α = 1 + 2/d = {summary['critical_alpha']:.4f}"))
    first, last = summary["spectrum_fit_ranks"]  # fit_ols's ranks
    ax.axvspan(first, last, color="0.85", alpha=0.5, lw=0, label=f"OLS fit range (ranks {first}-{last})")
    ticks = [t for t in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000) if t <= n]
    ax.set_xticks(ticks, [str(t) for t in ticks])
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlabel("principal component rank")
    ax.set_ylabel("variance fraction (eigenvalue / Σ)")
    ax.legend(loc="lower left", fontsize=6.3)
    for i, (note, colour) in enumerate(notes):
        ax.text(0.98, 0.97 - 0.13 * i, note, transform=ax.transAxes, ha="right", va="top", fontsize=6,
                color=colour, bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.85, "pad": 1})
    ax.grid(alpha=0.3, lw=0.5, which="both")
    fig.tight_layout()
    return save(fig, stem)[0]


def _pm(mean, sem) -> str:
    return minus(f"{float(mean):.4f} ± {float(sem):.4f}")


def _summary_tables(arrays, summary, sims, main) -> str:
    ii_rows = [[s, *(_pm(*summary[f"ii_mean_sem_{d}_{s}"]) for d in SETS),
                minus(f"{summary[f'mean_ii_kmeans_minus_neurons_{s}']:+.4f}")] for s in sims]
    parts = ["<h3>Interpretability Index (Fig. 3)</h3>", table(
        ["similarity", f"neurons (N = {summary['neurons']})", f"K-means (K = {summary['k']})",
         "K-means − neurons"], ii_rows,
        caption="Mean ± s.e.m. over units of the II (M = "
                f"{summary['m']}); higher is more interpretable.")]
    quantiles = np.asarray(arrays["psy_quantiles"], float)
    psy_rows = []
    for prefix, name in PSY_SCORES:
        for s in sims:
            if f"{prefix}_neurons_{s}" not in arrays:
                continue
            for qi, q in enumerate(quantiles):
                trials = summary.get(f"trials_q{q:g}", summary.get(f"trials_q{q}"))
                pool = "mean" if prefix == "psy_soft" else _pool(summary, s)
                psy_rows.append([s, f"{name}, {pool} pooling" if prefix != "psy_soft" else name, f"{q:g}",
                                 "–" if trials is None else str(trials),
                                 *(_pm(arrays[f"{prefix}_{d}_{s}_mean"][qi], arrays[f"{prefix}_{d}_{s}_sem"][qi])
                                   for d in SETS)])
    parts += ["<h3>In-silico psychophysics (Fig. 5)</h3>", table(
        ["similarity", "score", "quantile q", "trials per unit", "neurons", "K-means"], psy_rows,
        caption="Mean ± s.e.m. over units of the 2-AFC score; chance is 0.5. A quantile without "
                "trials had too few images for 4·T·(R + 1) with R = 9 references.")]
    rel = [("manifold sparsity vs II, neurons", "sparsity_vs_ii_neurons", "6C"),
           ("manifold sparsity vs II, K-means", "sparsity_vs_ii_kmeans", "6C"),
           ("cross-II vs centroid distance", "cross_ii_vs_distance", "7A"),
           ("II vs min gradient norm (K-means)", "ii_vs_min_gradient", "7C"),
           ("synergy vs activation correlation ρab", "synergy_vs_rho", "8B"),
           ("II(a) vs max synergy of a", "ii_vs_max_synergy", "8C"),
           ("co-activation vs II", "coactivation_vs_ii", "10")]
    corr_rows = []
    for label, key, fig_ in rel:
        c = summary.get(key)
        if not c:
            continue
        corr_rows.append([label, fig_, c["n"], minus(f"{c['pearson']:.3f}"), f"{c['pearson_p']:.2g}",
                          minus(f"{c['spearman']:.3f}"), f"{c['spearman_p']:.2g}"])
    parts += [f"<h3>Relations ({main} similarity)</h3>", table(
        ["relation", "Fig.", "n", "Pearson r", "p", "Spearman ρ", "p"], corr_rows,
        caption="Correlations saved by the paper task (unadjusted p values, two-sided).")]
    other = [["fraction of neuron pairs with positive synergy", f"{summary['synergy_positive_fraction']:.3f}"]]
    for mode in ("noncv", "split"):
        if f"spectrum_alpha_ols_{mode}" in summary:
            other.append([f"spectrum power-law exponent α ({mode}, OLS)",
                          f"{summary[f'spectrum_alpha_ols_{mode}']:.3f}"])
    other.append(["critical exponent 1 + 2/d", f"{summary['critical_alpha']:.4f}"])
    if "sae_best" in summary:
        b = summary["sae_best"]
        other.append(["best SAE cell (Fig. 9): mean II",
                      minus(f"{b['mean_ii']:.4f} (size {b['ratio']:g}·N, λ = {b['l1_coeff']:g})")])
    parts += ["<h3>Other numbers</h3>", table(["quantity", "value"], other)]
    return "".join(parts)


def facts_of(summary: dict, extra: dict | None = None) -> dict:
    """The page's facts block: model, layer, data, sample counts, similarities and the score shown."""
    sims = summary["similarities"]
    main = summary["main_similarity"]
    facts = {
        "model": summary.get("arch", "?"),
        "layer": summary.get("layer", "?"),
        "data": Path(str(summary.get("data", "?"))).name,
        "images": summary["images"],
        "neurons N": summary["neurons"],
        "K-means K": summary["k"],
        "exemplars M": summary["m"],
        "similarities": ", ".join(f"{s} (main)" if s == main else s for s in sims),
        "psychophysics": "hard accuracy and soft score",
    }
    return {**facts, **(extra or {})}


def report(out: Path, arrays: dict, summary: dict, images01, facts: dict | None = None) -> list[tuple[str, str]]:
    """Draw the figures into ``out`` and write ``report.html``; returns (png, caption) pairs.

    ``facts`` adds entries to the page's header (e.g. the weights file and seed the command used).
    """
    out = Path(out)
    sims, main, m = list(summary["similarities"]), summary["main_similarity"], summary["m"]
    n_img, n_neu, k = summary["images"], summary["neurons"], summary["k"]
    layer, arch = summary.get("layer", "the layer"), summary.get("arch", "the model")
    sim_text = "; ".join(SIMILARITY_TEXT.get(s, s) for s in sims)
    figs: list[tuple[str, str, str]] = []

    def add(path: Path, label: str, caption: str):
        figs.append((path.name, label, caption))

    add(ii_boxplot({s: {d: arrays[f"ii_{d}_{s}"] for d in SETS} for s in sims}, out / "fig3_ii",
                   labels=SET_NAME), "Fig. 3",
        f"Interpretability Index (II: mean similarity among a unit's top-{m} images, Eq. 1; a.u., higher "
        f"= more interpretable) of the {n_neu} neurons of {layer} and of K = {k} K-means directions "
        f"fitted to its unit-norm activations over {n_img} images. One panel per similarity: {sim_text}. "
        "Boxes: quartiles; whiskers: 1.5 × IQR; line: median; diamond: mean; dots: single units.")
    add(exemplar_grid(images01, {d: arrays[f"top_{d}"][:, :m] for d in SETS},
                      {d: arrays[f"ii_{d}_{main}"] for d in SETS}, out / "fig4_exemplars", main,
                      labels=SET_NAME), "Fig. 4",
        f"The top-{m} most activating of the {n_img} images (left to right: rank 1 to {m}) of the neuron "
        f"(left) and the K-means direction (right) whose II with the {main} similarity lies at the 0, 25, "
        "50, 75 and 100th percentile of its set (top row: least interpretable). Images at their native "
        f"{images01.shape[1]} × {images01.shape[2]} pixels, enlarged without smoothing.")
    psy_name = " and ".join(name for _, name in PSY_SCORES)
    trials = ", ".join(f"{summary[f'trials_q{q:g}']} at q = {q:g}" for q in np.asarray(arrays["psy_quantiles"])
                       if f"trials_q{q:g}" in summary)
    add(_psychophysics_figure(arrays, summary, sims, out / "fig5_psychophysics"), "Fig. 5",
        f"In-silico psychophysics ({psy_name}): the 2-AFC task of Eqs. 2-3 with 9 reference images per "
        "side; a trial is correct when the similarity evidence puts each query with its own references "
        f"({', '.join(f'{_pool(summary, s)} pooling for {s}' for s in sims)}). Harder tasks draw queries and "
        "references from the central range [q, 1 − q] of the unit's activations. Points: mean over units; "
        f"bars: ± s.e.m. over units (N = {n_neu} neurons, K = {k} directions; points offset slightly "
        f"left/right for legibility). Trials per unit: {trials or 'see table'}. Dotted: chance (0.5). "
        f"Similarities: {sim_text}.")
    path6, best = _manifold_figure(arrays, summary, main, out / "fig6_manifold")
    add(path6, "Fig. 6",
        f"Sparse manifold. A-B: t-SNE (perplexity ≤ 10) of the {main} distances among the "
        f"{len(arrays['tsne'])} images that are a top-{m} exemplar of some neuron or K-means direction, "
        f"coloured by mean image colour (A) and by the activation of K-means direction {best}, the one "
        f"with the highest II (B; Eq. 4, τ = 2). C: manifold sparsity (mean pairwise t-SNE distance among a "
        f"unit's top-{m}) against II ({main}); Spearman ρ per set.")
    add(_sensitivity_figure(arrays, summary, main, out / "fig7_sensitivity"), "Fig. 7",
        f"Sensitivity of K-means directions ({main} similarity). A: cross-II (mean similarity between the "
        f"top-{m} images of two directions) against the distance of their centroids, all "
        f"{len(arrays['cross_ii'])} pairs. B: II of the normalised interpolation v(α) = αμa + (1 − α)μb "
        "between Hungarian-paired, maximally separated centroids (grey: single pairs; band: mean ± s.e.m.); "
        "dotted lines mark the two centroids."
        + (" C: II against the smallest input-gradient norm of fv over a direction's top-"
           f"{m} exemplars (gradient with respect to [0, 1] pixels)." if "grad_min" in arrays else ""))
    add(_synergy_figure(arrays, summary, main, out / "fig8_synergy"), "Fig. 8",
        f"Pairwise synergy of the {n_neu} neurons ({len(arrays['synergy'])} pairs; {main} similarity): the "
        "II of the z-scored sum of two neurons minus the larger of their own IIs (Eq. 8). A: histogram "
        "(dotted: 0). B: synergy against the Pearson correlation of the two neurons' activations. "
        "C: each neuron's largest synergy against its own II.")
    if "sae_ii" in arrays:
        ref = minus(f"neurons {summary[f'mean_ii_neurons_{main}']:.3f}, "
                    f"K-means {summary[f'mean_ii_kmeans_{main}']:.3f}")
        add(_sae_figure(arrays, summary, main, out / "fig9_sae_sweep"), "Fig. 9",
            "Mean II of sparse-autoencoder directions (live codes only; 'dead': no code ever fired) over "
            f"dictionary size (rows, multiples of N = {n_neu}) and L1 penalty λ (columns; Sharkey's "
            f"normalisation λ·mean‖c‖₁/K); {main} similarity. For reference, mean II: {ref}.")
    add(_coactivation_figure(arrays, summary, main, out / "fig10_coactivation"), "Fig. 10",
        f"Privileged basis: co-activation of each of the {n_neu} neurons (Pearson correlation of its "
        f"activation with the mean of the other neurons' over the {n_img} images) against its II ({main}).")
    add(_spectrum_figure(arrays, summary, out / "fig11_spectrum"), "Fig. 11",
        f"Eigenspectrum of the {n_neu}-dimensional layer activations over {n_img} images (no similarity "
        "involved): variance fraction per principal component, without cross-validation (z-scored "
        "neurons, as in the seed code) and split-half cross-validated. α: OLS power-law exponent over "
        f"ranks 0.05N-0.5N (shaded). Dotted: the critical decay 1 + 2/d for d = "
        f"{summary['d_input']} input dimensions, anchored at rank 1."
        + "".join(f" Warning ({mode}): {summary[f'spectrum_fit_warning_{mode}']}."
                  for mode in ("noncv", "split") if f"spectrum_fit_warning_{mode}" in summary))
    order = sorted(figs, key=lambda f: int(f[0][3:].split("_")[0]))
    figure_html = "".join(figure(name, cap, label=lab, formats=("svg",), width=display_width(out / name))
                          for name, lab, cap in order)
    drawn_as = summary.get("psychophysics_scores", {}).get("trials_drawn_as", "jax.random keys")
    scores_note = callout(
        "Psychophysics shows two scores of the same trials: the <b>hard accuracy</b> (fraction of "
        "2-AFC trials correct, a tie counting 0.5; "
        + html.escape(", ".join(f"{_pool(summary, s)} pooling of similarities for {s}" for s in sims))
        + ") and the <b>soft score with mean pooling</b>, the score the seed paper reports in its Fig. 5. "
        f"Trials were drawn with {html.escape(drawn_as)}.", raw=True)
    sections = [
        ("Summary", scores_note + _summary_tables(arrays, summary, sims, main)),
        ("Figures", figure_html + "<p>Not drawn: Fig. 2 (it needs the IMI human responses, which are not "
                                  "shipped; <code>jaxinterp.scores.human</code> computes it from "
                                  "<code>responses_main.csv</code>).</p>"),
        ("Files", "<p><code>summary.json</code> (every number above), <code>arrays.npz</code> (every "
                  "array drawn), one PNG (200 dpi) and one SVG per figure; the results store holds each "
                  "step. Rerunning the same command only redraws this page.</p>"),
    ]
    page(f"Interpretable features of {arch} {layer}", sections, out / "report.html",
         facts=facts_of(summary, facts),
         subtitle=f"The analyses of Klindt et al. (arXiv:2310.11431, Figs. 3-11) on {n_img} images of "
                  f"{Path(str(summary.get('data', '?'))).name}: Interpretability Index, in-silico "
                  "psychophysics, manifold, sensitivity, synergy, co-activation, SAE sweep and spectrum.")
    return [(name, cap) for name, _, cap in order]
