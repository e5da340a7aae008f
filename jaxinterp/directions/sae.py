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
``checkpoint_dir`` makes an interrupted fit resume to the same parameters.

Example::

    state = sae.fit(key, acts, k=512, l1_coeff=0.1, max_steps=3000)
    codes = sae.transform(state, acts)        # [n, 512] direction activations c_k(x)
    dirs = sae.decoder_directions(state)      # [512, d] unit-norm dictionary
"""

from __future__ import annotations

from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxinterp.directions._batches import BatchSource, seed_from_key
from jaxinterp.directions._checks import check_choice, check_k
from jaxinterp.directions._resume import run_steps
from jaxinterp.parallel.samples import maybe_shard_batch


class SAEConfig(NamedTuple):
    """Static settings, kept in the state so ``transform`` needs nothing else."""

    variant: str = "l1"
    l1_mode: str = "sharkey"
    l1_coeff: float = 1e-3
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


def _rect(u):
    return (jnp.abs(u) < 0.5).astype(u.dtype)


@jax.custom_vjp
def _jump(pre, theta, bandwidth):
    """pre · H(pre - θ), straight-through for θ."""
    return pre * (pre > theta)


def _jump_fwd(pre, theta, bandwidth):
    return _jump(pre, theta, bandwidth), (pre, theta, bandwidth)


def _jump_bwd(res, g):
    pre, theta, bw = res
    d_theta = -(theta / bw) * _rect((pre - theta) / bw) * g
    return g * (pre > theta), jnp.sum(d_theta, axis=tuple(range(d_theta.ndim - 1))), None


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
    return jnp.zeros_like(pre), jnp.sum(d_theta, axis=tuple(range(d_theta.ndim - 1))), None


_step.defvjp(_step_fwd, _step_bwd)


def encode(params: dict, x: jax.Array, config: SAEConfig) -> tuple[jax.Array, jax.Array]:
    """x [n, d] -> (codes c [n, K], pre-activations [n, K])."""
    b_dec = params["b_dec"] if config.decoder_bias else 0.0
    pre = (x - b_dec) @ params["W_enc"].T + params["b_enc"]
    if config.variant == "l1":
        return jax.nn.relu(pre), pre
    if config.variant == "topk":
        vals, idx = jax.lax.top_k(pre, config.topk)
        rows = jnp.arange(pre.shape[0])[:, None]
        return jnp.zeros_like(pre).at[rows, idx].set(jax.nn.relu(vals)), pre
    theta = jnp.exp(params["log_threshold"])
    return _jump(pre, theta, config.bandwidth), pre


def decode(params: dict, codes: jax.Array, config: SAEConfig) -> jax.Array:
    """codes [n, K] -> x_hat [n, d] with unit-norm decoder columns."""
    w = params["W_dec"] / jnp.maximum(jnp.linalg.norm(params["W_dec"], axis=0, keepdims=True), 1e-12)
    return codes @ w.T + (params["b_dec"] if config.decoder_bias else 0.0)


def loss_fn(params: dict, x: jax.Array, config: SAEConfig) -> tuple[jax.Array, dict]:
    codes, pre = encode(params, x, config)
    mse = jnp.mean((x - decode(params, codes, config)) ** 2)
    if config.variant == "l1":
        l1 = jnp.sum(jnp.abs(codes))
        if config.l1_mode == "sharkey":
            penalty = config.l1_coeff * l1 / x.shape[0] / codes.shape[1]
        else:
            penalty = config.l1_coeff * l1
    elif config.variant == "jumprelu":
        l0 = _step(pre, jnp.exp(params["log_threshold"]), config.bandwidth)
        penalty = config.l1_coeff * jnp.sum(l0) / x.shape[0]
    else:
        penalty = jnp.zeros((), x.dtype)
    return mse + penalty, {"mse": mse, "penalty": penalty}


@partial(jax.jit, static_argnames=("config", "optimizer"))
def train_step(params, opt_state, x, config: SAEConfig, optimizer):
    (loss, aux), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, x, config)
    updates, opt_state = optimizer.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, loss


def fit(
    key: jax.Array,
    data: Any,
    k: int,
    *,
    variant: str = "l1",
    l1_mode: str = "sharkey",
    l1_coeff: float = 1e-3,
    topk: int = 32,
    bandwidth: float = 1e-3,
    init_threshold: float = 1e-3,
    decoder_bias: bool = False,
    learning_rate: float = 1e-3,
    batch_size: int = 4096,
    max_steps: int = 1000,
    checkpoint_dir: str | None = None,
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
    source = BatchSource(data, batch_size, seed_from_key(key))
    first = source.batch(0)
    d = first.shape[1]
    if variant == "topk" and not 1 <= topk <= k:
        raise ValueError(f"topk must be between 1 and k ({k}), got {topk}")
    check_k(k, np.iinfo(np.int32).max, what="k")
    config = SAEConfig(variant, l1_mode, float(l1_coeff), int(topk), float(bandwidth), bool(decoder_bias))
    optimizer = _adam(learning_rate)
    params = init_params(jax.random.fold_in(key, 1), d, k, init_threshold)
    state = (params, optimizer.init(params))

    def step_fn(step, state):
        params, opt_state = state
        x = maybe_shard_batch(source.batch(step))
        params, opt_state, _ = train_step(params, opt_state, x, config, optimizer)
        return params, opt_state

    (params, opt_state), step = run_steps(
        step_fn, state, max_steps, checkpoint_dir=checkpoint_dir,
        checkpoint_every=checkpoint_every, until_step=until_step,
        meta={"fit": "sae", "k": k, **config._asdict()},
    )
    return SAEState(params, opt_state, jnp.asarray(step, jnp.int32), config)


_ADAMS: dict = {}


def _adam(lr: float):
    """One optax object per learning rate, so ``train_step`` compiles once per setting."""
    return _ADAMS.setdefault(float(lr), optax.adam(float(lr)))


def transform(state: SAEState, acts: jax.Array) -> jax.Array:
    """[n, d] -> [n, K] codes c_k(x), the direction activations used for the II."""
    return _encode(state.params, jnp.asarray(acts, jnp.float32), state.config)


@partial(jax.jit, static_argnames=("config",))
def _encode(params, x, config):
    return encode(params, x, config)[0]


def decoder_directions(state: SAEState) -> jax.Array:
    """[K, d] unit-norm dictionary directions (rows)."""
    w = state.params["W_dec"]
    return (w / jnp.maximum(jnp.linalg.norm(w, axis=0, keepdims=True), 1e-12)).T


def reconstruct(state: SAEState, acts: jax.Array) -> jax.Array:
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
