"""The demo: train a small CNN on scikit-learn's digits, find K-means directions in a
layer, and compare their Interpretability Index with the neurons' (the paper's Figs. 3-4).

Everything ships with the installed packages: no download. The trained model is
cached (``$JAXINTERP_CACHE`` or ``~/.cache/jaxinterp``) and reused on later runs;
an interrupted training run resumes from its last epoch checkpoint.
"""

from __future__ import annotations

import html
import os
import time
from pathlib import Path
from typing import Callable, Sequence

import jax
import numpy as np

from jaxinterp import atomic, door, models, similarity
from jaxinterp.cache import cache_dir
from jaxinterp.capture import capture
from jaxinterp.checkpoint import load_variables, save_variables
from jaxinterp.data import load_digits
from jaxinterp.directions import registry
from jaxinterp.report import exemplar_grid, figure, ii_boxplot, page, table
from jaxinterp.scores import interpretability_index_all
from jaxinterp.train import accuracy, train

ARCH = "small_cnn"
LAYER = "relu2"
METRICS = ("colour", "features", "label")
FEATURE_LAYERS = ("relu1", "relu2")


def demo_model(epochs: int = 15, seed: int = 0, progress: bool = True, log: Callable = print):
    """The demo CNN trained on the digits' training split: ``(model, variables, meta)``.

    Trained once (seconds on 2 CPU cores), then loaded from the cache.
    """
    model = models.get(ARCH)
    target = cache_dir() / f"{ARCH}-digits-e{epochs}-s{seed}"
    if (target / "meta.json").exists():
        variables, meta = load_variables(target)
        log(f"loaded the demo model from {target}")
        return model, variables, meta
    train_set, test_set = load_digits("train"), load_digits("test")
    log(f"training {ARCH} on {len(train_set.images)} digits for {epochs} epochs ...")
    start = time.perf_counter()
    variables, history = train(
        model, jax.random.key(seed), train_set.images, train_set.labels, epochs=epochs,
        checkpoint_dir=target.with_name(target.name + "-training"), progress=progress,
    )
    meta = {
        "arch": ARCH,
        "data": "sklearn digits (train split)",
        "epochs": epochs,
        "seed": seed,
        "final_loss": history[-1] if history else None,
        "test_accuracy": accuracy(model, variables, test_set.images, test_set.labels),
        "train_seconds": round(time.perf_counter() - start, 2),
    }
    save_variables(target, variables, meta)
    log(f"trained in {meta['train_seconds']} s, test accuracy {meta['test_accuracy']:.3f}; saved to {target}")
    return model, variables, meta


