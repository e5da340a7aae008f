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
    directory = Path(directory).absolute()
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / STATE
    variables = jax.tree_util.tree_map(np.asarray, variables)
    with ocp.StandardCheckpointer() as ckptr:
        ckptr.save(target, variables, force=True)
    (directory / META).write_text(json.dumps(meta or {}, indent=2))
    return directory


def load_variables(directory: str | os.PathLike) -> tuple[Any, dict]:
    """Read ``(variables, meta)`` written by :func:`save_variables`."""
    directory = Path(directory).absolute()
    target = directory / STATE
    if not target.exists():
        raise FileNotFoundError(
            f"no jaxinterp checkpoint in {directory} (expected {target}); "
            "create one with `jaxinterp convert` or `jaxinterp demo`"
        )
    with ocp.StandardCheckpointer() as ckptr:
        variables = ckptr.restore(target)
    meta_path = directory / META
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    return variables, meta
