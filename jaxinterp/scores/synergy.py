"""Pairwise synergy of all N(N-1)/2 neuron pairs (METHODS.md §4.3, seed §3.6 Eq. 8).

::

    f_{a+b}        = z(a_a) + z(a_b)                 # z-score over the dataset
    Synergy(a, b)  = II(a+b) - max(II(a), II(b))
    rho_ab         = Pearson_x(a_a, a_b);   maxSyn(a) = max_b Synergy(a, b)

The cost is the top-M of z_a + z_b over D images for every pair. It is pruned
exactly: let C_a be the C images with the largest z_a and t_a the largest z_a
*outside* C_a (the (C+1)-th value). An image outside C_a ∪ C_b has
z_a + z_b <= t_a + t_b, so if the M-th best sum found inside C_a ∪ C_b exceeds
t_a + t_b, the top-M over all D images lies inside the union. Pairs where this
check fails are recomputed over all D images (so the result is always exact);
``SynergyResult.n_pruned`` says how many pairs the shortcut settled.

The similarities among exemplars come either from a metric (features + a
cheap pairwise) or from a :class:`SimilarityLookup`: a precomputed matrix over a
candidate image set (the authors' "cache LPIPS among the candidate images").
"""

from __future__ import annotations

from functools import partial
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import ArrayLike, Real

from jaxinterp.scores._checks import check_finite
from jaxinterp.scores.ii import _mean_similarity
from jaxinterp.similarity.base import Similarity, take


class SimilarityLookup(NamedTuple):
    """images [c] dataset indices; matrix [c, c] (or [c, c, L]) similarities among them."""

    images: jax.Array
    matrix: jax.Array


class SynergyResult(NamedTuple):
    """pairs [P, 2] (a < b); synergy [P] (or [P, L]); ii_pair [P] II(a+b); ii [N] II of each
    neuron; rho [P] Pearson correlation; max_synergy [N]; top [P, M] exemplars of a+b;
    n_pruned [] pairs settled inside the candidate union (the rest were computed over all images)."""

    pairs: jax.Array
    synergy: jax.Array
    ii_pair: jax.Array
    ii: jax.Array
    rho: jax.Array
    max_synergy: jax.Array
    top: jax.Array
    n_pruned: int


def zscore_columns(acts: jax.Array) -> jax.Array:
    """[n, k] -> each column z-scored over the n images (std := 1 where it is 0)."""
    check_finite(acts, "activations", cols="neuron")
    std = jnp.std(acts, axis=0, keepdims=True)
    return (acts - jnp.mean(acts, axis=0, keepdims=True)) / jnp.where(std > 0, std, 1.0)


def all_pairs(n: int) -> np.ndarray:
    """[n(n-1)/2, 2] pairs (a, b), a < b, in row-major order."""
    a, b = np.triu_indices(n, 1)
    return np.stack([a, b], axis=1).astype(np.int32)


# --- top-M of every pair sum -------------------------------------------------------------------


def _blocks(pairs: np.ndarray, chunk: int) -> tuple[jax.Array, int]:
    """[P, 2] -> [ceil(P / chunk), chunk, 2] (padded with pair (0, 1)), and P."""
    n = pairs.shape[0]
    pad = (-n) % chunk
    padded = np.concatenate([pairs, np.tile(np.array([[0, 1]], np.int32), (pad, 1))])
    return jnp.asarray(padded.reshape(-1, chunk, 2)), n


@partial(jax.jit, static_argnames=("c",))
def _top_c(zt, c):
    return jax.lax.top_k(zt, c + 1)


@partial(jax.jit, static_argnames=("d",))
def _membership_d(cand, d):
    n = cand.shape[0]
    return jnp.zeros((n, d), bool).at[jnp.arange(n)[:, None], cand].set(True).ravel()


