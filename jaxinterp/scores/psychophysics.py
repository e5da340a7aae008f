"""In-silico 2-AFC psychophysics (METHODS.md §3.2, seed §2.3 Eqs. 2–3).

Canonical algorithm (the authors' refactored ``run_single_unit_psychophysics``)
for one direction with activations f over D images::

    keep    = { i : Q_q(f) <= f[i] <= Q_{1-q}(f) }          # difficulty q: central range
    require |keep| > 4·T·(R+1)
    top     = kept indices by f descending;  bottom = ascending
    "most_extreme": queries = permute(top[0:T]),  ref_top[t, k] = top[T + T·k + t]
    "after_refs"  : ref_top[t, k] = top[T·k + t],  queries = permute(top[T·R : T·R + T])
    per trial t:  S = sim([ref_top; ref_bot], [q_top, q_bot])          # [2R, 2]
                  S = zscore(S)  (std := 1 if 0 / NaN)
                  E_ok  = pool(S[:R, 0]) + pool(S[R:, 1]);  E_bad = pool(S[:R, 1]) + pool(S[R:, 0])
                  hard = 1[E_ok > E_bad] (+ 0.5 for a tie);  soft = softmax([E_ok, E_bad])[0]

``reproduce=True`` draws the trials as the paper's own code does
(``run_single_unit_psychophysics`` in david-klindt/Superposition): every
direction reseeds numpy's legacy ``RandomState(42)``, draws the top and then
the bottom query order (``choice(T, T, replace=False)``) for each quantile of
the call in turn, and ranks the kept images with numpy's (unstable) ``argsort``
ascending for the bottom and its reverse for the top, so tied activations fall
where numpy puts them. Otherwise the query order comes from ``fold_in(key, i)``
and tied activations rank by lowest index.

A tie (E_ok = E_bad, frequent with labels) counts 0.5 in the hard accuracy, as
the soft score (softmax of two equal logits) counts it. The paper reports the
soft score with mean pooling; :func:`psychophysics_scores` returns that and the
hard accuracy side by side, labelled.

Ties are decided with a tolerance, not by the last bit of a float reduction (which
differs between CPUs, e.g. Intel AMX and AMD AVX-512): two values are equal when they
differ by at most :data:`TIE_RTOL` times the scale of the values compared.

- Evidence: E_ok and E_bad tie when |E_ok - E_bad| <= TIE_RTOL · max|S| of the trial's
  similarity block before z-scoring (z-scoring divides the margin by std(S) and would
  blow a rounding difference up); the margin of a tie is stored as exactly 0.
- Activations: sorted activations whose gap is at most TIE_RTOL · max|f| are equal (a run
  of such values is one tie, :func:`tie_ranks`), and equal activations rank by lowest
  index, as exact ties always did. The difficulty range [Q_q, Q_1-q] is widened by the
  same tolerance, so an image tied with a quantile is kept.
- ``reproduce=True`` keeps numpy's own order of tied activations: that is what it
  reproduces.

``variant="eq2"`` is Eq. 2 literally: top references only, the query nearer to
its nearest top reference wins (E_ok = max S[:R, 0], E_bad = max S[:R, 1]).
:func:`unit_discrimination` is the September-2023 variant.

Every kernel is written for one direction and mapped over all directions with
``lax.map``; the per-trial index arithmetic is static.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import ArrayLike, Real

from jaxinterp.scores._checks import check_count, check_finite
from jaxinterp.similarity.base import Similarity, take

QUERY_BLOCKS = ("most_extreme", "after_refs")
POOLS = ("max", "mean")
VARIANTS = ("two_sided", "eq2")

# Values closer than this, relative to the scale of the values compared, are ties. float32
# rounds at 6e-8 relative; a reduction in another order differs by a few of those.
TIE_RTOL = 1e-6


class PsychophysicsResult(NamedTuple):
    """accuracy [k] (Eq. 3, hard; a tie counts 0.5); soft_accuracy [k] (mean softmax, as the
    code reports); margin [k, T] evidence E_ok - E_bad per trial."""

    accuracy: jax.Array
    soft_accuracy: jax.Array
    margin: jax.Array


class PsychophysicsScores(NamedTuple):
    """The two psychophysics scores of the same trials, for reports that give both.

    hard [k]: hard accuracy (Eq. 3; a tie counts 0.5) with ``hard_pool`` pooling.
    soft_mean [k]: mean softmax score with mean pooling: the score the paper reports.
    hard_pool: the pooling of ``hard`` ("max" for image metrics, "mean" for labels).
    """

    hard: jax.Array
    soft_mean: jax.Array
    hard_pool: str

    @property
    def labels(self) -> dict[str, str]:
        """Field -> what it is, for captions and tables."""
        return {
            "hard": f"hard accuracy, {self.hard_pool} pooling (Eq. 3; ties count 0.5)",
            "soft_mean": "soft score, mean pooling (the score the paper reports)",
        }


def hard_accuracy(margin: jax.Array, axis: int = -1) -> jax.Array:
    """Mean over trials of 1[margin > 0] + 0.5·1[margin == 0]: a tie is a coin flip.

    The margins of :func:`psychophysics` are exactly 0 for ties within tolerance (module
    docstring), so this exact comparison is the tolerant one."""
    return jnp.mean(jnp.where(margin > 0, 1.0, jnp.where(margin == 0, 0.5, 0.0)), axis=axis)


def _positions(trials: int, refs: int, query_block: str) -> tuple[np.ndarray, np.ndarray]:
    """Static positions in the sorted kept list: queries [T], references [T, R]."""
    t = np.arange(trials)[:, None]
    k = np.arange(refs)[None, :]
    if query_block == "most_extreme":
        return np.arange(trials), trials + trials * k + t
    if query_block == "after_refs":
        return trials * refs + np.arange(trials), trials * k + t
    raise ValueError(f"query_block must be one of {QUERY_BLOCKS}, got {query_block!r}")


def tie_ranks(f: jax.Array) -> jax.Array:
    """[n] activations -> [n] integer ranks (0 = lowest) in which near-equal values are equal.

    Sorted values whose gap is at most TIE_RTOL · max|f| share a rank, so an order that
    hinges on the last bits of f (another CPU's reduction order) is not an order. Taking
    ``lax.top_k`` of these ranks then puts tied images lowest index first.
    """
    tol = TIE_RTOL * jnp.max(jnp.abs(f))
    order = jnp.argsort(f)
    step = jnp.concatenate([jnp.zeros(1, jnp.int32), (jnp.diff(f[order]) > tol).astype(jnp.int32)])
    return jnp.zeros(f.shape, jnp.int32).at[order].set(jnp.cumsum(step))


def _kept(f, quantile):
    """[n] -> [n] bool: inside [Q_q, Q_1-q], widened by the tie tolerance."""
    tol = TIE_RTOL * jnp.max(jnp.abs(f))
    return (f >= jnp.quantile(f, quantile) - tol) & (f <= jnp.quantile(f, 1.0 - quantile) + tol)


def trial_indices(key, f, quantile, trials=20, refs=9, query_block="most_extreme"):
    """Image indices of one direction's trials.

    Args:
      key: PRNG key (query order).
      f: [n] activations.

    Returns:
      (q_top [T], q_bot [T], ref_top [T, R], ref_bot [T, R]) image indices.
    """
    qpos, rpos = _positions(trials, refs, query_block)
    keep = _kept(f, quantile)
    rank = tie_ranks(f)
    n_used = trials * (refs + 1)
    top = jax.lax.top_k(jnp.where(keep, rank, -1), n_used)[1]
    bottom = jax.lax.top_k(jnp.where(keep, -rank, -f.shape[0]), n_used)[1]
    k_top, k_bot = jax.random.split(key)
    q_top = jax.random.permutation(k_top, top[qpos])
    q_bot = jax.random.permutation(k_bot, bottom[qpos])
    return q_top, q_bot, top[rpos], bottom[rpos]


def _reduce_layers(S, layer):
    """Per-layer similarities [..., L] -> one layer or the layer mean ("LPIPS average")."""
    if S.ndim == 2:
        return S
    return jnp.mean(S, axis=-1) if layer is None else S[..., layer]


def _zscore(S):
    std = jnp.std(S)
    std = jnp.where((std == 0) | jnp.isnan(std), 1.0, std)
    return (S - jnp.mean(S)) / std, std


def _margins(S, refs, pools, zscore, variant):
    """S [2R, 2] -> [P] margins E_ok - E_bad, one per pooling in ``pools``; ties exactly 0."""
    # z-scoring divides the margin by std(S): a tie is judged on the scale of S itself
    tol = TIE_RTOL * jnp.max(jnp.abs(S))
    S, std = _zscore(S) if zscore else (S, 1.0)
    if variant == "eq2":
        out = [jnp.max(S[:refs, 0]) - jnp.max(S[:refs, 1])] * len(pools)
    else:
        out = []
        for pool in pools:
            p = jnp.max if pool == "max" else jnp.mean
            out.append((p(S[:refs, 0]) + p(S[refs:, 1])) - (p(S[:refs, 1]) + p(S[refs:, 0])))
    margin = jnp.stack(out)
    return jnp.where(jnp.abs(margin) * std <= tol, 0.0, margin)


def _trial_margins(indices, features, pairwise, refs, pools, zscore, variant, layer):
    """One direction's trials (q_top [T], q_bot [T], ref_top [T, R], ref_bot [T, R]) -> [P, T]."""
    q_top, q_bot, r_top, r_bot = indices
    ref_idx = jnp.concatenate([r_top, r_bot], axis=1)  # [T, 2R]
    qry_idx = jnp.stack([q_top, q_bot], axis=1)  # [T, 2]

    def trial(r, q):
        S = _reduce_layers(pairwise(take(features, r), take(features, q)), layer)
        return _margins(S, refs, pools, zscore, variant)

    return jax.vmap(trial)(ref_idx, qry_idx).T


_STATIC = ("pairwise", "trials", "refs", "query_block", "pools", "zscore", "variant", "layer", "chunk")


@partial(jax.jit, static_argnames=_STATIC)
def _all_directions(key, acts, features, pairwise, quantile, trials, refs, query_block, pools,
                    zscore, variant, layer, chunk):
    """Trials drawn in JAX (``fold_in(key, i)``) -> margins [k, P, T]."""
    keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.arange(acts.shape[1]))

    def one(args):
        k, f = args
        indices = trial_indices(k, f, quantile, trials, refs, query_block)
        return _trial_margins(indices, features, pairwise, refs, pools, zscore, variant, layer)

    return jax.lax.map(one, (keys, acts.T), batch_size=chunk)


