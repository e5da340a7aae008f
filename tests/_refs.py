"""Plain numpy / scipy / scikit-learn / torch references for the `paper` and `roles` quantities.

Written from METHODS.md, not from jaxinterp: float64 throughout, one unit at a time, loops
where the method says "for each". The recipe tests recompute every saved quantity with these
on the same tiny fixture and compare at tolerances set by float32 numerics.

Near ties are where a float32 result may legitimately differ from a float64 one (a top-M
boundary, an argmax), so the helpers say whether a choice is *decided*: its margin is
above ``TIE`` (relative) or it is an exact tie, which both sides break by the lowest index.
Tests compare decided units exactly and leave the undecided ones out (and check they are few).
Where the code itself decides near ties by a tolerance (psychophysics), the reference offers
the trials of each rule, and a test accepts the code's result if it matches one of them.
"""

from __future__ import annotations

import itertools

import numpy as np
from scipy.special import digamma

TIE = 1e-6  # relative gap below which float32 and float64 may order two values differently


# ---------------------------------------------------------------- rankings


def _close(a, b, scale, tie) -> bool:
    """a and b differ, but by less than float32 rounding could explain."""
    return a != b and abs(a - b) <= tie * max(scale, 1e-30)


def top_m(f, m: int, tie: float = TIE):
    """[n] -> (indices of the m largest, highest first, ties to the lowest index; decided).

    ``tie=0`` when ``f`` is the very float32 array the code ranked: then only exact ties occur."""
    f = np.asarray(f, np.float64)
    order = np.argsort(-f, kind="stable")
    scale = float(np.max(np.abs(f)))
    decided = m >= f.size or not _close(f[order[m - 1]], f[order[m]], scale, tie)
    return order[:m], decided


def top_m_all(acts, m: int, tie: float = TIE):
    """[n, k] -> ([k, m] top-m indices per column, [k] decided)."""
    out = [top_m(acts[:, u], m, tie) for u in range(acts.shape[1])]
    return np.stack([o[0] for o in out]), np.array([o[1] for o in out])


def unit_rows(a):
    """Â = A / max(‖A_i‖, 1e-6) (METHODS.md §1.2)."""
    a = np.asarray(a, np.float64)
    return a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-6)


# ---------------------------------------------------------------- similarities and the II


def colour_features(images_uint8):
    """[n, h, w, 3] uint8 -> [n, 3] spatial-mean colour in [0, 1]."""
    return np.asarray(images_uint8, np.float64).mean(axis=(1, 2)) / 255.0


def colour_matrix(images_uint8):
    """[n, n] colour similarity s = -‖c(x) - c(x')‖."""
    c = colour_features(images_uint8)
    return -np.sqrt(((c[:, None] - c[None]) ** 2).sum(-1))


def label_matrix(labels):
    """[n, n] label similarity s = 1[label = label']."""
    labels = np.asarray(labels)
    return (labels[:, None] == labels[None]).astype(np.float64)


def ii(acts, sim, m: int = 5, tie: float = TIE):
    """II(u) = mean over the M×M block of sim among u's top-M images (diagonal included),
    for every column of acts [n, k] -> ([k], [k] decided)."""
    top, decided = top_m_all(acts, m, tie)
    return np.array([sim[np.ix_(t, t)].mean() for t in top]), decided


def cross_ii(acts, sim, pairs, m: int = 5, tie: float = TIE):
    """cross-II(a, b) = mean of sim between a's and b's top-M images -> ([P], [P] decided)."""
    top, decided = top_m_all(acts, m, tie)
    vals = np.array([sim[np.ix_(top[a], top[b])].mean() for a, b in pairs])
    return vals, np.array([decided[a] and decided[b] for a, b in pairs])


# ---------------------------------------------------------------- psychophysics (METHODS.md §3.2)


