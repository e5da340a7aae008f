"""The neuron-roles report: tables, figures and a page from a saved ``roles`` result (computes nothing new).

* :func:`write`: ``neurons.csv``, ``neurons.json``, ``correlations.json``, the figures and ``index.html``;

* :func:`scatter_matrix`: pairwise scatter plots of the measures (the saved Spearman ρ above the
  diagonal);
* :func:`extremes`: for a measure, the neurons at its two ends with their top
  exemplars and the saliency map on the best exemplar;
* :func:`write_index`: ``index.html``: facts, the exploratory caveat, the correlations with II
  (with the saved multiple-comparison adjustments), the role counts and the captioned figures.

Every figure is a PNG (200 dpi) with an SVG beside it. Every number is the ``roles`` task's
(:mod:`jaxinterp.recipes.roles`): ρ, p values and their adjustments included.
"""

from __future__ import annotations

import html
from collections import Counter
from pathlib import Path

import numpy as np

from jaxinterp import atomic
from jaxinterp.report.figures import minus, mosaic, upscale_factor
from jaxinterp.report.html import callout, display_width, figure, page, table
from jaxinterp.report.style import new_figure, save, styled

LEVEL_TEXT = {"immediate": "immediate inputs (block's last conv input and skip, 65-d)",
              "window": "stage input window (7 × 7 × 64 maxpool output)",
              "pixels": "pixels (the receptive-field patch)",
              "image": "whole image (spatial-mean activation)"}
# name, unit: for labels and the glossary; keys are the column name after its level prefix
MEASURES = {
    "r2_lin": ("R² of the ridge fit on held-out samples", ""),
    "r2_nl": ("R² of the MLP ceiling on held-out samples", ""),
    "lf": ("linearity fraction LF = R²lin / max(R²nl, R²lin)", ""),
    "lambda": ("ridge penalty λ chosen by 5-fold CV", ""),
    "axis_focus": ("axis focus AF = max_j G_jj / tr G (Jacobian outer product G)", ""),
    "consistency": ("Jacobian consistency ‖E J‖² / E‖J‖² (1: globally linear)", ""),
    "effective_dim": ("effective input dimension (tr G)² / tr G²", "inputs"),
    "focus_index": ("index of the input with the largest G_jj", "index"),
    "sensitivity": ("Jacobian norm E‖J‖", "a.u."),
    "mi_pc_max": ("largest KSG I(y; PC_j) over the input's top-10 PCs", "nats"),
    "mi_pc_sum": ("sum of KSG I(y; PC_j) over the input's top-10 PCs", "nats"),
    "h_mix": ("mixed entropy H_b(p0) + (1 − p0)·h_KL(y | y > 0)", "nats"),
    "h_pos": ("Kozachenko-Leonenko entropy of the positive part", "nats"),
    "p0": ("sparsity P(y = 0)", "fraction"),
    "h_binned": ("plug-in entropy over 64 bins", "nats"),
    "effective_rank": ("effective rank exp H(σ²/Σσ²) of the expanded weights", ""),
    "separability": ("spatial-channel separability σ1²/Σσ² of the expanded weights", ""),
    "norm": ("Frobenius norm of the expanded weights", "a.u."),
    "skip_share": ("share of the expanded weight on the skip input", "fraction"),
    "saliency_kappa_top": ("saliency concentration κ on the top exemplars", ""),
    "saliency_kappa_random": ("saliency concentration κ on random images", ""),
    "mi_binned": ("I(activation; label), 20 equal-frequency bins, Miller-Madow", "nats"),
    "mi_knn": ("I(activation; label), k-NN estimator (Ross 2014)", "nats"),
    "nmi_binned": ("I(activation; label) / log(classes), binned", ""),
    "nmi_knn": ("I(activation; label) / log(classes), k-NN", ""),
    "ii_colour": ("Interpretability Index with the colour similarity", "a.u."),
    "ii_label": ("Interpretability Index with the label similarity", "a.u."),
}
SHORT = {"r2_lin": "R²lin", "r2_nl": "R²nl", "lf": "LF", "lambda": "ridge λ", "axis_focus": "axis focus",
         "consistency": "Jacobian consistency", "effective_dim": "effective input dim.",
         "focus_index": "focus index", "sensitivity": "Jacobian norm", "mi_pc_max": "max I(y; PC)",
         "mi_pc_sum": "Σ I(y; PC)", "h_mix": "H_mix", "h_pos": "h(y | y > 0)", "p0": "P(y = 0)",
         "h_binned": "binned entropy", "effective_rank": "weight eff. rank",
         "separability": "weight separability", "norm": "weight norm", "skip_share": "skip share",
         "saliency_kappa_top": "saliency κ (top)", "saliency_kappa_random": "saliency κ (random)",
         "mi_binned": "I(a;label) bins", "mi_knn": "I(a;label) kNN", "nmi_binned": "NMI binned",
         "nmi_knn": "NMI k-NN", "ii_colour": "II colour", "ii_label": "II label"}


