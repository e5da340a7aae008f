"""Direction sets by name: ``fit_by_name("kmeans", key, acts, k) -> (state, transform_fn)``.

Every entry is a :class:`DirectionSet` of pure functions, so the demo, the CLI
and the reports can take any of ``neurons, kmeans, minibatch_kmeans, pca, ica,
nmf, sae`` from a string. Inputs are what METHODS §1.4 prescribes: K-means,
PCA and ICA on the unit-norm rows Â (:func:`kmeans.unit_rows`), NMF on the raw
nonnegative A; this module does not transform them for you.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Callable, NamedTuple

import jax

from jaxinterp.directions import ica, kmeans, minibatch_kmeans, neurons, nmf, pca, sae


class DirectionSet(NamedTuple):
    """fit(key, acts, k, **kw) -> state; transform(state, acts [n, d]) -> [n, k];
    directions(state) -> [k, d] the direction vectors in activation space."""

    name: str
    fit: Callable[..., Any]
    transform: Callable[[Any, jax.Array], jax.Array]
    directions: Callable[[Any], jax.Array]


def _fit_neurons(key, acts, k=None, **kw):
    if kw:
        raise ValueError(f"neurons take no options, got {sorted(kw)}")
    if k is not None and k != acts.shape[-1]:
        raise ValueError(
            f"neurons: k must equal the number of neurons ({acts.shape[-1]}) or be None, got {k}"
        )
    return neurons.fit(key, acts)


DIRECTION_SETS: dict[str, DirectionSet] = {
    "neurons": DirectionSet("neurons", _fit_neurons, neurons.transform, lambda s: s.components),
    "kmeans": DirectionSet("kmeans", kmeans.fit, kmeans.transform, lambda s: s.centroids),
    "minibatch_kmeans": DirectionSet("minibatch_kmeans", minibatch_kmeans.fit,
                                     minibatch_kmeans.transform, lambda s: s.centroids),
    "pca": DirectionSet("pca", pca.fit, pca.transform, lambda s: s.components),
    "ica": DirectionSet("ica", ica.fit, ica.transform, lambda s: s.components),
    "nmf": DirectionSet("nmf", nmf.fit, nmf.transform, lambda s: s.components),
    "sae": DirectionSet("sae", sae.fit, sae.transform, sae.decoder_directions),
}


def get(name: str) -> DirectionSet:
    """The :class:`DirectionSet` called ``name``."""
    if name not in DIRECTION_SETS:
        raise ValueError(f"unknown direction set {name!r}; choose one of {sorted(DIRECTION_SETS)}")
    return DIRECTION_SETS[name]


def fit_by_name(name: str, key: jax.Array, acts: Any, k: int | None = None, **kw):
    """Fit the direction set ``name`` and return ``(state, transform_fn)``.

    ``transform_fn(acts [n, d]) -> [n, k]`` is ``transform`` bound to the fitted state.
    Keyword options go to that set's ``fit`` (e.g. ``spherical=True`` for kmeans,
    ``l1_coeff=0.1`` for sae).
    """
    entry = get(name)
    state = entry.fit(key, acts, k, **kw)
    return state, partial(entry.transform, state)
