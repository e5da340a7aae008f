"""``jaxinterp paper``: the seed paper's analyses of one layer, end to end.

Writes ``arrays.npz``, ``summary.json``, PNG figures and ``report.html`` into --out.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

SIMILARITIES = ("colour", "label", "l2", "features", "lpips")


def add_parser(sub) -> argparse.ArgumentParser:
    parser = sub.add_parser(
        "paper",
        help="II, psychophysics, manifold, sensitivity, synergy, co-activation, spectrum of one layer",
        description=__doc__,
    )
    parser.add_argument("--arch", required=True, help="registered architecture, e.g. cifar_resnet20")
    parser.add_argument("--params", required=True, type=Path, help="directory from `jaxinterp convert`")
    parser.add_argument("--data", required=True, type=Path, help=".npz with uint8 'images' and 'labels'")
    parser.add_argument("--layer", required=True, help="PyTorch-style layer name, e.g. layer1")
    parser.add_argument("--similarity", nargs="+", default=["colour", "label"], choices=SIMILARITIES,
                        help="similarities to score with (the first non-label one drives Figs. 4, 6-8, 10)")
    parser.add_argument("--feature-layers", nargs="+", default=None,
                        help="layers of the same model for --similarity features (default: --layer)")
    parser.add_argument("--lpips-backbone", type=Path, help="AlexNet/VGG16 weights for --similarity lpips")
    parser.add_argument("--lpips-lin", type=Path, help="lpips lin weights (alex.pth) for --similarity lpips")
    parser.add_argument("--k", type=int, default=None, help="K-means clusters (default: the layer's width)")
    parser.add_argument("--limit", type=int, default=None, help="use only the first LIMIT images")
    parser.add_argument("--no-gradients", action="store_true", help="skip input-gradient norms")
    parser.add_argument("--no-sae-sweep", action="store_true",
                        help="skip Fig. 9's sweep of 16 sparse autoencoders")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True, type=Path, help="output directory")
    return parser


def _similarities(args, model, variables):
    from jaxinterp import similarity

    out = {}
    for name in args.similarity:
        if name in similarity.METRICS:
            out[name] = similarity.METRICS[name]
        elif name == "features":
            out[name] = similarity.model_features(model, variables, args.feature_layers or [args.layer])
        elif name == "lpips":
            if not (args.lpips_backbone and args.lpips_lin):
                raise ValueError("--similarity lpips needs --lpips-backbone (AlexNet weights) and "
                                 "--lpips-lin (alex.pth of the lpips package)")
            from converters.lpips_weights import lpips_from_files

            out[name] = lpips_from_files(args.lpips_backbone, args.lpips_lin)
    return out


def run(args) -> int:
    import jax

    from jaxinterp import models
    from jaxinterp.capture import aggregate, capture
    from jaxinterp.checkpoint import load_variables
    from jaxinterp.commands.evaluate import load_npz
    from jaxinterp.data.checks import to_unit_float
    from jaxinterp.directions.kmeans import unit_rows
    from jaxinterp.models.base import forward
    from jaxinterp.recipes import paper

    model = models.get(args.arch)
    variables, meta = load_variables(args.params)
    if meta.get("arch", args.arch) != args.arch:
        raise ValueError(f"{args.params} holds weights for {meta['arch']!r}, not {args.arch!r}")
    images, labels = load_npz(args.data)
    if args.limit:
        images, labels = images[: args.limit], labels[: args.limit]
    images01 = to_unit_float(images)  # load_npz gives uint8 0..255 or float 0..1
    acts = capture(model, variables, images01, [args.layer], progress=False)[args.layer]
    if acts.ndim != 2:
        raise ValueError(f"layer {args.layer!r} gives activations of shape {acts.shape}; pick a conv layer")
    args.out.mkdir(parents=True, exist_ok=True)

    embed = None
    if not args.no_gradients:
        def embed(x):
            _, a = forward(model, variables, model.normalize(x), [args.layer])
            return unit_rows(aggregate(a[args.layer], "mean"))

    arrays, summary = paper.analyse(jax.random.key(args.seed), images01, labels, acts,
                                    _similarities(args, model, variables), embed=embed, k=args.k,
                                    sae_grid=not args.no_sae_sweep,
                                    log=lambda s: print(f"paper: {s}", flush=True))
    summary.update(arch=args.arch, layer=args.layer, data=str(args.data))
    np.savez(args.out / "arrays.npz", **arrays)
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1))
    paper.report(args.out, arrays, summary, images01)
    print(json.dumps({"out": str(args.out), "report": str(args.out / "report.html")}))
    return 0
