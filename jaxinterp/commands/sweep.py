"""``jaxinterp sweep CONFIG.py --out DIR``: a grid of models × layers × directions × K × seeds.

CONFIG.py defines get_config(smoke=False) returning the grid (see
jaxinterp/configs/cifar_resnets.py). The config is run as Python code with your
permissions: only run configs you trust. Every result is saved in DIR/store as it
finishes: rerun the same command after a crash or Ctrl-C and only the unfinished
cells are computed. DIR/cells.json and DIR/index.html summarise every cell.

Several processes: on a TPU pod or under SLURM start the same command on every
host and they find each other; elsewhere add --coordinator HOST:PORT
--num-processes N --process-id I to each (DIR must be on a filesystem all of them
see). Captures run over the devices of all processes; cells are dealt out.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_parser(sub) -> argparse.ArgumentParser:
    parser = sub.add_parser("sweep", help="a resumable grid of direction sets and scores over models and layers",
                            description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config", type=Path, help="Python file defining get_config(smoke=False); it is run as code: "
                                                       "only pass configs you trust")
    parser.add_argument("--out", required=True, type=Path, help="output directory (holds the store)")
    parser.add_argument("--smoke", action="store_true", help="get_config(smoke=True): a tiny grid to try the set-up")
    parser.add_argument("--status", action="store_true",
                        help="list done / failed / pending cells and exit (computes nothing)")
    parser.add_argument("--no-report", action="store_true", help="skip index.html and the figures")
    parser.add_argument("--report-only", action="store_true",
                        help="redraw index.html and the figures from DIR/cells.json (computes nothing)")
    parser.add_argument("--coordinator", default=None, help="HOST:PORT of process 0 (multi-process runs)")
    parser.add_argument("--num-processes", type=int, default=None, help="number of processes (default: 1)")
    parser.add_argument("--process-id", type=int, default=None, help="this process's index, 0 .. N-1")
    return parser


def run(args) -> int:
    from jaxinterp import tasks
    from jaxinterp.parallel import distributed
    from jaxinterp.recipes import sweep

    if args.out.exists() and not args.out.is_dir():
        raise ValueError(f"--out {args.out} is a file; pass a directory (it is created if absent)")
    if args.report_only:
        from jaxinterp.report import sweep as sweep_report

        if not (args.out / "cells.json").is_file():
            raise FileNotFoundError(f"no {args.out / 'cells.json'}: run the sweep first")
        print(json.dumps({"report": str(sweep_report.write(args.out))}))
        return 0
    config = sweep.load_config(args.config, smoke=args.smoke)
    if args.status:
        state = sweep.status(config, tasks.Store(args.out / "store"))
        for name in ("done", "failed", "pending"):
            print(f"{name}: {len(state[name])}")
        for row in state["failed"]:
            print(f"  failed {row['model']} {row['layer']} {row['method']} k={row['k']} seed={row['seed']}: "
                  f"{row['error']}")
        for row in state["pending"]:
            print(f"  pending {row['model']} {row['layer']} {row['method']} k={row['k']} seed={row['seed']}")
        return 0
    distributed.initialize(args.coordinator, args.num_processes, args.process_id)
    summary = sweep.run(config, args.out, log=lambda s: print(s, flush=True), report=not args.no_report)
    import jax

    if jax.process_index() == 0:
        print(json.dumps({"out": str(args.out), **{k: summary.get(k) for k in
                                                   ("cells", "done", "failed", "pending", "seconds")}}))
    return 0
