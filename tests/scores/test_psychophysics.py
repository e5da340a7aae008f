"""In-silico psychophysics against a plain numpy re-implementation of METHODS.md §3.2."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxinterp.scores.psychophysics import (
    hard_accuracy,
    psychophysics,
    psychophysics_curve,
    psychophysics_scores,
    trial_indices,
    unit_discrimination,
)

T, R = 4, 3  # small task: needs > 4·T·(R+1) = 64 kept images


def pw(a, b):
    return -jnp.sqrt(jnp.sum((a[:, None] - b[None]) ** 2, -1))


def np_pw(a, b):
    return -np.sqrt(((a[:, None] - b[None]) ** 2).sum(-1))


def np_reference(f, feats, q, key, pool, zscore, query_block, variant):
    """One direction, numpy; the query order is taken from the kernel's own permutation."""
    lo, hi = np.quantile(f, q), np.quantile(f, 1 - q)
    keep = np.flatnonzero((f >= lo) & (f <= hi))
    assert keep.size > 4 * T * (R + 1)
    top = keep[np.argsort(-f[keep])]
    bottom = keep[np.argsort(f[keep])]
    if query_block == "most_extreme":
        qb, refpos = np.arange(T), lambda t: [T + T * k + t for k in range(R)]
    else:
        qb, refpos = T * R + np.arange(T), lambda t: [T * k + t for k in range(R)]
    q_top, q_bot, _, _ = (np.asarray(x) for x in trial_indices(key, jnp.asarray(f), q, T, R, query_block))
    assert sorted(q_top) == sorted(top[qb]) and sorted(q_bot) == sorted(bottom[qb])
    hard, soft = [], []
    for t in range(T):
        refs = np.concatenate([top[refpos(t)], bottom[refpos(t)]])
        S = np_pw(feats[refs], feats[[q_top[t], q_bot[t]]])
        if zscore:
            sd = S.std()
            S = (S - S.mean()) / (1.0 if sd == 0 or np.isnan(sd) else sd)
        p = np.max if pool == "max" else np.mean
        if variant == "eq2":
            ok, bad = S[:R, 0].max(), S[:R, 1].max()
        else:
            ok = p(S[:R, 0]) + p(S[R:, 1])
            bad = p(S[:R, 1]) + p(S[R:, 0])
        hard.append(1.0 if ok > bad else 0.5 if ok == bad else 0.0)
        soft.append(np.exp(ok) / (np.exp(ok) + np.exp(bad)))
    return np.mean(hard), np.mean(soft)


@pytest.mark.parametrize(
    "q,pool,zscore,query_block,variant",
    [
        (0.0, "max", True, "most_extreme", "two_sided"),
        (0.2, "mean", True, "most_extreme", "two_sided"),
        (0.1, "max", False, "after_refs", "two_sided"),
        (0.0, "max", True, "after_refs", "eq2"),
    ],
)
def test_accuracy_matches_numpy(rng, key, q, pool, zscore, query_block, variant):
    n, k = 200, 5
    feats = rng.standard_normal((n, 2)).astype(np.float32)
    # directions partly aligned with the features so that accuracies vary across directions
    acts = (feats @ rng.standard_normal((2, k)) + 1.5 * rng.standard_normal((n, k))).astype(np.float32)
    res = psychophysics(key, jnp.asarray(acts), pw, jnp.asarray(feats), q, trials=T, refs=R, pool=pool,
                        zscore=zscore, query_block=query_block, variant=variant)
    for u in range(k):
        hard, soft = np_reference(acts[:, u], feats, q, jax.random.fold_in(key, u), pool, zscore,
                                  query_block, variant)
        np.testing.assert_allclose(float(res.accuracy[u]), hard, atol=1e-6)
        np.testing.assert_allclose(float(res.soft_accuracy[u]), soft, rtol=1e-4, atol=1e-5)
    assert res.margin.shape == (k, T)


def test_planted_direction_is_at_ceiling(key, rng):
    """A direction that is a function of the feature is perfectly predictable; noise is at chance."""
    n = 400
    feats = rng.standard_normal((n, 1)).astype(np.float32)
    acts = np.concatenate([feats, rng.standard_normal((n, 1)).astype(np.float32)], axis=1)
    res = psychophysics(key, jnp.asarray(acts), pw, jnp.asarray(feats), trials=T, refs=R)
    assert float(res.accuracy[0]) == 1.0
    assert float(res.accuracy[1]) < 1.0


def test_too_few_images_is_a_clear_error(key, rng):
    acts = jnp.asarray(rng.standard_normal((64, 2)).astype(np.float32))
    with pytest.raises(ValueError, match=r"more than 4·T·\(R\+1\) = 64 images"):
        psychophysics(key, acts, pw, jnp.zeros((64, 2)), trials=T, refs=R)
    with pytest.raises(ValueError, match="direction 0 keeps"):
        psychophysics(key, jnp.asarray(rng.standard_normal((100, 2)).astype(np.float32)), pw,
                      jnp.zeros((100, 2)), quantile=0.4, trials=T, refs=R)


