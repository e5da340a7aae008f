"""Options that several commands share, spelt and explained once."""

from __future__ import annotations

import argparse
from pathlib import Path

PARAMS_HELP = ("directory from `jaxinterp convert`, a PyTorch checkpoint (.th/.pt/.pth), or random:SEED "
               "(random weights, for tests and timing: every page then says so)")


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """--arch and --params."""
    parser.add_argument("--arch", required=True, help="registered architecture, e.g. cifar_resnet20")
    parser.add_argument("--params", required=True, type=Path, help=PARAMS_HELP)


def add_store_argument(parser: argparse.ArgumentParser) -> None:
    """--store: a string, not a Path (a Path would fold gs://bucket into gs:/bucket)."""
    parser.add_argument("--store", default=None,
                        help="results store: a folder or gs://bucket/path (default: OUT/store); finished steps are "
                             "reused, so an interrupted run resumes and a rerun only redraws")


def add_featvis_arguments(parser: argparse.ArgumentParser, steps: int, why: str = "") -> None:
    """--steps (default ``steps``; ``why`` says why it differs from Lucid's 512), --diversity-steps,
    --diversity-weight and --negative-steps."""
    parser.add_argument("--steps", type=int, default=steps,
                        help=f"feature-visualisation steps (default {steps}{why}; Lucid: 512)")
    parser.add_argument("--diversity-steps", type=int, default=None,
                        help="steps of each unit's diverse images (default a quarter of --steps; 0: none)")
    parser.add_argument("--diversity-weight", type=float, default=100.0,
                        help="weight of Lucid's diversity term (default 100, Lucid's; a CIFAR ResNet's activations "
                             "are small beside it, so its diverse images stop driving the unit: try 1)")
    parser.add_argument("--negative-steps", type=int, default=None,
                        help="steps of each unit's negative image, which minimises it (default a quarter of "
                             "--steps; 0: none)")


def names(values: str | list[str] | None) -> list[str] | None:
    """Comma- and space-separated names, as typed: ``"kmeans, sae"`` or ``["layer1,layer2", "layer3"]``
    -> the names in order (None for None)."""
    if values is None:
        return None
    values = [values] if isinstance(values, str) else values
    return [n.strip() for v in values for n in v.split(",") if n.strip()]


def run_tasks(command: str, targets, store, log=None):
    """``tasks.run`` for a command: a line per finished task (``log``, default printed with the
    command's name); a user error found inside a task (ValueError, FileNotFoundError: bad data,
    a wrong layer) ends the command in one line, as the cli prints the errors found before any
    work; the store's manifest says which command wrote it. Returns ``(results, report)``."""
    from jaxinterp import tasks

    log = log or (lambda s: print(f"{command}: {s}", flush=True))
    try:
        results, report = tasks.run(targets, store, log=log)
    except tasks.TaskFailed as err:
        if isinstance(err.__cause__, (ValueError, FileNotFoundError)):
            raise err.__cause__ from None
        raise
    store.write_manifest({"command": command})
    return results, report
