"""How linear is each neuron in its inputs? Held-out ridge R², an MLP ceiling, their ratio.

METHODS.md §5.1. All neurons share one design matrix U [p, d], so the ridge fit
of every neuron is one set of Cholesky solves of (UᵀU + λI) with an [d, N]
right-hand side (or of UUᵀ + λI when there are fewer samples than inputs) (PERF_NOTES: two to three orders of magnitude faster than
per-neuron least squares). λ is chosen per neuron by k-fold cross-validation
over ``10^{-4..4} · tr(UᵀU) / d``.

The nonlinear ceiling is a small ReLU MLP per neuron, trained with optax Adam
on the same split, vmapped over neurons; early stopping keeps the parameters
with the best validation loss. LF = R²_lin / max(R²_nl, R²_lin).
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxinterp import _optax

DEFAULT_LAMBDAS = tuple(10.0 ** e for e in range(-4, 5))


class Split(NamedTuple):
    """Indices into the samples: fit (training + CV) and held-out test."""

    fit: jax.Array
    test: jax.Array


def split(key: jax.Array, n: int, test_fraction: float = 0.2, folds: int = 5) -> Split:
    """Random fit/test split of n samples; checks there are enough for ``folds``-fold CV."""
    n_test = int(round(n * test_fraction))
    n_fit = n - n_test
    if n_test < 2 or n_fit < 2 * folds:
        raise ValueError(
            f"too few samples for {folds}-fold cross-validation with a {test_fraction:.0%} "
            f"held-out set: got {n}, which leaves {n_fit} to fit and {n_test} to test; need at "
            f"least {2 * folds} to fit and 2 to test (n >= {int(2 * folds / (1 - test_fraction)) + 1}). "
            "Pass more samples or fewer folds"
        )
    perm = jax.random.permutation(key, n)
    return Split(perm[:n_fit], perm[n_fit:])


def _r2(y, pred):
    """Per-column R² of [p, N] predictions around the columns' own means."""
    sse = jnp.sum((y - pred) ** 2, axis=0)
    sst = jnp.sum((y - jnp.mean(y, axis=0, keepdims=True)) ** 2, axis=0)
    return 1.0 - sse / jnp.maximum(sst, 1e-12)


def _solve_all(xc, yc, lambdas):
    """Ridge coefficients of centred data for every λ: xc [n, d], yc [n, N] -> [L, d, N].

    Primal (XᵀX + λI) β = Xᵀy when n >= d, dual β = Xᵀ (XXᵀ + λI)⁻¹ y when n < d:
    the same solution, with the smaller of the two Cholesky factorisations.
    Rows of zeros (samples masked out of a fold) change neither.
    """
    n, d = xc.shape
    dual = n < d
    gram = xc @ xc.T if dual else xc.T @ xc
    rhs = yc if dual else xc.T @ yc
    eye = jnp.eye(gram.shape[0], dtype=gram.dtype)

    def one(lam):
        chol = jax.scipy.linalg.cho_factor(gram + lam * eye, lower=True)
        sol = jax.scipy.linalg.cho_solve(chol, rhs)
        return xc.T @ sol if dual else sol

    return jax.lax.map(one, lambdas)


class RidgeFit(NamedTuple):
    """coef [d, N], intercept [N], lam [N] (absolute penalty), r2_test [N], cv_sse [L, N]."""

    coef: jax.Array
    intercept: jax.Array
    lam: jax.Array
    r2_test: jax.Array
    cv_sse: jax.Array


@partial(jax.jit, static_argnames=("folds",))
def _ridge_cv(x_fit, y_fit, x_test, y_test, rel_lambdas, folds):
    n, d = x_fit.shape
    xc = x_fit - jnp.mean(x_fit, 0, keepdims=True)
    lambdas = rel_lambdas * jnp.sum(xc * xc) / d  # tr(UᵀU) / d
    fold_of = jnp.arange(n) % folds

    def fold_sse(f):
        w = (fold_of != f).astype(x_fit.dtype)[:, None]
        cnt = jnp.sum(w)
        mx = jnp.sum(w * x_fit, 0) / cnt
        my = jnp.sum(w * y_fit, 0) / cnt
        xc, yc = (x_fit - mx[None, :]) * w, (y_fit - my[None, :]) * w
        coefs = _solve_all(xc, yc, lambdas)  # [L, d, N]
        pred = jnp.einsum("pd,ldn->lpn", x_fit - mx[None, :], coefs) + my[None, None, :]
        return jnp.sum((1 - w)[None] * (y_fit[None] - pred) ** 2, axis=1)  # [L, N]

    cv_sse = jnp.sum(jax.lax.map(fold_sse, jnp.arange(folds)), axis=0)
    best = jnp.argmin(cv_sse, axis=0)  # [N]
    mx, my = jnp.mean(x_fit, 0), jnp.mean(y_fit, 0)
    coefs = _solve_all(x_fit - mx[None, :], y_fit - my[None, :], lambdas)  # [L, d, N]
    coef = jnp.take_along_axis(coefs, best[None, None, :], axis=0)[0]
    intercept = my - mx @ coef
    r2 = _r2(y_test, x_test @ coef + intercept[None, :])
    return RidgeFit(coef, intercept, lambdas[best], r2, cv_sse)


