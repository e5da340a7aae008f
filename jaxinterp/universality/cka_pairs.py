"""CKA of every layer of one model against every layer of another, streamed over images.

Linear kernel: the unbiased HSIC of a pair needs only sums over images
(XᵀY, Σx, Σ‖x‖²y, Σ‖x‖²‖y‖², ...; see :func:`linear_result`), so the images
are read in chunks of ``batch_size`` and each chunk updates the
:class:`LinearCKAStats` of *all* pairs at once: one GEMM of the concatenated
layers of A (with their squared norms and a ones column appended) against those
of B, plus one batched GEMM per distinct layer width for the self-terms. Block sums over the [ΣdA, ΣdB] cross matrix (one matmul with a 0/1
layer-membership matrix each side) then give the [LA, LB] HSIC matrix. The
result is exact, whatever the chunk size: minibatch CKA equals full CKA. Every
chunk is shifted by the first chunk's mean before accumulating (HSIC_u is
invariant to shifts; this keeps float32 sums well conditioned).

RBF kernel: the Gram matrices are needed, so rows of all layers' Grams are
formed a block at a time (layers padded to one width, :mod:`.stack`) inside a
``lax.scan``; each block adds its Σ K_l∘L_m for all pairs (one matmul) and its
row sums, never holding an [n, n] matrix.
"""

from __future__ import annotations

from functools import partial
from typing import Mapping, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxinterp.universality import stack
from jaxinterp.universality._checks import check_finite, check_layers, check_same_images
from jaxinterp.universality.cka import normalise_hsic, unbiased_hsic_terms

KERNELS = ("linear", "rbf")


class LinearPlan(NamedTuple):
    """The static shape of a comparison: feature widths of A's layers and of B's (hashable, so
    jitted functions specialise on it)."""

    widths_a: tuple[int, ...]
    widths_b: tuple[int, ...]


def linear_plan(acts_a: Mapping[str, object], acts_b: Mapping[str, object]) -> LinearPlan:
    la, lb = stack.layout(acts_a), stack.layout(acts_b)
    return LinearPlan(tuple(int(w) for w in la.widths), tuple(int(w) for w in lb.widths))


class LinearCKAStats(NamedTuple):
    """Sufficient statistics of linear HSIC for all pairs of A's LA layers (ΣdA columns, widest
    pa) and B's LB layers, as sums over images i; a_i^(l) = ‖x_i^(l)‖², b_i^(m) = ‖y_i^(m)‖².

    ``moments`` is one matrix [ΣdA + LA + 1, ΣdB + LB + 1] = Σ_i [x_i, a_i, 1]ᵀ[y_i, b_i, 1]:
    its blocks are Σ x yᵀ, Σ a yᵀ, Σ x bᵀ, Σ a bᵀ, the sums Σx, Σy, Σa, Σb and the count.
    """

    shift_a: jax.Array    # [ΣdA] subtracted from every image (the first chunk's mean)
    shift_b: jax.Array    # [ΣdB]
    moments: jax.Array    # [ΣdA + LA + 1, ΣdB + LB + 1]
    self_a: jax.Array     # [LA, pa, pa] Σ x_i^(l) x_i^(l)ᵀ, zero-padded
    self_b: jax.Array     # [LB, pb, pb]
    own_a: jax.Array      # [LA, pa] Σ a_i^(l) x_i^(l)
    own_b: jax.Array      # [LB, pb]
    sqsq_a: jax.Array     # [LA] Σ (a_i^(l))²
    sqsq_b: jax.Array     # [LB]


def _offsets(widths):
    return np.concatenate([[0], np.cumsum(widths)[:-1]]).astype(int)


def _layer_terms(z, widths):
    """Per-layer terms of one chunk, layers of one width at a time (no padding in the GEMMs).

    z [b, Σd] -> q [b, L] squared norms, self [L, p, p] Σ x xᵀ, own [L, p] Σ a x (p = widest).
    """
    widths = np.asarray(widths)
    offsets, L, p, b = _offsets(widths), len(widths), int(widths.max()), z.shape[0]
    q = jnp.zeros((b, L), z.dtype)
    c_self = jnp.zeros((L, p, p), z.dtype)
    own = jnp.zeros((L, p), z.dtype)
    for w in np.unique(widths):  # a handful of distinct widths, unrolled at trace time
        ids = np.flatnonzero(widths == w)
        cols = (offsets[ids][:, None] + np.arange(w)[None, :]).ravel()
        xg = z[:, cols].reshape(b, len(ids), w).transpose(1, 0, 2)  # [Lg, b, w]
        qg = jnp.sum(xg * xg, -1)  # [Lg, b]
        q = q.at[:, ids].set(qg.T)
        c_self = c_self.at[ids, :w, :w].set(jnp.matmul(xg.transpose(0, 2, 1), xg))
        own = own.at[ids, :w].set(jnp.einsum("lb,lbp->lp", qg, xg))
    return q, c_self, own