def _split(column: str) -> tuple[str, str]:
    """``"weights.window.effective_rank"`` -> (``"window"``, ``"effective_rank"``)."""
    parts = column.split(".")
    level = next((p for p in parts[:-1] if p in LEVEL_TEXT), "")
    return level, parts[-1]


def label(column: str) -> str:
    """A short two-line axis label: the measure, then its unit and input level
    (``"H_mix\nnats · window"``, ``"LF\nwindow"``)."""
    level, name = _split(column)
    unit = MEASURES.get(name, ("", ""))[1]
    second = " · ".join(x for x in (unit if unit != "index" else "", level) if x)
    return SHORT.get(name, name.replace("_", " ")) + (f"\n{second}" if second else "")


def describe(column: str) -> str:
    """One line on what a column measures, its unit and its input level."""
    level, name = _split(column)
    what, unit = MEASURES.get(name, (name.replace("_", " "), ""))
    return (what + (f" [{unit}]" if unit else "")
            + (f"; inputs: {LEVEL_TEXT[level]}" if level and level != "image" else
               ("; image-level activations" if level == "image" else "")))


@styled
def scatter_matrix(table: dict[str, np.ndarray], columns: list[str], rho: np.ndarray, path: Path) -> Path:
    """Scatter matrix of ``columns`` of ``table`` (one point per neuron) -> PNG (+ SVG) path.

    Below the diagonal: scatter plots; on it: histograms; above it: ``rho`` [c, c], the saved
    Spearman ρ of each pair over the neurons with finite values (descriptive; NaN: undefined),
    the cell coloured by ρ.
    """
    import matplotlib.ticker as mticker
    from matplotlib import colormaps

    k = len(columns)
    size = 0.86
    fig, axes = new_figure(k, k, figsize=(size * k + 0.9, size * k + 0.7))
    cmap = colormaps["RdBu_r"]
    data = [np.asarray(table[c], float) for c in columns]
    for i in range(k):
        for j in range(k):
            ax = axes[i, j]
            x, y = data[j], data[i]
            if i == j:
                ax.hist(x[np.isfinite(x)], bins=12, color="0.55")
                ax.set_yticks([])
            elif i > j:
                ax.scatter(x, y, s=5, alpha=0.75, color="#1f77b4", lw=0)
            else:
                r = float(rho[i, j])
                ax.set_facecolor(cmap(0.5 + 0.5 * r) if np.isfinite(r) else "0.95")
                shown = "–" if not np.isfinite(r) else minus(f"{r:.2f}").replace("−0.00", "0.00")
                ax.text(0.5, 0.5, shown, ha="center", va="center", fontsize=8, transform=ax.transAxes,
                        color="w" if np.isfinite(r) and abs(r) > 0.6 else "k")
                ax.set_xticks([])
                ax.set_yticks([])
                for sp in ax.spines.values():
                    sp.set_visible(False)
                continue
            ax.xaxis.set_major_locator(mticker.MaxNLocator(3))
            ax.yaxis.set_major_locator(mticker.NullLocator() if i == j else mticker.MaxNLocator(3))
            ax.tick_params(labelsize=6, length=2, pad=1)
            if i < k - 1:
                ax.tick_params(labelbottom=False)
            else:
                ax.set_xlabel(label(columns[j]), fontsize=7)
                ax.tick_params(axis="x", labelrotation=45)
            if j > 0 or i == 0:
                ax.tick_params(labelleft=False)
            if j == 0:
                ax.set_ylabel(label(columns[i]), fontsize=7)
    fig.subplots_adjust(wspace=0.12, hspace=0.12)
    return save(fig, path)[0]


