"""Direction fits against scikit-learn (and a PyTorch SAE step) on ReLU-like activations.

Full: 50,000 x 256 float32, K-means K=256, PCA 256, FastICA 64, NMF 64, SAE K=512.
Quick: 4,000 x 64. Every case times jaxinterp and its peer back to back.
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np

from bench._harness import emit, seconds
from jaxinterp.directions import ica, kmeans, nmf, pca, sae


def relu_data(n: int, d: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    mix = rng.standard_normal((d, d)).astype(np.float32) / np.sqrt(d)
    # float32 throughout (np.sqrt(d) is a float64 scalar, which made the data float64 before
    # 2026-12-02, so scikit-learn's peers then ran in float64 while jaxinterp ran in float32)
    return np.maximum(rng.standard_normal((n, d)).astype(np.float32) @ mix + 0.1, 0.0).astype(np.float32)


def _timed(fn):
    start = time.perf_counter()
    out = fn()
    jax.tree_util.tree_map(lambda a: a.block_until_ready() if hasattr(a, "block_until_ready") else a, out)
    return out, time.perf_counter() - start


def bench_kmeans(x, k, iters, repeat):
    from sklearn.cluster import KMeans

    init = x[np.random.default_rng(1).choice(len(x), k, replace=False)]
    ours = lambda: kmeans.fit(None, x, k, init=init, max_iter=iters, tol=0.0)  # noqa: E731
    state = ours()
    t = seconds(ours, repeat=repeat)
    ref = KMeans(k, init=init, n_init=1, max_iter=iters, tol=0.0, algorithm="lloyd")
    t_ref = seconds(lambda: ref.fit(x), repeat=repeat, warmup=0)
    emit("kmeans_lloyd_per_iter", list(x.shape) + [k], t / int(state.n_iter), "sklearn.KMeans(lloyd)",
         t_ref / ref.n_iter_, inertia=float(state.inertia), peer_inertia=float(ref.inertia_),
         iterations=int(state.n_iter), peer_iterations=int(ref.n_iter_))


def bench_pca(x, k, repeat):
    from sklearn.decomposition import PCA

    t = seconds(lambda: pca.fit(None, x, k), repeat=repeat)
    t_ref = seconds(lambda: PCA(k).fit(x), repeat=repeat)
    ours, ref = pca.fit(None, x, k), PCA(k).fit(x)
    cos = np.abs(np.sum(np.asarray(ours.components) * ref.components_, axis=1))
    emit("pca", list(x.shape) + [k], t, "sklearn.PCA", t_ref, route="host numpy array (syrk)",
         min_abs_cos_vs_peer=round(float(cos[: k // 2].min()), 6))
    xj = jnp.asarray(x)  # a JAX array: the jitted (shardable) route, no host copy to time
    t_j = seconds(lambda: pca.fit(None, xj, k), repeat=repeat)
    emit("pca_jax_array_in", list(x.shape) + [k], t_j, "sklearn.PCA (numpy in)", t_ref,
         route="jitted GEMM + LAPACK eigh callback")


def bench_ica(x, k):
    from sklearn.decomposition import FastICA

    key = jax.random.key(0)
    state = ica.fit(key, x, k)  # compile
    state, t = _timed(lambda: ica.fit(key, x, k))
    ref, t_ref = _timed(lambda: FastICA(k, random_state=0, whiten="unit-variance").fit(x))
    emit("fastica", list(x.shape) + [k], t, "sklearn.FastICA(parallel, logcosh)", t_ref,
         iterations=int(state.n_iter), peer_iterations=int(ref.n_iter_), converged=bool(state.converged))


def bench_nmf(x, k):
    from sklearn.decomposition import NMF

    ref, t_ref = _timed(lambda: NMF(k, solver="mu", random_state=0).fit(x))
    target = ref.reconstruction_err_
    nmf.fit(None, x, k, solver="mu")  # compile
    mu, t_mu = _timed(lambda: nmf.fit(None, x, k, solver="mu"))
    emit("nmf_mu_same_rule", list(x.shape) + [k], t_mu, "sklearn.NMF(mu)", t_ref,
         error=float(mu.reconstruction_err), peer_error=float(target), iterations=int(mu.n_iter),
         peer_iterations=int(ref.n_iter_))
    for iters in (10, 20, 30, 40, 60, 80, 120, 160, 200):  # fewest HALS iterations reaching sklearn's error
        hals = nmf.fit(None, x, k, solver="hals", max_iter=iters, tol=0.0)
        if float(hals.reconstruction_err) <= target:
            break
    hals, t_hals = _timed(lambda: nmf.fit(None, x, k, solver="hals", max_iter=iters, tol=0.0))
    emit("nmf_hals_equal_error", list(x.shape) + [k], t_hals, "sklearn.NMF(mu)", t_ref,
         error=float(hals.reconstruction_err), peer_error=float(target), iterations=iters)


def bench_sae(x, k, batch, steps):
    import torch

    key = jax.random.key(0)
    sae.fit(key, x, k, batch_size=batch, max_steps=2)  # compile
    _, t = _timed(lambda: sae.fit(key, x, k, batch_size=batch, max_steps=steps))

    torch.manual_seed(0)
    d = x.shape[1]
    w_enc = torch.nn.Parameter(torch.randn(k, d, dtype=torch.float32) * 0.05)
    b_enc = torch.nn.Parameter(torch.zeros(k))
    w_dec = torch.nn.Parameter(torch.nn.init.orthogonal_(torch.empty(d, k)))
    opt = torch.optim.Adam([w_enc, b_enc, w_dec], lr=1e-3)
    xt = torch.from_numpy(np.ascontiguousarray(x, np.float32))

    def torch_fit():
        perm = torch.randperm(len(xt))
        for s in range(steps):
            xb = xt[perm[(s * batch) % (len(xt) - batch):][:batch]]
            c = torch.relu(xb @ w_enc.T + b_enc)
            wd = w_dec / w_dec.norm(dim=0, keepdim=True)
            loss = ((xb - c @ wd.T) ** 2).mean() + 1e-3 * c.abs().sum(1).mean() / k
            opt.zero_grad()
            loss.backward()
            opt.step()

    _, t_ref = _timed(torch_fit)
    emit("sae_l1_train", [batch, d, k, steps], t, "torch (same model, Adam)", t_ref,
         samples_per_s=round(batch * steps / t), peer_samples_per_s=round(batch * steps / t_ref))


def run(quick: bool = False) -> None:
    if quick:
        x = relu_data(4000, 64)
        bench_kmeans(x, 32, 10, repeat=2)
        bench_pca(x, 64, repeat=3)
        bench_ica(x, 16)
        bench_nmf(x, 16)
        bench_sae(x, 128, 512, 20)
    else:
        x = relu_data(50_000, 256)
        bench_kmeans(x, 256, 20, repeat=2)
        bench_pca(x, 256, repeat=3)
        bench_ica(x, 64)
        bench_nmf(x, 64)
        bench_sae(x, 512, 4096, 50)