def psychophysics_trials(f, q: float, trials: int, refs: int, perm_top, perm_bot, tie: float = TIE):
    """One direction's possible trials, "most_extreme" queries: a list of (q_top [T], q_bot [T],
    ref_top [T, R], ref_bot [T, R]) and whether the exact ranking is decided. ``perm_*`` are the
    query orders (the run's draws).

    The list holds the trials of either way to rank near-equal activations:

    - exact: by value, equal values by lowest index. One entry per way of settling the images
      that lie on the interpolated quantile cut within float32 rounding (the code computes the
      cut in float32): each may be in or out of the difficulty range.
    - tolerant: sorted values within ``TIE · max|f|`` of their neighbour form one tie, ranked by
      lowest index, and the difficulty range is widened by that tolerance.
    """
    f = np.asarray(f, np.float64)
    lo, hi = np.quantile(f, q), np.quantile(f, 1 - q)
    scale = float(np.max(np.abs(f)))
    used = trials * (refs + 1)
    t, k = np.arange(trials)[:, None], np.arange(refs)[None, :]
    ref_pos = trials + trials * k + t

    def trial(kept, key):
        kept = np.flatnonzero(kept)
        top = kept[np.lexsort((kept, -key[kept]))]  # by key descending, then lowest index
        bottom = kept[np.lexsort((kept, key[kept]))]
        return top, bottom, (top[:trials][perm_top], bottom[:trials][perm_bot], top[ref_pos], bottom[ref_pos])

    keep = (f >= lo) & (f <= hi)
    edge = [i for i in range(f.size) if q > 0 and any(_close(f[i], c, scale, TIE) for c in (lo, hi))]
    if len(edge) > 4:
        raise ValueError(f"{len(edge)} images lie on the quantile cut; the reference would try 2^{len(edge)} ways")
    out, decided = [], True
    for flips in range(2 ** len(edge)):
        kept = keep.copy()
        for b, i in enumerate(edge):
            kept[i] ^= bool(flips >> b & 1)
        top, bottom, chosen = trial(kept, f)
        for ranked in (top, bottom):
            vals = f[ranked[: used + 1]]
            decided &= not any(_close(a, b, scale, tie) for a, b in itertools.pairwise(vals))
        out.append(chosen)
    tol = TIE * scale
    order = np.argsort(f, kind="stable")
    runs = np.zeros(f.size)
    runs[order] = np.cumsum(np.r_[0, np.diff(f[order]) > tol])
    out.append(trial((f >= lo - tol) & (f <= hi + tol), runs)[2])
    return out, decided


def psychophysics_margins(sim, q_top, q_bot, ref_top, ref_bot, pool: str):
    """Per trial: S = sim([ref_top; ref_bot], [q_top, q_bot]) z-scored (std := 1 if 0),
    E_ok - E_bad with ``pool`` over each reference set -> [T]."""
    p = np.max if pool == "max" else np.mean
    out = []
    for t in range(len(q_top)):
        r = np.concatenate([ref_top[t], ref_bot[t]])
        S = sim[np.ix_(r, [q_top[t], q_bot[t]])]
        sd = S.std()
        S = (S - S.mean()) / (sd if sd > 0 else 1.0)
        R = len(ref_top[t])
        out.append(p(S[:R, 0]) + p(S[R:, 1]) - p(S[:R, 1]) - p(S[R:, 0]))
    return np.array(out)


# ---------------------------------------------------------------- §4 analyses


def pearson(x, y) -> float:
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    xc, yc = x - x.mean(), y - y.mean()
    den = np.sqrt((xc**2).sum() * (yc**2).sum())
    return float((xc * yc).sum() / den) if den > 0 else 0.0


def zscore(a):
    a = np.asarray(a, np.float64)
    sd = a.std(0)
    return (a - a.mean(0)) / np.where(sd > 0, sd, 1.0)


def coactivation(acts):
    """coact(n) = Pearson(a_n, mean of the other neurons) (METHODS.md §4.5)."""
    a = np.asarray(acts, np.float64)
    n = a.shape[1]
    return np.array([pearson(a[:, i], np.delete(a, i, axis=1).mean(1)) for i in range(n)])


def spectrum_noncv(acts, standardise: bool = True):
    """z-score each neuron (or only centre it), SVD: var_k = s_k² / Σ s² (the seed code)."""
    a = np.asarray(acts, np.float64)
    s = np.linalg.svd(zscore(a) if standardise else a - a.mean(0), compute_uv=False)
    return s**2 / (s**2).sum()


