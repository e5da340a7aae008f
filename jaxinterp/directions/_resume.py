"""Resumable step loops for long fits (SAE, mini-batch K-means), with orbax checkpoints.

A fit is ``state = step_fn(step, state)`` for ``step = 0 .. max_steps - 1`` where
everything random (minibatch order, noise) is a function of ``step`` and the
fit's key. Checkpoints ``directory/step_<n>/`` hold the flattened state; a new
call with the same directory restores the newest one and continues, so an
interrupted and resumed fit equals an uninterrupted one.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from jaxinterp.checkpoint import META, load_variables, save_variables

_STEP = re.compile(r"^step_(\d+)$")


def latest_step(directory: str | os.PathLike) -> int | None:
    """Newest complete checkpoint step in ``directory`` (``meta.json`` is written last), or None."""
    directory = Path(directory)
    if not directory.is_dir():
        return None
    steps = [int(m.group(1)) for p in directory.iterdir()
             if (m := _STEP.match(p.name)) and (p / META).exists()]
    return max(steps) if steps else None


def save_step(directory, step: int, state: Any, meta: dict | None = None, keep: int = 2) -> None:
    """Write ``state`` as ``directory/step_<step>``; keep only the newest ``keep`` checkpoints."""
    leaves = jax.tree_util.tree_leaves(state)
    tree = {f"{i:05d}": np.asarray(leaf) for i, leaf in enumerate(leaves)}
    save_variables(Path(directory) / f"step_{step:09d}", tree, {"step": step, **(meta or {})})
    old = sorted(int(m.group(1)) for p in Path(directory).iterdir() if (m := _STEP.match(p.name)))
    for s in old[:-keep]:
        shutil.rmtree(Path(directory) / f"step_{s:09d}", ignore_errors=True)


def restore_step(directory, step: int, template: Any) -> Any:
    """Read ``directory/step_<step>`` back into the structure and dtypes of ``template``."""
    tree, _ = load_variables(Path(directory) / f"step_{step:09d}")
    leaves, treedef = jax.tree_util.tree_flatten(template)
    if len(tree) != len(leaves):
        raise ValueError(
            f"checkpoint {directory}/step_{step:09d} has {len(tree)} arrays, this fit expects "
            f"{len(leaves)}; it was written by a different fit: use a fresh checkpoint_dir"
        )
    restored = [jnp.asarray(tree[f"{i:05d}"], dtype=jnp.asarray(t).dtype) for i, t in enumerate(leaves)]
    return jax.tree_util.tree_unflatten(treedef, restored)


def run_steps(
    step_fn: Callable[[int, Any], Any],
    state: Any,
    max_steps: int,
    *,
    checkpoint_dir: str | os.PathLike | None = None,
    checkpoint_every: int = 1000,
    until_step: int | None = None,
    meta: dict | None = None,
) -> tuple[Any, int]:
    """Run ``state = step_fn(step, state)`` from the newest checkpoint (or 0) to ``max_steps``.

    ``until_step`` stops early at that step (a time budget, or a simulated
    interruption in tests) after writing a checkpoint; call again to go on.

    Returns:
      (state, the step reached).
    """
    start = 0
    if checkpoint_dir is not None:
        last = latest_step(checkpoint_dir)
        if last is not None:
            state, start = restore_step(checkpoint_dir, last, state), last
    stop = max_steps if until_step is None else min(max_steps, until_step)
    step = start
    while step < stop:
        state = step_fn(step, state)
        step += 1
        if checkpoint_dir is not None and (step % checkpoint_every == 0 or step == stop):
            save_step(checkpoint_dir, step, state, meta)
    return state, step