@styled
def extremes(measure: str, values: np.ndarray, ends: np.ndarray, images01: np.ndarray, top: np.ndarray,
             saliency: dict[int, np.ndarray], path: Path, n_exemplars: int = 5) -> Path:
    """The neurons at the two ends of a measure: their top exemplars and best-exemplar saliency.

    Args:
      values: [N] the measure; ends: [2, e] the saved lowest and highest neurons
        (:func:`jaxinterp.recipes.roles.extreme_neurons`); images01: [n, H, W, C] in [0, 1];
      top: [N, M] exemplar indices per neuron (most activating first);
      saliency: {neuron: [H, W] saliency on its best exemplar}.

    Each saliency map is divided by its own maximum (one colour bar, 0..1).
    """
    values = np.asarray(values, float)
    picks = [("lowest", n) for n in ends[0]] + [("highest", n) for n in ends[1]]
    n_ex = min(n_exemplars, top.shape[1])
    h, w = images01.shape[1:3]
    s = upscale_factor(h)
    left, tile, gap, top_m, row_gap, cbar = 1.1, 0.62, 0.14, 0.3, 0.08, 0.1
    strip_w = tile * (n_ex * w + (n_ex - 1) * 2 / s) / w
    fig_w = left + strip_w + gap + tile + 0.08 + cbar + 0.45
    fig_h = top_m + len(picks) * (tile + row_gap)
    fig, _ = new_figure(1, 1, figsize=(fig_w, fig_h))
    fig.axes[0].remove()
    im = None
    for r, (end, n) in enumerate(picks):
        y0 = 1 - (top_m + r * (tile + row_gap) + tile) / fig_h
        ax = fig.add_axes([left / fig_w, y0, strip_w / fig_w, tile / fig_h])
        ax.imshow(mosaic(images01[top[n, :n_ex]]), interpolation="nearest", aspect="auto")
        sal = np.asarray(saliency[int(n)], float)
        sal = sal / sal.max() if np.isfinite(sal).all() and sal.max() > 0 else sal
        sx = fig.add_axes([(left + strip_w + gap) / fig_w, y0, tile / fig_w, tile / fig_h])
        im = sx.imshow(sal.repeat(s, 0).repeat(s, 1), cmap="magma", vmin=0, vmax=1, interpolation="nearest")
        for a in (ax, sx):
            a.set_xticks([])
            a.set_yticks([])
            for sp in a.spines.values():
                sp.set_visible(False)
        fig.text(0.05 / fig_w, y0 + tile / 2 / fig_h,
                 minus(f"{end}: neuron {int(n)}\n{SHORT.get(_split(measure)[1], measure)}\n= {values[n]:.4g}"),
                 ha="left", va="center", fontsize=7)
        if r == 0:
            ax.set_title(f"top-{n_ex} exemplars (rank 1 → {n_ex})", fontsize=7.5)
            sx.set_title("saliency, rank 1", fontsize=7.5)
    cax = fig.add_axes([(left + strip_w + gap + tile + 0.08) / fig_w, 1 - (fig_h - row_gap) / fig_h,
                        cbar / fig_w, (fig_h - top_m - row_gap) / fig_h])
    fig.colorbar(im, cax=cax, label="|∂a/∂x| / max")
    cax.tick_params(labelsize=6)
    return save(fig, path)[0]


