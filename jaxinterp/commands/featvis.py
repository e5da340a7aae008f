"""``jaxinterp featvis``: Lucid-style feature visualisations of a layer's units, all in one batch.

Writes into --out: a grid PNG/SVG per layer (unit index, final activation in dataset
standard deviations), the images as arrays (.npz), and index.html beside each unit's
top dataset exemplars. Every step (capture, directions, render, gather) is saved in the
results store (--store, default OUT/store): a rerun only redraws the page.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from jaxinterp.commands._data import DATA_HELP, add_data_arguments, data_spec
from jaxinterp.directions.registry import NAMES


def parse_units(text: str) -> tuple[int, int]:
    """``"0:64"`` -> (0, 64); ``"7"`` -> (7, 8)."""
    try:
        if ":" in text:
            start, stop = (int(p) for p in text.split(":"))
        else:
            start = int(text)
            stop = start + 1
    except ValueError:
        raise ValueError(f"--units must be START:STOP (e.g. 0:64) or one index, got {text!r}") from None
    if start < 0 or stop <= start:
        raise ValueError(f"--units {text} is empty or negative; pass START:STOP with 0 <= START < STOP")
    return start, stop


def add_parser(sub) -> argparse.ArgumentParser:
    parser = sub.add_parser("featvis", help="feature visualisation of a layer's units (Lucid's method)",
                            description=__doc__)
    parser.add_argument("--arch", required=True, help="registered architecture, e.g. cifar_resnet20")
    parser.add_argument("--params", required=True, type=Path,
                        help="directory from `jaxinterp convert` or a PyTorch checkpoint (.th/.pt/.pth)")
    add_data_arguments(parser, DATA_HELP + " (dataset statistics, exemplars, colour matrix)")
    parser.add_argument("--layer", required=True, help="PyTorch-style layer name, e.g. layer3")
    parser.add_argument("--units", default="0:64", help="unit (or direction) range START:STOP (default 0:64)")
    parser.add_argument("--directions", default="neurons", choices=NAMES,
                        help="visualise channels (neurons) or directions fitted on the layer (e.g. kmeans)")
    parser.add_argument("--k", type=int, default=None, help="number of directions (default: the layer's width)")
    parser.add_argument("--steps", type=int, default=512, help="optimisation steps (Lucid: 512)")
    parser.add_argument("--size", type=int, default=None, help="image side (default: the model's input size)")
    parser.add_argument("--param", default="fft", choices=("fft", "pixel"), help="image parametrisation")
    parser.add_argument("--color", default=None, choices=("imagenet", "data"),
                        help="colour decorrelation matrix (default: imagenet for ImageNet models, else data)")
    parser.add_argument("--transforms", default=None, choices=("cifar", "standard", "none"),
                        help="transform set (default: cifar for inputs <= 64 px, else Lucid's standard)")
    parser.add_argument("--chunk", type=int, default=None, help="units per render call (default: all at once)")
    parser.add_argument("--exemplars", type=int, default=8, help="top dataset images shown per unit")
    parser.add_argument("--limit", type=int, default=None, help="use only the first LIMIT dataset images")
    parser.add_argument("--seed", type=int, default=0, help="PRNG seed (default: 0)")
    parser.add_argument("--out", required=True, type=Path, help="output directory")
    parser.add_argument("--store", default=None, help="results store: a folder or gs://bucket/path (default: OUT/store)")
    return parser


def run(args) -> int:
    from jaxinterp import atomic, models, steps, tasks
    from jaxinterp.report import featvis as page
    from jaxinterp.recipes.featvis import featvis_tasks
    from jaxinterp.models.base import ImageNetModel

    units = parse_units(args.units)
    if args.steps < 1 or (args.chunk is not None and args.chunk < 1):
        raise ValueError(f"--steps and --chunk must be positive, got {args.steps} and {args.chunk}")
    if args.out.exists() and not args.out.is_dir():
        raise ValueError(f"--out {args.out} is a file; pass a directory (it is created if absent)")
    model_cls = models.get(args.arch)
    imagenet = isinstance(model_cls, ImageNetModel)
    size = args.size or model_cls.INPUT_SIZE or 128
    color = args.color or ("imagenet" if imagenet else "data")
    tf = args.transforms or ("cifar" if size <= 64 else "standard")
    model = steps.model_spec(args.arch, args.params)
    data = data_spec(args, args.arch, limit=args.limit)
    graph = featvis_tasks(model, data, args.layer, units, method=args.directions, k=args.k,
                          exemplars=args.exemplars, steps=args.steps, size=args.size, param=args.param,
                          color=color, transforms=tf, seed=args.seed, chunk=args.chunk)
    args.out.mkdir(parents=True, exist_ok=True)
    store = tasks.Store(args.store or args.out / "store")
    try:
        results, report = tasks.run([graph["featvis"]], store,
                                    log=lambda s: print(f"featvis: {s}", flush=True))
    except tasks.TaskFailed as err:  # a user error inside a task (e.g. --units out of range)
        if isinstance(err.__cause__, (ValueError, FileNotFoundError)):
            raise err.__cause__ from None
        raise
    store.write_manifest({"command": "featvis"})
    result = results[graph["featvis"].key]
    facts = {"model": args.arch, "layer": args.layer, "units": f"{units[0]}:{units[1]}",
             "directions": args.directions, "images": result.summary["images_in_data"],
             "steps": args.steps}
    index = page.write(args.out, result.arrays, result.summary, steps.images01(data), facts)
    atomic.write_json(args.out / "summary.json", result.summary)
    print(json.dumps({"out": str(args.out), "page": str(index), "store": str(store.root),
                      "ratio_median": result.summary["ratio_median"],
                      "computed": len(report.executed), "reused": len(report.loaded)}))
    return 0
