"""This machine's float32 GEMM and convolution peak, measured once per process, and FLOP counts.

``peak()`` times, best of several calls after a warm-up:
- GEMM: JAX (jit, arrays passed as arguments) on [4096 × 256] @ [256 × 512] (the SAE step's
  shape) and 2048³; numpy and torch on the same shapes, for reference.
- Convolution: JAX NHWC 3×3, 64 -> 64 channels, SAME padding, 256 images of 32×32 (a CIFAR
  ResNet layer); torch channels_last on the same, for reference.

The *peak* a benchmark case is held to is JAX's best of each kind: the library this package
runs on, on this machine, now; cases report ``fraction_of_peak`` against it (see
``bench._harness.emit``). The numpy/torch figures say whether another library reaches more.

FLOP counts (2 per multiply-add, dense: padding taps of a convolution included, as both
libraries compute them): ``gemm_flops``, ``conv_flops``, and ``forward_flops`` (every
convolution and dense product of a loop-free jitted forward pass, read off its jaxpr).
"""

from __future__ import annotations

import functools
import os
import time
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

GEMM_SHAPES = ((4096, 256, 512), (2048, 2048, 2048))
CONV = dict(batch=256, hw=32, c_in=64, c_out=64, k=3)


def gemm_flops(m: int, k: int, n: int) -> int:
    """[m, k] @ [k, n]: 2·m·k·n."""
    return 2 * m * k * n