def _test_rows(correlations: dict, columns: list[str]):
    """Rows of the correlation table and the number of tests (the saved p values adjusted over all)."""
    sims = correlations["similarities"]
    by = correlations["by_measure"]
    n_tests = sum(1 for m in by for s in sims if by[m].get(s))
    rows = []
    for m in columns:
        if m not in by:
            continue
        ns = [by[m][s]["n"] for s in sims if by[m].get(s)]
        row = [(html.escape(m), "text"), (html.escape(describe(m)), "text"), str(ns[0]) if ns else "–"]
        for s in sims:
            v = by[m].get(s)
            if not v:
                row += ["–"] * 4
                continue
            hp, bp = v["p_holm"], v["q_bh"]
            sig = "sig" if hp < 0.05 else ""
            row += [(minus(f"{v['rho']:.3f}"), sig), f"{v['p']:.2g}", (f"{hp:.2g}", sig), f"{bp:.2g}"]
        rows.append(row)
    return rows, n_tests


def _correlation_section(correlations: dict, headline: list[str], n_neurons: int) -> str:
    sims = correlations["similarities"]
    by = correlations["by_measure"]
    head = ["measure", "what it is", "n"]
    for s in sims:
        head += [f"ρ, II {s}", "p", "p Holm", "q BH"]
    top_rows, m = _test_rows(correlations, [c for c in headline if c in by])
    all_rows, _ = _test_rows(correlations, list(by))
    caveat = callout(
        f"<p><b>Multiple comparisons.</b> The tables hold <b>{m} Spearman tests</b> "
        f"({len(by)} measures × {len(sims)} similarities) on the same {n_neurons} neurons; many measures "
        "share inputs and are correlated with each other, so the tests are not independent. Were every "
        f"null hypothesis true, about {0.05 * m:.0f} of the {m} would still reach p &lt; 0.05 by chance. "
        "'p' is unadjusted; 'p Holm' controls the family-wise error over all "
        f"{m} tests (Holm-Bonferroni); 'q BH' controls the false discovery rate (Benjamini-Hochberg). "
        "Bold: p Holm &lt; 0.05.</p><p><b>Exploratory.</b> These measures test the forum post's "
        "unvalidated hypothesis (METHODS.md §5); there is no published result to compare with.</p>",
        kind="caveat", raw=True)
    return (caveat + "<h3>Headline measures</h3>"
            + table(head, top_rows, raw=True,
                    caption=f"Spearman ρ across neurons of each measure with the II (M = 5) under each "
                            f"similarity; n = neurons with finite values; adjustments over all {m} tests.")
            + "<details><summary>Every measure</summary>"
            + table(head, all_rows, raw=True, caption=f"All {len(by)} measures; same adjustment over {m} tests.")
            + "</details>")


def write_index(out: Path, title: str, notes: list[str], figures: list[tuple[Path, str]], correlations: dict,
                table_files: list[str], facts: dict | None = None, headline: list[str] | None = None,
                roles: list[str] | None = None, n_neurons: int | None = None) -> Path:
    """``index.html``: facts, caveats, correlations with II (adjusted p), role counts and the
    captioned figures (``(png path, caption)`` pairs); also writes ``correlations.json``."""
    n_neurons = n_neurons or (len(roles) if roles else 0)
    headline = headline or list(correlations["by_measure"])
    sections = [("About these measures", "<ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in notes)
                 + "</ul><p>Tables: " + ", ".join(f'<a href="{html.escape(t)}">{html.escape(t)}</a>'
                                                for t in table_files) + "</p>"),
                ("Spearman correlation with the Interpretability Index",
                 _correlation_section(correlations, headline, n_neurons))]
    if roles:
        counts = Counter(roles)
        sections.append(("Role labels (exploratory)", table(
            ["role", "neurons", "share"], [[r, c, f"{c / len(roles):.0%}"] for r, c in counts.most_common()],
            caption="Median-threshold labels of METHODS.md §5: representational = high LF, low H_mix, "
                    "high II; pass-along = axis focus > 0.5; transforming = low LF, high H_mix. "
                    "Per-neuron labels: neurons.csv.")))
    if figures:
        sections.append(("Figures", "".join(
            figure(p.name, cap, label=f"Fig. {i}", formats=("svg",), width=display_width(p))
            for i, (p, cap) in enumerate(figures, 1))))
    sections.append(("Glossary", table(["column", "what it is"],
                                       [[c, describe(c)] for c in correlations["by_measure"]])))
    path = page(title, sections, out / "index.html", facts=facts,
                subtitle="Per-neuron measures of METHODS.md §5 (linearity, Jacobians, saliency, label "
                         "information, entropy, expanded-weight spectra) and how each relates to the "
                         "Interpretability Index. All of it is exploratory.")
    atomic.write_json(out / "correlations.json", correlations, indent=2)
    return path