def _pruned_top(zt, blocks, m, c):
    """zt [N, D] z-scored rows, blocks [B, chunk, 2] -> (top [B, chunk, m], exact [B, chunk]).

    Each neuron's top-c images (cand [N, c], values [N, c], best value outside [N]) and a flat
    [N * D] mask of (neuron, candidate) come first. Separate jitted stages on purpose: as one
    XLA program on CPU, top_k + scatter + gathers ran ~100x slower (measured).
    """
    vals, idx = _top_c(zt, c)
    cand = idx[:, :c]
    in_top = _membership_d(cand, zt.shape[1])
    return _pruned_blocks(zt.ravel(), cand, vals[:, :c], vals[:, c], in_top, blocks, zt.shape[1], m)


@partial(jax.jit, static_argnames=("d", "m"))
def _pruned_blocks(flat, cand, cand_val, outside, in_top, blocks, d, m):
    def block(ab):
        a, b = ab[:, 0:1], ab[:, 1:2]
        from_a = cand_val[a[:, 0]] + flat[b * d + cand[a[:, 0]]]
        dup = in_top[a * d + cand[b[:, 0]]]
        from_b = jnp.where(dup, -jnp.inf, cand_val[b[:, 0]] + flat[a * d + cand[b[:, 0]]])
        best, pos = jax.lax.top_k(jnp.concatenate([from_a, from_b], axis=1), m)
        images = jnp.take_along_axis(jnp.concatenate([cand[a[:, 0]], cand[b[:, 0]]], axis=1),
                                     pos, axis=1)
        return images, best[:, m - 1] > outside[a[:, 0]] + outside[b[:, 0]]

    return jax.lax.map(block, blocks)


@partial(jax.jit, static_argnames=("m",))
def _full_top(zt, blocks, m):
    return jax.lax.map(lambda ab: jax.lax.top_k(zt[ab[:, 0]] + zt[ab[:, 1]], m)[1], blocks)


def pair_top_exemplars(zt, pairs, m=5, candidates=256, chunk=4096, full_chunk=32):
    """Top-M images of z_a + z_b for every pair, exact.

    Args:
      zt: [N, D] z-scored activations, one row per neuron.
      pairs: [P, 2] neuron indices.
      candidates: C, the per-neuron candidate count of the pruning (0: no pruning).
      chunk, full_chunk: pairs per step of the pruned and of the full (D-wide) pass.

    Returns:
      (top [P, m] image indices, n_pruned).
    """
    check_finite(zt, "z-scored activations", rows="neuron", cols="image")
    zt, pairs = jnp.asarray(zt), np.asarray(pairs, np.int32)
    n_pairs, d = pairs.shape[0], zt.shape[1]
    if n_pairs == 0:
        return jnp.zeros((0, m), jnp.int32), 0
    if not candidates or candidates + 1 > d or candidates < m:
        blocks, _ = _blocks(pairs, max(1, min(full_chunk, n_pairs)))
        return _full_top(zt, blocks, m).reshape(-1, m)[:n_pairs], 0
    blocks, _ = _blocks(pairs, max(1, min(chunk, n_pairs)))
    top, exact = _pruned_top(zt, blocks, m, candidates)
    top, exact = top.reshape(-1, m)[:n_pairs], exact.reshape(-1)[:n_pairs]
    redo = np.flatnonzero(~np.asarray(exact))
    if redo.size:
        blocks, _ = _blocks(pairs[redo], max(1, min(full_chunk, redo.size)))
        fixed = _full_top(zt, blocks, m).reshape(-1, m)[: redo.size]
        top = top.at[redo].set(fixed)
    return top, int(n_pairs - redo.size)


SET_BYTES = 1 << 28  # gathered features per chunk of exemplar sets


# --- II of index sets --------------------------------------------------------------------------


@partial(jax.jit, static_argnames=("pairwise", "chunk"))
def _ii_features(idx, features, pairwise, chunk):
    return jax.lax.map(lambda i: _mean_similarity(pairwise(take(features, i), take(features, i)),
                                                  False), idx, batch_size=chunk)


@jax.jit
def _ii_lookup(pos, matrix):
    return jax.vmap(lambda p: _mean_similarity(matrix[p][:, p], False))(pos)


