"""Sparse autoencoders in JAX + optax: the untied L1 SAE of Sharkey et al. (METHODS §4.4), TopK, JumpReLU.

All variants share ``x_hat = W_dec_n c (+ b_dec)`` with the decoder columns
renormalised to unit L2 norm before every forward pass (orthogonal init), an
untied encoder ``pre = W_enc x + b_enc``, and ``mse = mean((x - x_hat)^2)``:

- ``"l1"``: ``c = ReLU(pre)``, loss ``mse + penalty`` with ``l1_mode="sharkey"``:
  ``λ · mean_batch(‖c‖₁) / K_dict``, or ``"authors"`` (the seed notebook):
  ``λ · Σ_{batch, units} |c|``.
- ``"topk"``: keep the ``topk`` largest ``ReLU(pre)`` per sample (Gao et al. 2024); loss ``mse``.
- ``"jumprelu"``: ``c = pre · H(pre - θ)``, loss ``mse + λ · mean_batch(‖c‖₀)`` with
  straight-through gradients for θ through a rectangle kernel of width
  ``bandwidth`` (Rajamanoharan et al. 2024).

Training is Adam; the batch of step ``t`` is a function of ``(key, t)`` and
``checkpoint_dir`` makes an interrupted fit resume to the same parameters (a
checkpoint written with another k, λ, width, ... is refused). An in-memory
array goes to the device once and ``STEPS_PER_CALL`` steps run per dispatch,
gathering their batches there (no host copy or wait between steps); memmaps
and iterators stream their batches from the host step by step.

Example::

    state = sae.fit(key, acts, k=512, l1_coeff=0.1, max_steps=3000)
    codes = sae.transform(state, acts)        # [n, 512] direction activations c_k(x)
    dirs = sae.decoder_directions(state)      # [512, d] unit-norm dictionary
"""

from __future__ import annotations

import os
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, ArrayLike, Float

from jaxinterp.directions._batches import BatchSource, seed_from_key
from jaxinterp.directions._checks import check_acts, check_choice, check_k
from jaxinterp.directions._resume import run_chunks
from jaxinterp.parallel.mesh import batch_sharding, local_mesh, replicate
from jaxinterp.parallel.samples import maybe_shard_batch

DEFAULT_L1 = 1e-3  # λ of the sparsity penalty, for a fit and for fit_many's configurations


class SAEConfig(NamedTuple):
    """Static settings, kept in the state so ``transform`` needs nothing else."""

    variant: str = "l1"
    l1_mode: str = "sharkey"
    l1_coeff: float = DEFAULT_L1
    topk: int = 32
    bandwidth: float = 1e-3
    decoder_bias: bool = False


class SAEState(NamedTuple):
    """params {W_enc [K, d], b_enc [K], W_dec [d, K], b_dec [d], log_threshold [K]};
    opt_state (optax Adam); step []; config (static)."""

    params: dict
    opt_state: Any
    step: jax.Array
    config: SAEConfig


def init_params(key: jax.Array, d: int, k: int, threshold: float = 1e-3) -> dict:
    """Orthogonal decoder [d, k] with unit columns; encoder its transpose; zero biases."""
    w_dec = jax.nn.initializers.orthogonal()(key, (d, k), jnp.float32)
    w_dec = w_dec / jnp.linalg.norm(w_dec, axis=0, keepdims=True)
    return {
        "W_enc": w_dec.T,
        "b_enc": jnp.zeros(k, jnp.float32),
        "W_dec": w_dec,
        "b_dec": jnp.zeros(d, jnp.float32),
        "log_threshold": jnp.full(k, np.log(threshold), jnp.float32),
    }


_init_params = jax.jit(init_params, static_argnums=(1, 2, 3))  # one dispatch, not a dozen


def _rect(u):
    return (jnp.abs(u) < 0.5).astype(u.dtype)


def _sum_to(g, shape):
    """Sum a broadcast gradient ``g`` back to ``shape`` (θ is [K] rows-major or [K, 1] feature-major)."""
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(lead + i for i, n in enumerate(shape) if n == 1 and g.shape[lead + i] != 1)
    return jnp.sum(g, axis=axes, keepdims=False).reshape(shape)


@jax.custom_vjp
def _jump(pre, theta, bandwidth):
    """pre · H(pre - θ), straight-through for θ."""
    return pre * (pre > theta).astype(pre.dtype)


