"""``jaxinterp roles``: every METHODS.md §5 measure for every neuron of a layer, and how each relates to II.

Writes to ``--out``: ``neurons.csv`` and ``neurons.json`` (one row per channel),
``correlations.json`` (Spearman ρ of every measure with the Interpretability
Index under each similarity used), ``scatter_matrix.png``, ``extremes_*.png``
and ``index.html``. All of it is exploratory (METHODS.md §5).
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path

import numpy as np

SUMMARY = ["window.lf", "immediate.lf", "pixels.lf", "window.axis_focus", "immediate.axis_focus",
           "window.h_mix", "mi_knn", "saliency_kappa_top", "weights.window.effective_rank", "ii_colour"]


def add_parser(sub) -> argparse.ArgumentParser:
    parser = sub.add_parser(
        "roles",
        help="per-neuron role measures (linearity, Jacobians, saliency, MI, entropy, weight spectra)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--arch", required=True, help="registered architecture, e.g. cifar_resnet20")
    parser.add_argument("--params", required=True, type=Path, help="jaxinterp checkpoint directory")
    parser.add_argument("--data", required=True, type=Path, help="npz with images (uint8 NHWC) [+ labels]")
    parser.add_argument("--layer", required=True, help="layer name, e.g. layer1")
    parser.add_argument("--out", required=True, type=Path, help="output directory")
    parser.add_argument("--levels", default="immediate,window,pixels",
                        help="input levels (comma-separated; non-ResNet models support only 'pixels')")
    parser.add_argument("--images", type=int, default=None, help="use only the first N images")
    parser.add_argument("--samples", type=int, default=8000,
                        help="position samples per level, 20%% held out (METHODS: 100k). Fewer than about 3x "
                             "the level's inputs leave the MLP ceiling no better than ridge: LF ~ 1 says nothing")
    parser.add_argument("--jacobian-samples", type=int, default=128)
    parser.add_argument("--ksg-samples", type=int, default=1000)
    parser.add_argument("--mlp-hidden", default="128,128", help="MLP ceiling widths (METHODS: 256,256)")
    parser.add_argument("--mlp-steps", type=int, default=1500, help="Adam steps of the MLP ceiling")
    parser.add_argument("--saliency-images", type=int, default=200, help="random images for mean κ")
    parser.add_argument("--top", type=int, default=20, help="top exemplars for κ")
    parser.add_argument("--m", type=int, default=5, help="exemplars in the Interpretability Index")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-figures", action="store_true")
    return parser


def _load_data(path: Path, limit):
    from jaxinterp.data.checks import check_images

    if not path.exists():
        raise FileNotFoundError(f"no data file {path}; pass an npz with 'images' [n, h, w, c] uint8")
    with np.load(path) as z:
        if "images" not in z:
            raise ValueError(f"{path} has no 'images' array (keys: {sorted(z.files)}); save with np.savez(path, images=..., labels=...)")
        images = z["images"][:limit]
        labels = z["labels"][:limit] if "labels" in z else None
    check_images(images)
    return images, labels


def _spearman(table, ii_columns):
    from scipy.stats import spearmanr

    out = {}
    for name, col in table.items():
        if name in ("neuron", "role") or name.startswith("ii_"):
            continue
        x = np.asarray(col, float)
        out[name] = {}
        for sim, ii_name in ii_columns.items():
            y = np.asarray(table[ii_name], float)
            ok = np.isfinite(x) & np.isfinite(y)
            if ok.sum() < 3 or np.ptp(x[ok]) == 0:
                out[name][sim] = None
                continue
            rho, p = spearmanr(x[ok], y[ok])
            out[name][sim] = {"rho": float(rho), "p": float(p), "n": int(ok.sum())}
    return out


def run(args) -> int:
    import jax
    import jax.numpy as jnp

    from jaxinterp import models, neurons, similarity
    from jaxinterp.capture import capture
    from jaxinterp.checkpoint import load_variables
    from jaxinterp.data.checks import to_unit_float
    from jaxinterp.neurons import channel_gradients as cg
    from jaxinterp.scores import interpretability_index_all, top_exemplars

    t0 = time.perf_counter()
    log = lambda msg: print(f"[{time.perf_counter() - t0:6.1f}s] {msg}", flush=True)
    model = models.get(args.arch)
    variables, meta = load_variables(args.params)
    if meta.get("arch") not in (None, args.arch):
        raise ValueError(f"{args.params} holds a {meta['arch']!r} checkpoint but --arch is {args.arch!r}")
    images, labels = _load_data(args.data, args.images)
    levels_wanted = [lv.strip() for lv in args.levels.split(",") if lv.strip()]
    hidden = tuple(int(h) for h in args.mlp_hidden.split(","))
    key = jax.random.key(args.seed)
    out = args.out
    out.mkdir(parents=True, exist_ok=True)

    acts = capture(model, variables, images, [args.layer], aggregation="mean", progress=False)[args.layer]
    n_neurons = acts.shape[1]
    images01 = to_unit_float(images)
    table: dict[str, np.ndarray] = {"neuron": np.arange(n_neurons)}
    ii_columns = {"colour": "ii_colour"}
    table["ii_colour"] = np.asarray(interpretability_index_all(
        acts, similarity.colour, similarity.colour.featurize(jnp.asarray(images01), None), m=args.m))
    if labels is not None:
        table["ii_label"] = np.asarray(interpretability_index_all(
            acts, similarity.label, similarity.label.featurize(None, labels), m=args.m))
        ii_columns["label"] = "ii_label"
    log(f"captured {args.layer} {acts.shape} and II ({', '.join(ii_columns)})")

    # ---- levels
    resnet = True
    try:
        levels, layer_out = neurons.resnet_levels(model, variables, images, args.layer,
                                                  levels=[lv for lv in levels_wanted if lv != "pixels"])
    except ValueError as err:
        if any(lv != "pixels" for lv in levels_wanted):
            raise ValueError(f"{err}. Pass --levels pixels for this layer") from None
        resnet, levels, layer_out = False, {}, None
    if "pixels" in levels_wanted:
        levels["pixels"] = neurons.pixel_level(model, variables, images, args.layer)
        if layer_out is None:
            layer_out = neurons.level_outputs(levels["pixels"])
    n, h, w, _ = layer_out.shape
    for name in levels_wanted:
        level = levels[name]
        key, k_pos, k_meas = jax.random.split(key, 3)
        positions = neurons.sample_positions(k_pos, n, h, w, args.samples)
        m = neurons.level_measures(k_meas, level, layer_out, positions, mlp_hidden=hidden,
                                   mlp_steps=args.mlp_steps, jacobian_samples=args.jacobian_samples,
                                   ksg_samples=args.ksg_samples)
        for k, v in m.items():
            table[f"{name}.{k}"] = v
        log(f"level {name}: d={level.dim}, {positions.shape[0]} samples")
        if name in ("window", "immediate"):
            e = neurons.expanded_weights(level)
            part = level.parts[0]
            k_win = level.windows[0]
            e0 = e[:, : k_win * k_win * part.shape[-1]]
            mats = jax.vmap(lambda r: neurons.window_matrix(r, k_win, part.shape[-1]))(e0)
            stats = neurons.spectrum_stats_all(mats)
            table[f"weights.{name}.effective_rank"] = np.asarray(stats["effective_rank"])
            table[f"weights.{name}.separability"] = np.asarray(stats["separability"])
            table[f"weights.{name}.norm"] = np.asarray(stats["norm"])
            if name == "immediate":  # share of the expanded weight on the skip input
                skip = np.asarray(e[:, k_win * k_win * part.shape[-1]:])
                table["weights.immediate.skip_share"] = np.sum(skip**2, 1) / np.sum(np.asarray(e) ** 2, 1)

    # ---- saliency: κ on the top exemplars and on random images
    top = np.asarray(jax.vmap(lambda f: top_exemplars(f, args.top), in_axes=1)(jnp.asarray(acts)))
    rand = np.asarray(jax.random.choice(key, len(images), (min(args.saliency_images, len(images)),), replace=False))
    wanted_imgs = np.unique(np.concatenate([top.ravel(), rand]))
    x = model.normalize(jnp.asarray(images01[wanted_imgs]))
    stage_blocks = None
    if resnet and args.layer == "layer1":
        names_ = models.layer_names(model, variables, (1, *images.shape[1:]))
        stage_blocks = tuple(nm for nm in names_ if nm.startswith("layer1.") and nm.count(".") == 1)
    if stage_blocks:
        stem, blocks = cg.from_variables(variables, blocks=stage_blocks)
        grads = cg.channel_mean_gradients(stem, blocks, x)
    else:
        fn = neurons.subnetwork(model, variables, ["input"], args.layer, x.shape[1:])
        grads = neurons.input_gradients(lambda a: fn((a,)), x)
    sal = np.asarray(jnp.max(jnp.abs(grads), axis=-1))  # [u, N, H, W]
    kappa = np.asarray(neurons.concentration(jnp.asarray(sal)))  # [u, N]
    pos = {int(i): j for j, i in enumerate(wanted_imgs)}
    table["saliency_kappa_top"] = np.array([kappa[[pos[int(i)] for i in top[nn_]], nn_].mean() for nn_ in range(n_neurons)])
    table["saliency_kappa_random"] = kappa[[pos[int(i)] for i in rand]].mean(0)
    log(f"saliency on {len(wanted_imgs)} images ({'structured ResNet kernel' if stage_blocks else 'autodiff'})")

    # ---- label information and image-level entropy
    table.update(neurons.image_measures(acts, labels))
    table["image.h_mix"] = np.asarray(neurons.mixed_entropy_all(jnp.asarray(acts))["h_mix"])

    lf_col = next((f"{lv}.lf" for lv in ("window", "pixels", "immediate") if f"{lv}.lf" in table), None)
    h_col = next((f"{lv}.h_mix" for lv in ("window", "pixels", "immediate") if f"{lv}.h_mix" in table), None)
    af_col = next((f"{lv}.axis_focus" for lv in ("immediate", "window", "pixels") if f"{lv}.axis_focus" in table), None)
    roles = neurons.role_labels(table[lf_col], table[h_col], table[af_col], table["ii_colour"])

    # ---- write
    cols = list(table)
    with open(out / "neurons.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(cols + ["role"])
        for i in range(n_neurons):
            writer.writerow([f"{float(table[c][i]):.6g}" if c != "neuron" else int(table[c][i]) for c in cols] + [roles[i]])
    rows = [{c: (int(table[c][i]) if c in ("neuron",) or c.endswith("focus_index") else float(table[c][i]))
             for c in cols} | {"role": roles[i]} for i in range(n_neurons)]
    notes = [
        f"Layer {args.layer} of {args.arch}: {n_neurons} neurons, {len(images)} images from {args.data.name}.",
        "II similarity used: " + ", ".join(ii_columns) + f" (M={args.m}), over spatial-mean activations "
        "(capture aggregation='mean').",
        f"Role labels use LF from {lf_col}, entropy from {h_col}, axis focus from {af_col}. "
        + neurons.EXPLORATORY_NOTE,
        f"MLP ceiling: hidden {hidden}, {args.mlp_steps} Adam steps with early stopping (METHODS: 2×256).",
    ]
    (out / "neurons.json").write_text(json.dumps({"notes": notes, "neurons": rows}, indent=1))
    correlations = {"similarities": list(ii_columns), "ii_columns": ii_columns,
                    "by_measure": _spearman(table, ii_columns), "notes": notes}
    figures = []
    if not args.no_figures:
        from jaxinterp.neurons import figures as figs

        summary = [c for c in SUMMARY if c in table]
        figures.append(figs.scatter_matrix(table, summary, out / "scatter_matrix.png"))
        best_sal = {nn_: sal[pos[int(top[nn_, 0])], nn_] for nn_ in range(n_neurons)}
        for c in summary:
            if c != "ii_colour":
                figures.append(figs.extremes(c, table[c], images01, top, best_sal,
                                             out / f"extremes_{c.replace('.', '_')}.png"))
    figs_mod = __import__("jaxinterp.neurons.figures", fromlist=["write_index"])
    figs_mod.write_index(out, f"Neuron roles: {args.arch} {args.layer}", notes, figures, correlations,
                         ["neurons.csv", "neurons.json", "correlations.json"])
    log(f"wrote {out}/index.html")
    print(json.dumps({"out": str(out), "neurons": n_neurons, "similarities": list(ii_columns),
                      "rho_with_ii": {m: {s: (v[s]["rho"] if v[s] else None) for s in v}
                                      for m, v in correlations["by_measure"].items() if m in SUMMARY}}))
    return 0
