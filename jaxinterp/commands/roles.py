"""jaxinterp roles: every neuron-role measure of a layer, and how each relates to II.

Measures, per neuron: linearity (ridge R², MLP ceiling, linearity fraction LF),
Jacobian focus and effective dimension, mutual information and entropies,
expanded-weight spectra, saliency concentration, label information; then
Spearman's rho of each with the Interpretability Index. Writes into --out:
neurons.csv and neurons.json (one row per channel), correlations.json,
scatter_matrix.png, extremes_*.png and index.html. Role labels and correlations
are exploratory. Every step is saved in --store (default OUT/store): an
interrupted run resumes, and a rerun only redraws.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from jaxinterp.commands._data import add_data_arguments, data_spec
from jaxinterp.commands._options import add_model_arguments, add_store_argument


def _samples(text: str) -> int:
    if text == "auto":
        return 0
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of samples or 'auto', got {text!r}") from None
    if value < 10:
        raise argparse.ArgumentTypeError(f"--samples must be at least 10 (or 'auto'), got {value}")
    return value


def add_parser(sub) -> argparse.ArgumentParser:
    parser = sub.add_parser(
        "roles",
        help="per-neuron role measures (linearity, Jacobians, saliency, MI, entropy, weight spectra)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_model_arguments(parser)
    add_data_arguments(parser)
    parser.add_argument("--layer", required=True, help="layer name, e.g. layer1 (`jaxinterp layers --arch ARCH` lists them)")
    parser.add_argument("--out", required=True, type=Path, help="output directory (created if absent)")
    parser.add_argument("--levels", default="immediate,window,pixels",
                        help="input levels, comma-separated (default: immediate,window,pixels; the first two need "
                             "a ResNet stage such as layer1, other layers support only 'pixels')")
    parser.add_argument("--images", type=int, default=None, help="use only the first N images (default: all)")
    parser.add_argument("--samples", type=_samples, default=0, metavar="N|auto",
                        help="position samples per level, 20%% held out (default: auto = at least 8000 and more "
                             "than 3x the level's inputs). Fewer than 3x the inputs leave the MLP ceiling no "
                             "better than ridge, so LF near 1 says little; that is warned about")
    parser.add_argument("--jacobian-samples", type=int, default=128,
                        help="positions whose Jacobian is computed (default: 128)")
    parser.add_argument("--ksg-samples", type=int, default=1000,
                        help="positions for the KSG mutual information (default: 1000)")
    parser.add_argument("--mlp-hidden", default="128,128",
                        help="MLP ceiling widths, comma-separated (default: 128,128; the reference setting is 256,256)")
    parser.add_argument("--mlp-steps", type=int, default=1500, help="Adam steps of the MLP ceiling (default: 1500)")
    parser.add_argument("--saliency-images", type=int, default=200,
                        help="random images for the mean saliency concentration κ (default: 200)")
    parser.add_argument("--top", type=int, default=20, help="top exemplars per neuron for κ (default: 20)")
    parser.add_argument("--m", type=int, default=5, help="exemplars in the Interpretability Index (default: 5)")
    parser.add_argument("--seed", type=int, default=0, help="PRNG seed of every sample draw and fit (default: 0)")
    parser.add_argument("--no-figures", action="store_true", help="write the tables only")
    add_store_argument(parser)
    return parser


def run(args) -> int:
    from jaxinterp import steps, tasks
    from jaxinterp.recipes import roles
    from jaxinterp.report import roles as roles_report

    t0 = time.perf_counter()
    log = lambda msg: print(f"[{time.perf_counter() - t0:6.1f}s] {msg}", flush=True)
    if args.images is not None and args.images < 1:
        raise ValueError(f"--images must be a positive number of images, got {args.images}")
    if args.out.exists() and not args.out.is_dir():
        raise ValueError(f"--out {args.out} is a file; pass a directory (it is created if absent)")
    model = steps.model_spec(args.arch, args.params)
    data = data_spec(args, args.arch, limit=args.images)
    levels = [lv.strip() for lv in args.levels.split(",") if lv.strip()]
    hidden = tuple(int(h) for h in args.mlp_hidden.split(","))
    graph = roles.roles_tasks(model, data, args.layer, levels=levels, samples=args.samples,
                              jacobian_samples=args.jacobian_samples, ksg_samples=args.ksg_samples,
                              mlp_hidden=hidden, mlp_steps=args.mlp_steps,
                              saliency_images=args.saliency_images, top=args.top, m=args.m, seed=args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    store = tasks.Store(args.store or args.out / "store")
    results, report = tasks.run([graph["roles"]], store, log=log)
    store.write_manifest({"command": "roles"})
    result = results[graph["roles"].key]
    roles_report.write(args.out, result, steps.images01(data), args.arch, args.layer,
                       figures=not args.no_figures,
                       facts={"data": args.data.name, "weights": args.params.name,
                              "position samples": f"{args.samples} per level (20% held out)",
                              "MLP ceiling": f"{args.mlp_hidden}, {args.mlp_steps} steps", "seed": args.seed})
    log(f"wrote {args.out}/index.html")
    by_measure = result.summary["correlations"]["by_measure"]
    print(json.dumps({"out": str(args.out), "neurons": len(result.summary["roles"]),
                      "similarities": result.summary["correlations"]["similarities"],
                      "computed": len(report.executed), "reused": len(report.loaded),
                      "rho_with_ii": {m: {s: (v[s]["rho"] if v[s] else None) for s in v}
                                      for m, v in by_measure.items() if m in roles.SUMMARY}}))
    return 0