def linear_init(plan: LinearPlan, shift_a=None, shift_b=None) -> LinearCKAStats:
    """Empty statistics for ``plan`` (:func:`linear_plan`); shifts default to zero."""
    da, db, la, lb = sum(plan.widths_a), sum(plan.widths_b), len(plan.widths_a), len(plan.widths_b)
    pa, pb = max(plan.widths_a), max(plan.widths_b)
    z = partial(jnp.zeros, dtype=jnp.float32)
    sa = z(da) if shift_a is None else jnp.asarray(shift_a, jnp.float32)
    sb = z(db) if shift_b is None else jnp.asarray(shift_b, jnp.float32)
    return LinearCKAStats(sa, sb, z((da + la + 1, db + lb + 1)), z((la, pa, pa)), z((lb, pb, pb)),
                          z((la, pa)), z((lb, pb)), z(la), z(lb))


@partial(jax.jit, static_argnames=("plan",))
def linear_update(stats: LinearCKAStats, plan: LinearPlan, xa, xb, valid) -> LinearCKAStats:
    """Add a chunk: xa [b, ΣdA], xb [b, ΣdB] (concatenated layers), valid [b] (False = padding)."""
    m = valid.astype(jnp.float32)[:, None]
    za = (xa - stats.shift_a[None, :]) * m
    zb = (xb - stats.shift_b[None, :]) * m
    qa, self_a, own_a = _layer_terms(za, plan.widths_a)
    qb, self_b, own_b = _layer_terms(zb, plan.widths_b)
    fa = jnp.concatenate([za, qa, m], 1)
    fb = jnp.concatenate([zb, qb, m], 1)
    return LinearCKAStats(
        stats.shift_a, stats.shift_b, stats.moments + fa.T @ fb,  # the one big GEMM
        stats.self_a + self_a, stats.self_b + self_b, stats.own_a + own_a, stats.own_b + own_b,
        stats.sqsq_a + jnp.sum(qa * qa, 0), stats.sqsq_b + jnp.sum(qb * qb, 0),
    )


def _gather(widths):
    """[L, widest] column indices into the concatenated form; Σd pads."""
    widths = np.asarray(widths)
    offsets, p = _offsets(widths), int(widths.max())
    idx = np.full((len(widths), p), int(widths.sum()), np.int32)
    for i, (o, w) in enumerate(zip(offsets, widths)):
        idx[i, :w] = np.arange(o, o + w)
    return idx


def _one_hot(widths):
    """[Σd, L] layer membership of each concatenated column."""
    seg = np.repeat(np.arange(len(widths)), widths)
    return jnp.asarray((seg[:, None] == np.arange(len(widths))[None, :]).astype(np.float32))


def _self_hsic(c_self, s, sq, own, sq_sq, widths, n, unbiased):
    """[L] HSIC of every layer with itself."""
    s_pad = jnp.concatenate([s, jnp.zeros(1, s.dtype)])[_gather(widths)]  # [L, widest]
    if not unbiased:
        cc = c_self - s_pad[:, :, None] * s_pad[:, None, :] / n
        return jnp.sum(cc * cc, (1, 2)) / (n - 1) ** 2
    fro2 = jnp.sum(c_self * c_self, (1, 2))
    ka = jnp.sum(s_pad * s_pad, 1) - sq
    scs = jnp.einsum("lp,lpq,lq->l", s_pad, c_self, s_pad)
    kl1 = scs - 2 * jnp.sum(own * s_pad, 1) + sq_sq  # Σ_i (x_i·s - a_i)²
    return unbiased_hsic_terms(fro2, sq_sq, ka, ka, kl1, n)