def spectrum_split(acts, perm):
    """Principal axes of the first half (``perm`` order), variance along them on the second."""
    a = np.asarray(acts, np.float64)[perm]
    half = a.shape[0] // 2
    x0, x1 = a[:half], a[half : 2 * half]
    v = np.linalg.svd(x0 - x0.mean(0), full_matrices=False)[2]
    ss = (((x1 - x1.mean(0)) @ v.T) ** 2).sum(0)
    return ss / ss.sum()


def ols_alpha(var, low=0.05, high=0.5) -> float:
    """α = -slope of log var on log rank (rank = i + 1) over low·N < i < high·N, var > 0."""
    var = np.asarray(var, np.float64)
    i = np.arange(var.size)
    keep = (i > low * var.size) & (i < high * var.size) & (var > 0)
    x = np.stack([np.log(i[keep] + 1.0), np.ones(keep.sum())], 1)
    slope = np.linalg.lstsq(x, np.log(var[keep]), rcond=None)[0][0]
    return float(-slope)


def eq4(unit, centroids, tau=2.0):
    """f_i(x) = exp(-d'_i(x)/τ), d = ‖â - μ_i‖² z-scored over the images (METHODS.md §4.1)."""
    d = ((unit[:, None, :] - centroids[None]) ** 2).sum(-1)
    sd = d.std(0)
    return np.exp(-((d - d.mean(0)) / np.where(sd > 0, sd, 1.0)) / tau)


def manifold_sparsity(emb, rows):
    """Mean pairwise 2-D distance among a direction's exemplars (j != k)."""
    pts = np.asarray(emb, np.float64)[rows]
    m = len(rows)
    return float(np.mean([np.linalg.norm(pts[i] - pts[j]) for i in range(m) for j in range(m) if i != j]))


def hungarian_pairs(centroids):
    """a -> b maximising Σ ‖μ_a - μ_b‖ with a != b (scipy's assignment solver)."""
    from scipy.optimize import linear_sum_assignment

    c = np.asarray(centroids, np.float64)
    dist = np.linalg.norm(c[:, None] - c[None], axis=-1)
    dist[np.diag_indices_from(dist)] = -1e9
    rows, cols = linear_sum_assignment(dist, maximize=True)
    return np.stack([rows, cols], 1)


def interpolate(mu_a, mu_b, alpha):
    v = alpha * mu_a + (1 - alpha) * mu_b
    return v / np.linalg.norm(v)


# ---------------------------------------------------------------- §5 measures (roles)


def ridge_cv(x_fit, y_fit, x_test, y_test, rel_lambdas, folds=5):
    """Ridge of each column of y with an intercept; λ = rel·tr(XcᵀXc)/d picked per column by
    the summed held-out SSE of ``folds`` folds (sample i of the fit set in fold i % folds);
    refit on the whole fit set. -> (lambdas [L], cv_sse [L, N], r2_test [L, N])."""
    x_fit, y_fit = np.asarray(x_fit, np.float64), np.asarray(y_fit, np.float64)
    x_test, y_test = np.asarray(x_test, np.float64), np.asarray(y_test, np.float64)
    n, d = x_fit.shape
    xc = x_fit - x_fit.mean(0)
    lambdas = np.asarray(rel_lambdas) * (xc**2).sum() / d

    def fit(x, y, lam):
        mx, my = x.mean(0), y.mean(0)
        coef = np.linalg.solve((x - mx).T @ (x - mx) + lam * np.eye(d), (x - mx).T @ (y - my))
        return coef, my - mx @ coef

    fold = np.arange(n) % folds
    cv = np.zeros((len(lambdas), y_fit.shape[1]))
    r2 = np.zeros_like(cv)
    for i, lam in enumerate(lambdas):
        for f in range(folds):
            tr, va = fold != f, fold == f
            coef, b = fit(x_fit[tr], y_fit[tr], lam)
            cv[i] += ((y_fit[va] - x_fit[va] @ coef - b) ** 2).sum(0)
        coef, b = fit(x_fit, y_fit, lam)
        sse = ((y_test - x_test @ coef - b) ** 2).sum(0)
        r2[i] = 1 - sse / ((y_test - y_test.mean(0)) ** 2).sum(0)
    return lambdas, cv, r2


