"""In-silico psychophysics against a plain numpy re-implementation of METHODS.md §3.2."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxinterp.scores.psychophysics import psychophysics, trial_indices, unit_discrimination

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
        hard.append(float(ok > bad))
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
