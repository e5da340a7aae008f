"""``jaxinterp sweep CONFIG.py --out DIR``: a grid of models × layers × directions × K × seeds.

CONFIG.py defines get_config(smoke=False) returning the grid (see
jaxinterp/configs/cifar_resnets.py). The config is run as Python code with your
permissions: only run configs you trust. Every result is saved in DIR/store as it
finishes: rerun the same command after a crash, Ctrl-C or SIGTERM and only the
unfinished cells are computed. DIR/cells.json and DIR/index.html summarise every
cell and say what ran on each host; --status says what is done, failed, running
where, and pending.

Several processes (DIR on a filesystem all of them see):
  * jax.distributed: on a TPU pod or under SLURM start the same command on every host
    and they find each other; elsewhere add --coordinator HOST:PORT --num-processes N
    --process-id I to each. The captures run once over the devices of all processes;
    then each process computes its share of the cells on its own.
  * a job array: --num-processes N --process-id I without --coordinator (or Slurm's
    SLURM_ARRAY_TASK_ID/COUNT, Cloud Batch's BATCH_TASK_INDEX/COUNT, or
    JAXINTERP_PROCESS_ID/NUM_PROCESSES): process I computes its share of the cells, no
    process waits for another, and the launcher's retries resume the work. Captures are
    computed by the first cell that needs each; for big ones run --phase capture first.
  * Ray: --engine ray [--ray-address ADDR], started once: every cell is a Ray task,
    and a lost worker's cell is retried on another.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def _out(text: str):
    from jaxinterp.recipes.sweep import out_path  # (the parser is built at every start: imported when used)

    return out_path(text)


def add_parser(sub) -> argparse.ArgumentParser:
    from jaxinterp.recipes.sweep import ENGINES, PHASES, RETRIES
    from jaxinterp.recipes.sweep_cells import STALE_AFTER

    parser = sub.add_parser("sweep", help="a resumable grid of direction sets and scores over models and layers",
                            description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config", type=Path, help="Python file defining get_config(smoke=False); it is run as code: "
                                                       "only pass configs you trust")
    parser.add_argument("--out", required=True, type=_out, help="output directory (holds the store): a folder or "
                        "gs://bucket/path")
    parser.add_argument("--smoke", action="store_true", help="get_config(smoke=True): a tiny grid to try the set-up")
    parser.add_argument("--status", action="store_true",
                        help="per host: done, failed, running (where, since when), stale, and pending cells; "
                             "computes nothing")
    parser.add_argument("--stale-after", type=float, default=STALE_AFTER, metavar="SECONDS",
                        help=f"--status: a running cell without a heartbeat for this long is stale, its process "
                             f"gone (default {STALE_AFTER:g})")
    parser.add_argument("--no-report", action="store_true", help="skip index.html and the figures")
    parser.add_argument("--report-only", action="store_true",
                        help="redraw index.html and the figures from DIR/cells.json (computes nothing)")
    parser.add_argument("--retries", type=int, default=RETRIES,
                        help=f"try a failed cell (or one whose Ray worker was lost) this many more times before "
                             f"recording it failed (default {RETRIES})")
    parser.add_argument("--phase", choices=PHASES, default="all",
                        help="capture: only the captures (all processes together with jax.distributed, else "
                             "this process's share of them); cells: only the cells (default: all)")
    parser.add_argument("--engine", choices=ENGINES, default="processes",
                        help="processes: this process computes its share of the cells; ray: every cell is a "
                             "Ray task (start it once; needs pip install 'jaxinterp[ray]')")
    parser.add_argument("--ray-address", default=None,
                        help="the Ray cluster for --engine ray (default: RAY_ADDRESS, else a local one)")
    parser.add_argument("--coordinator", default=None, help="HOST:PORT of process 0 (a jax.distributed run)")
    parser.add_argument("--num-processes", type=int, default=None,
                        help="number of processes: of a jax.distributed run with --coordinator, else of a job array")
    parser.add_argument("--process-id", type=int, default=None, help="this process's index, 0 .. N-1")
    return parser


def _print_status(state: dict) -> None:
    for name in ("done", "failed", "running", "stale", "pending"):
        print(f"{name}: {len(state[name])}")

    def label(row):
        return f"{row['model']} {row['layer']} {row['method']} k={row['k']} seed={row['seed']}"

    for place, counts in sorted(state["hosts"].items()):
        print(f"host {place}: " + ", ".join(f"{n} {s}" for s, n in counts.items()))
        for row in state["running"] + state["stale"]:
            if row["place"] == place:
                since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(row["since"])) if row.get("since") else "?"
                what = ("running" if row in state["running"] else
                        f"stale (no heartbeat for {row['age']:.0f} s: its process is gone; a rerun computes it)")
                print(f"  {what} {label(row)}: pid {row['where'].get('pid')}, since {since}")
        for row in state["failed"]:
            if row["place"] == place:
                print(f"  failed {label(row)}: {row['error']}")
    for row in state["failed"]:
        if row["place"] is None:
            print(f"  failed {label(row)}: {row['error']}")
    for row in state["pending"]:
        owner = f" (process {row['share']}'s share)" if "share" in row else ""
        print(f"  pending {label(row)}{owner}")


def run(args) -> int:
    from jaxinterp import cli, tasks
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
        _print_status(sweep.status(config, tasks.Store(args.out / "store"), args.stale_after))
        return 0
    distributed.initialize(args.coordinator, args.num_processes, args.process_id)
    with cli.stop_on_sigterm():  # (after jax.distributed, whose preemption notifier would swallow SIGTERM)
        summary = sweep.run(config, args.out, log=lambda s: print(s, flush=True), report=not args.no_report,
                            engine=args.engine, num_processes=None if args.coordinator else args.num_processes,
                            process_id=None if args.coordinator else args.process_id, phase=args.phase,
                            retries=args.retries, ray_address=args.ray_address)
    print(json.dumps({"out": str(args.out), **{k: summary.get(k) for k in
                                               ("cells", "done", "failed", "pending", "seconds", "process",
                                                "processes")}}))
    return 0
