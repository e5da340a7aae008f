"""``jaxinterp featvis``: Lucid-style feature visualisations of a layer's units, all in one batch.

Writes into --out: a grid PNG/SVG per layer (unit index, final activation in dataset
standard deviations), the images as arrays (.npz), and index.html with, per unit, its
visualisation, 4 diverse ones and a negative one (minimising the unit), beside receptive-field
crops of its most and least activating dataset images. Every step (capture, directions, each
chunk of renders, gather) is saved in the results store (--store, default OUT/store) as it
finishes: after Ctrl-C the same command resumes, and a rerun only redraws the page.

The transforms and colour matrix follow the model, as in the API
(``featvis.transforms.for_model``, ``featvis.param.for_model``): for a 32-px CIFAR model the
CIFAR transform set and the data's colour matrix, for an ImageNet model Lucid's standard set
and ImageNet's matrix.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from jaxinterp.commands._data import DATA_HELP, add_data_arguments, data_spec
from jaxinterp.commands._options import (
    add_featvis_arguments,
    add_model_arguments,
    add_store_argument,
    run_tasks,
)
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
    add_model_arguments(parser)
    add_data_arguments(parser, DATA_HELP + " (dataset statistics, exemplars, colour matrix)")
    parser.add_argument("--layer", required=True, help="PyTorch-style layer name, e.g. layer3")
    parser.add_argument("--units", default="0:64", help="unit (or direction) range START:STOP (default 0:64)")
    parser.add_argument("--directions", default="neurons", choices=NAMES,
                        help="visualise channels (neurons) or directions fitted on the layer (e.g. kmeans)")
    parser.add_argument("--k", type=int, default=None, help="number of directions (default: the layer's width)")
    add_featvis_arguments(parser, 512)
    parser.add_argument("--diversity", type=int, default=4,
                        help="diverse images per unit (Lucid's diversity term, weight 100; 0: none; default 4)")
    parser.add_argument("--size", type=int, default=None, help="image side (default: the model's input size)")
    parser.add_argument("--param", default="fft", choices=("fft", "pixel"), help="image parametrisation")
    parser.add_argument("--color", default=None, choices=("imagenet", "data"),
                        help="colour decorrelation matrix (default: imagenet for ImageNet models, else data)")
    parser.add_argument("--transforms", default=None, choices=("cifar", "standard", "none"),
                        help="transform set (default: cifar for images of at most 64 px, else Lucid's standard)")
    parser.add_argument("--chunk", type=int, default=None,
                        help="units per render task (default: all at once); each is saved when done, so an "
                             "interrupted run renders only the unfinished chunks")
    parser.add_argument("--exemplars", type=int, default=8,
                        help="most and least activating dataset images shown per unit")
    parser.add_argument("--limit", type=int, default=None, help="use only the first LIMIT dataset images")
    parser.add_argument("--seed", type=int, default=0, help="PRNG seed (default: 0)")
    parser.add_argument("--out", required=True, type=Path, help="output directory")
    add_store_argument(parser)
    return parser


def run(args) -> int:
    from jaxinterp import atomic, steps, tasks
    from jaxinterp.commands._paths import check_out_folder
    from jaxinterp.recipes.featvis import featvis_tasks
    from jaxinterp.report import featvis as page

    units = parse_units(args.units)
    check_out_folder(args.out)
    model = steps.model_spec(args.arch, args.params)
    data = data_spec(args, args.arch, limit=args.limit)
    # every check (data, layer, units, directions, counts) runs here, before any work or store
    graph = featvis_tasks(model, data, args.layer, units, method=args.directions, k=args.k,
                          exemplars=args.exemplars, chunk=args.chunk, diversity=args.diversity,
                          diversity_steps=args.diversity_steps, negative_steps=args.negative_steps,
                          steps=args.steps, size=args.size, param=args.param, color=args.color,
                          transforms=args.transforms, seed=args.seed, diversity_weight=args.diversity_weight)
    args.out.mkdir(parents=True, exist_ok=True)
    store = tasks.Store(args.store or args.out / "store")
    results, report = run_tasks("featvis", [graph["featvis"]], store)
    result = results[graph["featvis"].key]
    facts = {"model": args.arch, "weights": args.params.name, "layer": args.layer, "units": f"{units[0]}:{units[1]}",
             "directions": args.directions, "images": result.summary["images_in_data"],
             "steps": args.steps}
    index = page.write(args.out, result.arrays, result.summary, facts)
    atomic.write_json(args.out / "summary.json", result.summary)
    print(json.dumps({"out": str(args.out), "page": str(index), "store": str(store.root),
                      "ratio_median": result.summary["ratio_median"],
                      "computed": len(report.executed), "reused": len(report.loaded)}))
    return 0
