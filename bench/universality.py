"""universality: CKA of every layer pair of ResNet-20 vs ResNet-32 on 10,000 images.

Activations: spatial means of each layer (``capture(..., position="mean")``) of
``cifar_resnet20`` and ``cifar_resnet32`` with the pretrained weights of
``../shared/data`` when present (converted here), random initialisations otherwise,
on 10,000 *synthetic* images (smooth random colour fields: 8×8 uniform noise
upsampled to 32×32; the figures are about speed, not about what the nets see).
Capture is done once and not timed.

Cases:
- ``cka_linear_blocks``: stem + 9/15 residual blocks + classifier: 11 × 17 = 187 pairs.
- ``cka_linear_all_layers``: every named layer but input/logits: 60 × 96 = 5,760 pairs (the
  loops run on 400 random pairs and are extrapolated).
  Ours: ``cka_all_pairs`` (one streamed pass, exact unbiased HSIC). Peers, same arrays:
  a PyTorch loop over pairs of Kornblith et al.'s ``feature_space_linear_cka(debiased=True)``
  (float32; the strongest loop), the same loop in numpy, and Kornblith's reference
  ``cka(gram_linear(x), gram_linear(y), debiased=True)`` in numpy ([n, n] Grams; on a subset
  of pairs, extrapolated).
- ``cka_rbf_blocks``: RBF CKA (median bandwidth) of the 187 block pairs. Ours: streamed Gram
  rows; peer: Kornblith's numpy ``cka(gram_rbf(x), gram_rbf(y), debiased=True)`` on a subset
  of pairs, extrapolated.
"""

from __future__ import annotations

import time

import jax
import numpy as np

from bench._harness import block, emit, seconds
from jaxinterp import door, models
from jaxinterp.capture import capture
from jaxinterp.universality import cka_all_pairs, default_layers


def synthetic_images(rng, n):
    low = rng.random((n, 8, 8, 3)).astype(np.float32)
    return np.round(np.repeat(np.repeat(low, 4, 1), 4, 2) * 255).astype(np.uint8)


def _variables(arch, ckpt):
    from tests.conftest import SHARED_DATA

    path = SHARED_DATA / "models" / ckpt
    if path.exists():
        from converters import convert

        return convert(path, arch), "pretrained"
    return models.init(models.get(arch), jax.random.key(len(arch))), "random init"


# ---- peers: Kornblith et al. (2019) colab code, ported verbatim -------------------------------


def _debiased_helper(xty, sx, sy, nx, ny, n):
    return xty - n / (n - 2.0) * sx.dot(sy) + nx * ny / ((n - 1) * (n - 2))


def feature_space_linear_cka_np(x, y):
    x = x - x.mean(0, keepdims=True)
    y = y - y.mean(0, keepdims=True)
    dot = np.linalg.norm(x.T.dot(y)) ** 2
    nx_, ny_ = np.linalg.norm(x.T.dot(x)), np.linalg.norm(y.T.dot(y))
    n = x.shape[0]
    sx, sy = np.einsum("ij,ij->i", x, x), np.einsum("ij,ij->i", y, y)
    qx, qy = sx.sum(), sy.sum()
    dot = _debiased_helper(dot, sx, sy, qx, qy, n)
    nx_ = np.sqrt(_debiased_helper(nx_**2, sx, sx, qx, qx, n))
    ny_ = np.sqrt(_debiased_helper(ny_**2, sy, sy, qy, qy, n))
    return dot / (nx_ * ny_)


def feature_space_linear_cka_torch(x, y):
    x = x - x.mean(0, keepdim=True)
    y = y - y.mean(0, keepdim=True)
    dot = (x.T @ y).norm() ** 2
    nx_, ny_ = (x.T @ x).norm(), (y.T @ y).norm()
    n = x.shape[0]
    sx, sy = (x * x).sum(1), (y * y).sum(1)
    qx, qy = sx.sum(), sy.sum()
    dot = _debiased_helper(dot, sx, sy, qx, qy, n)
    nx_ = (_debiased_helper(nx_**2, sx, sx, qx, qx, n)).sqrt()
    ny_ = (_debiased_helper(ny_**2, sy, sy, qy, qy, n)).sqrt()
    return dot / (nx_ * ny_)