@partial(jax.jit, static_argnames=("plan", "unbiased"))
def linear_result(stats: LinearCKAStats, plan: LinearPlan, unbiased: bool = True):
    """-> (cka [LA, LB], hsic [LA, LB], hsic_a [LA], hsic_b [LB])."""
    da, db, la, lb = sum(plan.widths_a), sum(plan.widths_b), len(plan.widths_a), len(plan.widths_b)
    mo = stats.moments
    cross, sqa_b, sqb_a, sqa_sqb = mo[:da, :db], mo[da:da + la, :db], mo[:da, db:db + lb].T, mo[da:da + la, db:db + lb]
    sum_a, sum_b, sqa, sqb, n = mo[:da, -1], mo[-1, :db], mo[da:da + la, -1], mo[-1, db:db + lb], mo[-1, -1]
    pa_, pb_ = _one_hot(plan.widths_a), _one_hot(plan.widths_b)
    if unbiased:
        fro2 = pa_.T @ (cross * cross) @ pb_
        ka = pa_.T @ (sum_a**2) - sqa
        kb = pb_.T @ (sum_b**2) - sqb
        scs = pa_.T @ (sum_a[:, None] * cross * sum_b[None, :]) @ pb_
        g_ab = (sqa_b * sum_b[None, :]) @ pb_  # [LA, LB] Σ_i a_i (y_i · s_y)
        g_ba = (sqb_a * sum_a[None, :]) @ pa_  # [LB, LA] Σ_i b_i (x_i · s_x)
        kl1 = scs - g_ab - g_ba.T + sqa_sqb
        h = unbiased_hsic_terms(fro2, sqa_sqb, ka[:, None], kb[None, :], kl1, n)
    else:
        cc = cross - sum_a[:, None] * sum_b[None, :] / n
        h = pa_.T @ (cc * cc) @ pb_ / (n - 1) ** 2
    ha = _self_hsic(stats.self_a, sum_a, sqa, stats.own_a, stats.sqsq_a, plan.widths_a, n, unbiased)
    hb = _self_hsic(stats.self_b, sum_b, sqb, stats.own_b, stats.sqsq_b, plan.widths_b, n, unbiased)
    return normalise_hsic(h, ha[:, None], hb[None, :]), h, ha, hb


def _linear_all_pairs(acts_a, acts_b, n, unbiased, batch_size):
    plan = linear_plan(acts_a, acts_b)
    batch_size = max(1, min(batch_size, n))
    first_a = stack.concatenate(acts_a, 0, batch_size)
    first_b = stack.concatenate(acts_b, 0, batch_size)
    stats = linear_init(plan, first_a.mean(0), first_b.mean(0))
    for start in range(0, n, batch_size):  # chunks stream from the host (arrays or memmaps)
        xa = first_a if start == 0 else stack.concatenate(acts_a, start, start + batch_size)
        xb = first_b if start == 0 else stack.concatenate(acts_b, start, start + batch_size)
        check_finite(xa, "acts_a")
        check_finite(xb, "acts_b")
        valid = np.ones(batch_size, bool)
        if len(xa) < batch_size:  # pad the tail to the compiled shape
            valid[len(xa):] = False
            pad = ((0, batch_size - len(xa)), (0, 0))
            xa, xb = np.pad(xa, pad), np.pad(xb, pad)
        stats = linear_update(stats, plan, jnp.asarray(xa), jnp.asarray(xb), jnp.asarray(valid))
    return linear_result(stats, plan, unbiased)[0]


# ---------------------------------------------------------------------------- RBF


@jax.jit
def _sq_distances(x, idx):
    s = x[idx]
    sq = jnp.sum(s * s, 1)
    return jnp.maximum(sq[:, None] + sq[None, :] - 2 * s @ s.T, 0.0)


def rbf_scales(x_stack, threshold: float, m: int) -> np.ndarray:
    """[L, n, d] padded layers -> [L] 2τ²·median squared distance over ``m`` evenly spaced images.

    The [m, m] distances of one layer at a time are formed on the device and their median is
    taken on the host (``np.median`` partitions in O(m²); XLA's CPU sort is ~30× slower).
    """
    n = x_stack.shape[1]
    idx = jnp.asarray(np.round(np.linspace(0, n - 1, m)).astype(np.int32))
    med = [np.median(np.asarray(_sq_distances(x, idx))) for x in x_stack]  # one layer at a time: m² floats
    return 2.0 * threshold**2 * np.asarray(med, np.float32)


def _rbf_rows(x, scale, rows):
    """One layer: [n, d] features, [] scale, [b] row indices -> [b, n] kernel rows."""
    xr = x[rows]
    d2 = jnp.sum(xr * xr, 1)[:, None] + jnp.sum(x * x, 1)[None, :] - 2 * xr @ x.T
    return jnp.exp(-jnp.maximum(d2, 0.0) / jnp.where(scale > 0, scale, 1.0))


