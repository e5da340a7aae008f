"""jaxinterp atlas: every unit and learned direction of a model's layers, with its evidence, as a static site.

Per layer: a grid of every unit's feature visualisation that sorts and filters in the browser (II,
psychophysics, role, orientation selectivity, maximum activation), with a toggle between the
neurons and each direction set (--directions kmeans,sae); per unit or direction a page with its
visualisation, 4 diverse ones and a negative one, its most and least activating dataset images as
receptive-field crops and a quilt, its II and psychophysics with its percentile in the layer, its
role measures, tuning, weights in and out, synergy partners and its best match in a compared
model (--compare ARCH PARAMS). The site opens from disk (OUT/index.html): no server.

Every step is a task saved in the results store (--store, default OUT/store) as it finishes: after
an interruption the same command resumes with the unfinished steps, and the site is drawn from
the store only (--report-only redraws it without computing anything).

Several processes (a job array: Slurm's --array, Cloud Batch, or any launcher that starts N
copies) share the work when given --num-processes N --process-id I (or Slurm's
SLURM_ARRAY_TASK_ID and _COUNT, Cloud Batch's BATCH_TASK_INDEX and _COUNT, or
JAXINTERP_PROCESS_ID and JAXINTERP_NUM_PROCESSES) and one --store all of them see (a shared folder or gs://bucket/path): each
computes its cost-balanced share of the expensive steps (renders, role measures, saliency,
scores, circuits, matches), no process waits for another, and the one that finds every step
done draws the site. A rerun with any N computes only what is missing.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from jaxinterp.commands._data import DATA_HELP, add_data_arguments, data_spec
from jaxinterp.commands._options import (
    add_featvis_arguments,
    add_model_arguments,
    add_store_argument,
    names,
    run_tasks,
)


def add_parser(sub) -> argparse.ArgumentParser:
    parser = sub.add_parser("atlas", help="a browsable static site of every unit and direction of a model",
                            description=__doc__)
    add_model_arguments(parser)
    add_data_arguments(parser, DATA_HELP)
    parser.add_argument("--limit", type=int, default=None, help="use only the first LIMIT images (default: all)")
    parser.add_argument("--layers", nargs="+", default=None,
                        help="layers with spatial axes, e.g. layer1 layer2 layer3 (default: the model's top-level "
                             "layers that end in a ReLU)")
    parser.add_argument("--directions", default="",
                        help="direction sets beside the neurons, comma-separated, e.g. kmeans,sae (default: none)")
    parser.add_argument("--direction-layers", nargs="+", default=None,
                        help="the layers that get the direction sets (default: every layer of --layers)")
    parser.add_argument("--k", type=int, default=None, help="directions per set (default: the layer's width)")
    parser.add_argument("--units", type=int, default=None,
                        help="show only the first UNITS units and directions of each set (default: all)")
    parser.add_argument("--compare", nargs=2, metavar=("ARCH", "PARAMS"), default=None,
                        help="a second model on the same data: linear CKA per layer and each unit's best match")
    parser.add_argument("--similarity", nargs="+", default=None, choices=("colour", "label"),
                        help="similarities of II and psychophysics (default: colour, and label when the data "
                             "has labels)")
    add_featvis_arguments(parser, 512)
    parser.add_argument("--diversity", type=int, default=4, help="diverse images per unit (0: none; default 4)")
    parser.add_argument("--exemplars", type=int, default=8, help="most and least activating images per unit")
    parser.add_argument("--chunk", type=int, default=None,
                        help="units per render task (default: a layer's units at once); each is saved when done")
    parser.add_argument("--role-levels", default=None,
                        help="input levels of the role measures, comma-separated (default: window for a ResNet "
                             "stage, else pixels)")
    parser.add_argument("--role-samples", type=int, default=0,
                        help="position samples of the role measures (default 0: auto, at least 8000)")
    parser.add_argument("--role-mlp-steps", type=int, default=1500, help="steps of the MLP ceiling (default 1500)")
    parser.add_argument("--rotation-step", type=float, default=10.0,
                        help="degrees between rotations of each unit's exemplars (default 10)")
    parser.add_argument("--no-roles", action="store_true", help="skip the role measures")
    parser.add_argument("--no-circuits", action="store_true",
                        help="skip tuning, quilt and weights in and out")
    parser.add_argument("--no-synergy", action="store_true", help="skip the synergy partners")
    parser.add_argument("--seed", type=int, default=0, help="PRNG seed (default: 0)")
    parser.add_argument("--out", required=True, type=Path, help="output folder (the site: OUT/index.html)")
    add_store_argument(parser)
    parser.add_argument("--report-only", action="store_true",
                        help="redraw the site from the store; compute nothing (fails if a layer is unfinished)")
    parser.add_argument("--num-processes", type=int, default=None,
                        help="processes of a job array sharing the work (default: the launcher's environment, "
                             "else 1); each computes its share into one --store, the last draws the site")
    parser.add_argument("--process-id", type=int, default=None, help="this process's index, 0 .. N-1")
    return parser


def check_out(out: Path, model) -> dict:
    """``--out`` must be new, empty, or hold an atlas of this very model (arch and weights); returns
    the record to keep in OUT/atlas.json."""
    from jaxinterp.commands._paths import check_out_folder

    check_out_folder(out)
    record = {"arch": model.arch, "params": model.params, "fingerprint": model.fingerprint}
    marker = out / "atlas.json"
    if marker.is_file():
        held = json.loads(marker.read_text())
        if {k: held.get(k) for k in record} != record:
            raise FileExistsError(f"--out {out} holds the atlas of another model ({held.get('arch')}, weights "
                                  f"{held.get('fingerprint')}; this is {model.arch}, weights {model.fingerprint}); "
                                  "pass another --out, or delete that folder")
    elif (out / "index.html").exists():
        raise FileExistsError(f"--out {out} holds an index.html that is not an atlas's; pass a new or empty folder")
    return record


def run(args) -> int:
    from jaxinterp import atomic, cli, door, steps, tasks
    from jaxinterp.parallel import distributed
    from jaxinterp.recipes.atlas import atlas_tasks, block_layers
    from jaxinterp.report import atlas as site

    process, count, source = distributed.job_array(args.num_processes, args.process_id)  # (before any work)
    t0 = time.perf_counter()
    model = steps.model_spec(args.arch, args.params)
    record = check_out(args.out, model)
    cmp = steps.model_spec(*args.compare) if args.compare else None
    data = data_spec(args, args.arch, *([cmp.arch] if cmp else []), limit=args.limit)
    net, variables = steps.load_model(model)
    shape = steps.open_source(data).image_shape
    layers = names(args.layers) or block_layers(net, variables, shape)
    role_levels = names(args.role_levels)
    # every check (data, layers, directions, k, units, the compared model) runs here, before any work
    graph = atlas_tasks(model, data, layers, directions=names(args.directions),
                        direction_layers=names(args.direction_layers) or None, k=args.k, units=args.units,
                        compare=cmp, similarities=args.similarity, steps=args.steps, diversity=args.diversity,
                        diversity_steps=args.diversity_steps, diversity_weight=args.diversity_weight,
                        negative_steps=args.negative_steps,
                        exemplars=args.exemplars, chunk=args.chunk, seed=args.seed, role_levels=role_levels,
                        role_options={"samples": args.role_samples, "mlp_steps": args.role_mlp_steps},
                        rotation_step=args.rotation_step, roles=not args.no_roles,
                        circuits=not args.no_circuits, synergy=not args.no_synergy)
    targets = [graph[f"layer:{name}"] for name in layers]
    store_path = args.store or args.out / "store"
    shared = {}  # several processes: what the JSON line says of the cells
    if args.report_only:
        store = tasks.Store(store_path)
        missing = [t.config.layer for t in targets if not store.has(t)]
        if missing:
            raise FileNotFoundError(f"the store {store_path} has no finished atlas of layer(s) {missing} with these "
                                    "options; run without --report-only to compute them")
        results = {t.key: store.load(t) for t in targets}
        computed = 0
    else:
        args.out.mkdir(parents=True, exist_ok=True)
        atomic.write_json(args.out / "atlas.json", record)
        if count == 1:
            store = tasks.Store(store_path)
        else:
            store = tasks.Store(store_path, worker={"process": process, "processes": count, "engine": "processes"})
            g = door.graph(net, variables, shape)
            with cli.stop_on_sigterm():  # (a launcher's SIGTERM: the cell's running record is removed, as a sweep's)
                shared = _share(store, targets, {name: g[name].channels for name in layers}, process, count, source)
            if shared["failed"] or shared["pending"] or shared["running"]:
                print(json.dumps({"out": str(args.out), "index": None, "store": str(store.root), **shared,
                                  "compute_seconds": round(time.perf_counter() - t0, 1)}))
                return 1 if shared["failed"] else 0
        results, report = run_tasks("atlas", targets, store)
        computed = len(report.executed)
    t1 = time.perf_counter()
    facts = {"model": args.arch, "weights": Path(args.params).name, "data": data.name,
             "images": steps.open_source(data).num_images, "layers": ", ".join(layers),
             "directions": args.directions or "none", "compared with": f"{args.compare[0]} ({Path(args.compare[1]).name})" if args.compare else None,
             "visualisation steps": args.steps, "seed": args.seed}
    index = site.write_site(args.out, [results[t.key] for t in targets], {k: v for k, v in facts.items() if v})
    print(json.dumps({"out": str(args.out), "index": str(index), "store": str(store.root), "computed": computed,
                      **shared, "compute_seconds": round(t1 - t0, 1),
                      "draw_seconds": round(time.perf_counter() - t1, 1)}))
    return 0


def _share(store, targets, widths: dict, index: int, count: int, source: str) -> dict:
    """Process ``index`` of ``count`` computes its share of the atlas's cells
    (:mod:`jaxinterp.recipes.atlas_cells`), then says what is left: ``{"process", "processes",
    "cells", "computed_cells", "done", "running", "failed", "pending"}`` (counts of all cells).
    With every cell done the caller computes the targets and draws; else a line says who will,
    or, with a failed cell, names it and its error."""
    from jaxinterp.recipes import atlas_cells

    def log(line: str) -> None:
        print(f"atlas: {line}", flush=True)

    cells = atlas_cells.cells(targets, widths)
    outcomes = atlas_cells.run_share(store, cells, index, count, source, log)
    state = atlas_cells.states(store, cells)
    counts = {name: len(state[name]) for name in ("done", "running", "failed", "pending")}
    said = f"{counts['done']} of the {len(cells)} cells are done, {counts['running']} running, " \
           f"{counts['pending']} pending"
    if state["failed"]:
        cell, error = state["failed"][0]
        more = f" (and {counts['failed'] - 1} more)" if counts["failed"] > 1 else ""
        print(f"jaxinterp atlas: cell {cell.label} failed: {error}{more}; the site is not drawn ({said}): rerun "
              "the command to resume (it computes only what is missing, the failed cells again)",
              file=sys.stderr, flush=True)
    elif counts["running"] or counts["pending"]:
        log(f"this process's share is finished; {said} (other processes' shares): the process that finishes "
            "last draws the site; if none does, rerun any process (it computes only what is missing, then "
            "draws), and --report-only redraws a drawn site")
    return {"process": index, "processes": count, "cells": len(cells),
            "computed_cells": sum(o["state"] == "done" for o in outcomes), **counts}