def ridge_cv(
    x: jax.Array,
    y: jax.Array,
    split_: Split,
    rel_lambdas: Sequence[float] = DEFAULT_LAMBDAS,
    folds: int = 5,
) -> RidgeFit:
    """Ridge regression of every neuron on a shared design, λ by k-fold CV, R² on held-out samples.

    Args:
      x: [p, d] design matrix (one row per sample).
      y: [p, N] responses of N neurons.
      split_: :class:`Split` from :func:`split`.
      rel_lambdas: penalties in units of tr(UᵀU)/d of the centred fit set.
      folds: cross-validation folds.

    Returns:
      :class:`RidgeFit`; ``r2_test`` [N] is R²_lin.
    """
    x, y = jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.float32)
    if x.ndim != 2 or y.ndim != 2 or x.shape[0] != y.shape[0]:
        raise ValueError(f"x must be [p, d] and y [p, N] with the same p, got {x.shape} and {y.shape}")
    if split_.fit.shape[0] < 2 * folds:
        raise ValueError(
            f"{folds}-fold cross-validation needs at least {2 * folds} fitting samples, "
            f"got {split_.fit.shape[0]}; pass more samples or fewer folds"
        )
    return _ridge_cv(x[split_.fit], y[split_.fit], x[split_.test], y[split_.test],
                     jnp.asarray(rel_lambdas, jnp.float32), folds)


# ---------------------------------------------------------------- MLP ceiling


def _init_mlp(key, sizes):
    params = []
    for k, (a, b) in zip(jax.random.split(key, len(sizes) - 1), zip(sizes[:-1], sizes[1:])):
        params.append((jax.random.normal(k, (a, b)) * jnp.sqrt(2.0 / a), jnp.zeros(b)))
    w, b = params[-1]
    params[-1] = (jnp.zeros_like(w), b)  # starts at the offset (e.g. the ridge fit) exactly
    return params


def _mlp(params, x):
    def dense(x, w, b):
        h = x @ w
        return h + jnp.broadcast_to(b, h.shape)

    for w, b in params[:-1]:
        x = jax.nn.relu(dense(x, w, b))
    return dense(x, *params[-1])[..., 0]


class MLPFit(NamedTuple):
    """r2_test [N]: held-out R² of the best-validation parameters; best_step [N]; val_curve [steps/every, N]."""

    r2_test: jax.Array
    best_step: jax.Array
    val_curve: jax.Array


# floats the vmapped MLPs of one call may hold (parameters, gradients, Adam's two moments, the
# best parameters and temporaries: about 8 copies). GoogLeNet inception4a's pixel level (34,347
# inputs, 512 neurons, 128 hidden) asked for 72 GB at once.
MLP_FLOATS = 1 << 28


def _mlp_params(sizes) -> int:
    return sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))