def _jump_fwd(pre, theta, bandwidth):
    return _jump(pre, theta, bandwidth), (pre, theta, bandwidth)


def _jump_bwd(res, g):
    pre, theta, bw = res
    d_theta = -(theta / bw) * _rect((pre - theta) / bw) * g
    return g * (pre > theta).astype(g.dtype), _sum_to(d_theta, theta.shape), None


_jump.defvjp(_jump_fwd, _jump_bwd)


@jax.custom_vjp
def _step(pre, theta, bandwidth):
    """H(pre - θ), straight-through for θ (the L0 count)."""
    return (pre > theta).astype(pre.dtype)


def _step_fwd(pre, theta, bandwidth):
    return _step(pre, theta, bandwidth), (pre, theta, bandwidth)


def _step_bwd(res, g):
    pre, theta, bw = res
    d_theta = -(1.0 / bw) * _rect((pre - theta) / bw) * g
    return jnp.zeros_like(pre), _sum_to(d_theta, theta.shape), None


_step.defvjp(_step_fwd, _step_bwd)


def encode(params: dict, x: jax.Array, config: SAEConfig) -> tuple[jax.Array, jax.Array]:
    """x [n, d] -> (codes c [n, K], pre-activations [n, K])."""
    b_dec = params["b_dec"][None, :] if config.decoder_bias else 0.0
    pre = (x - b_dec) @ params["W_enc"].T + params["b_enc"][None, :]
    if config.variant == "l1":
        return jax.nn.relu(pre), pre
    if config.variant == "topk":
        vals, idx = jax.lax.top_k(pre, config.topk)
        rows = jnp.arange(pre.shape[0])[:, None]
        return jnp.zeros_like(pre).at[rows, idx].set(jax.nn.relu(vals)), pre
    theta = jnp.exp(params["log_threshold"])[None, :]
    return _jump(pre, theta, config.bandwidth), pre


def decode(params: dict, codes: jax.Array, config: SAEConfig) -> jax.Array:
    """codes [n, K] -> x_hat [n, d] with unit-norm decoder columns."""
    b_dec = params["b_dec"][None, :] if config.decoder_bias else 0.0
    return codes @ unit_columns(params["W_dec"]).T + b_dec


def unit_columns(w: jax.Array) -> jax.Array:
    """[d, K] decoder -> its columns scaled to unit L2 norm."""
    return w / jnp.maximum(jnp.linalg.norm(w, axis=0, keepdims=True), 1e-12)


def _codes_t(params: dict, pre_t: jax.Array, config: SAEConfig) -> jax.Array:
    """Feature-major pre-activations [K, b] -> codes [K, b] (as :func:`encode`)."""
    if config.variant == "l1":
        return jax.nn.relu(pre_t)
    if config.variant == "topk":
        pre = pre_t.T
        vals, idx = jax.lax.top_k(pre, config.topk)
        rows = jnp.arange(pre.shape[0])[:, None]
        return jnp.zeros_like(pre).at[rows, idx].set(jax.nn.relu(vals)).T
    return _jump(pre_t, jnp.exp(params["log_threshold"])[:, None], config.bandwidth)


def loss_fn(params: dict, x: jax.Array, config: SAEConfig, l1_coeff=None) -> tuple[jax.Array, dict]:
    """Training loss of a batch x [b, d] -> (loss [], {"mse", "penalty"}).

    ``l1_coeff`` (a traced scalar, for :func:`fit_many`'s vmap over λ) replaces ``config.l1_coeff``.

    Computed feature-major (x.T [d, b], codes [K, b]): then every product of the
    step, forward and backward, is one whose operands XLA's CPU GEMM takes
    without a transpose; the two weight gradients contract over the batch and
    took about 1.5x longer each in the sample-major layout (21.4 -> 18.7 ms a
    step at b=4096, d=256, K=512). The numbers are those of the sample-major form.
    """
    xt = x.T
    b_dec = params["b_dec"][:, None] if config.decoder_bias else 0.0
    pre_t = params["W_enc"] @ (xt - b_dec) + params["b_enc"][:, None]
    codes_t = _codes_t(params, pre_t, config)
    x_hat_t = unit_columns(params["W_dec"]) @ codes_t + b_dec
    mse = jnp.mean((xt - x_hat_t) ** 2)
    batch, k = x.shape[0], codes_t.shape[0]
    coeff = config.l1_coeff if l1_coeff is None else l1_coeff
    if config.variant == "l1":
        l1 = jnp.sum(codes_t)  # codes are ReLU outputs: |c| = c, and the gradients agree
        if config.l1_mode == "sharkey":
            penalty = coeff * l1 / batch / k
        else:
            penalty = coeff * l1
    elif config.variant == "jumprelu":
        l0 = _step(pre_t, jnp.exp(params["log_threshold"])[:, None], config.bandwidth)
        penalty = coeff * jnp.sum(l0) / batch
    else:
        penalty = jnp.zeros((), x.dtype)
    return mse + penalty, {"mse": mse, "penalty": penalty}


