"""Per-neuron input gradients: ∂(spatial mean of channel c)/∂image for all 64 channels of a
CIFAR ResNet stem + one basic block, over a batch of images.

jaxinterp's structured kernel (``neurons.channel_gradients``) against the three
PyTorch ways: ``torch.func`` (vmap over vjp), ``autograd.grad(is_grads_batched=True)``
and a loop of ``autograd.grad`` over channels (one backward per channel, all
images at once). Also the plain JAX way, ``jit(vmap(vjp))``. Same weights and
images; results checked equal (relative error) before timing.

Each line records the XLA flags in effect. To try XLA's experimental XNNPACK
convolutions, run with
``XLA_FLAGS=--xla_cpu_experimental_xnn_fusion_type=LIBRARY_FUSION_TYPE_INDIVIDUAL_CONVOLUTION``
(it must be set before JAX starts); ``BENCH_ROLES_XNN=1`` repeats the run that
way in a subprocess.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np

XNN_FLAG = "--xla_cpu_experimental_xnn_fusion_type=LIBRARY_FUSION_TYPE_INDIVIDUAL_CONVOLUTION"


def _flax_model(width):
    import flax.linen as nn

    bn = lambda name: nn.BatchNorm(use_running_average=True, epsilon=1e-5, name=name)
    conv = lambda name: nn.Conv(width, (3, 3), padding=((1, 1), (1, 1)), use_bias=False, name=name)

    class Block(nn.Module):
        @nn.compact
        def __call__(self, s):
            h = nn.relu(bn("bn1")(conv("conv1")(s)))
            return nn.relu(bn("bn2")(conv("conv2")(h)) + s)

    class StemBlock(nn.Module):
        @nn.compact
        def __call__(self, x):
            s = nn.relu(bn("bn1")(conv("conv1")(x)))
            return Block(name="layer1_0")(s)

    return StemBlock()


def _random_variables(model, width, key):
    import jax
    import jax.numpy as jnp

    variables = model.init(key, jnp.zeros((1, 32, 32, 3)))
    rng = np.random.default_rng(0)

    def randomise(path, leaf):
        name = jax.tree_util.keystr(path)
        if "mean" in name:
            return jnp.asarray(rng.normal(0, 0.1, leaf.shape), leaf.dtype)
        if "var" in name:
            return jnp.asarray(rng.uniform(0.5, 1.5, leaf.shape), leaf.dtype)
        if "scale" in name:
            return jnp.asarray(rng.uniform(0.5, 1.5, leaf.shape), leaf.dtype)
        if "bias" in name:
            return jnp.asarray(rng.normal(0, 0.1, leaf.shape), leaf.dtype)
        return leaf

    return jax.tree_util.tree_map_with_path(randomise, dict(variables))


def _torch_model(variables):
    import torch

    p, s = variables["params"], variables["batch_stats"]
    t = lambda a: torch.tensor(np.asarray(a))
    F = torch.nn.functional

    def conv(x, k):
        return F.conv2d(x, t(k).permute(3, 2, 0, 1).contiguous(), padding=1)

    def bnorm(x, bp, bs):
        return F.batch_norm(x, t(bs["mean"]), t(bs["var"]), t(bp["scale"]), t(bp["bias"]), False, 0.0, 1e-5)

    weights = {}
    for name in ("conv1",):
        weights[name] = t(p[name]["kernel"]).permute(3, 2, 0, 1).contiguous()
    blk_p, blk_s = p["layer1_0"], s["layer1_0"]
    w1 = t(blk_p["conv1"]["kernel"]).permute(3, 2, 0, 1).contiguous()
    w2 = t(blk_p["conv2"]["kernel"]).permute(3, 2, 0, 1).contiguous()
    w0 = weights["conv1"]
    bn0 = [t(s["bn1"]["mean"]), t(s["bn1"]["var"]), t(p["bn1"]["scale"]), t(p["bn1"]["bias"])]
    bn1 = [t(blk_s["bn1"]["mean"]), t(blk_s["bn1"]["var"]), t(blk_p["bn1"]["scale"]), t(blk_p["bn1"]["bias"])]
    bn2 = [t(blk_s["bn2"]["mean"]), t(blk_s["bn2"]["var"]), t(blk_p["bn2"]["scale"]), t(blk_p["bn2"]["bias"])]
    bn = lambda x, b: F.batch_norm(x, b[0], b[1], b[2], b[3], False, 0.0, 1e-5)

    def f(x):  # [n, 3, 32, 32] -> [n, 64, 32, 32]
        s_ = F.relu(bn(F.conv2d(x, w0, padding=1), bn0))
        h = F.relu(bn(F.conv2d(s_, w1, padding=1), bn1))
        return F.relu(bn(F.conv2d(h, w2, padding=1), bn2) + s_)

    return f


def _torch_ways(f, x_nchw, width):
    import torch
    from torch.func import vjp, vmap

    def objective(x):  # [n, width]: spatial mean of every channel
        return f(x).mean(dim=(2, 3))

    def loop():
        x = x_nchw.detach().requires_grad_(True)
        out = objective(x)
        grads = [torch.autograd.grad(out[:, c].sum(), x, retain_graph=c < width - 1)[0] for c in range(width)]
        return torch.stack(grads, 1)  # [n, width, 3, h, w]

    def batched():
        x = x_nchw.detach().requires_grad_(True)
        out = objective(x)
        eye = torch.eye(width).unsqueeze(1).expand(width, x.shape[0], width)
        (g,) = torch.autograd.grad(out, x, grad_outputs=eye.contiguous(), is_grads_batched=True)
        return g.transpose(0, 1)

    def func():
        out, pull = vjp(objective, x_nchw)
        eye = torch.eye(width).unsqueeze(1).expand(width, x_nchw.shape[0], width)
        return vmap(pull)(eye)[0].transpose(0, 1)

    return {"torch_loop_autograd_grad": loop, "torch_is_grads_batched": batched, "torch_func_vmap_vjp": func}


def _run_here(quick: bool) -> None:
    import jax
    import jax.numpy as jnp
    import torch

    from bench._harness import emit, seconds
    from jaxinterp.neurons import channel_gradients as cg
    from jaxinterp.neurons.saliency import input_gradients

    width, n = 64, (8 if quick else 64)
    model = _flax_model(width)
    variables = _random_variables(model, width, jax.random.key(0))
    x = jnp.asarray(np.random.default_rng(1).normal(size=(n, 32, 32, 3)), jnp.float32)
    stem, blocks = cg.from_variables(variables, blocks=("layer1_0",))

    ours = lambda: cg.channel_mean_gradients(stem, blocks, x)  # CPU defaults: Winograd, chunks of 8
    # the kernel's own variants, to show what each choice buys
    variants = {"jaxinterp_direct_conv_chunk8": lambda: cg.channel_mean_gradients(stem, blocks, x, 8, "direct"),
                "jaxinterp_direct_conv_chunk256": lambda: cg.channel_mean_gradients(stem, blocks, x, 256, "direct")}
    fn = lambda a: model.apply(variables, a[None])[0]
    plain = jax.jit(lambda x: input_gradients(fn, x, chunk=8))

    f = _torch_model(variables)
    x_t = torch.tensor(np.asarray(x)).permute(0, 3, 1, 2).contiguous()
    ways = _torch_ways(f, x_t, width)

    ref = np.asarray(ways["torch_loop_autograd_grad"]()).transpose(0, 1, 3, 4, 2)  # -> [n, c, h, w, 3]
    errs = {}
    for name, fun in [("jaxinterp", ours), *variants.items(), ("jax_jit_vmap_vjp", lambda: plain(x))]:
        got = np.asarray(fun())
        errs[name] = float(np.linalg.norm(got - ref) / np.linalg.norm(ref))
    for name, fun in ways.items():
        got = np.asarray(fun().detach()).transpose(0, 1, 3, 4, 2)
        errs[name] = float(np.linalg.norm(got - ref) / np.linalg.norm(ref))

    t_ours = seconds(ours, repeat=3)
    t_variants = {name: seconds(fun, repeat=3) for name, fun in variants.items()}
    # best of 3 after a warm-up; the plain JAX way (tens of seconds) once after its warm-up
    t_plain = seconds(lambda: plain(x), repeat=1)
    peers = {name: seconds(fun, repeat=3) for name, fun in ways.items()}
    fastest = min(peers, key=peers.get)
    units = n * width
    flags = os.environ.get("XLA_FLAGS", "") or "(default)"
    shape = {"images": n, "channels": width, "hw": [32, 32]}
    rates = {"jaxinterp": units / t_ours, **{k: units / v for k, v in t_variants.items()},
             "jax_jit_vmap_vjp": units / t_plain,
             **{k: units / v for k, v in peers.items()}}
    common = dict(xla_flags=flags, image_channels_per_s={k: round(v, 1) for k, v in rates.items()},
                  rel_err_vs_torch_loop={k: float(f"{v:.2e}") for k, v in errs.items()},
                  torch_threads=torch.get_num_threads())
    emit("channel_mean_input_gradients", shape, t_ours, fastest, peers[fastest], **common)
    for name, t in peers.items():
        if name != fastest:
            emit("channel_mean_input_gradients", shape, t_ours, name, t, xla_flags=flags)
    emit("channel_mean_input_gradients", shape, t_ours, "jax_jit_vmap_vjp", t_plain, xla_flags=flags)


def run(quick: bool = False) -> None:
    _run_here(quick)
    if os.environ.get("BENCH_ROLES_XNN") == "1" and XNN_FLAG not in os.environ.get("XLA_FLAGS", ""):
        env = dict(os.environ, XLA_FLAGS=(os.environ.get("XLA_FLAGS", "") + " " + XNN_FLAG).strip())
        args = [sys.executable, "-m", "bench", "roles"] + (["--quick"] if quick else [])
        subprocess.run(args, env=env, check=True)