@partial(jax.jit, static_argnames=("block", "unbiased"))
def _rbf_sums(xa, xb, scale_a, scale_b, block, unbiased):
    la, n = xa.shape[0], xa.shape[1]
    lb = xb.shape[0]
    n_blocks = -(-n // block)
    rows_all = jnp.arange(n_blocks * block)
    cols = jnp.arange(n)

    def step(carry, b):
        cross, self_a, self_b = carry
        rows = jax.lax.dynamic_slice(rows_all, (b * block,), (block,))
        ok = (rows < n)[:, None].astype(jnp.float32)
        safe = jnp.minimum(rows, n - 1)
        mask = (ok * (rows[:, None] != cols[None, :]).astype(jnp.float32) if unbiased
                else ok * jnp.ones((1, n)))
        ka = jax.vmap(_rbf_rows, (0, 0, None))(xa, scale_a, safe) * mask[None]  # [LA, b, n]
        kb = jax.vmap(_rbf_rows, (0, 0, None))(xb, scale_b, safe) * mask[None]
        fa, fb = ka.reshape(la, -1), kb.reshape(lb, -1)
        carry = (cross + fa @ fb.T, self_a + jnp.sum(fa * fa, 1), self_b + jnp.sum(fb * fb, 1))
        return carry, (ka.sum(2), kb.sum(2))  # row sums [LA, b], [LB, b]

    init = (jnp.zeros((la, lb)), jnp.zeros(la), jnp.zeros(lb))
    (cross, self_a, self_b), (ra, rb) = jax.lax.scan(step, init, jnp.arange(n_blocks))
    ra = jnp.moveaxis(ra, 0, 1).reshape(la, -1)[:, :n]
    rb = jnp.moveaxis(rb, 0, 1).reshape(lb, -1)[:, :n]
    if unbiased:
        h = unbiased_hsic_terms(cross, 0.0, ra.sum(1)[:, None], rb.sum(1)[None, :], ra @ rb.T, n)
        ha = unbiased_hsic_terms(self_a, 0.0, ra.sum(1), ra.sum(1), jnp.sum(ra * ra, 1), n)
        hb = unbiased_hsic_terms(self_b, 0.0, rb.sum(1), rb.sum(1), jnp.sum(rb * rb, 1), n)
    else:  # tr(KHLH) = ΣK∘L - 2/n Σ r_K r_L + ΣK ΣL / n²
        def biased(kl, rk, rl):
            return (kl - 2.0 / n * rk @ rl.T + rk.sum(1)[:, None] * rl.sum(1)[None, :] / n**2) / (n - 1) ** 2

        h = biased(cross, ra, rb)
        ha = jnp.diagonal(biased(jnp.diag(self_a), ra, ra))
        hb = jnp.diagonal(biased(jnp.diag(self_b), rb, rb))
    return normalise_hsic(h, ha[:, None], hb[None, :])


def _rbf_all_pairs(acts_a, acts_b, n, unbiased, threshold, median_images, block):
    xa, xb = stack.pad_stack(acts_a), stack.pad_stack(acts_b)
    check_finite(xa, "acts_a")
    check_finite(xb, "acts_b")
    m = min(n, median_images)
    scale_a = rbf_scales(xa, threshold, m)
    scale_b = rbf_scales(xb, threshold, m)
    if block is None:  # keep one block of all layers' kernel rows near 2^24 floats
        block = int(max(1, min(n, 2**24 // max(1, (xa.shape[0] + xb.shape[0]) * n))))
    return _rbf_sums(xa, xb, scale_a, scale_b, block, unbiased)


def cka_all_pairs(
    acts_a: Mapping[str, object],
    acts_b: Mapping[str, object],
    kernel: str = "linear",
    unbiased: bool = True,
    batch_size: int = 4096,
    threshold: float = 1.0,
    median_images: int = 2048,
    block: int | None = None,
) -> jax.Array:
    """CKA of every layer of A against every layer of B, over the same n images.

    Args:
      acts_a: ``{layer: [n, d_l]}`` of model A (arrays or memmaps; ``capture(..., position="mean")``).
      acts_b: ``{layer: [n, d_m]}`` of model B, the same images in the same order.
      kernel: ``"linear"`` (feature space, streamed in chunks of ``batch_size`` images, exact for
        any chunk size) or ``"rbf"`` (Gram rows streamed ``block`` at a time).
      unbiased: the unbiased HSIC (Song et al. 2012; needs n >= 4) or the biased tr(KHLH)/(n-1)².
      threshold: RBF bandwidth as a multiple of the median pairwise distance, taken over
        ``median_images`` evenly spaced images (all of them when n <= median_images).

    Returns:
      [LA, LB] CKA, rows in the order of ``acts_a``, columns in that of ``acts_b``.
    """
    if kernel not in KERNELS:
        raise ValueError(f"kernel must be one of {KERNELS}, got {kernel!r}")
    min_images = 4 if unbiased else 2
    n_a = check_layers(acts_a, "acts_a", min_images)
    n_b = check_layers(acts_b, "acts_b", min_images)
    check_same_images(n_a, n_b)
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if kernel == "linear":
        return _linear_all_pairs(acts_a, acts_b, n_a, unbiased, batch_size)
    return _rbf_all_pairs(acts_a, acts_b, n_a, unbiased, threshold, median_images, block)
