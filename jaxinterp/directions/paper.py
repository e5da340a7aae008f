"""Direction sets fit on raw activations the way the paper prescribes (METHODS.md §1.4).

``fit_on_activations(name, key, acts, k)`` takes raw [n, d] layer activations
and feeds each set what METHODS.md §1.4 asks for: K-means, PCA, ICA and the SAE
on the unit-norm rows Â, NMF on the raw nonnegative A, neurons on A itself. It
returns the fitted state and a function mapping raw activations to direction
activations. K-means starts from k-means++ unless ``init`` says otherwise (the
one default of :mod:`jaxinterp.directions.kmeans`; ``init="identity"`` is the
September-2023 code's start for K = d).
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp

from jaxinterp.directions.kmeans import DEFAULT_INIT, unit_rows
from jaxinterp.directions.registry import get

RAW_INPUT = ("neurons", "nmf")
SEEDED = ("kmeans", "minibatch_kmeans")  # the sets that take ``init``


def fit_on_activations(
    name: str, key: jax.Array, acts: jax.Array, k: int | None = None, *,
    init: str | None = None, **kw,
) -> tuple[Any, Callable[[jax.Array], jax.Array], dict]:
    """Fit direction set ``name`` on raw activations ``acts`` [n, d].

    Args:
      name, key, acts: the set, its PRNG key, raw [n, d] activations.
      k: number of directions (default d).
      init: K-means start, ``"k-means++"`` (default) or ``"identity"`` (k == d);
        kmeans and minibatch_kmeans only.
      **kw: further options of that set's ``fit``.

    Returns:
      ``(state, transform, info)``: ``transform(acts [m, d]) -> [m, k]`` on raw
      activations, and ``info`` describing the input and options used (for reports).
    """
    entry = get(name)
    d = acts.shape[-1]
    k = d if k is None else k
    prepare = (lambda a: jnp.asarray(a)) if name in RAW_INPUT else unit_rows
    info = {"input": "raw activations" if name in RAW_INPUT else "unit-norm rows", "k": k}
    if name in SEEDED:
        kw = {**kw, "init": DEFAULT_INIT if init is None else init}
    elif init is not None:
        raise ValueError(f"init applies to {' and '.join(SEEDED)} only, not {name!r}; drop init=")
    if name == "neurons":
        state = entry.fit(key, acts)
    else:
        state = entry.fit(key, prepare(acts), k, **kw)
    info.update({key_: str(v) for key_, v in kw.items()})

    def transform(a: jax.Array) -> jax.Array:
        return entry.transform(state, prepare(a))

    return state, transform, info