def knn_distance_1d(v, k):
    """Distance from each sample to its k-th nearest other sample."""
    d = np.abs(v[:, None] - v[None])
    np.fill_diagonal(d, np.inf)
    return np.sort(d, axis=1)[:, k - 1]


def entropy_kl(v, k=3, jitter=1e-9):
    """1-D Kozachenko–Leonenko: ψ(n) - ψ(k) + log 2 + mean log(ε_i + jitter)."""
    v = np.asarray(v, np.float64)
    eps = knn_distance_1d(v, k) + jitter
    return digamma(v.size) - digamma(k) + np.log(2) + np.mean(np.log(eps))


def mixed_entropy(y, k=3):
    """ỹ = y/std(y); p0 = P(ỹ <= 0); H_mix = H_b(p0) + (1 - p0) h_KL(ỹ | ỹ > 0) (METHODS.md §5.6).
    -> (h_mix, p0, h_pos); h_pos NaN with k or fewer positive values."""
    y = np.asarray(y, np.float64)
    yt = y / max(y.std(), 1e-12)
    pos = yt > 0
    p0 = 1 - pos.mean()
    hb = -sum(p * np.log(p) for p in (p0, 1 - p0) if p > 0)
    h_pos = entropy_kl(yt[pos], k) if pos.sum() > k else np.nan
    return hb + (1 - p0) * (0.0 if np.isnan(h_pos) else h_pos), p0, h_pos


def binned_entropy(y, bins=64, quantile=0.999):
    """Plug-in entropy of ỹ = y/std(y) in equal-width bins on [0, q(ỹ)], clipped to the end bins."""
    y = np.asarray(y, np.float64)
    yt = y / max(y.std(), 1e-12)
    top = max(np.quantile(yt, quantile), 1e-12)
    b = np.clip(np.floor(yt / top * bins), 0, bins - 1).astype(int)
    p = np.bincount(b, minlength=bins) / y.size
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


def mi_binned(y, labels, bins=20):
    """I(y; label) on equal-frequency bins (tied values by their mid-rank), Miller–Madow corrected."""
    from scipy.stats import rankdata

    y, labels = np.asarray(y, np.float64), np.asarray(labels)
    n = y.size
    b = np.minimum(np.floor((rankdata(y, "average") - 1) * bins / n), bins - 1).astype(int)

    def h(keys):
        _, counts = np.unique(keys, return_counts=True, axis=0)
        p = counts / n
        return -(p * np.log(p)).sum() + (counts.size - 1) / (2 * n)

    return h(b) + h(labels) - h(np.stack([b, labels], 1))


def mi_ksg(x, z, k=3):
    """Kraskov et al. (2004) algorithm 1, both 1-D, brute force: ε_i = k-th max-norm distance;
    n_x, n_z = others strictly closer than ε_i; I = ψ(k) + ψ(n) - <ψ(n_x + 1) + ψ(n_z + 1)>."""
    x, z = np.asarray(x, np.float64), np.asarray(z, np.float64)
    dx, dz = np.abs(x[:, None] - x[None]), np.abs(z[:, None] - z[None])
    d = np.maximum(dx, dz)
    np.fill_diagonal(d, np.inf)
    eps = np.sort(d, axis=1)[:, k - 1][:, None]
    nx = (dx < eps).sum(1) - 1
    nz = (dz < eps).sum(1) - 1
    return digamma(k) + digamma(x.size) - np.mean(digamma(nx + 1) + digamma(nz + 1))


def jacobian_stats(jac):
    """One neuron's Jacobians [p, d]: sensitivity E‖J‖, consistency ‖EJ‖²/E‖J‖², effective dim
    (tr G)²/tr G², axis focus max G_jj / tr G, focus index argmax G_jj; G = E[JᵀJ] (METHODS.md §5.4)."""
    jac = np.asarray(jac, np.float64)
    g = jac.T @ jac / jac.shape[0]
    tr = np.trace(g)
    return {"sensitivity": np.linalg.norm(jac, axis=1).mean(),
            "consistency": (jac.mean(0) ** 2).sum() / tr if tr > 0 else 0.0,
            "effective_dim": tr**2 / (g**2).sum() if tr > 0 else 0.0,
            "axis_focus": np.diag(g).max() / tr if tr > 0 else 0.0,
            "focus_index": int(np.argmax(np.diag(g)))}


