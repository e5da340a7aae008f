"""The seed paper's figures (Figs. 3-11) and report page, drawn from a saved ``paper`` result.

Reads only: ``arrays`` and ``summary`` are the ``paper`` task's result (``arrays.npz`` and
``summary.json`` in the output directory, or the store entry), ``images01`` the dataset the
exemplar indices point into. Redrawing after a change of style needs no recomputation.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np


def _grid(ax, images, title):
    ax.imshow(np.concatenate(list(images), axis=1))
    ax.set_title(title, fontsize=7)
    ax.axis("off")


def report(out: Path, arrays: dict, summary: dict, images01) -> list[tuple[str, str]]:
    """Draw the figures into ``out`` and write ``report.html``; returns (png, caption) pairs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out)
    sims, main, m = summary["similarities"], summary["main_similarity"], summary["m"]
    figs = []

    def save(fig, name, caption):
        fig.tight_layout()
        fig.savefig(out / name, dpi=110)
        plt.close(fig)
        figs.append((name, caption))

    fig, axes = plt.subplots(1, len(sims), figsize=(3 * len(sims), 3), squeeze=False)
    for ax, s in zip(axes[0], sims):
        ax.boxplot([arrays[f"ii_neurons_{s}"], arrays[f"ii_kmeans_{s}"]])
        ax.set_xticks([1, 2], ["neurons", "K-means"])
        ax.set_title(f"II ({s})")
    save(fig, "fig3_ii.png", f"Fig. 3: Interpretability Index of neurons vs K-means directions; similarity: {', '.join(sims)}.")

    fig, axes = plt.subplots(5, 2, figsize=(6, 7))
    for col, dname in enumerate(("neurons", "kmeans")):
        ii = arrays[f"ii_{dname}_{main}"]
        order = np.argsort(ii)
        for row, q in enumerate((0.0, 0.25, 0.5, 0.75, 1.0)):
            u = order[int(q * (len(order) - 1))]
            top = arrays[f"top_{dname}"][u, :m]  # saved by the paper task: each unit's top-M images
            _grid(axes[row, col], images01[top], f"{dname} {u}: II={ii[u]:.3g} (q={q})")
    save(fig, "fig4_exemplars.png", f"Fig. 4: top-{m} exemplars at five II quantiles; II with the {main} similarity.")

    fig, axes = plt.subplots(1, len(sims), figsize=(3 * len(sims), 3), squeeze=False)
    for ax, s in zip(axes[0], sims):
        for dname in ("neurons", "kmeans"):
            acc = arrays[f"psy_{dname}_{s}"]
            ax.plot(np.arange(acc.shape[0]), np.nanmean(acc, axis=1), marker="o", label=dname)
        ax.set_title(f"2-AFC accuracy ({s})")
        ax.set_xlabel("difficulty index")
        ax.legend(fontsize=6)
    save(fig, "fig5_psychophysics.png", f"Fig. 5: in-silico psychophysics accuracy vs difficulty quantile; similarity per panel: {', '.join(sims)}.")

    emb = arrays["tsne"]
    colours = np.clip(images01[arrays["tsne_images"]].reshape(len(emb), -1, 3).mean(1), 0, 1)
    fig, axes = plt.subplots(1, 3, figsize=(10, 3.3))
    axes[0].scatter(emb[:, 0], emb[:, 1], c=colours, s=6)
    axes[0].set_title("t-SNE, mean colour")
    axes[1].scatter(emb[:, 0], emb[:, 1], c=arrays["tsne_act_kmeans"][:, 0], s=6, cmap="viridis")
    axes[1].set_title("K-means feature 0 (Eq. 4)")
    for dname in ("neurons", "kmeans"):
        axes[2].scatter(arrays[f"sparsity_{dname}"], arrays[f"ii_{dname}_{main}"], s=6, label=dname)
    axes[2].set_xlabel("manifold sparsity")
    axes[2].set_ylabel("II")
    axes[2].legend(fontsize=6)
    save(fig, "fig6_manifold.png", f"Fig. 6: t-SNE of the {main} distances among top exemplars; sparsity vs II with {main}.")

    fig, axes = plt.subplots(1, 3 if "grad_min" in arrays else 2, figsize=(10, 3.3))
    axes[0].scatter(arrays["centroid_dist"], arrays["cross_ii"], s=3)
    axes[0].set_xlabel("centroid distance")
    axes[0].set_ylabel("cross-II")
    axes[1].plot(arrays["alphas"], arrays["path_ii"].T, color="grey", alpha=0.3)
    axes[1].plot(arrays["alphas"], arrays["path_ii"].mean(0), color="k")
    axes[1].set_xlabel("α")
    axes[1].set_ylabel("II(v(α))")
    if "grad_min" in arrays:
        axes[2].scatter(arrays["grad_min"], arrays[f"ii_kmeans_{main}"], s=6)
        axes[2].set_xlabel("min gradient norm")
        axes[2].set_ylabel("II")
    save(fig, "fig7_sensitivity.png", f"Fig. 7: cross-II vs centroid distance, II along Hungarian-paired paths, gradient norms; similarity: {main}.")

    fig, axes = plt.subplots(1, 3, figsize=(10, 3.3))
    axes[0].hist(arrays["synergy"], bins=60)
    axes[0].set_xlabel("synergy")
    axes[1].scatter(arrays["synergy_rho"], arrays["synergy"], s=1, alpha=0.3)
    axes[1].set_xlabel("ρ_ab")
    axes[2].scatter(arrays[f"ii_neurons_{main}"], arrays["max_synergy"], s=6)
    axes[2].set_xlabel("II(a)")
    axes[2].set_ylabel("max synergy")
    save(fig, "fig8_synergy.png", f"Fig. 8: synergy of all neuron pairs, vs correlation, and max synergy vs II; similarity: {main}.")

    fig, ax = plt.subplots(figsize=(3.5, 3.3))
    ax.scatter(arrays["coactivation"], arrays[f"ii_neurons_{main}"], s=6)
    ax.set_xlabel("co-activation")
    ax.set_ylabel("II")
    save(fig, "fig10_coactivation.png", f"Fig. 10: co-activation with the other neurons vs II; similarity: {main}.")

    fig, ax = plt.subplots(figsize=(3.8, 3.3))
    for mode in ("noncv", "split"):
        ss = arrays[f"spectrum_{mode}"]
        ax.loglog(np.arange(1, ss.size + 1), ss, label=f"{mode} α={summary[f'spectrum_alpha_ols_{mode}']:.2f}")
    r = np.arange(1, arrays["spectrum_noncv"].size + 1)
    ax.loglog(r, arrays["spectrum_noncv"][0] * r ** -summary["critical_alpha"], "k--", label="critical")
    ax.legend(fontsize=6)
    save(fig, "fig11_spectrum.png", "Fig. 11: activation eigenspectrum (no similarity: activations only) with the critical 1+2/d line.")

    if "sae_ii" in arrays:
        fig, ax = plt.subplots(figsize=(4.6, 3.6))
        grid = arrays["sae_ii"]
        im = ax.imshow(grid, origin="lower", cmap="viridis", aspect="auto")
        ax.set_xticks(range(grid.shape[1]), [f"{v:g}" for v in arrays["sae_l1"]])
        ax.set_yticks(range(grid.shape[0]), [f"{v:g}" for v in arrays["sae_ratios"]])
        ax.set_xlabel("L1 coefficient λ")
        ax.set_ylabel("dictionary size / N")
        for (r, c), v in np.ndenumerate(grid):
            ax.text(c, r, "dead" if np.isnan(v) else f"{v:.3g}", ha="center", va="center",
                    fontsize=6, color="w")
        fig.colorbar(im, ax=ax, label="mean II")
        ref = (f"neurons {summary[f'mean_ii_neurons_{main}']:.3g}, "
               f"K-means {summary[f'mean_ii_kmeans_{main}']:.3g}")
        save(fig, "fig9_sae_sweep.png", f"Fig. 9: mean II of SAE directions over dictionary size and "
             f"L1 penalty (Sharkey normalisation); similarity: {main}; for reference {ref}.")

    figs.sort(key=lambda f: int(f[0][3:].split("_")[0]))  # Fig. 3 ... Fig. 11 in order
    rows = "\n".join(f'<figure><img src="{n}"><figcaption>{html.escape(c)}</figcaption></figure>' for n, c in figs)
    (out / "report.html").write_text(
        "<!doctype html><meta charset='utf-8'><title>jaxinterp paper report</title>"
        "<h1>Interpretable features: paper analyses</h1>"
        f"<pre>{html.escape(json.dumps(summary, indent=1))}</pre>{rows}"
        "<p>Not drawn: Fig. 2 (needs the IMI human responses, which are not shipped; "
        "jaxinterp.scores.human computes it from responses_main.csv).</p>")
    return figs