def gram_linear(x):
    return x.dot(x.T)


def gram_rbf(x, threshold=1.0):
    dot = x.dot(x.T)
    sq = np.diag(dot)
    d2 = -2 * dot + sq[:, None] + sq[None, :]
    return np.exp(-d2 / (2 * threshold**2 * np.median(d2)))


def center_gram(gram):  # unbiased=True branch
    n = gram.shape[0]
    np.fill_diagonal(gram, 0)
    means = np.sum(gram, 0, dtype=np.float64) / (n - 2)
    means -= np.sum(means) / (2 * (n - 1))
    gram -= means[:, None]
    gram -= means[None, :]
    np.fill_diagonal(gram, 0)
    return gram


def cka_gram(gx, gy):
    gx, gy = center_gram(gx), center_gram(gy)
    return gx.ravel().dot(gy.ravel()) / (np.linalg.norm(gx) * np.linalg.norm(gy))


# ----------------------------------------------------------------------------------------------


def _pairs(a, b):
    return [(i, j) for i in range(len(a)) for j in range(len(b))]


def _linear_case(name, acts_a, acts_b, n, subset, repeat, loop_pairs=None):
    """``loop_pairs``: time the torch/numpy loops on that many random pairs and extrapolate
    (None: every pair). The Gram peer always runs on ``subset`` pairs, extrapolated."""
    import torch

    ka, kb = list(acts_a), list(acts_b)
    pairs = _pairs(ka, kb)
    ours = seconds(lambda: cka_all_pairs(acts_a, acts_b, "linear"), repeat=repeat)
    got = np.asarray(cka_all_pairs(acts_a, acts_b, "linear"))
    rng = np.random.default_rng(1)
    looped = pairs if loop_pairs is None else [pairs[k] for k in rng.choice(len(pairs), loop_pairs, replace=False)]
    scale = len(pairs) / len(looped)

    ta = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in acts_a.items()}
    tb = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in acts_b.items()}
    torch_loop = lambda: np.array([float(feature_space_linear_cka_torch(ta[ka[i]], tb[kb[j]]))  # noqa: E731
                                   for i, j in looped])
    t0 = time.perf_counter()
    ref = torch_loop()
    t_torch = time.perf_counter() - t0
    if repeat > 1:
        t_torch = min(t_torch, seconds(torch_loop, repeat=repeat - 1, warmup=0))
    t0 = time.perf_counter()
    np_vals = np.array([feature_space_linear_cka_np(acts_a[ka[i]], acts_b[kb[j]]) for i, j in looped])
    t_np = time.perf_counter() - t0
    sub = [pairs[k] for k in rng.choice(len(pairs), subset, replace=False)]
    t0 = time.perf_counter()
    gram_vals = [cka_gram(gram_linear(acts_a[ka[i]]), gram_linear(acts_b[kb[j]])) for i, j in sub]
    t_gram = (time.perf_counter() - t0) * len(pairs) / len(sub)
    mine = np.array([got[i, j] for i, j in looped])
    shape = {"images": n, "layers_a": len(ka), "layers_b": len(kb), "pairs": len(pairs),
             "features_a": int(sum(v.shape[1] for v in acts_a.values())),
             "features_b": int(sum(v.shape[1] for v in acts_b.values()))}
    extra = {"max_abs_diff_vs_torch_loop": float(np.abs(mine - ref).max()),
             "max_abs_diff_vs_numpy_gram": float(max(abs(got[i, j] - g) for (i, j), g in zip(sub, gram_vals))),
             "max_abs_diff_torch_vs_numpy_loop": float(np.abs(ref - np_vals).max())}
    how = "" if loop_pairs is None else f" ({loop_pairs} pairs, extrapolated)"
    # FLOPs, ours: per image one [ΣdA+LA+1] × [ΣdB+LB+1] outer-product GEMM plus each layer's
    # x xᵀ: 2·n·((ΣdA+LA+1)(ΣdB+LB+1) + Σ dA² + Σ dB²); the loops: per pair XᵀY, XᵀX, YᵀY:
    # 2·n·Σ_pairs (dA·dB + dA² + dB²)
    da = [v.shape[1] for v in acts_a.values()]
    db = [v.shape[1] for v in acts_b.values()]
    flops = 2 * n * ((sum(da) + len(da) + 1) * (sum(db) + len(db) + 1) + sum(w * w for w in da)
                     + sum(w * w for w in db))
    loop_flops = 2 * n * sum(da[i] * db[j] + da[i] ** 2 + db[j] ** 2 for i, j in pairs)
    emit(name, shape, ours, "torch loop of feature_space_linear_cka(debiased=True)" + how, t_torch * scale,
         flops=flops, peer_flops=loop_flops, **extra)
    emit(name + "_vs_numpy", shape, ours, "numpy loop of feature_space_linear_cka(debiased=True)" + how,
         t_np * scale, flops=flops, peer_flops=loop_flops)
    emit(name + "_vs_numpy_gram", shape, ours,
         f"numpy loop of cka(gram_linear, debiased=True) ({subset} pairs, extrapolated)", t_gram, flops=flops,
         peer_flops=None)


