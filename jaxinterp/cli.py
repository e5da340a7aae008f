"""The ``jaxinterp`` command.

Each subcommand lives in ``jaxinterp/commands/<name>.py`` and defines
``add_parser(subparsers)`` (returning its parser) and ``run(args) -> int``.
Adding a command means adding a file and one entry to ``COMMANDS``.
"""

from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS = ("demo", "convert", "evaluate", "layers", "paper", "roles", "sweep", "compare", "featvis",
            "circuits")

# Errors a user causes (bad input, paths): one line, no traceback.
USER_ERRORS = (ValueError, FileNotFoundError, FileExistsError, NotADirectoryError,
               IsADirectoryError)

# What rerunning after Ctrl-C does, per command.
_STORE = "rerun the same command to resume: every finished step is saved in the results store"
ON_INTERRUPT = {
    "demo": "rerun the same command to resume: training continues from its last saved epoch",
    "paper": _STORE,
    "roles": _STORE,
    "sweep": _STORE + " (see --status)",
    "circuits": _STORE,
    "compare": _STORE,
    "featvis": _STORE,
}
RESTART = "rerun the same command to start again (it does not resume partial work)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jaxinterp",
        description="Interpretability of convolutional vision networks in JAX/Flax.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        module = importlib.import_module(f"jaxinterp.commands.{name}")
        sub_parser = module.add_parser(sub)
        sub_parser.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "_run", None) is None:
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except USER_ERRORS as err:  # message, no traceback
        print(f"jaxinterp {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"jaxinterp {args.command}: interrupted; {ON_INTERRUPT.get(args.command, RESTART)}",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