def _update(params, opt_state, x, config: SAEConfig, optimizer, l1_coeff=None):
    (loss, _), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, x, config, l1_coeff)
    params, opt_state = _optax.step(optimizer, grads, opt_state, params)
    return params, opt_state, loss


@partial(jax.jit, static_argnames=("config", "optimizer"))
def train_step(params, opt_state, x, config: SAEConfig, optimizer):
    """One Adam step on the batch x [b, d] -> (params, opt_state, loss)."""
    return _update(params, opt_state, x, config, optimizer)


STEPS_PER_CALL = 16


@partial(jax.jit, static_argnames=("config", "optimizer", "sharding"), donate_argnums=(0, 1))
def _train_chunk(params, opt_state, rows, index, n_steps, config: SAEConfig, optimizer, sharding):
    """``n_steps`` Adam steps in one dispatch: step i trains on ``rows[index[i]]``.

    rows [n, d] the whole dataset on the device; index [STEPS_PER_CALL, b] the
    batches' rows; ``n_steps`` is traced, so every chunk runs one program and the
    host neither copies batches nor waits between steps.
    """

    def body(i, carry):
        params, opt_state = carry
        # rows of a permutation are in range: "clip" spares the bounds mask a [b, d] pass
        x = jnp.take(rows, index[i], axis=0, mode="clip")
        if sharding is not None:
            x = jax.lax.with_sharding_constraint(x, sharding)
        params, opt_state, _ = _update(params, opt_state, x, config, optimizer)
        return params, opt_state

    return jax.lax.fori_loop(0, n_steps, body, (params, opt_state))


DEVICE_DATA_BYTES = 2**30


def _on_device(data) -> bool:
    """In-memory arrays up to 1 GiB go to the device once; memmaps and iterators stream."""
    if isinstance(data, jax.Array):
        return True
    return (isinstance(data, np.ndarray) and not isinstance(data, np.memmap)
            and data.size * 4 <= DEVICE_DATA_BYTES)