def run_demo(
    out: str | os.PathLike = "demo-out",
    layer: str = LAYER,
    m: int = 5,
    epochs: int = 15,
    seed: int = 0,
    directions: Sequence[str] = ("neurons", "kmeans"),
    progress: bool = True,
    log: Callable = print,
) -> dict:
    """Run the demo and write ``out/index.html``, ``summary.json``, ``arrays.npz`` and PNGs.

    ``directions`` are direction-set names (``jaxinterp.directions.registry.NAMES``),
    each fit with K = N on the training split's activations as METHODS.md §1.4
    prescribes (:func:`~jaxinterp.directions.fit_by_name`); II is computed
    on the held-out test split (primary) and on the training split.
    """
    directions = list(dict.fromkeys(directions))
    unknown = [d for d in directions if d not in registry.NAMES]
    if unknown:
        raise ValueError(f"unknown direction set(s) {unknown}; choose from {sorted(registry.NAMES)}")
    if "neurons" not in directions:
        directions.insert(0, "neurons")  # the baseline every figure compares against
    out = Path(out)
    shapes = jax.eval_shape(lambda k: models.init(models.get(ARCH), k), jax.random.key(0))
    door.graph(models.get(ARCH), shapes, (8, 8, 1)).check([layer])  # before training, not after
    out.mkdir(parents=True, exist_ok=True)
    model, variables, meta = demo_model(epochs, seed, progress, log)
    # mid-level similarity: LPIPS-style distance on an independently trained copy
    # (another seed), so the network under study is not judged by its own features
    judge, judge_variables, judge_meta = demo_model(epochs, seed + 1, progress, log)
    metrics = {
        "colour": similarity.colour,
        "label": similarity.label,
        "features": similarity.model_features(judge, judge_variables, FEATURE_LAYERS),
    }
    splits = {"test": load_digits("test"), "train": load_digits("train")}
    acts = {
        name: capture(model, variables, ds.images, [layer], position="mean", progress=progress)[layer]
        for name, ds in splits.items()
    }
    n_neurons = acts["train"].shape[1]
    fitted = {}
    for d_name in directions:  # a handful of direction sets, each fit once
        log(f"fitting {d_name} (K={n_neurons}) on {len(acts['train'])} training activations ...")
        fitted[d_name] = registry.fit_by_name(d_name, jax.random.key(seed), acts["train"])
    direction_acts = {
        split: {d: np.asarray(f.transform(a)) for d, f in fitted.items()} for split, a in acts.items()
    }

    ii: dict = {}
    exemplars: dict = {}
    for split, ds in splits.items():
        images01 = ds.images.astype(np.float32) / 255.0
        ii[split] = {}
        for metric_name in METRICS:
            metric = metrics[metric_name]
            feats = metric.featurize(images01, ds.labels)
            ii[split][metric_name] = {
                s: np.asarray(interpretability_index_all(f, metric, feats, m=m))
                for s, f in direction_acts[split].items()
            }
        exemplars[split] = {
            s: np.asarray(jax.lax.top_k(f.T, m)[1]) for s, f in direction_acts[split].items()
        }

    summary = {
        "model": meta,
        "layer": layer,
        "n_neurons": n_neurons,
        "k": n_neurons,
        "m": m,
        "similarities": {
            "colour": "-||mean colour difference||",
            "label": "1[same class]",
            "features": f"-LPIPS-style distance on {list(FEATURE_LAYERS)} of {ARCH} seed {seed + 1}",
        },
        "directions": {d: {**f.info(), "fit_on": "train split"} for d, f in fitted.items()},
        "mean_ii": {
            split: {mt: {s: float(np.mean(v)) for s, v in d.items()} for mt, d in per.items()}
            for split, per in ii.items()
        },
        "frac_above_neuron_median": {
            mt: {d: float(np.mean(ii["test"][mt][d] > np.median(ii["test"][mt]["neurons"])))
                 for d in directions if d != "neurons"}
            for mt in METRICS
        },
    }
    atomic.savez(
        out / "arrays.npz",
        **{f"acts_{s}": a for s, a in acts.items()},
        **{f"directions_{d}": np.asarray(f.directions) for d, f in fitted.items()},
        **{f"ii_{sp}_{mt}_{s}": v for sp, d in ii.items() for mt, dd in d.items() for s, v in dd.items()},
        **{f"exemplars_{sp}_{s}": v for sp, d in exemplars.items() for s, v in d.items()},
    )
    atomic.write_json(out / "summary.json", summary, indent=2)

    figs = [(
        ii_boxplot(ii["test"], out / "ii_boxplot.png",
                   title=f"{ARCH} {layer}: {' vs '.join(directions)} (K={n_neurons}), test split"),
        f"Interpretability Index of the {n_neurons} neurons of {layer} and of {n_neurons} "
        f"directions of each other set ({', '.join(directions[1:]) or 'none'}), per similarity, "
        "on the held-out digits (higher = more interpretable).",
    )]
    for metric_name in METRICS:
        figs.append((
            exemplar_grid(splits["test"].images, exemplars["test"],
                          {s: ii["test"][metric_name][s] for s in exemplars["test"]},
                          out / f"exemplars_{metric_name}.png", metric_name),
            f"Top-{m} test images of the units of each direction set ({', '.join(directions)}, "
            f"left to right) whose {metric_name} II sits at the 0, 25, 50, 75 and 100th percentile.",
        ))
    write_page(out, summary, figs, judge_meta["test_accuracy"])
    summary["report"] = str((out / "index.html").absolute())
    return summary


def write_page(out: Path, summary: dict, figs: Sequence[tuple[Path, str]], judge_accuracy: float) -> Path:
    """``out/index.html`` from the demo's ``summary`` and its ``(png path, caption)`` figures.

    The layer and direction names are escaped: they reach the page from the command line.
    """
    layer, m, n_neurons = html.escape(summary["layer"]), summary["m"], summary["n_neurons"]
    directions = list(summary["directions"])
    seed = summary["model"]["seed"]
    rows = [
        (split, mt, *(d[s] for s in directions))
        for split, per in summary["mean_ii"].items() for mt, d in per.items()
    ]
    sections = [
        ("What this is", (
            f"<p>A {ARCH} trained on scikit-learn's handwritten digits (test accuracy "
            f"{summary['model']['test_accuracy']:.3f}); activations of <code>{layer}</code> "
            f"(spatial mean, {n_neurons} channels); direction sets {html.escape(', '.join(directions))} with "
            "K = N fit on the training split (K-means, PCA and ICA on unit-norm rows, the SAE on "
            "unit-norm rows z-scored per dimension, K-means with k-means++ init; NMF on raw "
            "activations); II with M = "
            f"{m} on the held-out test split (primary) and the training split. Similarities: "
            "<b>colour</b> (on grayscale digits, the mean-intensity distance), <b>label</b> "
            "(same digit class), and <b>features</b>: an LPIPS-style distance (unit-normalised "
            f"channels, uniform weights) on layers {', '.join(FEATURE_LAYERS)} of a second "
            f"{ARCH} trained with seed {seed + 1} (test accuracy {judge_accuracy:.3f}), not the "
            "network under study.</p>"
        )),
        ("Mean Interpretability Index", table(
            ["split", "similarity", *directions], rows)),
        ("Figures", "".join(figure(Path(p).name, c) for p, c in figs)),
    ]
    return page(f"jaxinterp demo: {ARCH} on digits, layer {summary['layer']}", sections, Path(out) / "index.html")