@partial(jax.jit, static_argnames=("pairwise", "refs", "pools", "zscore", "variant", "layer", "chunk"))
def _given_trials(indices, features, pairwise, refs, pools, zscore, variant, layer, chunk):
    """Trials given as index arrays [k, ...] -> margins [k, P, T]."""

    def one(ix):
        return _trial_margins(ix, features, pairwise, refs, pools, zscore, variant, layer)

    return jax.lax.map(one, indices, batch_size=chunk)


def paper_query_orders(trials: int, position: int) -> tuple[np.ndarray, np.ndarray]:
    """The query permutations [T], [T] the paper's code draws for the quantile at ``position``.

    Each unit reseeds ``np.random.seed(42)`` and, quantile by quantile, draws the top
    and then the bottom order with ``choice(T, T, replace=False)``; every unit gets
    the same orders.
    """
    rs = np.random.RandomState(42)
    for _ in range(position + 1):
        top = rs.choice(trials, trials, replace=False)
        bottom = rs.choice(trials, trials, replace=False)
    return top, bottom


def paper_trial_indices(acts: np.ndarray, quantile: float, trials: int, refs: int,
                        position: int) -> tuple[np.ndarray, ...]:
    """Image indices of every direction's trials as the paper's code picks them.

    acts [n, k] (host) -> (q_top [k, T], q_bot [k, T], ref_top [k, T, R], ref_bot [k, T, R]).
    The kept images are ranked with numpy's default ``argsort`` of each direction's
    kept activations, so ties fall as they do there. This is index bookkeeping on the
    host, one ``argsort`` per direction (numpy's unstable tie order exists only in
    numpy); the similarities are computed by the jitted kernel.
    """
    perm_top, perm_bot = paper_query_orders(trials, position)
    qpos, rpos = _positions(trials, refs, "most_extreme")
    k = acts.shape[1]
    out = [np.zeros((k, trials), np.int32), np.zeros((k, trials), np.int32),
           np.zeros((k, trials, refs), np.int32), np.zeros((k, trials, refs), np.int32)]
    for u in range(k):
        f = acts[:, u]
        kept = np.flatnonzero((f >= np.quantile(f, quantile)) & (f <= np.quantile(f, 1 - quantile)))
        bottom = kept[np.argsort(f[kept])]
        top = bottom[::-1]
        out[0][u] = top[qpos][perm_top]
        out[1][u] = bottom[qpos][perm_bot]
        out[2][u] = top[rpos]
        out[3][u] = bottom[rpos]
    return tuple(out)


