"""Checks shared by every public entry point of :mod:`jaxinterp.scores`.

A NaN or inf in the activations does not make the scores NaN: ``top_k`` and the
quantiles order it somewhere and the index comes out plausible but wrong (one NaN
row moved a layer's mean II from -0.085 to -0.098). So every entry point refuses
non-finite input, and says where it is.

The check runs eagerly on concrete arrays and is skipped under ``jit``/``vmap``
tracing (a traced value cannot be inspected; the public functions check before
they trace their jitted kernels).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

_SHOWN = 8


def _listed(indices: np.ndarray) -> str:
    shown = ", ".join(str(int(i)) for i in indices[:_SHOWN])
    return shown + (f", ... ({indices.size} in all)" if indices.size > _SHOWN else "")


def check_finite(x, name: str = "activations", rows: str = "image",
                 cols: str = "direction") -> None:
    """Raise a ValueError naming the rows and columns of ``x`` that hold NaN or inf.

    Args:
      x: an array (numpy or JAX, any rank; axis 0 is ``rows``, axis 1 is ``cols``), or a
        tracer (then nothing is checked).
      name: what ``x`` is, for the message.
      rows, cols: what axis 0 and axis 1 index, for the message.
    """
    if x is None or isinstance(x, jax.core.Tracer):
        return
    dtype = getattr(x, "dtype", None)
    if dtype is None:
        x = np.asarray(x)
        dtype = x.dtype
    if not (np.issubdtype(dtype, np.floating) or np.issubdtype(dtype, np.complexfloating)):
        return  # integers and booleans are always finite
    if isinstance(x, jax.Array):
        if bool(jnp.all(jnp.isfinite(x))):  # reduce on the device; copy only on failure
            return
    elif np.isfinite(x).all():
        return
    bad = ~np.isfinite(np.asarray(x))
    n_bad = int(bad.sum())
    if bad.ndim == 0:
        where = ""
    elif bad.ndim == 1:
        where = f" at {rows} {_listed(np.flatnonzero(bad))}"
    else:
        flat = bad.reshape(bad.shape[0], bad.shape[1], -1).any(axis=2)
        where = (f" in {rows} row(s) {_listed(np.flatnonzero(flat.any(axis=1)))} and {cols} "
                 f"column(s) {_listed(np.flatnonzero(flat.any(axis=0)))}")
    drop = (f"drop those {rows}s (x[np.isfinite(x).all(axis=1)], and the matching features)"
            if bad.ndim < 2 else
            f"drop those {rows}s (x[np.isfinite(x).all(axis=1)], and the matching features) or "
            f"{cols}s (x[:, np.isfinite(x).all(axis=0)])")
    raise ValueError(
        f"{name} must be finite, got {n_bad} NaN/inf value(s){where} (shape {tuple(bad.shape)}); "
        f"{drop}, or fix what produced them (a diverged model, a division by zero, an unfilled "
        "buffer)"
    )


def check_count(value, name: str, what: str, hint: str) -> None:
    """``value`` must be an integer >= 1 (a number of exemplars, trials, references, ...).

    A count of 0 would otherwise reach a reduction over an empty axis and fail with numpy's
    or JAX's own message ("zero-size array to reduction operation max").
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} ({what}) must be an integer >= 1, got {name}={value!r}; {hint}")


def check_top_m(acts, m: int, ranks=(1, 2), name: str = "direction activations") -> None:
    """Activations whose top-``m`` images are taken: rank, M in 1..n, finite.

    Args:
      acts: [n] (one direction) or [n, k] activations, as ``ranks`` allows.
      m: exemplars per direction.
    """
    shape = tuple(acts.shape)
    if len(shape) not in ranks:
        want = " or ".join({1: "[n_images]", 2: "[n_images, n_directions]"}[r] for r in ranks)
        fix = ("pass one direction's column acts[:, u], or score all with interpretability_index_all"
               if ranks == (1,) else
               "spatially average conv maps first (capture(..., position='mean'))")
        raise ValueError(f"{name} must be {want}, got shape {shape}; {fix}")
    n = shape[0]
    if n == 0:
        raise ValueError("the dataset is empty (0 images); the top-M exemplars need at least M images")
    check_count(m, "M", "exemplars per direction", "the paper uses m=5")
    if m > n:
        raise ValueError(
            f"M={m} exemplars were asked for but the dataset has only {n} images; "
            f"use M <= {n} or more images"
        )
    check_finite(acts, name)
