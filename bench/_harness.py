"""Timing and reporting shared by every benchmark.

``seconds(fn)`` calls ``fn`` once to compile/warm up, then returns the best wall
time of ``repeat`` calls, blocking on JAX results. ``emit(...)`` prints one JSON
line with the fields every benchmark reports; a GEMM- or convolution-bound case passes
the FLOPs of its work (``flops=``, formula beside the call) and gets its GFLOP/s and its
fraction of this machine's peak (``bench._peak``, measured once per process).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
import platform
import time
from typing import Any, Callable

import jax


def device_description() -> str:
    dev = jax.devices()[0]
    kind = getattr(dev, "device_kind", dev.platform)
    return f"{dev.platform}:{kind} x{jax.device_count()} ({os.cpu_count()} cpus, {platform.machine()})"


def block(value: Any) -> Any:
    return jax.tree_util.tree_map(
        lambda x: x.block_until_ready() if hasattr(x, "block_until_ready") else x, value
    )


def seconds(fn: Callable[[], Any], repeat: int = 3, warmup: int = 1) -> float:
    """Best-of-``repeat`` wall time of ``fn()`` after ``warmup`` untimed calls."""
    for _ in range(warmup):
        block(fn())
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        block(fn())
        best = min(best, time.perf_counter() - start)
    return best


def interleaved(fns: dict[str, Callable[[], Any]], rounds: int = 3, warmup: bool = True) -> dict[str, float]:
    """Best wall time of each function, timed in ``rounds`` interleaved rounds (a, b, a, b, ...):
    on shared cores the load drifts, so back-to-back rounds compare like with like."""
    if warmup:
        for fn in fns.values():
            block(fn())
    best = {name: float("inf") for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            start = time.perf_counter()
            block(fn())
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def emit(name: str, shape: Any, seconds: float, peer: str, peer_seconds: float, *,
         flops: float | None = None, peer_flops: Any = ..., peak: str = "gemm",
         **extra) -> dict:
    """Print and return one result line; ``ratio`` = peer_seconds / seconds (> 1: we are faster).

    ``flops``: floating-point operations of the timed work (2 per multiply-add); adds
    ``gflops``, ``peak_gflops`` (this machine's ``peak`` = "gemm" or "conv" figure, see
    ``bench._peak``) and ``fraction_of_peak`` (a conv case also ``fraction_of_gemm_peak``;
    the conv figure is one reference convolution, so a case with other shapes may pass 1). ``peer_flops``: the peer's, where it does other
    work than ours (default ``...``: the same; None: not counted); adds ``peer_gflops``. The
    1-minute load average
    is recorded unless the case passes its own ``load_average``.
    """
    record = {
        "name": name,
        "shape": shape,
        "seconds": round(seconds, 6),
        "peer": peer,
        "peer_seconds": round(peer_seconds, 6),
        "ratio": round(peer_seconds / seconds, 3) if seconds > 0 else None,
        "device": device_description(),
    }
    if flops is not None:
        from bench._peak import peak as machine_peak

        top = machine_peak()[f"{peak}_gflops"]
        gflops = flops / seconds / 1e9
        record.update(flops=float(flops), gflops=round(gflops, 1), peak_gflops=top,
                      fraction_of_peak=round(gflops / top, 3))
        if peak != "gemm":  # XLA's convolution reaches a fraction of its GEMM rate: say both
            record["fraction_of_gemm_peak"] = round(gflops / machine_peak()["gemm_gflops"], 3)
        peer_flops = flops if peer_flops is ... else peer_flops
        if peer_flops is not None:
            record.update(peer_flops=float(peer_flops), peer_gflops=round(peer_flops / peer_seconds / 1e9, 1))
    record.setdefault("load_average", round(os.getloadavg()[0], 2))
    record.update(extra)
    print(json.dumps(record), flush=True)
    return record


def shared_data() -> Path:
    """``../shared/data`` beside the checkout (or one level up, for a worktree), else $JAXINTERP_SHARED_DATA."""
    repo = Path(__file__).resolve().parents[1]
    for root in (repo.parent, repo.parent.parent):
        if (root / "shared" / "data").is_dir():
            return root / "shared" / "data"
    return Path(os.environ.get("JAXINTERP_SHARED_DATA", repo.parent / "shared" / "data"))
