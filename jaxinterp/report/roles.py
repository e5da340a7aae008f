"""The neuron-roles report: tables, figures and a page from a saved ``roles`` result (computes nothing new).

* :func:`write`: ``neurons.csv``, ``neurons.json``, ``correlations.json``, the figures and ``index.html``;

* :func:`scatter_matrix`: pairwise scatter plots of the measures (Spearman ρ in each panel);
* :func:`extremes`: for a measure, the neurons at its two ends with their top
  exemplars and the saliency map on the best exemplar;
* :func:`write_index`: ``index.html`` linking the PNGs, the table and the correlations.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from scipy.stats import spearmanr  # noqa: E402


def scatter_matrix(table: dict[str, np.ndarray], columns: list[str], path: Path) -> Path:
    """Scatter matrix of ``columns`` of ``table`` (one point per neuron) -> PNG."""
    k = len(columns)
    fig, axes = plt.subplots(k, k, figsize=(1.7 * k, 1.7 * k), squeeze=False)
    for i, ci in enumerate(columns):
        for j, cj in enumerate(columns):
            ax = axes[i, j]
            x, y = np.asarray(table[cj], float), np.asarray(table[ci], float)
            if i == j:
                ax.hist(x[np.isfinite(x)], bins=12, color="0.5")
            else:
                ax.scatter(x, y, s=6, alpha=0.8)
                ok = np.isfinite(x) & np.isfinite(y)
                if ok.sum() > 2:
                    ax.set_title(f"ρ={spearmanr(x[ok], y[ok])[0]:.2f}", fontsize=6, pad=1)
            ax.tick_params(labelsize=4, length=1)
            if j == 0:
                ax.set_ylabel(ci, fontsize=6)
            if i == k - 1:
                ax.set_xlabel(cj, fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def extremes(measure: str, values: np.ndarray, images01: np.ndarray, top: np.ndarray,
             saliency: dict[int, np.ndarray], path: Path, n_neurons: int = 2, n_exemplars: int = 5) -> Path:
    """Neurons with the lowest and highest ``values``: their top exemplars and best-exemplar saliency.

    Args:
      values: [N] the measure; images01: [n, H, W, 3] in [0, 1];
      top: [N, M] exemplar indices per neuron (most activating first);
      saliency: {neuron: [H, W] saliency on its best exemplar}.
    """
    values = np.asarray(values, float)
    order = np.argsort(np.where(np.isfinite(values), values, np.nanmedian(values)))
    picks = [("low", n) for n in order[:n_neurons]] + [("high", n) for n in order[::-1][:n_neurons]]
    cols = n_exemplars + 1
    fig, axes = plt.subplots(len(picks), cols, figsize=(1.3 * cols, 1.4 * len(picks)), squeeze=False)
    for r, (end, n) in enumerate(picks):
        for c in range(n_exemplars):
            axes[r, c].imshow(images01[top[n, c]])
            axes[r, c].axis("off")
        axes[r, 0].set_title(f"{end}: neuron {n}, {measure}={values[n]:.3g}", fontsize=6, loc="left")
        axes[r, -1].imshow(saliency[int(n)], cmap="magma")
        axes[r, -1].set_title("saliency", fontsize=6)
        axes[r, -1].axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_index(out: Path, title: str, notes: list[str], figures: list[Path], correlations: dict,
                table_files: list[str]) -> Path:
    """A small index.html: notes, correlations with II, links to the table, the figures inline."""
    rows = "".join(
        f"<tr><td>{html.escape(m)}</td>"
        + "".join(f"<td>{v['rho']:.3f} (p={v['p']:.2g})</td>" if v else "<td>–</td>" for v in by.values())
        + "</tr>"
        for m, by in correlations["by_measure"].items()
    )
    heads = "".join(f"<th>ρ with II ({html.escape(s)})</th>" for s in correlations["similarities"])
    body = [
        f"<h1>{html.escape(title)}</h1>",
        *[f"<p>{html.escape(n)}</p>" for n in notes],
        "<p>Tables: " + ", ".join(f'<a href="{t}">{t}</a>' for t in table_files) + "</p>",
        f"<h2>Spearman correlation with the Interpretability Index</h2><table border=1><tr><th>measure</th>{heads}</tr>{rows}</table>",
        *[f'<h2>{html.escape(f.stem)}</h2><img src="{f.name}" style="max-width:100%">' for f in figures],
    ]
    path = out / "index.html"
    path.write_text("<!doctype html><meta charset=utf-8><title>" + html.escape(title) + "</title>"
                    + "\n".join(body))
    (out / "correlations.json").write_text(json.dumps(correlations, indent=2))
    return path


def write(out: Path, result, images01: np.ndarray, arch: str, layer: str, figures: bool = True) -> Path:
    """Write every file of the roles report into ``out`` from the ``roles`` task's result."""
    import csv

    out = Path(out)
    table, summary = result.arrays["table"], result.summary
    cols, roles = summary["columns"], summary["roles"]
    n_neurons = len(roles)
    with open(out / "neurons.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(cols + ["role"])
        for i in range(n_neurons):
            writer.writerow([f"{float(table[c][i]):.6g}" if c != "neuron" else int(table[c][i]) for c in cols]
                            + [roles[i]])
    rows = [{c: (int(table[c][i]) if c in ("neuron",) or c.endswith("focus_index") else float(table[c][i]))
             for c in cols} | {"role": roles[i]} for i in range(n_neurons)]
    (out / "neurons.json").write_text(json.dumps({"notes": summary["notes"], "neurons": rows}, indent=1))
    drawn = []
    if figures:
        top, best = result.arrays["top"], result.arrays["best_saliency"]
        shown = summary["summary_columns"]
        drawn.append(scatter_matrix(table, shown, out / "scatter_matrix.png"))
        best_sal = {n: best[n] for n in range(n_neurons)}
        for c in shown:
            if c != "ii_colour":
                drawn.append(extremes(c, table[c], images01, top, best_sal,
                                      out / f"extremes_{c.replace('.', '_')}.png"))
    return write_index(out, f"Neuron roles: {arch} {layer}", summary["notes"], drawn, summary["correlations"],
                       ["neurons.csv", "neurons.json", "correlations.json"])