@jax.jit
def _kept_counts(acts, quantile):
    return jnp.sum(jax.vmap(_kept, in_axes=(1, None))(acts, quantile), axis=1)


def _check_inputs(acts, features, quantile, trials, refs, query_block, pool, variant):
    check_count(trials, "trials", "2-AFC trials per direction", "the paper uses trials=20")
    check_count(refs, "refs", "reference images per side", "the paper uses refs=9")
    if acts.ndim != 2:
        raise ValueError(f"activations must be [n_images, n_directions], got shape {acts.shape}")
    if query_block not in QUERY_BLOCKS:
        raise ValueError(f"query_block must be one of {QUERY_BLOCKS}, got {query_block!r}")
    if pool not in POOLS:
        raise ValueError(f"pool must be one of {POOLS}, got {pool!r}")
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    if not 0.0 <= quantile < 0.5:
        raise ValueError(f"difficulty quantile q must lie in [0, 0.5), got {quantile}")
    leaves = jax.tree_util.tree_leaves(features)
    if leaves and leaves[0].shape[0] != acts.shape[0]:
        raise ValueError(
            f"activations cover {acts.shape[0]} images but the similarity features cover "
            f"{leaves[0].shape[0]}; compute both on the same images"
        )
    need = 4 * trials * (refs + 1)
    counts = np.asarray(_kept_counts(acts, quantile))
    bad = np.flatnonzero(counts <= need)
    if bad.size:
        raise ValueError(
            f"psychophysics with T={trials} trials and R={refs} references per side needs more "
            f"than 4·T·(R+1) = {need} images inside the difficulty range [Q_q, Q_1-q] (q={quantile}) "
            f"of every direction; {bad.size} direction(s) have fewer (direction {bad[0]} keeps "
            f"{counts[bad[0]]} of {acts.shape[0]} images). Use more images, a smaller q, or "
            f"fewer trials/references."
        )