@partial(jax.jit, static_argnames=("hidden", "steps", "batch", "every"))
def _mlp_ceiling(keys, x_tr, y_tr, x_val, y_val, x_test, y_test, o_tr, o_val, o_test,
                 hidden, steps, batch, lr, every):
    d = x_tr.shape[1]
    # the MLP fits what the offset (ridge prediction, or zero) leaves: y = offset + MLP(x)
    y_tr, y_val = y_tr - o_tr, y_val - o_val
    mu, sd = jnp.mean(x_tr, 0, keepdims=True), jnp.std(x_tr, 0, keepdims=True) + 1e-6
    norm = lambda x: (x - mu) / sd
    x_tr, x_val, x_test = norm(x_tr), norm(x_val), norm(x_test)
    ym, ys = jnp.mean(y_tr, 0, keepdims=True), jnp.std(y_tr, 0, keepdims=True) + 1e-6
    y_tr, y_val = (y_tr - ym) / ys, (y_val - ym) / ys
    opt = optax.adam(lr)
    sizes = (d, *hidden, 1)

    def one_neuron(key, yt, yv):
        k_init, k_batch = jax.random.split(key)
        params = _init_mlp(k_init, sizes)
        state = opt.init(params)

        def loss(p, xb, yb):
            return jnp.mean((_mlp(p, xb) - yb) ** 2)

        def train_step(carry, i):
            params, state = carry
            idx = jax.random.randint(jax.random.fold_in(k_batch, i), (batch,), 0, x_tr.shape[0])
            g = jax.grad(loss)(params, x_tr[idx], yt[idx])
            return _optax.step(opt, g, state, params), None

        def check(carry, c):  # `every` training steps, then one validation check
            params, state, best, best_loss, best_step = carry
            (params, state), _ = jax.lax.scan(train_step, (params, state), c * every + jnp.arange(every))
            vl = loss(params, x_val, yv)
            better = vl < best_loss
            best = jax.tree_util.tree_map(lambda a, b: jnp.where(better, a, b), params, best)
            return (params, state, best, jnp.minimum(vl, best_loss),
                    jnp.where(better, (c + 1) * every, best_step)), vl

        init = (params, state, params, loss(params, x_val, yv), 0)
        (_, _, best, _, best_step), curve = jax.lax.scan(check, init, jnp.arange(steps // every))
        return best, best_step, curve

    best, best_step, curve = jax.vmap(one_neuron, in_axes=(0, 1, 1))(keys, y_tr, y_val)
    pred = jax.vmap(_mlp, in_axes=(0, None))(best, x_test).T * ys + ym + o_test  # [p_test, N]
    return MLPFit(_r2(y_test, pred), best_step, curve.T)


def mlp_ceiling(
    key: jax.Array,
    x: jax.Array,
    y: jax.Array,
    split_: Split,
    hidden: Sequence[int] = (256, 256),
    steps: int = 2000,
    batch: int = 256,
    lr: float = 1e-3,
    val_fraction: float = 0.2,
    every: int = 50,
    offset: jax.Array | None = None,
) -> MLPFit:
    """Nonlinear ceiling R²_nl: one ReLU MLP per neuron (vmapped), Adam, early stopping.

    The fit samples of ``split_`` are split again into training and validation
    (``val_fraction``); validation loss is checked every ``every`` steps and the
    best parameters are evaluated on the held-out test samples.

    With ``offset`` [p, N] (e.g. the ridge predictions), the model is
    offset + MLP(x) with the MLP's last layer starting at zero, so the ceiling
    starts from the linear fit and early stopping never ends below it on the
    validation set: a residual MLP, which also trains in far fewer steps.

    Args:
      key: PRNG key (initialisation, minibatches, validation split).
      x: [p, d] shared design; y: [p, N] responses.
      hidden: hidden widths (METHODS.md §5.1: 2 × 256).

    Returns:
      :class:`MLPFit` with ``r2_test`` [N].
    """
    x, y = jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.float32)
    k_split, k_fit = jax.random.split(key)
    fit = jax.random.permutation(k_split, split_.fit)
    n_val = max(1, int(round(fit.shape[0] * val_fraction)))
    if fit.shape[0] - n_val < 2:
        raise ValueError(f"too few fitting samples for the MLP ceiling: {fit.shape[0]}; pass more samples")
    tr, val = fit[n_val:], fit[:n_val]
    offset = jnp.zeros_like(y) if offset is None else jnp.asarray(offset, jnp.float32)
    hidden = tuple(int(h) for h in hidden)
    n = y.shape[1]
    keys = jax.random.split(k_fit, n)  # one per neuron, whatever the blocks
    # neurons in even blocks within MLP_FLOATS, one compiled program for all (the last block
    # repeats its last neuron; the repeats are dropped)
    blocks = -(-n // max(1, min(n, MLP_FLOATS // (8 * _mlp_params((x.shape[1], *hidden, 1))))))
    block = -(-n // blocks)
    cols = np.minimum(np.arange(blocks * block), n - 1).reshape(blocks, block)
    x_tr, x_val, x_test = x[tr], x[val], x[split_.test]
    parts = [_mlp_ceiling(keys[c], x_tr, y[tr][:, c], x_val, y[val][:, c], x_test, y[split_.test][:, c],
                          offset[tr][:, c], offset[val][:, c], offset[split_.test][:, c], hidden, int(steps),
                          int(min(batch, tr.shape[0])), float(lr), int(min(every, steps)))
             for c in cols]  # a few blocks (one for a CIFAR layer), not a loop over neurons
    return MLPFit(*(jnp.concatenate(f, axis=-1)[..., :n] for f in zip(*parts)))


def linearity_fraction(r2_lin: jax.Array, r2_nl: jax.Array) -> jax.Array:
    """LF = R²_lin / max(R²_nl, R²_lin), elementwise; NaN where both are <= 0."""
    top = jnp.maximum(r2_nl, r2_lin)
    return jnp.where(top > 0, r2_lin / jnp.where(top > 0, top, 1.0), jnp.nan)
