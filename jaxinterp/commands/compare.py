"""``jaxinterp compare``: how alike two models are, layer by layer and unit by unit (universality).

    jaxinterp compare --arch cifar_resnet20 --params r20 --arch cifar_resnet32 --params r32 \\
        --data cifar_test.npz --out compare-out

The first --arch/--params pair is model A, the second model B (each flag given
twice, in that order). Writes ``arrays.npz`` and ``summary.json`` (compute), then
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
                        help="directory from `jaxinterp convert`; twice, in the order of --arch")
    parser.add_argument("--data", required=True, type=Path, help=".npz with uint8 'images' and 'labels'")
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
    return parser


def _layers(spec, model, variables, shape, which, arch):
    from jaxinterp import models
    from jaxinterp.circuits import default_layers

    known = models.layer_names(model, variables, shape)
    wanted = default_layers(known) if spec is None else [s.strip() for s in spec.split(",") if s.strip()]
    unknown = [name for name in wanted if name not in known]
    if unknown or not wanted:
        raise ValueError(
            f"model {which} ({arch}) has no layer named {', '.join(map(repr, unknown)) or '(none given)'}; "
            f"its layers are: {', '.join(known)}. Fix --layers-{which.lower()}"
        )
    return wanted


def run(args) -> int:
    from jaxinterp import models
    from jaxinterp.capture import capture
    from jaxinterp.checkpoint import load_variables
    from jaxinterp.circuits import universality
    from jaxinterp.circuits.universality_report import report
    from jaxinterp.commands.evaluate import load_npz
    from jaxinterp.data.checks import check_fits_model

    if len(args.arch) != 2 or len(args.params) != 2:
        raise ValueError(
            f"compare needs exactly two models: --arch A --params A --arch B --params B; got "
            f"{len(args.arch)} --arch and {len(args.params)} --params"
        )
    t0 = time.perf_counter()
    log = lambda msg: print(f"[{time.perf_counter() - t0:6.1f}s] compare: {msg}", flush=True)  # noqa: E731
    images, labels = load_npz(args.data)
    if args.limit:
        images, labels = images[: args.limit], labels[: args.limit]
    if len(images) < 4:
        raise ValueError(f"{args.data} gives {len(images)} images; CKA (unbiased HSIC) needs at least 4")
    for which, arch in zip("AB", args.arch):  # both, before any work
        check_fits_model(images, labels, models.get(arch), f"{arch} (model {which})",
                         f"images in {Path(args.data).name}")
    acts = []
    for which, arch, params, spec in zip("AB", args.arch, args.params, (args.layers_a, args.layers_b)):
        model = models.get(arch)
        variables, meta = load_variables(params)
        if meta.get("arch", arch) != arch:
            raise ValueError(f"{params} holds weights for {meta['arch']!r}, not {arch!r} (model {which}); "
                             f"pass --arch {meta['arch']}")
        layers = _layers(spec, model, variables, (1, *images.shape[1:]), which, arch)
        got = capture(model, variables, images, layers, aggregation="mean", batch_size=args.batch_size,
                      progress=False)
        flat = [name for name, a in got.items() if a.ndim != 2]
        if flat:
            raise ValueError(f"layers {flat} of model {which} do not give [n, units] after the spatial mean")
        acts.append({name: got[name] for name in layers})
        log(f"captured {len(layers)} layers of {which} = {arch} on {len(images)} images")
    arrays, summary = universality.compare(acts[0], acts[1], images, labels, m=args.m,
                                           top_pairs=args.top_pairs, k=args.k, seed=args.seed, log=log)
    names = list(args.arch)
    if names[0] == names[1]:
        names = [f"{names[0]} ({p.name})" for p in args.params]
    if names[0] == names[1]:
        names = [f"{names[0]} as A", f"{names[1]} as B"]
    summary.update(name_a=names[0], name_b=names[1], arch_a=args.arch[0], arch_b=args.arch[1],
                   params_a=str(args.params[0]), params_b=str(args.params[1]), data=str(args.data))
    universality.save(args.out, arrays, summary)
    log(f"saved {args.out}/arrays.npz and summary.json")
    result = {"out": str(args.out), "summary": str(args.out / "summary.json")}
    if not args.no_report:
        result["report"] = str(report(args.out))
        log("report written")
    result["median_best_match_corr"] = {p["layer"]: round(p["best_match_corr"]["median"], 4)
                                        for p in summary["per_layer"]}
    print(json.dumps(result))
    return 0