def concentration(s):
    """κ = 1 - H(S/ΣS)/log(HW) of one [H, W] map; 0 for an all-zero map."""
    p = np.asarray(s, np.float64).ravel()
    if p.sum() == 0:
        return 0.0
    p = p / p.sum()
    p = p[p > 0]
    return float(1 + (p * np.log(p)).sum() / np.log(s.size))


# ---------------------------------------------------------------- the small CNN in torch


def torch_small_cnn(variables, mean, std):
    """small_cnn / small_cnn_rgb in torch, float64, from the Flax variables.

    Returns blocks(x01 [n, H, W, C] torch tensor in [0, 1], upto) -> list of the block outputs
    (post-ReLU, NCHW) up to block ``upto``: conv3x3 (stride 1, 2, 2, padding 1, no bias),
    eval batch norm (eps 1e-5), ReLU.
    """
    import torch

    F = torch.nn.functional
    p, s = variables["params"], variables["batch_stats"]
    t = lambda a: torch.tensor(np.asarray(a, np.float64))
    mean, std = t(mean)[None, :, None, None], t(std)[None, :, None, None]

    def blocks(x01, upto):
        h = (x01.permute(0, 3, 1, 2) - mean) / std
        outs = []
        for i, stride in zip(range(1, upto + 1), (1, 2, 2)):
            w = t(p[f"conv{i}"]["kernel"]).permute(3, 2, 0, 1)
            h = F.conv2d(h, w, stride=stride, padding=1)
            bn, st = p[f"bn{i}"], s[f"bn{i}"]
            h = (h - t(st["mean"])[None, :, None, None]) / torch.sqrt(t(st["var"])[None, :, None, None] + 1e-5)
            h = F.relu(h * t(bn["scale"])[None, :, None, None] + t(bn["bias"])[None, :, None, None])
            outs.append(h)
        return outs

    return blocks


def torchvision_or_skip():
    """torchvision's Python classes under the CPU build of torch (its compiled ops target CUDA:
    a stub module stands in for ``torchvision._meta_registrations``), or a skip."""
    import sys
    import types

    import pytest

    pytest.importorskip("torch")
    stub = "torchvision._meta_registrations"
    sys.modules.setdefault(stub, types.ModuleType(stub))
    return pytest.importorskip("torchvision")


# ---------------------------------------------------------------- heat maps on crops


def field_owner(rf, p: int, axis: int, n: int) -> int:
    """The map position drawn on input pixel ``p`` (row for axis 0): the one whose stride-wide
    interval about its field's centre, [c - s/2, c + s/2), holds p; before the first or after the
    last interval, that position. A loop over the positions."""
    s = rf.stride[axis]
    centres = [rf.offset[axis] + r * s + (rf.size[axis] - 1) / 2 for r in range(n)]
    for r, c in enumerate(centres):
        if c - s / 2 <= p < c + s / 2:
            return r
    return 0 if p < centres[0] else n - 1


def heat_window(m, rf, image_hw, y: int, x: int, margin: int | None = None):
    """One map [h, w] drawn on the [H, W] input pixels (:func:`field_owner`), cut to the display
    window of position (y, x) (the field's box; with ``margin``, along an axis where the field is
    wider than the image, the image and ``margin`` pixels each side); NaN outside the image."""
    (h, w), (H, W) = np.shape(m), image_hw
    drawn = np.asarray(m, np.float64)[np.ix_([field_owner(rf, p, 0, h) for p in range(H)],
                                             [field_owner(rf, p, 1, w) for p in range(W)])]
    pad = 4 * max(H, W, *rf.size)
    big = np.pad(drawn, pad, constant_values=np.nan)
    box = []
    for axis, (pos, side) in enumerate(((y, H), (x, W))):
        if margin is not None and rf.size[axis] > side:
            box.append((-margin, side + 2 * margin))
        else:
            box.append((rf.offset[axis] + pos * rf.stride[axis], rf.size[axis]))
    (y0, rh), (x0, rw) = box
    return big[pad + y0: pad + y0 + rh, pad + x0: pad + x0 + rw]
