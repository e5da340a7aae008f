"""Every §5 measure for every neuron of a layer: the per-level and per-image tables.

:func:`level_measures` runs, for one :class:`~jaxinterp.neurons.levels.Level`
and a set of position samples, the ridge R² (shared Cholesky, CV penalty), the
MLP ceiling, LF, the Jacobian statistics, KSG I(y; PC_j(u)) for the top PCs of
the design, and the output entropies. :func:`image_measures` computes the
label information of image-level activations. Each returns ``{measure: [N]}``.
"""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxinterp.neurons import information, jacobian, linearity
from jaxinterp.neurons.levels import Level, design_matrix, targets


def top_components(x: jax.Array, k: int) -> jax.Array:
    """Scores of the top-k principal components of [p, d] rows: [p, k]."""
    xc = x - jnp.mean(x, axis=0, keepdims=True)
    k = min(k, *x.shape)
    if x.shape[1] <= x.shape[0]:
        _, vecs = jnp.linalg.eigh(xc.T @ xc)
        return xc @ vecs[:, ::-1][:, :k]
    u, s, _ = jnp.linalg.svd(xc, full_matrices=False)
    return u[:, :k] * s[None, :k]


def level_measures(
    key: jax.Array,
    level: Level,
    outputs: jax.Array,
    positions: jax.Array,
    folds: int = 5,
    test_fraction: float = 0.2,
    mlp_hidden: Sequence[int] = (256, 256),
    mlp_steps: int = 2000,
    n_pcs: int = 10,
    ksg_samples: int = 2000,
    jacobian_samples: int = 512,
    chunk: int = 32,
    log=None,
) -> dict[str, np.ndarray]:
    """All position-sample measures of one level.

    Args:
      key: PRNG key.
      level: the inputs.
      outputs: [n, h, w, N] the layer's activations on the level's images.
      positions: [p, 3] position samples (image, h, w).
      log: optional ``log(message)`` called as each stage starts (the MLP ceiling takes minutes).

    Returns:
      ``{name: [N] array}``: r2_lin, r2_nl, lf, lambda, sensitivity, consistency,
      effective_dim, axis_focus, focus_index, mi_pc_max, mi_pc_sum, h_mix, p0,
      h_pos, h_binned.
    """
    log = log or (lambda msg: None)
    k_split, k_mlp, k_sub = jax.random.split(key, 3)
    log(f"{level.name}: design matrix {positions.shape[0]} x {level.dim}, ridge")
    x = design_matrix(level, positions)
    y = targets(outputs, positions)
    sp = linearity.split(k_split, x.shape[0], test_fraction, folds)
    ridge = linearity.ridge_cv(x, y, sp, folds=folds)
    # residual MLP: the ceiling starts at the ridge fit
    offset = x @ ridge.coef + ridge.intercept[None, :]
    log(f"{level.name}: MLP ceiling {tuple(mlp_hidden)}, {mlp_steps} steps")
    mlp = linearity.mlp_ceiling(k_mlp, x, y, sp, hidden=mlp_hidden, steps=mlp_steps, offset=offset)
    out = {
        "r2_lin": ridge.r2_test,
        "r2_nl": mlp.r2_test,
        "lf": linearity.linearity_fraction(ridge.r2_test, mlp.r2_test),
        "lambda": ridge.lam,
    }
    log(f"{level.name}: Jacobians of {min(jacobian_samples, x.shape[0])} samples, MI, entropies")
    sub = jax.random.permutation(k_sub, x.shape[0])
    out.update(jacobian.jacobian_stats_of(level, positions[sub[:jacobian_samples]], chunk=chunk))
    ks = sub[:ksg_samples]
    pcs = top_components(x[ks], n_pcs)
    mi = information.mi_ksg_all(y[ks], pcs)  # [N, n_pcs]
    out["mi_pc_max"], out["mi_pc_sum"] = jnp.max(mi, axis=1), jnp.sum(mi, axis=1)
    out.update(information.mixed_entropy_all(y))
    out["h_binned"] = information.binned_entropy_all(y)
    return {k: np.asarray(v) for k, v in out.items()}


def image_measures(acts: jax.Array, labels: jax.Array | None, n_classes: int | None = None,
                   bins: int = 20, k: int = 3) -> dict[str, np.ndarray]:
    """Label information of image-level activations [n, N] (METHODS.md §5.3).

    Returns:
      ``{"mi_binned", "mi_knn", "nmi_binned", "nmi_knn"}`` of [N]; empty without labels.
    """
    if labels is None:
        return {}
    labels = jnp.asarray(labels).astype(jnp.int32)
    n_classes = int(n_classes or int(labels.max()) + 1)
    acts = jnp.asarray(acts, jnp.float32)
    mb = information.mi_binned_all(acts, labels, n_classes, bins)
    mk = information.mi_knn_all(acts, labels, n_classes, k)
    norm = np.log(n_classes)
    return {"mi_binned": np.asarray(mb), "mi_knn": np.asarray(mk),
            "nmi_binned": np.asarray(mb) / norm, "nmi_knn": np.asarray(mk) / norm}
