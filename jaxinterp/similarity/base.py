"""A similarity metric = per-image features + a pairwise kernel on features.

Every metric of METHODS.md §1.3 is phrased this way so that each image is
processed once and any set of pairs (a block, all pairs, the top-M exemplars of
every direction) is a cheap kernel call::

    feats = metric.featurize(images, labels)        # pytree, leading axis = image
    S = metric.pairwise(take(feats, a), take(feats, b))   # [len(a), len(b)], higher = more similar

Distances are negated, so every value is a *similarity*. Metrics built from
several layers (LPIPS, model features) also give per-layer values
(``pairwise_layers -> [a, b, L]``), and metrics whose all-pairs kernel is a Gram
product (L2, LPIPS) give an exact row-by-row kernel ``paired`` for given pairs
and for the diagonal (the Gram form loses relative precision for near-identical
images). The blockwise drivers live in :mod:`jaxinterp.similarity.blockwise`.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax


class Similarity(NamedTuple):
    """name: short label used in reports.
    featurize: (images [n, h, w, c] in [0, 1], labels [n] or None) -> feature pytree, leading axis n.
    pairwise: (features_a, features_b) -> [a, b] similarities.
    pairwise_layers: (features_a, features_b) -> [a, b, L] per-layer similarities, or None.
    paired: (features_a, features_b), both with n rows -> [n] similarities of row i with row i
      (exact; None: taken from ``pairwise`` one pair at a time).
    paired_layers: the same per layer -> [n, L], or None.
    layer_names: the L layer names, in the order of the last axis of the per-layer values.
    """

    name: str
    featurize: Callable[[jax.Array, jax.Array | None], Any]
    pairwise: Callable[[Any, Any], jax.Array]
    pairwise_layers: Callable[[Any, Any], jax.Array] | None = None
    paired: Callable[[Any, Any], jax.Array] | None = None
    paired_layers: Callable[[Any, Any], jax.Array] | None = None
    layer_names: tuple[str, ...] = ()


def take(features: Any, index: jax.Array) -> Any:
    """Rows ``index`` of every leaf of a feature pytree."""
    return jax.tree_util.tree_map(lambda f: f[index], features)


def num_rows(features: Any) -> int:
    """The number of images a feature pytree covers (its leaves' leading axis)."""
    leaves = jax.tree_util.tree_leaves(features)
    if not leaves:
        raise ValueError("the feature pytree is empty; compute features with metric.featurize(images)")
    return leaves[0].shape[0]


def kernel(metric: Similarity, layers: bool) -> Callable[[Any, Any], jax.Array]:
    """The all-pairs kernel: ``pairwise`` ([a, b]) or ``pairwise_layers`` ([a, b, L])."""
    if not layers:
        return metric.pairwise
    if metric.pairwise_layers is None:
        raise ValueError(
            f"the {metric.name!r} similarity has no layers; call it with layers=False "
            "(per-layer values exist for lpips and model-feature similarities)"
        )
    return metric.pairwise_layers


def paired_kernel(metric: Similarity, layers: bool) -> Callable[[Any, Any], jax.Array]:
    """The row-by-row kernel: [n] (or [n, L] with ``layers``) values s(a_i, b_i)."""
    exact = metric.paired_layers if layers else metric.paired
    if exact is not None:
        return exact
    pairwise = kernel(metric, layers)

    def one(fa, fb):
        expand = lambda f: f[None]
        return pairwise(jax.tree_util.tree_map(expand, fa), jax.tree_util.tree_map(expand, fb))[0, 0]

    return jax.vmap(one)


def matrix(
    metric: Similarity, features_a: Any, features_b: Any | None = None, *, layers: bool = False
) -> jax.Array:
    """All-pairs similarity [a, b] (or [a, a] within one set; [.., L] with ``layers``).

    Within one set prefer :func:`jaxinterp.similarity.all_pairs`, which makes the
    diagonal exact.
    """
    return kernel(metric, layers)(features_a, features_a if features_b is None else features_b)