def write(out: Path, result, images01: np.ndarray, arch: str, layer: str, figures: bool = True,
          facts: dict | None = None) -> Path:
    """Write every file of the roles report into ``out`` from the ``roles`` task's result.

    ``facts`` adds entries to the page's header (e.g. the samples per level the command used).
    """
    import csv

    out = Path(out)
    table_, summary = result.arrays["table"], result.summary
    cols, roles = summary["columns"], summary["roles"]
    n_neurons = len(roles)
    with atomic.replacing(out / "neurons.csv") as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(cols + ["role"])
        for i in range(n_neurons):
            writer.writerow([f"{float(table_[c][i]):.6g}" if c != "neuron" else int(table_[c][i]) for c in cols]
                            + [roles[i]])
    rows = [{c: (int(table_[c][i]) if c in ("neuron",) or c.endswith("focus_index") else float(table_[c][i]))
             for c in cols} | {"role": roles[i]} for i in range(n_neurons)]
    atomic.write_json(out / "neurons.json", {"notes": summary["notes"], "neurons": rows})
    corr = summary["correlations"]
    shown = summary["summary_columns"]
    drawn: list[tuple[Path, str]] = []
    if figures:
        top, best = result.arrays["top"], result.arrays["best_saliency"]
        drawn.append((scatter_matrix(table_, shown, result.arrays["summary_rho"], out / "scatter_matrix"),
                      f"Scatter matrix of the headline measures over the {n_neurons} neurons of {layer} "
                      "(one dot per neuron). Below the diagonal: each pair of measures; on the diagonal: "
                      "the distribution of each; above it: Spearman ρ of the pair (descriptive, coloured "
                      "from −1 blue to +1 red; no test). The correlations with II and their p values are "
                      "in the table above. Axis labels: the measure, then its unit and input level."))
        best_sal = {n: best[n] for n in range(n_neurons)}
        for c in shown:
            if c.startswith("ii_"):
                continue
            p = extremes(c, table_[c], result.arrays["extremes"][c], images01, top, best_sal,
                         out / f"extremes_{c.replace('.', '_')}")
            drawn.append((p, f"The two neurons with the lowest and the two with the highest {describe(c)}: "
                             f"their {min(5, top.shape[1])} most activating of the {len(images01)} images, "
                             "and the saliency map (max over colour channels of |∂a/∂x|, divided by its "
                             "maximum) on the most activating one."))
    levels = [lv for lv in ("immediate", "window", "pixels") if any(col.startswith(f"{lv}.") for col in cols)]
    base = {"model": arch, "layer": layer,
            "data": next((n.split(" images from ")[-1].rstrip(".") for n in summary["notes"]
                          if " images from " in n), None),
            "images": len(images01), "neurons": n_neurons, "levels": ", ".join(levels),
            "similarities": ", ".join(corr["similarities"]), "tests": sum(
                1 for m in corr["by_measure"].values() for v in m.values() if v)}
    return write_index(out, f"Neuron roles of {arch} {layer}", summary["notes"], drawn, corr,
                       ["neurons.csv", "neurons.json", "correlations.json"], facts={**base, **(facts or {})},
                       headline=shown, roles=roles, n_neurons=n_neurons)