def _margins_of(key, acts, metric, features, quantile, trials, refs, pools, zscore, query_block,
                variant, layer, chunk, reproduce, paper_quantiles):
    """Checked inputs -> margins [k, P, T] for the poolings ``pools``."""
    check_finite(acts, "direction activations")
    acts = jnp.asarray(acts)
    if acts.ndim == 1:
        acts = acts[:, None]
    for pool in pools:
        _check_inputs(acts, features, quantile, trials, refs, query_block, pool, variant)
    pairwise = metric.pairwise if isinstance(metric, Similarity) else metric
    chunk = max(1, min(chunk, acts.shape[1]))
    if not reproduce:
        return _all_directions(key, acts, features, pairwise, jnp.float32(quantile), trials, refs,
                               query_block, pools, zscore, variant, layer, chunk)
    if query_block != "most_extreme" or variant != "two_sided":
        raise ValueError(
            f"reproduce=True follows the paper's code, which uses query_block='most_extreme' and "
            f"variant='two_sided'; got query_block={query_block!r}, variant={variant!r}. Drop "
            "those options or reproduce=True."
        )
    positions = [i for i, q in enumerate(paper_quantiles) if q == quantile]
    if not positions:
        raise ValueError(
            f"reproduce=True draws the query orders of each quantile of the paper's call in turn, "
            f"so quantile={quantile} must be one of paper_quantiles={tuple(paper_quantiles)}; "
            "pass the quantile list of the run to reproduce as paper_quantiles"
        )
    indices = paper_trial_indices(np.asarray(acts), quantile, trials, refs, positions[0])
    return _given_trials(tuple(jnp.asarray(a) for a in indices), features, pairwise, refs, pools,
                         zscore, variant, layer, chunk)


