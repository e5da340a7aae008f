"""Many sparse autoencoders on the same activations at once: one program over the configurations.

A sweep that fits SAEs differing in λ, K or seed on one activation matrix would train
them one after another; :func:`fit_many` trains them together. Configurations are
grouped by (K, key): a group's parameters are stacked and each step is one update,
vmapped over the group's λ, on the batch the group's key draws (:class:`BatchSource`,
as :func:`sae.fit` draws it). So every configuration does exactly the arithmetic of its
own ``sae.fit`` (no padding to the largest K, no masked latents): state i equals
``sae.fit(keys[i], data, **configs[i], **settings)`` to float rounding. Groups sharing a key
share its batch (gathered once a step); all groups run in the same ``fori_loop``,
``STEPS_PER_CALL`` steps per dispatch.

Example (4 λ × 2 K × 2 seeds, as sweep cells would fit them one by one)::

    cells = [(seed, k, lam) for seed in (0, 1) for k in (32, 64) for lam in (1e-3, 3e-3, 1e-2, 3e-2)]
    states = sae.fit_many([jax.random.key(seed) for seed, _, _ in cells], acts,
                          [dict(k=k, l1_coeff=lam) for _, k, lam in cells], max_steps=300, batch_size=1024)
    # states[i] == sae.fit(jax.random.key(seed_i), acts, k_i, l1_coeff=lam_i, max_steps=300, batch_size=1024)

Different K: grouped, not padded. Padding every configuration to the largest K with masked
latents would spend the largest K's arithmetic on every configuration (4/3 of the work for
K ∈ {32, 64}) and need the masked latents kept out of the decoder normalisation, the penalty
and Adam; a group per K does each configuration's own arithmetic, so equality to separate fits
is by construction (``tests/directions/test_sae.py::test_fit_many_equals_separate_fits``).
"""

from __future__ import annotations

from functools import partial
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxinterp.directions._batches import BatchSource, seed_from_key
from jaxinterp.directions._checks import check_acts, check_choice, check_k

PER_CONFIG = ("k", "l1_coeff")


def _keys(keys, n: int) -> list:
    """One key per configuration: a single key is shared by all, a sequence/array must have n."""
    shape = getattr(keys, "shape", None)
    if shape == () or (shape == (2,) and keys.dtype == jnp.uint32):  # one typed or raw (PRNGKey) key
        return [keys] * n
    keys = [keys[i] for i in range(len(keys))]
    if len(keys) != n:
        raise ValueError(
            f"fit_many needs one key per configuration ({n}), got {len(keys)}; pass "
            "[jax.random.key(seed) for each configuration], or a single key for all"
        )
    return keys


def _default_l1() -> float:
    from jaxinterp.directions import sae  # (sae re-exports this module: imported when used)

    return sae.DEFAULT_L1


def _check_configs(configs: Sequence[dict], topk: int, variant: str) -> list[dict]:
    if len(configs) == 0:
        raise ValueError("fit_many needs at least one configuration, e.g. [dict(k=64, l1_coeff=1e-3)]")
    out = []
    for i, c in enumerate(configs):
        other = sorted(set(c) - set(PER_CONFIG))
        if other or "k" not in c:
            raise ValueError(
                f"configuration {i} is {c!r}: each needs 'k' and may set 'l1_coeff' "
                f"(settings shared by all, e.g. {other or ['batch_size']}, go as keyword arguments)"
            )
        k = c["k"]
        check_k(k, np.iinfo(np.int32).max, what="k")
        if variant == "topk" and not 1 <= topk <= k:
            raise ValueError(f"topk must be between 1 and k ({k}) in configuration {i}, got {topk}")
        out.append({"k": int(k), "l1_coeff": float(c.get("l1_coeff", _default_l1()))})
    return out


@partial(jax.jit, static_argnames=("config", "optimizer", "groups"), donate_argnums=(0,))
def _train_chunk_many(states, lams, rows, index, n_steps, config, optimizer, groups):
    """``n_steps`` steps of every group: states[g] = (params, opt_state) stacked over group g's
    configurations, lams[g] their λ [C_g]; ``groups[g]`` is the index of g's key in
    ``index`` [STEPS_PER_CALL, n_keys, b] (the rows of each key's batch at each step)."""
    from jaxinterp.directions.sae import _update

    def update(params, opt_state, x, lam):
        return _update(params, opt_state, x, config, optimizer, lam)[:2]

    step = jax.vmap(update, in_axes=(0, 0, None, 0))  # one batch, shared by the group

    def body(i, states):
        xs = jnp.take(rows, index[i], axis=0, mode="clip")  # [n_keys, b, d]: each key's batch, once
        return tuple(step(p, o, xs[g], lam) for (p, o), lam, g in zip(states, lams, groups))

    return jax.lax.fori_loop(0, n_steps, body, states)


