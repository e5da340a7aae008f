"""``jaxinterp demo``: the whole pipeline on data and a model that need no download."""

from __future__ import annotations

import argparse


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "demo",
        help="train a small CNN on scikit-learn's digits and write an HTML report",
        description="Train (once, cached) a small CNN on scikit-learn's digits, fit K-means "
        "directions in one layer, compare their Interpretability Index with the neurons', "
        "and write arrays, summary.json, figures and index.html.",
    )
    p.add_argument("--out", default="demo-out", help="output folder (default: demo-out)")
    p.add_argument("--layer", default="relu2", help="layer to analyse (default: relu2)")
    p.add_argument("--epochs", type=int, default=15, help="training epochs (default: 15)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--directions", default="neurons,kmeans",
        help="comma-separated direction sets: neurons, kmeans, minibatch_kmeans, pca, ica, nmf, "
        "sae (default: neurons,kmeans)",
    )
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    return p


def run(args) -> int:
    from jaxinterp.commands._paths import check_out_folder
    from jaxinterp.recipes.demo import run_demo

    check_out_folder(args.out)
    summary = run_demo(args.out, layer=args.layer, epochs=args.epochs, seed=args.seed,
                       directions=[d.strip() for d in args.directions.split(",") if d.strip()],
                       progress=not args.no_progress)
    print(f"report: {summary['report']}")
    parts = [
        f"{metric}: " + " vs ".join(f"{s} {v:.4g}" for s, v in d.items())
        for metric, d in summary["mean_ii"]["test"].items()
    ]
    print(f"mean II (test split, {summary['layer']}, N=K={summary['k']}): " + "; ".join(parts))
    return 0