def test_bad_options_and_widths(key, rng):
    acts = jnp.asarray(rng.standard_normal((100, 2)).astype(np.float32))
    with pytest.raises(ValueError, match="query_block"):
        psychophysics(key, acts, pw, jnp.zeros((100, 2)), trials=T, refs=R, query_block="middle")
    with pytest.raises(ValueError, match="features cover 90"):
        psychophysics(key, acts, pw, jnp.zeros((90, 2)), trials=T, refs=R)


def np_unit_discrimination(acts, feats, perms, m, nq):
    k = acts.shape[1]
    order = np.argsort(-acts, axis=0)
    acc = np.zeros((k, len(perms)))
    for i, perm in enumerate(perms):
        for j in range(k // 2):
            a, b = perm[2 * j], perm[2 * j + 1]
            refs = np.concatenate([order[:m, a], order[:m, b]])
            qs = np.concatenate([order[m:m + nq, a], order[m:m + nq, b]])
            dist = -np_pw(feats[refs], feats[qs])
            logits = np.stack([dist[:m].min(0), dist[m:].min(0)], 1)
            target = np.r_[np.zeros(nq), np.ones(nq)]
            acc[a, i] = acc[b, i] = np.mean(logits.argmin(1) == target)
    return acc.mean(1)


def test_unit_discrimination_matches_authors_loop(key, rng):
    n, k, m, nq, rounds = 60, 6, 3, 2, 4
    feats = rng.standard_normal((n, 2)).astype(np.float32)
    acts = (feats @ rng.standard_normal((2, k)) + rng.standard_normal((n, k))).astype(np.float32)
    got = np.asarray(unit_discrimination(key, jnp.asarray(acts), pw, jnp.asarray(feats), m, nq, rounds))
    perms = [np.asarray(jax.random.permutation(kk, k)) for kk in jax.random.split(key, rounds)]
    np.testing.assert_allclose(got, np_unit_discrimination(acts, feats, perms, m, nq), atol=1e-6)
    with pytest.raises(ValueError, match="even number"):
        unit_discrimination(key, jnp.asarray(acts[:, :5]), pw, jnp.asarray(feats))


def test_a_tie_counts_half(key, rng):
    """Planted ties: identical features make every trial's evidence equal (margin exactly 0)."""
    np.testing.assert_allclose(hard_accuracy(jnp.asarray([[1.0, 0.0, -2.0, 0.0]])), [0.5])
    n = 200
    acts = jnp.asarray(rng.standard_normal((n, 3)).astype(np.float32))
    same = jnp.ones((n, 2), jnp.float32)
    for pool in ("max", "mean"):
        res = psychophysics(key, acts, pw, same, trials=T, refs=R, pool=pool)
        np.testing.assert_array_equal(np.asarray(res.margin), 0.0)
        np.testing.assert_array_equal(np.asarray(res.accuracy), 0.5)  # was 0.0: ties counted wrong
        np.testing.assert_allclose(np.asarray(res.soft_accuracy), 0.5)


def paper_single_unit(x, f, quantiles, trials, refs, pairwise):
    """numpy transcription of the paper's run_single_unit_psychophysics (mean pooling, z-scored),
    written from its description: one RandomState(42) per unit, per quantile a top then a
    bottom query order, numpy's argsort ascending (bottom) and reversed (top).
    Returns per-quantile (soft score, hard accuracy with ties 0.5)."""
    rs = np.random.RandomState(42)
    soft, hard = [], []
    for q in quantiles:
        keep = (f >= np.quantile(f, q)) & (f <= np.quantile(f, 1 - q))
        y, xs = f[keep].copy(), x[keep].copy()
        bottom = np.argsort(y)
        top = bottom[::-1]
        perm_top = rs.choice(trials, trials, replace=False)
        perm_bot = rs.choice(trials, trials, replace=False)
        q_top, q_bot = xs[top[:trials][perm_top]], xs[bottom[:trials][perm_bot]]
        ref_pos = trials + np.arange(refs) * trials
        logits = np.zeros((trials, 2))
        for t in range(trials):
            reference = np.concatenate([xs[top[ref_pos + t]], xs[bottom[ref_pos + t]]])
            S = pairwise(reference, np.stack([q_top[t], q_bot[t]])).astype(np.float64)
            S -= S.mean()
            sd = S.std()
            S /= 1.0 if (np.isnan(sd) or sd == 0) else sd
            logits[t, 0] = S[:refs, 0].mean() + S[refs:, 1].mean()
            logits[t, 1] = S[:refs, 1].mean() + S[refs:, 0].mean()
        e = np.exp(logits)
        soft.append(np.mean(e[:, 0] / e.sum(1)))
        margin = logits[:, 0] - logits[:, 1]
        hard.append(np.mean(np.where(margin > 0, 1.0, np.where(margin == 0, 0.5, 0.0))))
    return np.asarray(soft), np.asarray(hard)


def test_reproduce_equals_the_papers_algorithm(key, rng):
    n, k, quantiles = 300, 4, (0.0, 0.25)
    feats = rng.standard_normal((n, 2)).astype(np.float32)
    raw = feats @ rng.standard_normal((2, k)) + 1.0 * rng.standard_normal((n, k))
    acts = np.round(raw, 1).astype(np.float32)  # many tied activations: the tie order matters
    got = psychophysics_curve(key, jnp.asarray(acts), pw, jnp.asarray(feats), quantiles,
                              trials=T, refs=R, pool="mean", reproduce=True)
    assert got.accuracy.shape == (len(quantiles), k)
    for u in range(k):
        soft, hard = paper_single_unit(feats, acts[:, u], quantiles, T, R, np_pw)
        np.testing.assert_allclose(np.asarray(got.soft_accuracy[:, u]), soft, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(np.asarray(got.accuracy[:, u]), hard, atol=1e-6)
    # a single call takes the draws at the quantile's position in the paper's list
    one = psychophysics(key, jnp.asarray(acts), pw, jnp.asarray(feats), 0.25, trials=T, refs=R,
                        pool="mean", reproduce=True, paper_quantiles=quantiles)
    np.testing.assert_array_equal(one.soft_accuracy, got.soft_accuracy[1])
    with pytest.raises(ValueError, match="paper_quantiles"):
        psychophysics(key, jnp.asarray(acts), pw, jnp.asarray(feats), 0.1, trials=T, refs=R,
                      reproduce=True)
    with pytest.raises(ValueError, match="most_extreme"):
        psychophysics(key, jnp.asarray(acts), pw, jnp.asarray(feats), trials=T, refs=R,
                      reproduce=True, query_block="after_refs")


def test_curve_stacks_each_difficulty(key, rng):
    n = 400
    feats = rng.standard_normal((n, 1)).astype(np.float32)
    acts = np.concatenate([feats + 0.01 * rng.standard_normal((n, 1)).astype(np.float32),
                           rng.standard_normal((n, 1)).astype(np.float32)], axis=1)
    quantiles = (0.0, 0.2, 0.4)
    curve = psychophysics_curve(key, jnp.asarray(acts), pw, jnp.asarray(feats), quantiles,
                                trials=T, refs=R, pool="mean")
    assert curve.accuracy.shape == (3, 2) and curve.margin.shape == (3, 2, T)
    for i, q in enumerate(quantiles):
        one = psychophysics(key, jnp.asarray(acts), pw, jnp.asarray(feats), q, trials=T, refs=R,
                            pool="mean")
        np.testing.assert_array_equal(curve.accuracy[i], one.accuracy)
        np.testing.assert_array_equal(curve.soft_accuracy[i], one.soft_accuracy)
    # the planted direction is at ceiling when easy, and beats the noise direction at every q
    assert float(curve.accuracy[0, 0]) == 1.0
    assert (np.asarray(curve.soft_accuracy[:, 0]) > np.asarray(curve.soft_accuracy[:, 1])).all()


def test_scores_give_hard_and_the_papers_soft_score(key, rng):
    n, k = 200, 3
    feats = rng.standard_normal((n, 2)).astype(np.float32)
    acts = jnp.asarray((feats @ rng.standard_normal((2, k)) + rng.standard_normal((n, k))).astype(np.float32))
    both = psychophysics_scores(key, acts, pw, jnp.asarray(feats), 0.1, trials=T, refs=R)
    hard = psychophysics(key, acts, pw, jnp.asarray(feats), 0.1, trials=T, refs=R, pool="max")
    soft = psychophysics(key, acts, pw, jnp.asarray(feats), 0.1, trials=T, refs=R, pool="mean")
    np.testing.assert_array_equal(both.hard, hard.accuracy)
    np.testing.assert_allclose(both.soft_mean, soft.soft_accuracy, rtol=1e-6)
    assert both.hard_pool == "max"
    assert "max pooling" in both.labels["hard"] and "paper reports" in both.labels["soft_mean"]
    label = psychophysics_scores(key, acts, pw, jnp.asarray(feats), 0.1, trials=T, refs=R,
                                 hard_pool="mean", reproduce=True, paper_quantiles=(0.0, 0.1))
    ref = psychophysics(key, acts, pw, jnp.asarray(feats), 0.1, trials=T, refs=R, pool="mean",
                        reproduce=True, paper_quantiles=(0.0, 0.1))
    np.testing.assert_array_equal(label.hard, ref.accuracy)
    np.testing.assert_array_equal(label.soft_mean, ref.soft_accuracy)
