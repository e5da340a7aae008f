"""Model variables and training state on disk, with orbax-checkpoint.

``save_variables(dir, variables, meta)`` writes an orbax checkpoint plus a small
``meta.json`` (architecture name and anything else a reader needs);
``load_variables(dir)`` reads it back as numpy-backed pytrees.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp

META = "meta.json"
STATE = "state"


def save_variables(directory: str | os.PathLike, variables: Any, meta: dict | None = None) -> Path:
    """Write ``variables`` (a pytree of arrays) to ``directory`` as an orbax checkpoint."""
    directory = Path(directory).expanduser().absolute()
    if directory.exists() and not directory.is_dir():
        raise FileExistsError(
            f"cannot write a checkpoint folder at {directory}: a file of that name exists; "
            "pass a new folder name (or remove the file)"
        )
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / STATE
    variables = jax.tree_util.tree_map(np.asarray, variables)
    with ocp.StandardCheckpointer() as ckptr:
        ckptr.save(target, variables, force=True)
    (directory / META).write_text(json.dumps(meta or {}, indent=2))
    return directory


def _demo_cache_hint(directory: Path) -> str:
    if directory.name.startswith("small_cnn-digits-"):
        return (f"; this is the demo model's cache folder: run `jaxinterp demo` once and it trains "
                f"and saves the model there (set JAXINTERP_CACHE to {directory.parent} if the "
                "cache lives elsewhere)")
    return ""


def load_variables(directory: str | os.PathLike) -> tuple[Any, dict]:
    """Read ``(variables, meta)`` written by :func:`save_variables` (``~`` is expanded)."""
    directory = Path(directory).expanduser().absolute()
    target = directory / STATE
    write_one = ("write one with `jaxinterp convert CHECKPOINT.pth --arch NAME --out DIR` (a "
                 "PyTorch file) or save_variables(DIR, variables, meta), and pass that DIR")
    if not directory.exists():
        raise FileNotFoundError(
            f"no jaxinterp checkpoint at {directory}: the folder does not exist"
            + (_demo_cache_hint(directory) or f"; {write_one}")
        )
    if not directory.is_dir():
        raise FileNotFoundError(
            f"{directory} is a file, but a jaxinterp checkpoint is a folder holding {STATE}/ and "
            f"{META}; pass the folder (the --out of `jaxinterp convert`), not a file in it"
            + (" (a PyTorch file is converted with `jaxinterp convert`)"
               if directory.suffix in (".pt", ".pth", ".th") else "")
        )
    if not target.exists():
        inner = sorted(p.parent.name for p in directory.glob(f"*/{STATE}"))
        raise FileNotFoundError(
            f"no jaxinterp checkpoint in {directory} (expected {target}); "
            + (f"it holds the checkpoint folder(s) {inner[:5]}: pass one of them"
               if inner else _demo_cache_hint(directory).lstrip("; ") or write_one)
        )
    with ocp.StandardCheckpointer() as ckptr:
        variables = ckptr.restore(target)
    meta_path = directory / META
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    return variables, meta
