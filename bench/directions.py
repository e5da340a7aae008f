"""Direction fits against scikit-learn (and a PyTorch SAE step) on ReLU-like activations.

Full: 50,000 x 256 float32, K-means K=256, PCA 256, FastICA 64, NMF 64, SAE K=512.
Quick: 4,000 x 64. Every case times jaxinterp and its peer back to back (interleaved rounds,
best of each, where a case is short enough to repeat). GEMM-bound cases pass the FLOPs of
their work to ``emit`` (formula beside each), which adds GFLOP/s and the fraction of this
machine's GEMM peak (``bench/_peak.py``).
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np

from bench import _torch_sae
from bench._harness import emit, interleaved
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
    ref = KMeans(k, init=init, n_init=1, max_iter=iters, tol=0.0, algorithm="lloyd")
    best = interleaved({"ours": ours, "peer": lambda: ref.fit(x)}, rounds=repeat)
    state = ours()
    n, d = x.shape
    flops = 2 * n * k * d + n * d  # a Lloyd iteration: the [n × d × k] distance GEMM + the centroid sums
    emit("kmeans_lloyd_per_iter", list(x.shape) + [k], best["ours"] / int(state.n_iter),
         "sklearn.KMeans(lloyd)", best["peer"] / ref.n_iter_, flops=flops,
         inertia=float(state.inertia), peer_inertia=float(ref.inertia_),
         iterations=int(state.n_iter), peer_iterations=int(ref.n_iter_),
         note="per iteration = whole fit (transfer, padding, final assignment included) / iterations")


def bench_pca(x, k, repeat):
    from sklearn.decomposition import PCA

    xj = jnp.asarray(x)  # a JAX array: the jitted (shardable) route, no host copy to time
    best = interleaved({"ours": lambda: pca.fit(None, x, k), "peer": lambda: PCA(k).fit(x),
                        "ours_jax": lambda: pca.fit(None, xj, k)}, rounds=repeat)
    ours, ref = pca.fit(None, x, k), PCA(k).fit(x)
    cos = np.abs(np.sum(np.asarray(ours.components) * ref.components_, axis=1))
    n, d = x.shape
    flops = n * d * (d + 1)  # the symmetric product XᵀX (a syrk: half a GEMM's 2·n·d²); eigh is O(d³), small
    emit("pca", list(x.shape) + [k], best["ours"], "sklearn.PCA", best["peer"], flops=flops,
         route="host numpy array (syrk)", min_abs_cos_vs_peer=round(float(cos[: k // 2].min()), 6))
    emit("pca_jax_array_in", list(x.shape) + [k], best["ours_jax"], "sklearn.PCA (numpy in)", best["peer"],
         flops=flops, route="jitted GEMM + LAPACK eigh callback")


def bench_ica(x, k):
    from sklearn.decomposition import FastICA

    key = jax.random.key(0)
    state = ica.fit(key, x, k)  # compile
    state, t = _timed(lambda: ica.fit(key, x, k))
    ref, t_ref = _timed(lambda: FastICA(k, random_state=0, whiten="unit-variance").fit(x))
    n, d = x.shape

    def work(iters):  # whitening XᵀX + projection to k, then per iteration W·X and g(WX)·Xᵀ ([k × k × n] each)
        return n * d * (d + 1) + 2 * n * d * k + iters * 4 * n * k * k

    emit("fastica", list(x.shape) + [k], t, "sklearn.FastICA(parallel, logcosh)", t_ref,
         flops=work(int(state.n_iter)), peer_flops=work(int(ref.n_iter_)),
         iterations=int(state.n_iter), peer_iterations=int(ref.n_iter_), converged=bool(state.converged))


def bench_nmf(x, k):
    from sklearn.decomposition import NMF

    ref, t_ref = _timed(lambda: NMF(k, solver="mu", random_state=0).fit(x))
    target = ref.reconstruction_err_
    n, d = x.shape

    def work(iters):  # per iteration XHᵀ, WᵀX ([n × d × k] each) and the [k × k] Grams and their products
        return iters * (4 * n * d * k + 4 * (n + d) * k * k)

    nmf.fit(None, x, k, solver="mu")  # compile
    mu, t_mu = _timed(lambda: nmf.fit(None, x, k, solver="mu"))
    emit("nmf_mu_same_rule", list(x.shape) + [k], t_mu, "sklearn.NMF(mu)", t_ref,
         flops=work(int(mu.n_iter)), peer_flops=work(int(ref.n_iter_)), error=float(mu.reconstruction_err), peer_error=float(target), iterations=int(mu.n_iter),
         peer_iterations=int(ref.n_iter_))
    for iters in (10, 20, 30, 40, 60, 80, 120, 160, 200):  # fewest HALS iterations reaching sklearn's error
        hals = nmf.fit(None, x, k, solver="hals", max_iter=iters, tol=0.0)
        if float(hals.reconstruction_err) <= target:
            break
    hals, t_hals = _timed(lambda: nmf.fit(None, x, k, solver="hals", max_iter=iters, tol=0.0))
    emit("nmf_hals_equal_error", list(x.shape) + [k], t_hals, "sklearn.NMF(mu)", t_ref,
         flops=work(iters), peer_flops=work(int(ref.n_iter_)), error=float(hals.reconstruction_err), peer_error=float(target), iterations=iters)


def bench_sae(x, k, batch, steps, rounds):
    """Whole fits on both sides (initialisation, data to the device, every step), interleaved."""
    import torch

    key = jax.random.key(0)
    d = x.shape[1]
    xt = _torch_sae.as_tensor(x)
    probes = {}  # on loaded shared cores 2 OpenMP threads can be far slower than 1
    for threads in (1, 2):
        torch.set_num_threads(threads)
        probes[threads] = interleaved({"t": lambda: _torch_sae.fit(xt, k, 1e-3, batch, 3)}, rounds=1)["t"]
    torch.set_num_threads(min(probes, key=probes.get))
    best = interleaved({"ours": lambda: sae.fit(key, x, k, batch_size=batch, max_steps=steps).params,
                        "peer": lambda: _torch_sae.fit(xt, k, 1e-3, batch, steps)}, rounds=rounds)
    t, t_ref = best["ours"], best["peer"]
    flops = steps * 10 * batch * d * k  # a step: five [b × d × K] GEMMs (encoder, decoder, code grad, 2 weight grads)
    emit("sae_l1_train", [batch, d, k, steps], t, f"torch (same model, Adam; {torch.get_num_threads()} thread(s))",
         t_ref, flops=flops, samples_per_s=round(batch * steps / t), peer_samples_per_s=round(batch * steps / t_ref),
         torch_probe_seconds_3_steps={str(kk): round(v, 4) for kk, v in probes.items()})


def run(quick: bool = False) -> None:
    if quick:
        x = relu_data(4000, 64)
        bench_kmeans(x, 32, 10, repeat=2)
        bench_pca(x, 64, repeat=3)
        bench_ica(x, 16)
        bench_nmf(x, 16)
        bench_sae(x, 128, 512, 20, rounds=2)
    else:
        x = relu_data(50_000, 256)
        bench_kmeans(x, 256, 20, repeat=2)
        bench_pca(x, 256, repeat=3)
        bench_ica(x, 64)
        bench_nmf(x, 64)
        bench_sae(x, 512, 4096, 50, rounds=3)