def fit(
    key: jax.Array,
    data: Any,
    k: int,
    *,
    variant: str = "l1",
    l1_mode: str = "sharkey",
    l1_coeff: float = DEFAULT_L1,
    topk: int = 32,
    bandwidth: float = 1e-3,
    init_threshold: float = 1e-3,
    decoder_bias: bool = False,
    learning_rate: float = 1e-3,
    batch_size: int = 4096,
    max_steps: int = 1000,
    checkpoint_dir: str | os.PathLike | None = None,
    checkpoint_every: int = 500,
    until_step: int | None = None,
) -> SAEState:
    """Train a sparse autoencoder with a dictionary of ``k`` directions.

    Args:
      key: PRNG key: initialisation and batch order.
      data: [n, d] array/memmap, or a callable returning an iterator of [b, d] batches.
        The seed authors z-score Â per dimension first (METHODS §4.4).
      k: dictionary size K_dict.
      variant: ``"l1"``, ``"topk"`` or ``"jumprelu"``.
      l1_mode: ``"sharkey"`` (λ·mean_batch‖c‖₁/K) or ``"authors"`` (λ·Σ|c|); ``"l1"`` only.
      l1_coeff: λ (the L0 coefficient for ``"jumprelu"``).
      topk: active codes per sample for ``"topk"``.
      bandwidth, init_threshold: JumpReLU straight-through kernel width and initial θ.
      decoder_bias: add a learned b_dec (subtracted before encoding); Sharkey has none.
      learning_rate, batch_size, max_steps: Adam schedule (batch sharded over local devices
        when it divides evenly).
      checkpoint_dir, checkpoint_every, until_step: resumable training (see ``_resume``).

    Returns:
      SAEState.
    """
    check_choice(variant, {"l1", "topk", "jumprelu"}, "variant")
    check_choice(l1_mode, {"sharkey", "authors"}, "l1_mode")
    seed = seed_from_key(key)
    source = BatchSource(data, batch_size, seed)
    resident = _on_device(data)
    if resident:
        check_acts(data, "data")  # once, instead of every batch
        d = data.shape[1]
    else:
        d = source.batch(0).shape[1]
    if variant == "topk" and not 1 <= topk <= k:
        raise ValueError(f"topk must be between 1 and k ({k}), got {topk}")
    check_k(k, np.iinfo(np.int32).max, what="k")
    config = SAEConfig(variant, l1_mode, float(l1_coeff), int(topk), float(bandwidth), bool(decoder_bias))
    optimizer = _adam(learning_rate)
    params = _init_params(jax.random.fold_in(key, 1), d, k, float(init_threshold))
    state = (params, optimizer.init(params))
    b = source.batch_size
    mesh = local_mesh()
    sharding = batch_sharding(mesh, 2) if mesh.size > 1 and b % mesh.size == 0 else None
    if resident:
        rows = replicate(jnp.asarray(data, jnp.float32), mesh)

    def advance(start, stop, state):
        if not resident:  # stream: host batches, one step per dispatch
            params, opt_state = state
            for step in range(start, stop):
                x = maybe_shard_batch(source.batch(step))
                params, opt_state, _ = train_step(params, opt_state, x, config, optimizer)
            return params, opt_state
        index = np.zeros((STEPS_PER_CALL, b), np.int32)
        for i in range(stop - start):
            index[i] = source.rows(start + i)
        return _train_chunk(*state, rows, index, stop - start, config, optimizer, sharding)

    run_config = {"fit": "sae", "k": k, "n_features": int(d), **config._asdict(),
                  "init_threshold": float(init_threshold), "learning_rate": float(learning_rate),
                  "batch_size": int(b), "seed": seed}
    (params, opt_state), step = run_chunks(
        advance, state, max_steps, chunk=STEPS_PER_CALL, checkpoint_dir=checkpoint_dir,
        checkpoint_every=checkpoint_every, until_step=until_step, config=run_config,
    )
    return SAEState(params, opt_state, jnp.asarray(step, jnp.int32), config)


_ADAMS: dict = {}


def _adam(lr: float):
    """One optax object per learning rate, so ``train_step`` compiles once per setting."""
    return _ADAMS.setdefault(float(lr), optax.adam(float(lr)))


def transform(state: SAEState, acts: Float[ArrayLike, " n d"]) -> Float[Array, " n K"]:
    """[n, d] -> [n, K] codes c_k(x), the direction activations used for the II."""
    return _encode(state.params, jnp.asarray(acts, jnp.float32), state.config)


@partial(jax.jit, static_argnames=("config",))
def _encode(params, x, config):
    return encode(params, x, config)[0]


def decoder_directions(state: SAEState) -> Float[Array, " K d"]:
    """[K, d] unit-norm dictionary directions (rows)."""
    return unit_columns(state.params["W_dec"]).T


def reconstruct(state: SAEState, acts: Float[ArrayLike, " n d"]) -> Float[Array, " n d"]:
    """[n, d] -> [n, d] x_hat."""
    return decode(state.params, transform(state, acts), state.config)


class SparseAutoencoder:
    """scikit-learn-style wrapper: ``SparseAutoencoder(512, l1_coeff=0.1).fit(A).components_``."""

    def __init__(self, n_components: int, *, random_state: int = 0, **kwargs):
        self.n_components, self.random_state, self.kwargs = n_components, random_state, kwargs

    def fit(self, X, y=None) -> "SparseAutoencoder":
        self.state_ = fit(jax.random.key(self.random_state), X, self.n_components, **self.kwargs)
        self.components_ = np.asarray(decoder_directions(self.state_))
        return self

    def transform(self, X) -> np.ndarray:
        return np.asarray(transform(self.state_, X))


from jaxinterp import _optax
from jaxinterp.directions.sae_many import fit_many  # noqa: E402, F401  (re-export; uses this module's pieces)
