"""Jacobians of every neuron with respect to its inputs, and their summary statistics.

METHODS.md §5.4. For position samples (image, h, w) of a :class:`~jaxinterp.neurons.levels.Level`,
J[i, n] = ∂y_n(image_i, h_i, w_i) / ∂u_i, cropped to the level's windows so it
lines up column by column with the design matrix. One forward pass per sample
(``jax.vjp``) serves all N neurons: the pullback is mapped over N one-hot
cotangents; samples and cotangents are chunked with ``lax.map`` to bound memory.

Statistics of one neuron's [p, d] Jacobians (:func:`jacobian_stats`):
sensitivity E‖J‖; consistency ‖E J‖² / E‖J‖²; effective input dimension
(tr G)² / tr(G²) with G = E[J Jᵀ]; axis focus max_j G_jj / tr G.
tr(G²) is computed from the [p, p] Gram matrix when p < d.
"""

from __future__ import annotations


import jax
import jax.numpy as jnp

from jaxinterp.neurons.levels import Level, window_row


# input floats one batch of pullbacks carries (rows x samples x the level's input): a 224-px
# model's 512 pullbacks of 8 images at once asked for 90 GB
ROW_FLOATS = 1 << 22
# Jacobian floats held at once by :func:`jacobian_stats_of` ([p, neurons of a block, d]): the
# whole [p, N, d] of GoogLeNet inception4a's pixel level (128 x 512 x 58k) is 15 GB
STATS_FLOATS = 1 << 26


def _jacobian_rows(level: Level, parts_one, h, w, rows: int, units: jax.Array):
    """[U, d] Jacobian of outputs ``units`` at (h, w) w.r.t. the level's windows of one image;
    ``rows`` pullbacks at a time."""
    out, pullback = jax.vjp(level.fn, parts_one)

    def row(n):
        ct = jnp.zeros_like(out).at[h, w, n].set(1.0)
        (grads,) = pullback(ct)
        return window_row(level, grads, h, w)

    return jax.lax.map(row, units, batch_size=rows)


def _outputs(level: Level) -> int:
    return jax.eval_shape(level.fn, tuple(p[0] for p in level.parts)).shape[-1]


def jacobians(level: Level, positions: jax.Array, chunk: int = 32, units: jax.Array | None = None) -> jax.Array:
    """Jacobians of every neuron (or of ``units`` [U]) at every position sample: [p, 3] ->
    [p, N (or U), level.dim]; at most ``chunk`` samples and :data:`ROW_FLOATS` input floats of
    pullbacks at a time."""
    positions = jnp.asarray(positions)
    units = jnp.arange(_outputs(level)) if units is None else jnp.asarray(units)
    in_floats = sum(int(p[0].size) for p in level.parts)
    rows = int(min(units.shape[0], max(1, ROW_FLOATS // in_floats)))
    samples = int(max(1, min(chunk, positions.shape[0], ROW_FLOATS // (in_floats * rows))))

    def one(pos):
        return _jacobian_rows(level, tuple(p[pos[0]] for p in level.parts), pos[1], pos[2], rows, units)

    return jax.lax.map(one, positions, batch_size=samples)


def jacobian_stats_of(level: Level, positions: jax.Array, chunk: int = 32) -> dict[str, jax.Array]:
    """:func:`jacobian_stats_all` of :func:`jacobians` without holding all of them: the neurons
    go in blocks whose Jacobians [p, block, d] stay within :data:`STATS_FLOATS` floats (each
    block repeats the samples' forward passes, a small cost beside its pullbacks), all in one
    compiled program (the last block is padded with repeats of the last neuron). Returns a dict
    of [N]."""
    n_out = _outputs(level)
    positions = jnp.asarray(positions)
    per_unit = int(positions.shape[0]) * level.dim
    blocks = -(-n_out // int(min(n_out, max(1, STATS_FLOATS // max(per_unit, 1)))))
    block = -(-n_out // blocks)  # even blocks: padding under one neuron per block, not up to a block
    units = jnp.minimum(jnp.arange(blocks * block), n_out - 1).reshape(blocks, block)

    @jax.jit
    def run(parts, positions, units):
        inputs = level._replace(parts=parts)
        return jax.lax.map(lambda u: jacobian_stats_all(jacobians(inputs, positions, chunk, u)), units)

    stats = run(level.parts, positions, units)
    return {k: v.reshape(blocks * block)[:n_out] for k, v in stats.items()}


@jax.jit
def jacobian_stats(jac: jax.Array) -> dict[str, jax.Array]:
    """Summary statistics of one neuron's Jacobians [p, d] (METHODS.md §5.4).

    Returns:
      dict of scalars: ``sensitivity`` E‖J‖, ``consistency`` ‖EJ‖²/E‖J‖²,
      ``effective_dim`` (tr G)²/tr(G²), ``axis_focus`` max_j G_jj / tr G and
      ``focus_index`` argmax_j G_jj (a column of the design matrix).
    """
    p, d = jac.shape
    sq = jnp.sum(jac * jac, axis=1)  # [p]
    tr = jnp.mean(sq)
    mean_j = jnp.mean(jac, axis=0)
    diag = jnp.mean(jac * jac, axis=0)  # G_jj
    if p < d:
        gram = jac @ jac.T / p
        tr_g2 = jnp.sum(gram * gram)
    else:
        g = jac.T @ jac / p
        tr_g2 = jnp.sum(g * g)
    safe = jnp.maximum(tr, 1e-30)
    return {
        "sensitivity": jnp.mean(jnp.sqrt(sq)),
        "consistency": jnp.sum(mean_j * mean_j) / safe,
        "effective_dim": tr * tr / jnp.maximum(tr_g2, 1e-30),
        "axis_focus": jnp.max(diag) / safe,
        "focus_index": jnp.argmax(diag),
    }


def jacobian_stats_all(jac: jax.Array) -> dict[str, jax.Array]:
    """:func:`jacobian_stats` of every neuron: [p, N, d] -> dict of [N]."""
    return jax.vmap(jacobian_stats, in_axes=1)(jac)
