"""The direction-fit task: any direction set of :mod:`jaxinterp.directions` on captured activations.

Fits go through :func:`jaxinterp.directions.registry.fit_by_name`, which feeds each set the
input METHODS §1.4 prescribes (neurons and NMF raw A, K-means, PCA and ICA the unit-norm rows
Â, the SAE Â z-scored per dimension) and resolves the default K (the layer's width). The
result holds the directions and every image's activation along each of them, so scores never
refit. SAE and mini-batch K-means fits longer than one checkpoint interval checkpoint into the
task's scratch directory and resume after a crash from their last checkpoint.

Keys: a fit that draws no random numbers (neurons, PCA, NMF and K-means with a deterministic
``init``) holds no seed, so another seed reuses it. Every fit but ``neurons`` splits its sums
over the local devices, so its numbers depend on how many there are: its key records the
device count (``Task.layout``), and a store resumed on another layout refits.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from jaxinterp.directions import registry
from jaxinterp.steps.keys import key_of
from jaxinterp.tasks import Result, Task

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


def vectors(fit: Result | None, dtype=np.float32) -> np.ndarray | None:
    """The [k, C] rows of a direction fit's result (its ``"directions"``), or None for None (the
    layer's channels themselves): what every reader of a direction "unit" projects the layer on."""
    return None if fit is None else np.asarray(fit.arrays["directions"], dtype)


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


def _long(method: str, options: dict) -> bool:
    """Whether a fit runs past its first checkpoint: shorter ones are cheaper to redo than to save."""
    import inspect

    from jaxinterp.directions import minibatch_kmeans, sae

    fit = {"sae": sae.fit, "minibatch_kmeans": minibatch_kmeans.fit}[method]
    defaults = {k: p.default for k, p in inspect.signature(fit).parameters.items()}
    return options.get("max_steps", defaults["max_steps"]) > options.get("checkpoint_every",
                                                                           defaults["checkpoint_every"])


def _fit(ctx, config: FitConfig, acts) -> Result:
    a = acts.arrays["acts"]
    if a.ndim != 2:
        raise ValueError(f"direction fits need [n, d] activations, got {a.shape}; capture with "
                         "position='mean' or 'centre'")
    options = dict(config.options)
    if config.method in _RESUMABLE and _long(config.method, options):
        options.setdefault("checkpoint_dir", str(ctx.scratch))
    fitted = registry.fit_by_name(config.method, key_of(config.seed, config.key_path), a, config.k, **options)
    return _result(config, fitted, a)


def _result(config: FitConfig, fitted: registry.Fitted, a: np.ndarray) -> Result:
    state = fitted.state
    directions = np.asarray(fitted.directions)
    if config.method == "neurons" and a.dtype == np.float32:
        activations = a  # the activations themselves: the store keeps them once, in the capture entry
    else:
        activations = np.asarray(fitted.transform(a))
    fields = {}
    for name, value in state._asdict().items():  # arrays and dicts of arrays; optimiser state is not kept
        if hasattr(value, "shape"):
            fields[name] = np.asarray(value)
        elif isinstance(value, dict) and all(hasattr(v, "shape") for v in value.values()):
            fields[name] = {n: np.asarray(v) for n, v in value.items()}
    if fitted.mean is not None:  # the SAE's z-scoring: what maps new activations onto its input
        fields["input_mean"], fields["input_std"] = np.asarray(fitted.mean), np.asarray(fitted.std)
    live = activations.max(0) > 0
    return Result({"directions": directions, "activations": activations, "state": fields},
                  {"method": config.method, "k": int(directions.shape[0]), "d": int(a.shape[1]),
                   "live_fraction": float(live.mean())})


def _shared_options() -> frozenset:
    """The options :func:`jaxinterp.directions.sae.fit_many` shares among its configurations."""
    import inspect

    from jaxinterp.directions import sae

    return frozenset(n for n, p in inspect.signature(sae.fit_many).parameters.items() if p.kind is p.KEYWORD_ONLY)


def fit_group(task: Task) -> tuple | None:
    """What the SAE fits that train together with fit task ``task`` share (:func:`fit_together`):
    its capture's key and its options but λ; None for a task that trains alone (any other
    method, or an option ``sae.fit_many`` does not take, such as checkpointing)."""
    config = task.config
    if task.name != "directions" or config.method != "sae":
        return None
    shared = tuple((n, v) for n, v in config.options if n != "l1_coeff")
    if not {n for n, _ in shared} <= _shared_options():
        return None
    return (task.deps["acts"].key, shared)


def fit_together(fits: list[Task], acts: Result) -> list[Result]:
    """The results of SAE fit tasks ``fits`` of one :func:`fit_group` (they may differ in K, λ and
    seed), trained together in one program (:func:`jaxinterp.directions.sae.fit_many`) on the
    capture's result ``acts``: each holds what its own task would (the same input and K, its own
    key); the numbers equal a fit on its own to float rounding (the SAE step is vmapped over the
    group), and are the same whatever else the group holds. No checkpoints: an interrupted
    group trains again from the start."""
    from jaxinterp.directions import sae

    groups = {fit_group(t) for t in fits}
    if len(groups) != 1 or None in groups:
        raise ValueError(f"fit_together takes SAE fits of one capture and one set of options, got {len(groups)} "
                         "groups; group them with fit_group")
    a = acts.arrays["acts"]
    if a.ndim != 2:
        raise ValueError(f"direction fits need [n, d] activations, got {a.shape}")
    x, mean, std = registry.prepare("sae", a)
    configs = [{"k": registry.default_k("sae", a.shape[1], t.config.k),  # λ only where the task set it
                **{n: v for n, v in t.config.options if n == "l1_coeff"}} for t in fits]
    keys = [key_of(t.config.seed, t.config.key_path) for t in fits]
    states = sae.fit_many(keys, x, configs, **dict(next(iter(groups))[1]))
    return [_result(t.config, registry.Fitted("sae", s, mean, std, dict(t.config.options)), a)
            for t, s in zip(fits, states)]


def fit_task(acts: Task, method: str, k: int | None = None, seed: int = 0, key_path: tuple = (),
             **options) -> Task:
    """Task -> ``{"directions": [k, d], "activations": [n, k], "state": {...}}``.

    ``k`` None: the layer's width. Neurons are the layer itself: K must be None or its width
    (checked when the fit runs, against the captured width) and they take no options.
    """
    if method not in registry.NAMES:
        raise ValueError(f"unknown direction method {method!r}; choose one of {', '.join(registry.NAMES)}")
    if method == "neurons" and options:
        raise ValueError(f"neurons take no options, got {sorted(options)}; drop them")
    if not draws_random(method, options):
        seed, key_path = 0, ()  # nothing random: any seed gives this fit
    return Task("directions", FitConfig(method, k, seed, tuple(key_path), tuple(sorted(options.items()))),
                _fit, {"acts": acts}, layout=method != "neurons")
