"""The analyses of "Identifying interpretable features in CNNs" (seed 001) end to end.

:func:`analyse` computes every score of METHODS.md §2–4 for one layer of one model
(neurons vs K-means directions, each requested similarity) and returns arrays and a
summary; :func:`report` draws the equivalents of Figs. 3–11 from them and writes an
HTML page. Fig. 2 needs the IMI human data (``jaxinterp.scores.human``), which is not
shipped, so it is not drawn here.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from jaxinterp.scores import coactivation as coact_lib
from jaxinterp.scores import manifold, psychophysics, sensitivity, spectrum, synergy
from jaxinterp.scores._stats import correlations
from jaxinterp.scores.ii import cross_interpretability_index, interpretability_index_all


def _tasks_that_fit(acts, quantile, refs=9, trials=20):
    """Largest T <= ``trials`` satisfying |keep| > 4·T·(R+1) for these activations."""
    n = acts.shape[0]
    kept = int(np.floor(n * (1 - 2 * quantile)))
    return int(min(trials, max(0, (kept - 1) // (4 * (refs + 1)))))


SAE_RATIOS = (0.5, 1.0, 2.0, 4.0)
SAE_L1 = (1e-3, 1e-2, 1e-1, 1.0)


def sae_sweep(key, acts, sim, feats, ratios=SAE_RATIOS, l1_coeffs=SAE_L1, m: int = 5,
              steps: int = 400, log=print) -> dict:
    """Fig. 9: mean II of sparse-autoencoder directions over dictionary size × L1 penalty.

    The SAE follows the seed authors' notebook (METHODS.md §4.4): untied L1 autoencoder
    with unit-norm decoder columns on Â z-scored per dimension; Sharkey's normalisation
    of the penalty (λ·mean_batch‖c‖₁/K). A grid cell's II is the mean over the dictionary
    directions that ever fire (dead codes have no exemplars worth the name).

    Returns arrays ``sae_ii`` [len(ratios), len(l1_coeffs)], ``sae_alive`` (fraction of live
    codes), ``sae_ratios``, ``sae_l1``.
    """
    from jaxinterp.directions import kmeans, sae

    unit = kmeans.unit_rows(jnp.asarray(acts))
    z = (unit - unit.mean(0)) / jnp.maximum(unit.std(0), 1e-6)
    n = acts.shape[1]
    ii = np.full((len(ratios), len(l1_coeffs)), np.nan)
    alive = np.zeros_like(ii)
    for i, ratio in enumerate(ratios):  # a 4 x 4 grid of fits, each one jitted training run
        size = max(1, int(round(ratio * n)))
        for j, lam in enumerate(l1_coeffs):
            state = sae.fit(jax.random.fold_in(key, i * len(l1_coeffs) + j), z, size,
                            l1_coeff=lam, batch_size=min(4096, z.shape[0]), max_steps=steps)
            codes = sae.transform(state, z)
            live = np.asarray(jnp.max(codes, axis=0) > 0)
            alive[i, j] = live.mean()
            if live.any():
                ii[i, j] = float(np.mean(np.asarray(
                    interpretability_index_all(codes[:, live], sim, feats, m=m))))
        log(f"SAE sweep: dictionary {size} done")
    return {"sae_ii": ii, "sae_alive": alive, "sae_ratios": np.asarray(ratios),
            "sae_l1": np.asarray(l1_coeffs)}


def analyse(key, images01, labels, acts, similarities: dict, embed: Callable | None = None,
            k: int | None = None, m: int = 5, quantiles=(0.0, 0.1, 0.25), sae_grid: bool = True,
            log=print) -> tuple[dict, dict]:
    """All scores for neurons and K-means directions of one layer.

    Args:
      key: PRNG key.
      images01: [D, h, w, 3] images in [0, 1]; labels [D].
      acts: [D, N] layer activations (spatial mean).
      similarities: name -> Similarity.
      embed: optional differentiable images01 -> unit-norm activations (for gradient norms).
      k: K-means clusters (default N).

    Returns:
      (arrays, summary).
    """
    from jaxinterp.directions import kmeans

    d, n = acts.shape
    k = k or n
    unit = kmeans.unit_rows(jnp.asarray(acts))
    k_km, k_ps, k_sp = jax.random.split(key, 3)
    state = kmeans.fit(k_km, unit, k=k)
    sets = {"neurons": jnp.asarray(acts), "kmeans": kmeans.transform(state, unit)}
    arrays = {"acts": np.asarray(acts), "centroids": np.asarray(state.centroids)}
    summary = {"images": d, "neurons": n, "k": k, "m": m, "similarities": list(similarities)}
    feats = {name: s.featurize(jnp.asarray(images01), jnp.asarray(labels)) for name, s in similarities.items()}

    for sname, sim in similarities.items():
        log(f"II and psychophysics with {sname}")
        for dname, f in sets.items():
            ii = np.asarray(interpretability_index_all(f, sim, feats[sname], m=m))
            arrays[f"ii_{dname}_{sname}"] = ii
            summary[f"mean_ii_{dname}_{sname}"] = float(np.mean(ii))
            accs = []
            for q in quantiles:
                t = _tasks_that_fit(f, q)
                if t < 1:
                    accs.append(np.full(f.shape[1], np.nan))
                    continue
                pool = "mean" if sname == "label" else "max"
                res = psychophysics.psychophysics(k_ps, f, sim, feats[sname], q, trials=t, pool=pool)
                accs.append(np.asarray(res.accuracy))
                summary[f"trials_q{q}"] = t
            arrays[f"psy_{dname}_{sname}"] = np.stack(accs)

    main = next(s for s in similarities if s != "label") if any(s != "label" for s in similarities) \
        else next(iter(similarities))
    sim, ft = similarities[main], feats[main]
    summary["main_similarity"] = main

    log("manifold")
    emb_images = manifold.embedding_set(*sets.values(), m=m)
    sub = jax.tree_util.tree_map(lambda x: x[emb_images], ft)
    dist = manifold.distances_from_similarity(np.asarray(jnp.mean(
        jnp.atleast_3d(sim.pairwise(sub, sub)).reshape(len(emb_images), len(emb_images), -1), -1)))
    emb = manifold.tsne(dist, perplexity=min(10.0, len(emb_images) - 1.0), seed=0)
    arrays.update(tsne=emb, tsne_images=emb_images)
    for dname, f in sets.items():
        sp = np.asarray(manifold.manifold_sparsity(jnp.asarray(emb), jnp.asarray(
            manifold.top_positions(f, emb_images, m))))
        arrays[f"sparsity_{dname}"] = sp
        summary[f"sparsity_vs_ii_{dname}"] = correlations(sp, arrays[f"ii_{dname}_{main}"])
    arrays["tsne_act_kmeans"] = np.asarray(manifold.manifold_activations(unit[emb_images], state.centroids))

    log("sensitivity")
    cents = np.asarray(state.centroids)
    cpairs = np.stack(np.triu_indices(k, 1), 1)
    arrays["cross_ii"] = np.asarray(cross_interpretability_index(sets["kmeans"], sim, ft, cpairs, m=m))
    arrays["centroid_dist"] = np.linalg.norm(cents[cpairs[:, 0]] - cents[cpairs[:, 1]], axis=1)
    hp = sensitivity.hungarian_pairs(cents)
    arrays["path_ii"] = np.asarray(sensitivity.path_ii(unit, cents, hp, sim, ft, m=m))
    arrays["alphas"] = np.asarray(sensitivity.ALPHAS)
    summary["cross_ii_vs_distance"] = correlations(arrays["centroid_dist"], arrays["cross_ii"])
    if embed is not None:
        top = jax.lax.top_k(sensitivity.direction_activations(unit, state.centroids).T, m)[1]
        g = sensitivity.gradient_norms(embed, jnp.asarray(images01), state.centroids, top)
        arrays["grad_mean"], arrays["grad_min"] = np.asarray(g.mean), np.asarray(g.min)
        summary["ii_vs_min_gradient"] = correlations(arrays[f"ii_kmeans_{main}"], arrays["grad_min"])

    log("synergy")
    syn = synergy.synergy(jnp.asarray(acts), sim, ft, m=m)
    arrays.update(synergy=np.asarray(syn.synergy), synergy_rho=np.asarray(syn.rho),
                  synergy_pairs=np.asarray(syn.pairs), max_synergy=np.asarray(syn.max_synergy))
    summary["synergy_positive_fraction"] = float(np.mean(arrays["synergy"] > 0))
    summary["synergy_vs_rho"] = correlations(arrays["synergy_rho"], arrays["synergy"])
    summary["ii_vs_max_synergy"] = correlations(np.asarray(syn.ii), arrays["max_synergy"])

    log("co-activation and spectrum")
    arrays["coactivation"] = np.asarray(coact_lib.coactivation(jnp.asarray(acts)))
    summary["coactivation_vs_ii"] = correlations(arrays["coactivation"], arrays[f"ii_neurons_{main}"])
    for mode in ("noncv", "split"):
        ss = np.asarray(spectrum.spectrum(k_sp, acts, mode))
        arrays[f"spectrum_{mode}"] = ss
        summary[f"spectrum_alpha_ols_{mode}"] = spectrum.fit_ols(ss)[0]
    summary["critical_alpha"] = spectrum.critical_exponent(int(np.prod(images01.shape[1:])))

    if sae_grid:
        log("SAE sweep")
        arrays.update(sae_sweep(jax.random.fold_in(key, 9), acts, sim, ft, m=m, log=log))
        best = np.unravel_index(np.nanargmax(arrays["sae_ii"]), arrays["sae_ii"].shape)
        summary["sae_best"] = {"ratio": float(arrays["sae_ratios"][best[0]]),
                               "l1_coeff": float(arrays["sae_l1"][best[1]]),
                               "mean_ii": float(arrays["sae_ii"][best])}
    return arrays, summary


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
        f = arrays["acts"] if dname == "neurons" else None
        order = np.argsort(ii)
        for row, q in enumerate((0.0, 0.25, 0.5, 0.75, 1.0)):
            u = order[int(q * (len(order) - 1))]
            if f is None:
                unit = arrays["acts"] / np.maximum(np.linalg.norm(arrays["acts"], axis=1, keepdims=True), 1e-6)
                score = unit @ arrays["centroids"][u]
            else:
                score = f[:, u]
            top = np.argsort(score)[-m:][::-1]
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
