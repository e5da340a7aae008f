"""``jaxinterp circuits``: the seven arguments of the circuits thread for chosen units of a layer.

    jaxinterp circuits --arch cifar_resnet20 --params resnet20.th --data cifar_test.npz \\
        --layer layer1 --layer layer3 --units 0:8 --out circuits-out

For each unit (METHODS.md §6): feature visualisation (with 4 diverse and one negative image);
dataset examples (receptive-field crops of the most and least activating images, a quilt by
activation level, the pre-ReLU distribution); synthetic curves, lines, angles and gratings in
dataset SD; rotation tuning of its top examples; expanded weights in (beside the upstream
units' visualisations) and out (beside thumbnails of the downstream units, or class names);
a clean-room note.
For each layer: families of tuning curves with their joint tuning, and the equivariance
score against a permutation null. Writes OUT/index.html, OUT/<layer>.html,
OUT/units/<layer>_<unit>.html and OUT/figures/. Every step is saved in the results store
(--store, default OUT/store) as it finishes: after Ctrl-C the same command resumes, and a
rerun only redraws the pages.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from jaxinterp.commands._data import add_data_arguments, data_spec
from jaxinterp.commands._options import (
    add_featvis_arguments,
    add_model_arguments,
    add_store_argument,
    run_tasks,
)


def parse_units(text: str) -> tuple[int, ...]:
    """``"0:8"`` -> (0, ..., 7); ``"0,3,5"`` -> (0, 3, 5); ``"7"`` -> (7,)."""
    try:
        if ":" in text:
            start, stop = (int(p) for p in text.split(":"))
            units = tuple(range(start, stop))
        else:
            units = tuple(int(p) for p in text.split(",") if p.strip())
    except ValueError:
        raise ValueError(f"--units must be START:STOP (e.g. 0:8) or a list (e.g. 0,3,5), got {text!r}") from None
    if not units or min(units) < 0 or len(set(units)) != len(units):
        raise ValueError(f"--units {text} is empty, negative or repeats a unit; pass e.g. 0:8 or 0,3,5")
    return units


def add_parser(sub) -> argparse.ArgumentParser:
    parser = sub.add_parser("circuits", help="per-unit evidence pages: featvis, dataset and synthetic examples, "
                                             "tuning, weights in/out; families and equivariance per layer",
                            description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_arguments(parser)
    add_data_arguments(parser)
    parser.add_argument("--layer", required=True, action="append",
                        help="layer with spatial axes, e.g. layer3; repeat for more layers")
    parser.add_argument("--units", action="append", default=None,
                        help="units START:STOP or a list 0,3,5 (default 0:8); once for every layer or once per "
                             "--layer, in order")
    parser.add_argument("--upstream", action="append", default=None,
                        help="layer of 'weights in' (default: the previous block/stage, e.g. layer2 for layer3); "
                             "once per --layer")
    parser.add_argument("--downstream", action="append", default=None,
                        help="layer of 'weights out' (default: the next block/stage, or the classifier); "
                             "once per --layer")
    add_featvis_arguments(parser, 256, ", to keep a CPU run short")
    parser.add_argument("--thumb-steps", type=int, default=None,
                        help="steps of the downstream units' thumbnails beside 'weights out' (default a quarter "
                             "of --steps)")
    parser.add_argument("--rotation-step", type=float, default=1.0,
                        help="degrees between rotations of each unit's top examples (default 1)")
    parser.add_argument("--exemplars", type=int, default=8, help="top examples rotated per unit (default 8)")
    parser.add_argument("--top", type=int, default=8, help="receptive-field crops shown per unit (default 8)")
    parser.add_argument("--quilt", type=int, default=12, help="examples in the activation-level quilt (default 12)")
    parser.add_argument("--connections", type=int, default=6, help="top weights in and out shown (default 6)")
    parser.add_argument("--families", type=int, default=4, help="tuning-curve families per layer (default 4)")
    parser.add_argument("--permutations", type=int, default=200,
                        help="shuffles of the equivariance null (default 200)")
    parser.add_argument("--limit", type=int, default=None, help="use only the first LIMIT images (default: all)")
    parser.add_argument("--seed", type=int, default=0, help="PRNG seed (default 0)")
    parser.add_argument("--out", required=True, type=Path, help="output directory")
    add_store_argument(parser)
    return parser


def _per_layer(values, layers, flag, default=None):
    if values is None:
        return [default] * len(layers)
    if len(values) == 1:
        return values * len(layers)
    if len(values) != len(layers):
        raise ValueError(f"{flag} is given {len(values)} times for {len(layers)} --layer; give it once (for "
                         "every layer) or once per --layer, in order")
    return list(values)


def run(args) -> int:
    from jaxinterp import atomic, steps, tasks
    from jaxinterp.commands._paths import check_out_folder
    from jaxinterp.recipes.circuits import circuits_tasks
    from jaxinterp.report import circuits as report

    t0 = time.perf_counter()
    check_out_folder(args.out)
    if args.limit is not None and args.limit < 1:
        raise ValueError(f"--limit must be a positive number of images, got {args.limit}")
    for flag in ("steps", "exemplars", "top", "quilt", "connections", "families", "permutations"):
        if getattr(args, flag) < 1:
            raise ValueError(f"--{flag} must be a positive number, got {getattr(args, flag)}")
    units = [parse_units(u) for u in _per_layer(args.units, args.layer, "--units", "0:8")]
    ups = _per_layer(args.upstream, args.layer, "--upstream")
    downs = _per_layer(args.downstream, args.layer, "--downstream")
    model = steps.model_spec(args.arch, args.params)
    data = data_spec(args, args.arch, limit=args.limit)
    fv = {"diversity_steps": args.diversity_steps, "negative_steps": args.negative_steps,
          "diversity_weight": args.diversity_weight}  # colour and transforms: by model
    graphs = [circuits_tasks(model, data, layer, u, upstream=up, downstream=down, steps=args.steps,
                             rotation_step=args.rotation_step, exemplars=args.exemplars, top=args.top,
                             quilt=args.quilt, connections=args.connections, families=args.families,
                             permutations=args.permutations, seed=args.seed, thumb_steps=args.thumb_steps,
                             featvis_options=fv)
              for layer, u, up, down in zip(args.layer, units, ups, downs)]
    args.out.mkdir(parents=True, exist_ok=True)
    store = tasks.Store(args.store or args.out / "store")
    targets = [g["circuits"] for g in graphs]
    results, run_report = run_tasks("circuits", targets, store)
    layers = [(results[t.key].arrays, results[t.key].summary) for t in targets]
    facts = {"model": args.arch, "weights": args.params.name, "data": args.data.name,
             "images": layers[0][1]["images"], "feature-vis steps": args.steps}
    index = report.write(args.out, layers, facts)
    summary = {s["layer"]: {"equivariance": s["equivariance"], "sharpest": s["sharpest"][:3]} for _, s in layers}
    atomic.write_json(args.out / "summary.json", summary)
    print(json.dumps({"out": str(args.out), "index": str(index), "store": str(store.root),
                      "computed": len(run_report.executed), "reused": len(run_report.loaded),
                      "seconds": round(time.perf_counter() - t0, 1),
                      "equivariance_r2": {k: round(v["equivariance"]["r2"], 4) for k, v in summary.items()}}))
    return 0
