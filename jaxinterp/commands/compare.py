"""``jaxinterp compare``: how alike two models are, layer by layer and unit by unit (universality).

    jaxinterp compare --arch cifar_resnet20 --params resnet20.th --arch cifar_resnet32 --params r32 \\
        --data cifar_test.npz --out compare-out

The first --arch/--params pair is model A, the second model B (each flag given
twice, in that order); --params is a directory from `jaxinterp convert` or the
PyTorch checkpoint file itself. Every step is saved in the results store as it
finishes (--store, default OUT/store): after Ctrl-C the same command resumes, and
a rerun only redraws the report. Writes ``arrays.npz`` and ``summary.json``, then
figures (PNG + SVG) and ``index.html`` drawn from those files alone (report):
a layer x layer CKA heatmap, SVCCA/PWCCA/mutual k-NN, each layer's best-matched
units with their correlation and top dataset exemplars side by side, and the
Interpretability Index (colour) of matched vs unmatched units.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from jaxinterp.commands._data import add_data_arguments, data_spec
from jaxinterp.commands._options import add_store_argument, run_tasks
from jaxinterp.commands._options import names as split_names


def add_parser(sub) -> argparse.ArgumentParser:
    parser = sub.add_parser(
        "compare",
        help="CKA/SVCCA/PWCCA/k-NN of every layer pair of two models, unit matching, II of matched units",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--arch", action="append", required=True,
                        help="registered architecture; give it twice: model A, then model B")
    parser.add_argument("--params", action="append", required=True, type=Path,
                        help="a directory from `jaxinterp convert`, or the PyTorch checkpoint file itself "
                             "(.th/.pt/.pth); twice, in the order of --arch")
    add_data_arguments(parser)
    parser.add_argument("--out", required=True, type=Path, help="output directory")
    parser.add_argument("--layers-a", default=None,
                        help="comma-separated layers of A (default: stem, every residual block, classifier)")
    parser.add_argument("--layers-b", default=None, help="comma-separated layers of B (default: as for A)")
    parser.add_argument("--limit", type=int, default=None, help="use only the first LIMIT images")
    parser.add_argument("--m", type=int, default=5, help="top exemplars per unit (II and figures)")
    parser.add_argument("--top-pairs", type=int, default=6, help="matched unit pairs shown per layer")
    parser.add_argument("--k", type=int, default=10, help="neighbours of the mutual k-NN alignment")
    parser.add_argument("--batch-size", type=int, default=256, help="images per capture step")
    parser.add_argument("--seed", type=int, default=0, help="seed of the shuffled-image null")
    parser.add_argument("--no-report", action="store_true", help="write arrays.npz and summary.json only")
    add_store_argument(parser)
    return parser


def _labels(args) -> list[str]:
    """How the report names the two models: their architectures, or, when those are the same,
    the file or folder of each one's weights."""
    names = list(args.arch)
    if names[0] == names[1]:
        names = [f"{names[0]} ({p.name})" for p in args.params]
    if names[0] == names[1]:
        names = [f"{names[0]} as A", f"{names[1]} as B"]
    return names


def run(args) -> int:
    from jaxinterp import steps, tasks
    from jaxinterp.commands._paths import check_out_folder
    from jaxinterp.recipes.compare import compare_tasks
    from jaxinterp.report.universality import report
    from jaxinterp.universality import save

    if len(args.arch) != 2 or len(args.params) != 2:
        raise ValueError(
            f"compare needs exactly two models: --arch A --params A --arch B --params B; got "
            f"{len(args.arch)} --arch and {len(args.params)} --params"
        )
    if args.limit is not None and args.limit < 1:
        raise ValueError(f"--limit must be a positive number of images, got {args.limit}; "
                         "leave it out to use every image")
    check_out_folder(args.out)
    t0 = time.perf_counter()
    log = lambda msg: print(f"[{time.perf_counter() - t0:6.1f}s] compare: {msg}", flush=True)  # noqa: E731
    specs = [steps.model_spec(arch, params) for arch, params in zip(args.arch, args.params)]
    data = data_spec(args, *args.arch, limit=args.limit)
    graph = compare_tasks(specs[0], specs[1], data, layers_a=split_names(args.layers_a),
                          layers_b=split_names(args.layers_b), m=args.m, top_pairs=args.top_pairs, k=args.k,
                          seed=args.seed, batch_size=args.batch_size)
    args.out.mkdir(parents=True, exist_ok=True)
    store = tasks.Store(args.store or args.out / "store")
    results, run_report = run_tasks("compare", [graph["compare"]], store, log=log)
    result = results[graph["compare"].key]
    names = _labels(args)
    summary = {**result.summary, "name_a": names[0], "name_b": names[1], "arch_a": args.arch[0],
               "arch_b": args.arch[1], "params_a": str(args.params[0]), "params_b": str(args.params[1]),
               "data": str(args.data)}
    save(args.out, result.arrays, summary)
    log(f"saved {args.out}/arrays.npz and summary.json")
    out = {"out": str(args.out), "summary": str(args.out / "summary.json"), "store": str(store.root),
           "computed": len(run_report.executed), "reused": len(run_report.loaded)}
    if not args.no_report:
        out["report"] = str(report(args.out))
        log("report written")
    out["median_best_match_corr"] = {p["layer"]: round(p["best_match_corr"]["median"], 4)
                                     for p in summary["per_layer"]}
    print(json.dumps(out))
    return 0