def _rbf_case(acts_a, acts_b, n, subset):
    ka, kb = list(acts_a), list(acts_b)
    pairs = _pairs(ka, kb)
    t0 = time.perf_counter()
    got = np.asarray(block(cka_all_pairs(acts_a, acts_b, "rbf", median_images=n)))
    first = time.perf_counter() - t0
    ours = seconds(lambda: cka_all_pairs(acts_a, acts_b, "rbf", median_images=n), repeat=1, warmup=0)
    rng = np.random.default_rng(2)
    sub = [pairs[k] for k in rng.choice(len(pairs), subset, replace=False)]
    t0 = time.perf_counter()
    vals = [cka_gram(gram_rbf(acts_a[ka[i]]), gram_rbf(acts_b[kb[j]])) for i, j in sub]
    peer = (time.perf_counter() - t0) * len(pairs) / len(sub)
    emit("cka_rbf_blocks", {"images": n, "pairs": len(pairs)}, ours,
         f"numpy loop of cka(gram_rbf, debiased=True) ({subset} pairs, extrapolated)", peer,
         first_call_seconds=round(first, 3),
         max_abs_diff_vs_peer=float(max(abs(got[i, j] - v) for (i, j), v in zip(sub, vals))))


def run(quick: bool = False) -> None:
    n = 2000 if quick else 10_000
    rng = np.random.default_rng(0)
    images = synthetic_images(rng, n)
    acts, layer_sets = [], []
    for arch, ckpt in (("cifar_resnet20", "resnet20-12fca82f.th"), ("cifar_resnet32", "resnet32-d509ac18.th")):
        model = models.get(arch)
        variables, source = _variables(arch, ckpt)
        names = door.layer_names(model, variables, (32, 32, 3))
        every = [k for k in names if k not in ("input", "logits")]
        acts.append(capture(model, variables, images, every, "mean", progress=False))
        layer_sets.append((default_layers(names), every))
        print(f'{{"note": "{arch}: {source} weights, {len(every)} layers captured on {n} synthetic images"}}')
    (blocks_a, all_a), (blocks_b, all_b) = layer_sets
    sel = lambda a, keys: {k: a[k] for k in keys}  # noqa: E731
    a_blk, b_blk = sel(acts[0], blocks_a), sel(acts[1], blocks_b)
    _linear_case("cka_linear_blocks", a_blk, b_blk, n, subset=3, repeat=3)
    _linear_case("cka_linear_all_layers", sel(acts[0], all_a), sel(acts[1], all_b), n, subset=2, repeat=1,
                 loop_pairs=400)
    rbf_n = 1000 if quick else 4000
    _rbf_case({k: v[:rbf_n] for k, v in a_blk.items()}, {k: v[:rbf_n] for k, v in b_blk.items()}, rbf_n, 3)