def fit_many(
    keys: Any,
    data: Any,
    configs: Sequence[dict],
    *,
    variant: str = "l1",
    l1_mode: str = "sharkey",
    topk: int = 32,
    bandwidth: float = 1e-3,
    init_threshold: float = 1e-3,
    decoder_bias: bool = False,
    learning_rate: float = 1e-3,
    batch_size: int = 4096,
    max_steps: int = 1000,
) -> list:
    """Train one SAE per configuration on ``data``, all in one program.

    Args:
      keys: one PRNG key per configuration (initialisation and batch order, as
        :func:`sae.fit`'s ``key``), or a single key for all.
      data: [n, d] in-memory array (numpy or JAX, up to ``sae.DEVICE_DATA_BYTES``).
      configs: sequence of dicts, each with ``k`` (dictionary size) and optionally
        ``l1_coeff`` (λ, default 1e-3): what may differ between configurations.
      variant, l1_mode, topk, bandwidth, init_threshold, decoder_bias, learning_rate,
        batch_size, max_steps: shared by all, as in :func:`sae.fit`.

    Returns:
      list of SAEState, item i equal (to float rounding) to
      ``sae.fit(keys[i], data, **configs[i], <the shared settings>)``. No checkpoints: a fit
      that must resume after an interruption uses ``sae.fit``.
    """
    from jaxinterp.directions import sae

    check_choice(variant, {"l1", "topk", "jumprelu"}, "variant")
    check_choice(l1_mode, {"sharkey", "authors"}, "l1_mode")
    configs = _check_configs(configs, topk, variant)
    keys = _keys(keys, len(configs))
    if not sae._on_device(data):
        raise ValueError(
            f"fit_many trains from an in-memory [n, d] array of at most {sae.DEVICE_DATA_BYTES} bytes, "
            f"got {type(data).__name__}; load the activations (np.asarray) or fit them one at a "
            "time with sae.fit, which streams memmaps and iterators"
        )
    check_acts(data, "data")
    d = int(data.shape[1])
    seeds = [seed_from_key(k) for k in keys]
    distinct = list(dict.fromkeys(seeds))  # each key's batches are drawn once per step
    sources = [BatchSource(data, batch_size, s) for s in distinct]
    b = sources[0].batch_size
    config = sae.SAEConfig(variant, l1_mode, 0.0, int(topk), float(bandwidth), bool(decoder_bias))
    optimizer = sae._adam(learning_rate)

    members: dict[tuple[int, int], list[int]] = {}  # (k, key index) -> configurations
    for i, c in enumerate(configs):
        members.setdefault((c["k"], distinct.index(seeds[i])), []).append(i)
    states, lams = [], []
    for (k, _), idx in members.items():
        params = [sae._init_params(jax.random.fold_in(keys[i], 1), d, k, float(init_threshold)) for i in idx]
        params = jax.tree_util.tree_map(lambda *a: jnp.stack(a), *params)
        states.append((params, jax.vmap(optimizer.init)(params)))
        lams.append(jnp.asarray([configs[i]["l1_coeff"] for i in idx], jnp.float32))
    groups = tuple(g for _, g in members)
    rows = jnp.asarray(data, jnp.float32)

    steps_per_call = sae.STEPS_PER_CALL
    states = tuple(states)
    for start in range(0, max_steps, steps_per_call):
        n = min(steps_per_call, max_steps - start)
        index = np.zeros((steps_per_call, len(distinct), b), np.int32)
        for t in range(n):
            for j, source in enumerate(sources):
                index[t, j] = source.rows(start + t)
        states = _train_chunk_many(states, tuple(lams), rows, index, n, config, optimizer, groups)

    out: list = [None] * len(configs)
    for ((params, opt_state), idx) in zip(states, members.values()):
        for j, i in enumerate(idx):
            pick = partial(lambda a, j: a[j], j=j)
            cfg = config._replace(l1_coeff=configs[i]["l1_coeff"])
            out[i] = sae.SAEState(jax.tree_util.tree_map(pick, params),
                                  jax.tree_util.tree_map(pick, opt_state),
                                  jnp.asarray(max_steps, jnp.int32), cfg)
    return out
