"""Resumable step loops for long fits (SAE, mini-batch K-means), with orbax checkpoints.

A fit is ``state = step_fn(step, state)`` for ``step = 0 .. max_steps - 1`` where
everything random (minibatch order, noise) is a function of ``step`` and the
fit's key. Checkpoints ``directory/step_<n>/`` hold the flattened state; a new
call with the same directory restores the newest one and continues, so an
interrupted and resumed fit equals an uninterrupted one.

Each checkpoint also stores the fit's ``config`` (k, data width, penalty, batch
size, seed, ...). Resuming with a different config would silently return the
old fit (8 centroids for k=12), so :func:`run_steps` refuses it by name.
"""

from __future__ import annotations

import json
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
    for i, t in enumerate(leaves):
        got, want = np.shape(tree[f"{i:05d}"]), np.shape(t)
        if got != want:
            raise ValueError(
                f"checkpoint {directory}/step_{step:09d} holds an array of shape {got} where this "
                f"fit has {want}; it was written by a fit with other settings: use a fresh "
                "checkpoint_dir"
            )
    restored = [jnp.asarray(tree[f"{i:05d}"], dtype=jnp.asarray(t).dtype) for i, t in enumerate(leaves)]
    return jax.tree_util.tree_unflatten(treedef, restored)


def stored_config(directory, step: int) -> dict | None:
    """The ``config`` saved with ``directory/step_<step>`` (None for checkpoints without one)."""
    meta = json.loads((Path(directory) / f"step_{step:09d}" / META).read_text())
    return meta.get("config")


def init_description(init) -> str:
    """A checkpoint-config entry for an init: its name, or a digest of a given array."""
    if isinstance(init, str):
        return init
    import hashlib

    a = np.ascontiguousarray(np.asarray(init, np.float32))
    return f"array{list(a.shape)}:{hashlib.sha256(a.tobytes()).hexdigest()[:16]}"


def _jsonable(config: dict) -> dict:
    return json.loads(json.dumps(config))


def check_config(directory, step: int, config: dict) -> None:
    """Refuse to resume ``directory`` when its stored config differs from ``config``."""
    stored = stored_config(directory, step)
    if stored is None:
        return
    config = _jsonable(config)
    differ = sorted(k for k in set(stored) | set(config) if stored.get(k) != config.get(k))
    if differ:
        fields = "; ".join(f"{k}: checkpoint {stored.get(k)!r}, this call {config.get(k)!r}"
                           for k in differ)
        raise ValueError(
            f"checkpoint_dir {directory} holds a {stored.get('fit', 'different')} fit with other "
            f"settings ({fields}); resuming it would return the old fit. Pass a fresh "
            "checkpoint_dir (or delete this one) to fit with these settings, or repeat the "
            "checkpoint's settings to resume it."
        )


def run_chunks(
    advance: Callable[[int, int, Any], Any],
    state: Any,
    max_steps: int,
    *,
    chunk: int = 1,
    checkpoint_dir: str | os.PathLike | None = None,
    checkpoint_every: int = 1000,
    until_step: int | None = None,
    config: dict | None = None,
) -> tuple[Any, int]:
    """Run ``state = advance(start, stop, state)`` over steps ``[start, stop)`` of at most
    ``chunk`` steps each, from the newest checkpoint (or 0) to ``max_steps``.

    Chunks end at every checkpoint step, so a chunked fit checkpoints (and resumes)
    at the same steps as a step-by-step one. ``config`` (JSON-able: everything that
    shapes the fit except ``max_steps``) is saved with every checkpoint; a checkpoint
    with another config is refused (ValueError naming the differing fields).
    ``until_step`` stops early at that step (a time budget, or a simulated
    interruption in tests) after writing a checkpoint; call again to go on.

    Returns:
      (state, the step reached).
    """
    start = 0
    meta = {"config": _jsonable(config or {})}
    if checkpoint_dir is not None:
        last = latest_step(checkpoint_dir)
        if last is not None:
            check_config(checkpoint_dir, last, meta["config"])
            state, start = restore_step(checkpoint_dir, last, state), last
    stop = max_steps if until_step is None else min(max_steps, until_step)
    step = start
    while step < stop:
        nxt = min(stop, step + chunk)
        if checkpoint_dir is not None:
            nxt = min(nxt, (step // checkpoint_every + 1) * checkpoint_every)
        state = advance(step, nxt, state)
        step = nxt
        if checkpoint_dir is not None and (step % checkpoint_every == 0 or step == stop):
            save_step(checkpoint_dir, step, state, meta)
    return state, step


def run_steps(step_fn: Callable[[int, Any], Any], state: Any, max_steps: int, **kw) -> tuple[Any, int]:
    """:func:`run_chunks` one step at a time: ``state = step_fn(step, state)``."""

    def advance(start, stop, state):
        for step in range(start, stop):
            state = step_fn(step, state)
        return state

    return run_chunks(advance, state, max_steps, chunk=1, **kw)