def psychophysics(
    key: jax.Array,
    acts: Real[ArrayLike, " n k"],
    metric: Similarity | Callable,
    features: Any,
    quantile: float = 0.0,
    trials: int = 20,
    refs: int = 9,
    pool: str = "max",
    zscore: bool = True,
    query_block: str = "most_extreme",
    variant: str = "two_sided",
    layer: int | None = None,
    chunk: int = 64,
    reproduce: bool = False,
    paper_quantiles: Sequence[float] = (0.0, 0.25),
) -> PsychophysicsResult:
    """In-silico 2-AFC accuracy of every direction at one difficulty.

    Args:
      key: PRNG key (query order; direction i uses ``fold_in(key, i)``); unused with ``reproduce``.
      acts: [n, k] direction activations over n images (or [n] for one direction).
      metric: a Similarity (its ``pairwise``) or a pairwise function over ``features``.
        A per-layer similarity ([a, b, L]) is averaged over layers, or ``layer`` picks one.
      quantile: difficulty q in [0, 0.5): only images between the q and 1-q quantiles are used.
      trials, refs: T trials, R references per side.
      pool: "max" (nearest reference; image metrics) or "mean" (labels; the paper's code).
      zscore: z-score each trial's [2R, 2] similarity block.
      query_block: "most_extreme" (Borowski, the CIFAR code) or "after_refs" (IMI).
      variant: "two_sided" (canonical) or "eq2" (Eq. 2 literally: top references, nearest wins).
      reproduce: draw the trials as the paper's code does (module docstring): numpy
        ``RandomState(42)`` per direction, numpy's argsort for the ranking.
      paper_quantiles: with ``reproduce``, the quantile list of the paper's call being
        reproduced; ``quantile`` takes the query orders drawn at its position there.

    Returns:
      PsychophysicsResult(accuracy [k], soft_accuracy [k], margin [k, T]); a tie
      (margin exactly 0) counts 0.5 in ``accuracy``.
    """
    margin = _margins_of(key, acts, metric, features, quantile, trials, refs, (pool,), zscore,
                         query_block, variant, layer, chunk, reproduce, paper_quantiles)[:, 0]
    return PsychophysicsResult(hard_accuracy(margin), jnp.mean(jax.nn.sigmoid(margin), axis=-1), margin)


def psychophysics_scores(
    key: jax.Array,
    acts: Real[ArrayLike, " n k"],
    metric: Similarity | Callable,
    features: Any,
    quantile: float = 0.0,
    trials: int = 20,
    refs: int = 9,
    hard_pool: str = "max",
    zscore: bool = True,
    query_block: str = "most_extreme",
    layer: int | None = None,
    chunk: int = 64,
    reproduce: bool = False,
    paper_quantiles: Sequence[float] = (0.0, 0.25),
) -> PsychophysicsScores:
    """Hard accuracy (``hard_pool`` pooling) and the paper's soft score (mean pooling), labelled.

    Both come from the same trials in one pass over the similarities (arguments as
    :func:`psychophysics`). ``result.labels`` names each field for a report, e.g.
    ``{"hard": "hard accuracy, max pooling (Eq. 3; ties count 0.5)",
    "soft_mean": "soft score, mean pooling (the score the paper reports)"}``.

    Returns:
      PsychophysicsScores(hard [k], soft_mean [k], hard_pool).
    """
    pools = (hard_pool, "mean") if hard_pool != "mean" else ("mean",)
    margin = _margins_of(key, acts, metric, features, quantile, trials, refs, pools, zscore,
                         query_block, "two_sided", layer, chunk, reproduce, paper_quantiles)
    return PsychophysicsScores(hard_accuracy(margin[:, 0]),
                               jnp.mean(jax.nn.sigmoid(margin[:, -1]), axis=-1), hard_pool)


