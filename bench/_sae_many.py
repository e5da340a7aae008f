"""sweep case ``sweep_sae_many`` (issue #22 item 5): 16 SAEs on the same activations at once.

16 SAE configurations on the same d = 64 synthetic activations (``bench/sweep.py``'s; 64 is
the width of a CIFAR ResNet layer): λ ∈ {1e-3, 3e-3, 1e-2, 3e-2} × K ∈ {32, 64} × seeds {0, 1},
each trained for the same number of steps (300, batch 1024: the sweep's SAE options;
``--quick``: 50 steps on 2,000 images).

- jaxinterp: one program, ``sae.fit_many`` (groups of equal K and seed, vmapped over λ, each
  group on its seed's batch, all groups in one loop).
- Peer: the same 16 trained one after another in the same run, by the same model as a PyTorch
  loop (``bench/_torch_sae.py``), at whichever of 1 or 2 threads a probe finds faster. The
  ``overcomplete`` package installs beside torch 2.13 without another torch, but does not
  import: it imports torchvision, and the installed torchvision 0.28 fails against torch 2.13
  (``operator torchvision::nms does not exist``).
- Also reported: jaxinterp's own ``sae.fit``, one configuration after another.

FLOPs: 10·b·d·K a step per configuration (five [b × d × K] products: encoder, decoder, code
gradient, two weight gradients).
"""

from __future__ import annotations

import os
import time

import jax
import numpy as np

from bench import _torch_sae
from bench._harness import emit

LAMBDAS, KS, SEEDS = (1e-3, 3e-3, 1e-2, 3e-2), (32, 64), (0, 1)


def run(quick: bool, x: np.ndarray) -> dict:
    """x: [n_images, 64] float32 activations."""
    import torch

    from jaxinterp.directions import sae

    steps, batch = (50, 1024) if quick else (300, 1024)
    n_images, d = x.shape
    cells = [(seed, k, lam) for seed in SEEDS for k in KS for lam in LAMBDAS]
    keys = [jax.random.key(seed) for seed, _, _ in cells]
    configs = [dict(k=k, l1_coeff=lam) for _, k, lam in cells]
    kw = dict(batch_size=batch, max_steps=steps)

    def ours():
        return [s.params for s in sae.fit_many(keys, x, configs, **kw)]

    def ours_one_by_one():
        return [sae.fit(key, x, **c, **kw).params for key, c in zip(keys, configs)]

    xt = _torch_sae.as_tensor(x)

    def peer():
        return [_torch_sae.fit(xt, k, lam, batch, steps, seed=seed) for seed, k, lam in cells]

    probes = {}  # on loaded shared cores 2 OpenMP threads can be far slower than 1
    for threads in (1, 2):
        torch.set_num_threads(threads)
        _torch_sae.fit(xt, max(KS), LAMBDAS[0], batch, 3)  # warm-up (lazy initialisation)
        start = time.perf_counter()
        _torch_sae.fit(xt, max(KS), LAMBDAS[0], batch, 20)
        probes[threads] = time.perf_counter() - start
    torch.set_num_threads(min(probes, key=probes.get))
    jax.block_until_ready(ours())  # compile
    jax.block_until_ready(ours_one_by_one())
    best = {"ours": np.inf, "peer": np.inf, "one_by_one": np.inf}
    loads = []
    for _ in range(2):  # interleaved, best of each: the load on the shared cores drifts
        for name, fn in (("ours", ours), ("peer", peer), ("one_by_one", ours_one_by_one)):
            start = time.perf_counter()
            jax.block_until_ready(fn())
            best[name] = min(best[name], time.perf_counter() - start)
            loads.append(round(os.getloadavg()[0], 2))
    flops = steps * sum(10 * batch * d * k for _, k, _ in cells)  # five [b × d × K] GEMMs a step
    return emit("sweep_sae_many", {"configs": len(cells), "lambdas": list(LAMBDAS), "ks": list(KS),
                                   "seeds": list(SEEDS), "d": d, "images": n_images, "batch": batch,
                                   "steps": steps},
                best["ours"], f"torch {torch.__version__} loop, one SAE after another "
                f"({torch.get_num_threads()} thread(s))", best["peer"], flops=flops,
                jaxinterp_one_by_one_seconds=round(best["one_by_one"], 4),
                ratio_vs_one_by_one=round(best["one_by_one"] / best["ours"], 3),
                torch_probe_seconds_20_steps={str(k): round(v, 4) for k, v in probes.items()},
                load_average=loads)
