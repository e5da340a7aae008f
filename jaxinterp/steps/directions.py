"""The direction-fit task: any direction set of :mod:`jaxinterp.directions` on captured activations.

Inputs follow METHODS §1.4: K-means, PCA and ICA see the unit-norm rows Â, NMF the raw
nonnegative A, sparse autoencoders Â z-scored per dimension (the seed authors'
notebook); neurons are A itself. The result holds the directions and every
image's activation along each of them, so scores never refit. SAE and mini-batch
K-means fits longer than one checkpoint interval checkpoint into the task's scratch
directory and resume after a crash from their last checkpoint.

Keys: a fit that draws no random numbers (neurons, PCA, NMF and K-means with a deterministic
``init``) holds no seed, so another seed reuses it. Every fit but ``neurons`` splits its sums
over the local devices, so its numbers depend on how many there are: its key records the
device count (``Task.layout``), and a store resumed on another layout refits.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from jaxinterp.steps.keys import key_of
from jaxinterp.tasks import Result, Task

METHODS = ("neurons", "kmeans", "minibatch_kmeans", "pca", "ica", "nmf", "sae")
_RESUMABLE = ("sae", "minibatch_kmeans")


@dataclasses.dataclass(frozen=True)
class FitConfig:
    """method, k (None: the layer's width), seed and key path (see :func:`key_of`; 0 and () for a
    fit that draws no random numbers), and extra keyword options for the method's ``fit`` as
    ``(("l1_coeff", 0.01), ...)``."""

    method: str
    k: int | None = None
    seed: int = 0
    key_path: tuple = ()
    options: tuple = ()


def draws_random(method: str, options: dict | None = None) -> bool:
    """Whether the fit ``method`` with ``options`` uses its PRNG key (its seed changes its result)."""
    options = options or {}
    if method in ("neurons", "pca"):
        return False
    if method == "kmeans":
        from jaxinterp.directions.kmeans import DEFAULT_INIT

        return options.get("init", DEFAULT_INIT) == "k-means++"
    if method == "nmf":
        return options.get("init", "nndsvda") == "random"
    return True  # minibatch K-means, ICA, SAE


def fit_inputs(method: str, acts):
    """The array each method is fitted on (and transforms), from raw activations [n, d]."""
    import jax.numpy as jnp

    from jaxinterp.directions import kmeans

    acts = jnp.asarray(acts)
    if method in ("neurons", "nmf"):
        return acts
    unit = kmeans.unit_rows(acts)
    if method == "sae":
        return (unit - unit.mean(0)) / jnp.maximum(unit.std(0), 1e-6)
    return unit


def _long(method: str, options: dict) -> bool:
    """Whether a fit runs past its first checkpoint: shorter ones are cheaper to redo than to save."""
    import inspect

    from jaxinterp.directions import minibatch_kmeans, sae

    fit = {"sae": sae.fit, "minibatch_kmeans": minibatch_kmeans.fit}[method]
    defaults = {k: p.default for k, p in inspect.signature(fit).parameters.items()}
    return options.get("max_steps", defaults["max_steps"]) > options.get("checkpoint_every",
                                                                           defaults["checkpoint_every"])


def _fit(ctx, config: FitConfig, acts) -> Result:
    from jaxinterp.directions import registry

    a = acts.arrays["acts"]
    if a.ndim != 2:
        raise ValueError(f"direction fits need [n, d] activations, got {a.shape}; capture with "
                         "position='mean' or 'centre'")
    entry = registry.get(config.method)
    x = fit_inputs(config.method, a)
    options = dict(config.options)
    if config.method in _RESUMABLE and _long(config.method, options):
        options.setdefault("checkpoint_dir", str(ctx.scratch))
    if config.method == "neurons":
        state = entry.fit(None, x)
    else:
        k = config.k or a.shape[1]
        state = entry.fit(key_of(config.seed, config.key_path), x, k, **options)
    directions = np.asarray(entry.directions(state))
    if config.method == "neurons" and a.dtype == np.float32:
        activations = a  # the activations themselves: the store keeps them once, in the capture entry
    else:
        activations = np.asarray(entry.transform(state, x))
    fields = {}
    for name, value in state._asdict().items():  # arrays and dicts of arrays; optimiser state is not kept
        if hasattr(value, "shape"):
            fields[name] = np.asarray(value)
        elif isinstance(value, dict) and all(hasattr(v, "shape") for v in value.values()):
            fields[name] = {n: np.asarray(v) for n, v in value.items()}
    live = activations.max(0) > 0
    return Result({"directions": directions, "activations": activations, "state": fields},
                  {"method": config.method, "k": int(directions.shape[0]), "d": int(a.shape[1]),
                   "live_fraction": float(live.mean())})


def fit_task(acts: Task, method: str, k: int | None = None, seed: int = 0, key_path: tuple = (),
             **options) -> Task:
    """Task -> ``{"directions": [k, d], "activations": [n, k], "state": {...}}``."""
    if method not in METHODS:
        raise ValueError(f"unknown direction method {method!r}; choose one of {', '.join(METHODS)}")
    if method == "neurons" and (options or (k is not None)):
        k = None  # neurons have no size: one set per layer
    if not draws_random(method, options):
        seed, key_path = 0, ()  # nothing random: any seed gives this fit
    return Task("directions", FitConfig(method, k, seed, tuple(key_path), tuple(sorted(options.items()))),
                _fit, {"acts": acts}, layout=method != "neurons")