def psychophysics_curve(key, acts, metric, features, quantiles=(0.0, 0.25), **kwargs):
    """Accuracy at each difficulty quantile (Fig. 5): -> PsychophysicsResult with a leading [Q] axis.

    With ``reproduce=True`` the quantiles are the paper's call: quantile j takes the
    query orders the paper draws j-th.
    """
    if kwargs.get("reproduce"):
        kwargs = {**kwargs, "paper_quantiles": tuple(quantiles)}
    results = [psychophysics(key, acts, metric, features, q, **kwargs) for q in quantiles]
    return PsychophysicsResult(*(jnp.stack(parts) for parts in zip(*results)))


# --- September-2023 "unit discrimination" variant -------------------------------------------


@partial(jax.jit, static_argnames=("pairwise", "m", "n_queries", "pairings", "layer", "chunk"))
def _unit_discrimination(key, acts, features, pairwise, m, n_queries, pairings, layer, chunk):
    k = acts.shape[1]
    ranked = jax.lax.top_k(jax.vmap(tie_ranks)(acts.T), m + n_queries)[1]  # [k, m + nq]
    refs, queries = ranked[:, :m], ranked[:, m:]
    target = jnp.concatenate([jnp.zeros(n_queries, bool), jnp.ones(n_queries, bool)])

    def pair_accuracy(ab):
        r = jnp.concatenate([refs[ab[0]], refs[ab[1]]])
        q = jnp.concatenate([queries[ab[0]], queries[ab[1]]])
        S = _reduce_layers(pairwise(take(features, r), take(features, q)), layer)  # [2m, 2nq]
        # ties (within TIE_RTOL of the block's scale) go to a, as argmin of distance does
        to_b = jnp.max(S[m:], axis=0) > jnp.max(S[:m], axis=0) + TIE_RTOL * jnp.max(jnp.abs(S))
        return jnp.mean(to_b == target)

    def one_round(round_key):
        perm = jax.random.permutation(round_key, k).reshape(k // 2, 2)
        acc = jax.lax.map(pair_accuracy, perm, batch_size=chunk)
        return jnp.zeros(k).at[perm[:, 0]].set(acc).at[perm[:, 1]].set(acc)

    return jnp.mean(jax.lax.map(one_round, jax.random.split(key, pairings)), axis=0)


def unit_discrimination(
    key: jax.Array,
    acts: Real[ArrayLike, " n k"],
    metric: Similarity | Callable,
    features: Any,
    m: int = 5,
    n_queries: int = 5,
    pairings: int = 10,
    layer: int | None = None,
    chunk: int = 128,
) -> jax.Array:
    """September-2023 psychophysics (``psychophyscis_lpips`` in the authors' main.py).

    Directions are paired at random (``pairings`` rounds). In a pair (a, b) the
    references are each direction's top-``m`` exemplars and the queries its ranks
    m+1..m+n_queries; each query goes to the direction whose nearest reference is
    more similar. A pair's accuracy is credited to both directions; rounds are averaged.

    Returns:
      [k] accuracies.
    """
    check_count(m, "m", "top exemplars per direction, the references", "the paper uses m=5")
    check_count(n_queries, "n_queries", "queries per direction", "the paper uses n_queries=5")
    check_count(pairings, "pairings", "rounds of random pairs", "the paper uses pairings=10")
    check_finite(acts, "direction activations")
    acts = jnp.asarray(acts)
    if acts.ndim != 2:
        raise ValueError(f"activations must be [n_images, n_directions], got shape {acts.shape}")
    n, k = acts.shape
    if k < 2 or k % 2:
        raise ValueError(
            f"unit discrimination pairs directions, so it needs an even number of directions "
            f"(>= 2); got {k}. Drop or add one direction."
        )
    if n < m + n_queries:
        raise ValueError(
            f"unit discrimination needs m + n_queries = {m + n_queries} images per direction, "
            f"the dataset has {n}"
        )
    pairwise = metric.pairwise if isinstance(metric, Similarity) else metric
    return _unit_discrimination(key, acts, features, pairwise, m, n_queries, pairings, layer,
                                max(1, min(chunk, k // 2)))
