"""jaxinterp paper: the analyses of "Identifying interpretable features in CNNs" for one layer.

Neurons against K-means directions: the Interpretability Index and in-silico
psychophysics under each similarity, the t-SNE manifold and its sparsity,
sensitivity (cross-II, paths between centroids, input gradients), synergy of
all neuron pairs, co-activation, the activation eigenspectrum, and a sweep of
16 sparse autoencoders. Writes arrays.npz, summary.json, the figures (PNG and
SVG) and report.html into --out. Every step is saved in the results store as it
finishes (--store, default OUT/store): an interrupted run resumes where it
stopped, and a rerun only redraws the report.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from jaxinterp.commands._data import add_data_arguments, data_spec
from jaxinterp.commands._options import add_model_arguments, add_store_argument

SIMILARITIES = ("colour", "label", "l2", "features", "lpips")


def add_parser(sub) -> argparse.ArgumentParser:
    parser = sub.add_parser(
        "paper",
        help="II, psychophysics, manifold, sensitivity, synergy, co-activation, spectrum of one layer",
        description=__doc__,
    )
    add_model_arguments(parser)
    add_data_arguments(parser)
    parser.add_argument("--layer", required=True, help="PyTorch-style layer name, e.g. layer1")
    parser.add_argument("--similarity", nargs="+", default=["colour", "label"], choices=SIMILARITIES,
                        help="similarities to score with (default: colour label); the first that is not "
                             "label drives Figs. 4, 6-8 and 10")
    parser.add_argument("--feature-layers", nargs="+", default=None,
                        help="layers of the same model for --similarity features (default: the --layer itself)")
    parser.add_argument("--lpips-backbone", type=Path, help="AlexNet/VGG16 weights for --similarity lpips")
    parser.add_argument("--lpips-lin", type=Path, help="lpips lin weights (alex.pth) for --similarity lpips")
    parser.add_argument("--k", type=int, default=None, help="K-means clusters (default: the layer's width)")
    parser.add_argument("--limit", type=int, default=None, help="use only the first LIMIT images (default: all)")
    parser.add_argument("--no-gradients", action="store_true", help="skip the input-gradient norms of Fig. 7")
    parser.add_argument("--reproduce", action="store_true",
                        help="draw psychophysics trials as the paper's own code does (numpy RandomState(42), "
                             "its order of draws and tie order) and choose the II's top images among tied "
                             "activations by numpy's argsort, so per-unit scores equal the paper's "
                             "(default: off: trials from --seed, ties to the lowest image index)")
    parser.add_argument("--kmeans-init", choices=("k-means++", "identity"), default="k-means++",
                        help="K-means initialisation (default: k-means++, as the paper; identity starts on "
                             "the neuron axes and needs --k equal to the layer's width)")
    parser.add_argument("--no-sae-sweep", action="store_true",
                        help="skip Fig. 9's sweep of 16 sparse autoencoders")
    parser.add_argument("--seed", type=int, default=0, help="PRNG seed of every fit and trial draw (default: 0)")
    parser.add_argument("--out", required=True, type=Path, help="output directory")
    add_store_argument(parser)
    return parser


def _similarities(args, model):
    from jaxinterp.steps import SimilaritySpec

    out = {}
    for name in args.similarity:
        if name == "features":
            out[name] = SimilaritySpec(name, model=model, layers=tuple(args.feature_layers or [args.layer]))
        elif name == "lpips":
            if not (args.lpips_backbone and args.lpips_lin):
                raise ValueError("--similarity lpips needs --lpips-backbone (AlexNet weights) and "
                                 "--lpips-lin (alex.pth of the lpips package)")
            out[name] = SimilaritySpec(name, backbone=str(args.lpips_backbone.absolute()),
                                       lin=str(args.lpips_lin.absolute()))
        else:
            out[name] = SimilaritySpec(name)
    return out


def run(args) -> int:
    from jaxinterp import atomic, steps, tasks
    from jaxinterp.recipes import paper
    from jaxinterp.report import paper as paper_report

    if args.limit is not None and args.limit < 1:
        raise ValueError(f"--limit must be a positive number of images, got {args.limit}; "
                         "leave it out to use every image")
    if args.out.exists() and not args.out.is_dir():
        raise ValueError(f"--out {args.out} is a file; pass a directory (it is created if absent)")
    model = steps.model_spec(args.arch, args.params)
    data = data_spec(args, args.arch, limit=args.limit)
    graph = paper.paper_tasks(model, data, args.layer, _similarities(args, model), k=args.k,
                              seed=args.seed, gradients=not args.no_gradients,
                              sae_grid=not args.no_sae_sweep, reproduce=args.reproduce,
                              kmeans_init=args.kmeans_init)
    for warning in paper.warnings(len(steps.load_data(data)[0])):
        print(f"paper: warning: {warning}", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    store = tasks.Store(args.store or args.out / "store")
    results, report = tasks.run([graph["paper"]], store, log=lambda s: print(f"paper: {s}", flush=True))
    store.write_manifest({"command": "paper"})
    result = results[graph["paper"].key]
    for mode in ("noncv", "split"):
        if f"spectrum_fit_warning_{mode}" in result.summary:
            print(f"paper: warning: Fig. 11 ({mode}): {result.summary[f'spectrum_fit_warning_{mode}']}",
                  flush=True)
    summary = {**result.summary, "arch": args.arch, "layer": args.layer, "data": str(args.data)}
    atomic.savez(args.out / "arrays.npz", **result.arrays)
    atomic.write_json(args.out / "summary.json", summary)
    paper_report.report(args.out, result.arrays, summary, steps.images01(data),
                        facts={"weights": args.params.name, "seed": args.seed})
    print(json.dumps({"out": str(args.out), "report": str(args.out / "report.html"),
                      "store": str(store.root), "computed": len(report.executed),
                      "reused": len(report.loaded)}))
    return 0

