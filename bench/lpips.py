"""LPIPS over all pairs: jaxinterp (N backbone passes + Gram products) vs lpips-j (pair by pair).

Cases:
* ``all_pairs``: all N(N-1)/2 pairs of N=512 images at 32x32 and 64x64, VGG16
  (the only backbone lpips-j has), the same random weights on both sides.
  lpips-j runs jitted on batches of image pairs (its fastest use); a few batches
  are timed and the rate is extrapolated to all pairs.
* ``nearest_neighbours``: the 10 nearest neighbours (LPIPS-AlexNet, 32x32) of
  each of 10,000 images, blockwise, in a subprocess that reports its peak RSS.

Random weights (timing only): the speed of either side does not depend on the values.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import jax
import numpy as np

from bench._harness import block, device_description, emit, seconds

WEIGHTS = "random (timing only; speed does not depend on the values)"


def _lins(net: str, seed: int = 0) -> list[np.ndarray]:
    from jaxinterp.similarity.lpips import CHANNELS

    rng = np.random.default_rng(seed)
    return [np.abs(rng.normal(size=c)).astype(np.float32) for c in CHANNELS[net]]


def _offline_lpips_j(variables, lins):
    """lpips-j on our weights, from a private offline Hugging Face cache."""
    cache = Path(tempfile.mkdtemp(prefix="lpips_j_hub_"))
    os.environ.update(HF_HUB_OFFLINE="1", HF_HOME=str(cache), HF_HUB_CACHE=str(cache))
    import huggingface_hub.constants as constants

    constants.HF_HUB_OFFLINE, constants.HF_HUB_CACHE = True, str(cache)
    from converters.lpips_weights import write_lpips_j_cache
    from lpips_j.lpips import LPIPS

    write_lpips_j_cache(cache, variables, lins)
    return LPIPS()


def all_pairs_case(n: int, size: int, batch: int, timed_batches: int) -> dict:
    from jaxinterp import similarity as sim

    variables = sim.init_backbone(jax.random.key(0), "vgg", size)
    lins = _lins("vgg")
    images = jax.random.uniform(jax.random.key(1), (n, size, size, 3))
    metric = sim.lpips(variables, lins, net="vgg")

    ours = seconds(lambda: sim.all_pairs(metric, metric.featurize(images)), repeat=1)

    model = _offline_lpips_j(variables, lins)
    v = 2 * images - 1
    params = model.init(jax.random.key(0), v[:1], v[:1])
    apply = jax.jit(model.apply)
    i, j = np.triu_indices(n, k=1)
    total_pairs = len(i)
    batches = [(i[s:s + batch], j[s:s + batch]) for s in range(0, batch * (timed_batches + 1), batch)]
    block(apply(params, v[batches[0][0]], v[batches[0][1]]))  # compile
    start = time.perf_counter()
    for a, b in batches[1:]:
        block(apply(params, v[a], v[b]))
    per_pair = (time.perf_counter() - start) / (batch * timed_batches)
    theirs = per_pair * total_pairs

    # agreement on the timed pairs, as a sanity check of "same weights"
    a, b = batches[1]
    d_theirs = np.asarray(apply(params, v[a], v[b])).reshape(-1)
    d_ours = -np.asarray(sim.pair_values(metric, metric.featurize(images), np.stack([a, b], 1)))
    return emit(
        "lpips_all_pairs", [n, size, size, 3], ours, "lpips-j 0.0.6 (jitted batches of pairs)", theirs,
        pairs=int(total_pairs), peer_batch=batch, peer_pairs_timed=batch * timed_batches,
        peer_extrapolated=True, backbone="vgg16", weights=WEIGHTS,
        max_rel_diff=float(np.max(np.abs(d_ours - d_theirs) / d_theirs)),
    )


def _nearest_child(n: int, k: int, block_size: int) -> None:
    """Run in a subprocess: featurise n images, k nearest neighbours, print time and peak RSS."""
    from jaxinterp import similarity as sim

    metric = sim.lpips(sim.init_backbone(jax.random.key(0), "alex", 32), _lins("alex"), net="alex")
    images = jax.random.uniform(jax.random.key(1), (n, 32, 32, 3))
    small = images[: min(n, 2 * block_size)]
    block(sim.nearest_neighbours(metric, metric.featurize(small), k, block=block_size))  # compile small
    start = time.perf_counter()
    feats = block(metric.featurize(images))
    featurize_s = time.perf_counter() - start
    s, idx = block(sim.nearest_neighbours(metric, feats, k, block=block_size))
    total = time.perf_counter() - start
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB
    print(json.dumps({"seconds": total, "featurize_seconds": featurize_s, "peak_rss_bytes": rss,
                      "feature_floats_per_image": int(sum(np.prod(f.shape[1:]) for f in feats))}))


def nearest_case(n: int, k: int, block_size: int) -> dict:
    code = f"from bench.lpips import _nearest_child; _nearest_child({n}, {k}, {block_size})"
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)
    child = json.loads(out.stdout.strip().splitlines()[-1])
    record = {
        "name": "lpips_nearest_neighbours",
        "shape": [n, 32, 32, 3],
        "k": k,
        "block": block_size,
        "seconds": round(child["seconds"], 3),
        "featurize_seconds": round(child["featurize_seconds"], 3),
        "peak_rss_gib": round(child["peak_rss_bytes"] / 2**30, 3),
        "under_4_gib": child["peak_rss_bytes"] < 4 * 2**30,
        "feature_floats_per_image": child["feature_floats_per_image"],
        "peer": "none (memory case; the N x N matrix is never formed)",
        "backbone": "alexnet",
        "weights": WEIGHTS,
        "device": device_description(),
    }
    print(json.dumps(record), flush=True)
    return record


def run(quick: bool = False) -> None:
    if quick:
        all_pairs_case(32, 32, batch=16, timed_batches=1)
        nearest_case(1000, 10, 256)
        return
    all_pairs_case(512, 32, batch=64, timed_batches=1)
    all_pairs_case(512, 64, batch=32, timed_batches=1)
    nearest_case(10_000, 10, 512)
