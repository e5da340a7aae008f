"""``python -m bench NAME [--quick]``: run one benchmark; each case prints one JSON line.

A benchmark is a module ``bench/<NAME>.py`` with ``run(quick: bool)``; it times
jaxinterp and its peer on the same inputs in the same process and reports with
:func:`bench._harness.emit`. The machine's GEMM and convolution peak (``bench/_peak.py``) is
measured first and printed as the line ``machine_peak``.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from pathlib import Path


def available() -> list[str]:
    here = Path(__file__).parent
    return sorted(m.name for m in pkgutil.iter_modules([str(here)]) if not m.name.startswith("_"))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("name", choices=available(), help="which benchmark")
    parser.add_argument("--quick", action="store_true", help="small shapes, for a smoke run")
    args = parser.parse_args(argv)
    module = importlib.import_module(f"bench.{args.name}")
    from bench._peak import peak

    peak()  # this machine's GEMM and convolution peak, measured first, in a fresh process
    module.run(quick=args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