def ii_of_sets(idx, similarity, features=None, chunk=1024):
    """II of given exemplar sets: idx [P, M] image indices -> [P] (or [P, L]).

    ``similarity`` is a Similarity / pairwise function (with ``features``) or a
    :class:`SimilarityLookup` that must contain every image in ``idx``.
    """
    idx = jnp.asarray(idx)
    if isinstance(similarity, SimilarityLookup):
        images = np.asarray(similarity.images)
        n_max = max(int(images.max()) + 1, int(idx.max()) + 1) if images.size else int(idx.max()) + 1
        where = np.full(n_max, -1, np.int64)
        where[images] = np.arange(images.size)
        pos = where[np.asarray(idx)]
        if (pos < 0).any():
            missing = np.unique(np.asarray(idx)[pos < 0])
            raise ValueError(
                f"{missing.size} exemplar image(s) (e.g. {missing[:5].tolist()}) are not in the "
                f"similarity lookup of {images.size} images; build it with more candidates "
                f"(candidate_lookup(..., c=larger)) or pass features and a pairwise similarity"
            )
        check_finite(similarity.matrix, "similarity lookup matrix", cols="image")
        return _ii_lookup(jnp.asarray(pos, jnp.int32), jnp.asarray(similarity.matrix))
    pairwise = similarity.pairwise if isinstance(similarity, Similarity) else similarity
    # a chunk gathers [chunk, M] images' features: keep it near SET_BYTES (a 224-px model's maps)
    per_set = idx.shape[1] * sum(np.prod(f.shape[1:]) * f.dtype.itemsize for f in jax.tree_util.tree_leaves(features))
    chunk = min(chunk, idx.shape[0], max(1, SET_BYTES // max(per_set, 1)))
    return _ii_features(idx, features, pairwise, chunk)


def exemplar_images(acts, m=5, pairs=None, candidates=256) -> np.ndarray:
    """Sorted unique indices of every image that synergy will score: each neuron's and each
    pair sum's top-``m`` (the set over which to cache an expensive similarity)."""
    zt = zscore_columns(jnp.asarray(acts)).T
    pairs = all_pairs(zt.shape[0]) if pairs is None else np.asarray(pairs, np.int32)
    top, _ = pair_top_exemplars(zt, pairs, m, candidates)
    return _union(top, jax.lax.top_k(zt, m)[1])


def _union(top, own) -> np.ndarray:
    """Sorted unique images of the pairs' [P, m] and the neurons' own [N, m] exemplars."""
    return np.unique(np.concatenate([np.asarray(top).ravel(), np.asarray(own).ravel()]))


def candidate_lookup(acts, metric, features, c=64, images=None, chunk=512) -> SimilarityLookup:
    """Precompute similarities among candidate images: ``images`` if given (e.g.
    :func:`exemplar_images`, which covers every pair exactly), else the union of every
    neuron's top-``c`` images (pair sums whose top-M falls outside it are reported by
    :func:`ii_of_sets`)."""
    if images is None:
        check_finite(acts, "activations", cols="neuron")
        images = np.unique(np.asarray(jax.lax.top_k(jnp.asarray(acts).T, c)[1]))
    images = np.asarray(images)
    pairwise = metric.pairwise if isinstance(metric, Similarity) else metric
    sub = take(features, jnp.asarray(images))
    rows = jax.lax.map(lambda i: pairwise(take(sub, i[None]), sub)[0], jnp.arange(images.size),
                       batch_size=chunk)
    return SimilarityLookup(jnp.asarray(images), rows)


# image pairs up to which synergy caches a metric's similarities among the exemplars
LOOKUP_ENTRIES = 1 << 24


# --- synergy -----------------------------------------------------------------------------------


def synergy(
    acts: Real[ArrayLike, " n k"],
    similarity: Similarity | Callable | SimilarityLookup,
    features: Any = None,
    m: int = 5,
    pairs: np.ndarray | None = None,
    candidates: int = 256,
    chunk: int = 4096,
) -> SynergyResult:
    """Synergy of neuron pairs (all N(N-1)/2 by default).

    Args:
      acts: [D, N] neuron activations over D images.
      similarity: a Similarity or pairwise function over ``features`` ([D, ...] per image),
        or a SimilarityLookup over candidate images.
      m: exemplars (M = 5).
      pairs: [P, 2] pairs to score; default all a < b.
      candidates: per-neuron candidates of the exact pruning (0 disables it).

    Returns:
      SynergyResult.
    """
    acts = jnp.asarray(acts)
    if acts.ndim != 2 or acts.shape[1] < 2:
        raise ValueError(
            f"activations must be [n_images, n_neurons >= 2], got shape {acts.shape}; pass one "
            "column per neuron (spatially average conv maps with capture(..., position='mean')) "
            "and at least two neurons"
        )
    d, n = acts.shape
    if m < 1:
        raise ValueError(f"M (exemplars per pair) must be >= 1, got M={m}; the paper uses m=5")
    if m > d:
        raise ValueError(f"M={m} exemplars were asked for but the dataset has only {d} images; "
                         f"use m <= {d} or more images")
    check_finite(acts, "activations", cols="neuron")
    if not isinstance(similarity, SimilarityLookup):
        leaves = jax.tree_util.tree_leaves(features)
        if not leaves:
            raise ValueError("a metric needs its per-image features, got features=None; pass "
                             "features=metric.featurize(images, labels), or a SimilarityLookup")
        if leaves[0].shape[0] != d:
            raise ValueError(
                f"activations cover {d} images but the similarity features cover "
                f"{leaves[0].shape[0]}; compute both on the same images"
            )
    pairs = all_pairs(n) if pairs is None else np.asarray(pairs, np.int32)
    out_of_range = pairs.size and (pairs.min() < 0 or pairs.max() >= n)
    if pairs.ndim != 2 or pairs.shape[1] != 2 or out_of_range:
        raise ValueError(
            f"pairs must be [P, 2] neuron indices in 0..{n - 1}, got shape {pairs.shape}"
            + (f" with values in [{pairs.min()}, {pairs.max()}]" if pairs.size else "")
            + "; leave pairs=None for all a < b, or build them with all_pairs(n_neurons)"
        )
    zt = zscore_columns(acts).T  # [N, D]
    top, n_pruned = pair_top_exemplars(zt, pairs, m, candidates, chunk)
    own = jax.lax.top_k(zt, m)[1]  # [N, m] each neuron's exemplars
    if not isinstance(similarity, SimilarityLookup):
        # Few distinct exemplars (a small dataset, many neurons): their U×U similarities once
        # instead of P·M² pair similarities of gathered features, which for a 224-px model's
        # maps are ~MBs per image and would not fit in memory at 1,024 sets a chunk.
        images = _union(top, own)
        if images.size ** 2 <= min(top.shape[0] * m * m, LOOKUP_ENTRIES):
            similarity = candidate_lookup(None, similarity, features, images=images)
    ii_pair = ii_of_sets(top, similarity, features, chunk)
    ii = ii_of_sets(own, similarity, features, chunk)
    jp = jnp.asarray(pairs)
    syn = ii_pair - jnp.maximum(ii[jp[:, 0]], ii[jp[:, 1]])
    rho = ((zt @ zt.T) / d)[jp[:, 0], jp[:, 1]]  # one [N, N] product, not [P, D] rows
    max_syn = jnp.full((n,) + syn.shape[1:], -jnp.inf)
    max_syn = max_syn.at[jp[:, 0]].max(syn).at[jp[:, 1]].max(syn)
    return SynergyResult(jp, syn, ii_pair, ii, rho, max_syn, top, n_pruned)


def synergy_matrix(result: SynergyResult, n: int) -> jax.Array:
    """[n, n] symmetric matrix of synergies (NaN on the diagonal and for unscored pairs)."""
    out = jnp.full((n, n) + result.synergy.shape[1:], jnp.nan)
    p = result.pairs
    return out.at[p[:, 0], p[:, 1]].set(result.synergy).at[p[:, 1], p[:, 0]].set(result.synergy)