def conv_flops(batch: int, h_out: int, w_out: int, c_in: int, c_out: int, kh: int = 3, kw: int = 3,
               groups: int = 1) -> int:
    """A 2-D convolution: 2·batch·H_out·W_out·C_out·(C_in/groups)·kh·kw."""
    return 2 * batch * h_out * w_out * c_out * (c_in // groups) * kh * kw


def _best(fn: Callable[[], object], repeat: int) -> float:
    fn()
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def _jax_gemm(m, k, n, repeat):
    rng = np.random.default_rng(0)
    a = jnp.asarray(rng.standard_normal((m, k), np.float32))
    b = jnp.asarray(rng.standard_normal((k, n), np.float32))
    f = jax.jit(jnp.matmul)  # arguments, not closed-over constants (XLA would fold them)
    return gemm_flops(m, k, n) / _best(lambda: f(a, b).block_until_ready(), repeat) / 1e9


def _jax_conv(repeat):
    c = CONV
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.standard_normal((c["batch"], c["hw"], c["hw"], c["c_in"]), np.float32))
    w = jnp.asarray(rng.standard_normal((c["k"], c["k"], c["c_in"], c["c_out"]), np.float32))
    f = jax.jit(lambda x, w: jax.lax.conv_general_dilated(
        x, w, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")))
    flops = conv_flops(c["batch"], c["hw"], c["hw"], c["c_in"], c["c_out"], c["k"], c["k"])
    return flops / _best(lambda: f(x, w).block_until_ready(), repeat) / 1e9


def _reference(repeat):
    """numpy and torch GEMMs, torch channels_last convolution (GFLOP/s), where installed."""
    out = {}
    rng = np.random.default_rng(0)
    for m, k, n in GEMM_SHAPES:
        a, b = rng.standard_normal((m, k), np.float32), rng.standard_normal((k, n), np.float32)
        out[f"numpy_gemm_{m}x{k}x{n}"] = gemm_flops(m, k, n) / _best(lambda: a @ b, repeat) / 1e9
    try:
        import torch
    except ImportError:
        return out
    with torch.inference_mode():
        for m, k, n in GEMM_SHAPES:
            a, b = torch.randn(m, k), torch.randn(k, n)
            out[f"torch_gemm_{m}x{k}x{n}"] = gemm_flops(m, k, n) / _best(lambda: a @ b, repeat) / 1e9
        c = CONV
        x = torch.randn(c["batch"], c["c_in"], c["hw"], c["hw"]).contiguous(memory_format=torch.channels_last)
        conv = torch.nn.Conv2d(c["c_in"], c["c_out"], c["k"], padding=1, bias=False).to(
            memory_format=torch.channels_last)
        flops = conv_flops(c["batch"], c["hw"], c["hw"], c["c_in"], c["c_out"], c["k"], c["k"])
        out["torch_conv_channels_last"] = flops / _best(lambda: conv(x), repeat) / 1e9
        out["torch_threads"] = torch.get_num_threads()
    return out


@functools.lru_cache(maxsize=None)
def peak(repeat: int = 5) -> dict:
    """{"gemm_gflops", "conv_gflops": JAX's best (the peaks cases are held to), "jax": each shape,
    "reference": numpy/torch figures, "load_average": 1-minute load before and after}."""
    load = [os.getloadavg()[0]]
    jax_figures = {f"gemm_{m}x{k}x{n}": _jax_gemm(m, k, n, repeat) for m, k, n in GEMM_SHAPES}
    jax_figures["conv_nhwc_3x3_64x64_32x32_b256"] = _jax_conv(repeat)
    reference = _reference(repeat)
    load.append(os.getloadavg()[0])
    gemm = max(v for key, v in jax_figures.items() if key.startswith("gemm"))
    result = {"gemm_gflops": round(gemm, 1),
              "conv_gflops": round(jax_figures["conv_nhwc_3x3_64x64_32x32_b256"], 1),
              "jax": {k: round(v, 1) for k, v in jax_figures.items()},
              "reference": {k: round(v, 1) if isinstance(v, float) else v for k, v in reference.items()},
              "load_average": [round(v, 2) for v in load]}
    import json

    print(json.dumps({"name": "machine_peak", **result}), flush=True)
    return result


# ---- FLOPs of a jitted forward pass, from its jaxpr -------------------------------------------


def _eqn_flops(eqn) -> int:
    name = eqn.primitive.name
    if name == "conv_general_dilated":
        out = eqn.outvars[0].aval.shape
        lhs_spec, rhs_spec, out_spec = eqn.params["dimension_numbers"]
        w = eqn.invars[1].aval.shape
        c_in_per_group = w[rhs_spec[1]]
        window = int(np.prod([w[i] for i in rhs_spec[2:]]))
        return 2 * int(np.prod(out)) * c_in_per_group * window
    if name == "dot_general":
        (contract, _), _ = eqn.params["dimension_numbers"]
        lhs = eqn.invars[0].aval.shape
        return 2 * int(np.prod(eqn.outvars[0].aval.shape)) * int(np.prod([lhs[i] for i in contract]))
    if name in ("scan", "while", "fori_loop"):
        raise ValueError(f"forward_flops counts loop-free programs only; found a {name}")
    return 0


def _jaxpr_flops(jaxpr) -> int:
    total = 0
    for eqn in jaxpr.eqns:
        total += _eqn_flops(eqn)
        for param in eqn.params.values():
            sub = getattr(param, "jaxpr", param)
            if hasattr(sub, "eqns"):
                total += _jaxpr_flops(sub)
    return total


def forward_flops(fn: Callable, *args) -> int:
    """Dense FLOPs of the convolutions and matrix products ``fn(*args)`` needs (loop-free):
    Σ_conv 2·N·H_out·W_out·C_out·(C_in/groups)·kh·kw + Σ_dot 2·|out|·|contracted|.

    Work whose results ``fn`` does not return is dropped first, as XLA drops it (a Flax
    forward pass asked for ``relu2`` traces the layers after it too).
    """
    from jax._src.interpreters import partial_eval as pe  # dead-code elimination of a jaxpr

    jaxpr = jax.make_jaxpr(fn)(*args).jaxpr
    jaxpr, _ = pe.dce_jaxpr(jaxpr, [True] * len(jaxpr.outvars))
    return _jaxpr_flops(jaxpr)
