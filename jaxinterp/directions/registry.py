"""Direction sets by name: the one way to fit any of them on raw layer activations.

::

    fitted = fit_by_name("kmeans", key, acts)     # acts [n, d]: raw activations, K = d by default
    fitted.transform(acts)                        # [n, K] direction activations
    fitted.directions                             # [K, d] in the space the set was fit in
    fitted.state                                  # the set's own state (KMeansState, SAEState...)

Every caller (the demo, ``steps.fit_task`` behind the commands and sweeps, the recipes) fits
through :func:`fit_by_name`, so each set sees one input, prepared here and nowhere else
(:data:`INPUTS`), as METHODS.md §1.4 prescribes:

* ``neurons``: A itself ("f_n = a_n"); ``nmf``: the raw nonnegative A ("Fit NMF on A
  (layer1 is post-ReLU, so ≥ 0)").
* ``kmeans``, ``minibatch_kmeans``: the unit-norm rows Â ("Run MiniBatchKMeans on the
  unit-norm rows Â"); ``pca``, ``ica``: Â too ("Fit on Â with K = N").
* ``sae``: Â z-scored per dimension. §1.4 says "SAE: see §4.4", and §4.4 gives the seed
  authors' notebook: "Input: Â, z-scored per dimension." The paper itself (App. A) says
  only that it trains "the same sparse autoencoder model" as Sharkey et al. and names no
  input. The mean and standard deviation (floored at 1e-6) are the fit data's and are
  kept in :class:`Fitted`, so ``transform`` maps new activations as it mapped those.

K defaults to the layer's width d (:func:`default_k`, the one place it is decided);
``neurons`` take K = d or None and refuse any other K.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import ArrayLike, Float

from jaxinterp.directions import ica, kmeans, minibatch_kmeans, neurons, nmf, pca, sae
from jaxinterp.directions._checks import check_acts

#: what each input of :class:`DirectionSet` means (also recorded in ``Fitted.info``)
INPUTS = {"raw": "raw activations", "unit": "unit-norm rows",
          "unit_z": "unit-norm rows z-scored per dimension"}
Z_FLOOR = 1e-6  # a dimension with (nearly) no spread is divided by this, not by ~0


class DirectionSet(NamedTuple):
    """fit(key, x, k, **kw) -> state; transform(state, x [n, d]) -> [n, k];
    directions(state) -> [k, d]; ``input``: a key of :data:`INPUTS`, what ``x`` is."""

    name: str
    fit: Callable[..., Any]
    transform: Callable[[Any, jax.Array], jax.Array]
    directions: Callable[[Any], jax.Array]
    input: str


def _fit_neurons(key, acts, k, **kw):
    del k  # checked by fit_by_name: None or d
    if kw:
        raise ValueError(f"neurons take no options, got {sorted(kw)}; drop them")
    return neurons.fit(key, acts)


DIRECTION_SETS: dict[str, DirectionSet] = {s.name: s for s in (
    DirectionSet("neurons", _fit_neurons, neurons.transform, lambda s: s.components, "raw"),
    DirectionSet("kmeans", kmeans.fit, kmeans.transform, lambda s: s.centroids, "unit"),
    DirectionSet("minibatch_kmeans", minibatch_kmeans.fit, minibatch_kmeans.transform,
                 lambda s: s.centroids, "unit"),
    DirectionSet("pca", pca.fit, pca.transform, lambda s: s.components, "unit"),
    DirectionSet("ica", ica.fit, ica.transform, lambda s: s.components, "unit"),
    DirectionSet("nmf", nmf.fit, nmf.transform, lambda s: s.components, "raw"),
    DirectionSet("sae", sae.fit, sae.transform, sae.decoder_directions, "unit_z"),
)}
NAMES = tuple(DIRECTION_SETS)


def get(name: str) -> DirectionSet:
    """The :class:`DirectionSet` called ``name``."""
    if name not in DIRECTION_SETS:
        raise ValueError(f"unknown direction set {name!r}; choose one of {', '.join(NAMES)}")
    return DIRECTION_SETS[name]


def default_k(name: str, d: int, k: int | None = None) -> int:
    """K for set ``name`` on a layer of width ``d``: ``k``, or d when None. Neurons refuse K != d."""
    get(name)
    if name == "neurons" and k is not None and k != d:
        raise ValueError(f"neurons: the layer has {d} neurons, so K is {d}; got K={k}. Pass K=None "
                         f"(or {d}), or fit another direction set for {k} directions")
    return d if k is None else k


class Fitted(NamedTuple):
    """A set fit by :func:`fit_by_name`: its state and the input preparation fit with it.

    mean, std: [d] the fit data's per-dimension mean and standard deviation of Â for sets
    whose input is ``"unit_z"`` (the SAE), else None.
    options: the keyword options passed to the set's ``fit``.
    """

    name: str
    state: Any
    mean: jax.Array | None
    std: jax.Array | None
    options: dict

    def inputs(self, acts) -> jax.Array:
        """[n, d] raw activations -> [n, d] what the set is fit on and transforms."""
        return _prepare(get(self.name).input, acts, self.mean, self.std)

    def transform(self, acts) -> jax.Array:
        """[n, d] raw activations -> [n, K] direction activations."""
        return get(self.name).transform(self.state, self.inputs(acts))

    @property
    def directions(self) -> jax.Array:
        """[K, d] direction vectors, in the space of :meth:`inputs`."""
        return get(self.name).directions(self.state)

    def info(self) -> dict:
        """For reports: the input, K, and every keyword option of the fit (defaults included)."""
        entry = get(self.name)
        params = inspect.signature(entry.fit).parameters.values()
        options = {p.name: p.default for p in params if p.kind is p.KEYWORD_ONLY} | self.options
        return {"input": INPUTS[entry.input], "k": int(self.directions.shape[0]),
                **{key: v if v is None or isinstance(v, (bool, int, float)) else str(v)
                   for key, v in options.items()}}


def _prepare(kind: str, acts, mean=None, std=None) -> jax.Array:
    acts = jnp.asarray(acts)
    if kind == "raw":
        return acts
    unit = kmeans.unit_rows(acts)
    if kind == "unit":
        return unit
    mean, std = jnp.asarray(mean, unit.dtype)[None, :], jnp.asarray(std, unit.dtype)[None, :]
    return (unit - mean) / std


def fit_by_name(name: str, key: jax.Array | None, acts: Float[ArrayLike, " n d"],
                k: int | None = None, **options) -> Fitted:
    """Fit direction set ``name`` on raw activations ``acts`` [n, d], on its METHODS input.

    Args:
      name: one of :data:`NAMES`.
      key: PRNG key of the fit (neurons and PCA ignore it).
      acts: [n, d] raw activations (spatial means or one position per image).
      k: number of directions; None: d (:func:`default_k`). Neurons: None or d.
      **options: keyword options of that set's ``fit`` (``init="identity"`` for kmeans,
        ``l1_coeff=0.1`` for sae, ``checkpoint_dir`` for the resumable fits...).

    Returns:
      :class:`Fitted`: ``.transform(acts [m, d]) -> [m, K]`` on raw activations, ``.directions``
      [K, d], ``.state``, ``.info()``.
    """
    entry = get(name)
    k = default_k(name, acts.shape[-1], k)
    x, mean, std = prepare(name, acts)
    return Fitted(name, entry.fit(key, x, k, **options), mean, std, dict(options))


def prepare(name: str, acts) -> tuple[jax.Array, jax.Array | None, jax.Array | None]:
    """``(x, mean, std)``: raw activations ``acts`` [n, d] as set ``name`` is fit on them
    (:data:`INPUTS`), and the z-scoring's mean and std [d] (None unless the input is z-scored);
    :func:`fit_by_name` fits on ``x``, and :class:`Fitted` maps new activations with them."""
    entry = get(name)
    check_acts(acts, finite=False)  # each fit checks the values it is given
    mean = std = None
    if entry.input == "unit_z":
        unit = kmeans.unit_rows(jnp.asarray(acts))
        mean, std = unit.mean(0), jnp.maximum(unit.std(0), Z_FLOOR)
    return _prepare(entry.input, acts, mean, std), mean, std
