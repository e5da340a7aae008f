"""featvis: 64 channels of ResNet-20 ``layer3`` x 512 steps, jaxinterp against Lucent's loop in PyTorch.

Both sides do the same work, batched over units (image i maximises channel i):
Lucid's FFT parametrisation (1/f, ÷4) with the CIFAR colour matrix and a sigmoid, the
scaled-down CIFAR transforms (pad 2 at 0.5, jitter 2, zoom 0.9-1.1 about the centre
bilinear, rotate ±10° nearest, jitter 1; one draw per batch), ImageNet normalisation,
the converted ResNet-20 (``tests/models/torch_refs.AkaResNet`` on the PyTorch side) with
redirected ReLU gradients for the first 16 steps, Adam lr 0.05. The PyTorch loop is
Lucent's ``render_vis`` (zero_grad, forward through the transforms, objective,
backward, step) without its upsampling to 224 px. jaxinterp is compiled ahead of time
and then timed; the compile time is reported apart. A third line times jaxinterp one
unit at a time (batch 1; one unit, extrapolated to 64).
The PyTorch side runs at whichever of 1 or 2 threads a 3-step probe finds faster.
The load on the shared cores drifts, so the three are timed in interleaved segments
(4 x 128 steps, each a fresh run of its own). ``--quick``: 2 x 32 steps.
"""

from __future__ import annotations

import os
import sys
import time
import types
from pathlib import Path

import jax
import numpy as np

from bench._harness import block, emit, shared_data

REPO = Path(__file__).resolve().parents[1]
WEIGHTS = "models/resnet20-12fca82f.th"
DATA = "cifar10/test_first932.npz"




def _setup():
    from converters import convert
    from jaxinterp import models
    from jaxinterp.data.checks import to_unit_float
    from jaxinterp.featvis import param

    shared = shared_data()
    model = models.get("cifar_resnet20")
    if (shared / WEIGHTS).exists():
        variables, weights = convert(shared / WEIGHTS, "cifar_resnet20"), "resnet20-12fca82f.th"
        images = to_unit_float(np.load(shared / DATA)["images"])
    else:  # a clone without ../shared: random weights and images, said in the output
        variables, weights = models.init(model, jax.random.key(0)), "random"
        images = np.random.default_rng(0).uniform(size=(256, 32, 32, 3)).astype(np.float32)
    return model, variables, weights, param.color_matrix(images)


# --- the PyTorch peer: Lucent's loop on the same network ------------------------------------------


def torch_peer(variables_path: Path | None, color, units: int, steps: int, seed: int = 0):
    """Returns run() -> (seconds, final objective) for Lucent's loop, batched over ``units``."""
    import torch
    import torch.nn.functional as F

    sys.path.insert(0, str(REPO))
    from tests.models import torch_refs

    net = torch_refs.AkaResNet(20).eval()
    if variables_path is not None:
        from converters import load_state_dict

        net.load_state_dict({k: torch.tensor(v) for k, v in load_state_dict(variables_path).items()})
    for p in net.parameters():
        p.requires_grad_(False)

    class RedirectedReLU(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, redirect):
            ctx.save_for_backward(x)
            ctx.redirect = redirect
            return x.clamp_min(0)

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            relu_grad = torch.where(x < 0, torch.zeros_like(g), g)
            if not ctx.redirect:
                return relu_grad, None
            redirected = torch.where((x < 0) & (g > 0), torch.zeros_like(g), g)
            alive = relu_grad.flatten(1).norm(dim=1) > 0
            return torch.where(alive.view(-1, *[1] * (x.dim() - 1)), relu_grad, redirected), None

    state = {"redirect": True}
    shim = types.SimpleNamespace(**{k: getattr(F, k) for k in dir(F) if not k.startswith("_")})
    shim.relu = lambda x: RedirectedReLU.apply(x, state["redirect"])
    torch_refs.F = shim  # AkaResNet calls F.relu at run time

    h = w = 32
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.fftfreq(w)[: w // 2 + 1]
    freqs = np.sqrt(fx * fx + fy * fy)
    scale = torch.tensor(1.0 / np.maximum(freqs, 1.0 / max(w, h)) * np.sqrt(w * h), dtype=torch.float32)
    c = np.asarray(color, np.float32)
    c_t = torch.tensor((c / np.max(np.linalg.norm(c, axis=0))).T)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    scales = [1 + (i - 5) / 50.0 for i in range(11)]
    angles = list(range(-10, 11)) + 5 * [0]
    rng = np.random.default_rng(seed)

    def image_f(spectrum):
        img = torch.fft.irfftn(scale * torch.complex(spectrum[0], spectrum[1]), s=(h, w), norm="backward")
        img = img.permute(0, 2, 3, 1) / 4  # [b, h, w, c]
        return torch.sigmoid(img @ c_t).permute(0, 3, 1, 2)  # NCHW

    def affine(x, matrix, mode, padding):
        b, _, hh, ww = x.shape
        theta = torch.zeros(b, 2, 3)
        # normalised coordinates with align_corners=True rotate/zoom about the centre pixel
        theta[:, :2, :2] = torch.tensor(matrix, dtype=torch.float32)
        theta[:, 0, 1] *= (hh - 1) / (ww - 1)
        theta[:, 1, 0] *= (ww - 1) / (hh - 1)
        grid = F.affine_grid(theta, list(x.shape), align_corners=True)
        return F.grid_sample(x, grid, mode=mode, padding_mode=padding, align_corners=True)

    def transform(x):
        x = F.pad(x, [2] * 4, value=0.5)
        oy, ox = rng.integers(0, 3, 2)
        x = x[:, :, oy:oy + x.shape[2] - 2, ox:ox + x.shape[3] - 2]
        s = scales[rng.integers(len(scales))]
        x = affine(x, [[1 / s, 0], [0, 1 / s]], "bilinear", "border")
        a = 3.14 * angles[rng.integers(len(angles))] / 180
        x = affine(x, [[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]], "nearest", "zeros")
        oy, ox = rng.integers(0, 2, 2)
        return x[:, :, oy:oy + x.shape[2] - 1, ox:ox + x.shape[3] - 1]

    layer3 = {}
    net.layer3.register_forward_hook(lambda m, i, o: layer3.__setitem__("out", o))
    idx = torch.arange(units)

    def run():
        gen = torch.Generator().manual_seed(seed)
        spectrum = (0.01 * torch.randn(2, units, 3, h, w // 2 + 1, generator=gen)).requires_grad_(True)
        opt = torch.optim.Adam([spectrum], lr=0.05)
        start = time.perf_counter()
        for i in range(steps):
            state["redirect"] = i < 16

            def closure():
                opt.zero_grad()
                net((transform(image_f(spectrum)) - mean) / std)
                loss = -layer3["out"].mean((2, 3))[idx, idx].sum()
                loss.backward()
                return loss

            opt.step(closure)
        seconds = time.perf_counter() - start
        with torch.no_grad():
            net((image_f(spectrum) - mean) / std)
            final = float(layer3["out"].mean((2, 3))[idx, idx].mean())
        return seconds, final

    return run


# --- jaxinterp ---------------------------------------------------------------------------------------


def ours(model, variables, color, units: int, steps: int, seed: int = 0):
    """Returns (compile seconds, run() -> (seconds, final objective))."""
    import jax.numpy as jnp

    from jaxinterp.featvis import objectives, param, transforms
    from jaxinterp import door

    render_mod = sys.modules["jaxinterp.featvis.render"]
    key = jax.random.key(seed)
    p = param.image(key, 32, batch=units, color=color)
    obj = objectives.channels("layer3", range(units))
    prog = render_mod._program(model, obj, p[1], transforms.cifar(), render_mod.DEFAULT_OPTIMIZER,
                               steps, (steps,), 16)
    t0 = time.perf_counter()
    compiled = prog.advance.lower(key, variables, obj.args, prog.start(p[0]), np.int32(0),
                                  np.int32(steps)).compile()
    compile_s = time.perf_counter() - t0
    idx = jnp.arange(units)

    def run():
        start = time.perf_counter()
        carry = prog.start(p[0])
        for lo in range(0, steps, render_mod.STEPS_PER_CALL):  # as render() dispatches them
            carry, _ = block(compiled(key, variables, obj.args, carry, np.int32(lo),
                                      np.int32(min(lo + render_mod.STEPS_PER_CALL, steps))))
        images, _, _ = block(prog.finish(carry))
        seconds = time.perf_counter() - start
        a = door.taps(model, variables, model.normalize(images[-1]), ["layer3"])
        return seconds, float(a["layer3"].mean((1, 2))[idx, idx].mean())

    return compile_s, run


def one_unit(model, variables, color, steps: int):
    """run(unit) -> seconds to render one unit alone (batch 1), compiled once beforehand."""
    from jaxinterp.featvis import objectives, param, render, transforms

    key = jax.random.key(0)
    p = param.image(key, 32, batch=1, color=color)

    def run(unit):
        start = time.perf_counter()
        block(render(key, model, variables, objectives.channels("layer3", [unit]), p, transforms.cifar(),
                     steps=steps).images)
        return time.perf_counter() - start

    run(0)  # compile
    return run


def run(quick: bool = False) -> None:
    import torch

    units, steps, segments = 64, (64 if quick else 512), (2 if quick else 4)
    seg = steps // segments
    model, variables, weights, color = _setup()
    shared = shared_data()
    path = shared / WEIGHTS if weights != "random" else None
    # the peer runs at its better thread count: on a loaded machine 2 OpenMP threads can be
    # several times slower than 1 (measured here: 0.8 s vs 6.8 s per step under load ~7)
    probes = {}
    for threads in (1, 2):
        torch.set_num_threads(threads)
        probes[threads] = torch_peer(path, color, units, 3)()[0] / 3
    torch.set_num_threads(min(probes, key=probes.get))
    compile_s, ours_run = ours(model, variables, color, units, seg)
    peer_run = torch_peer(path, color, units, seg)
    single = one_unit(model, variables, color, seg)
    # the load on these shared cores drifts: time the three in interleaved segments of seg steps
    t_ours = t_peer = t_single = 0.0
    loads = []
    for i in range(segments):
        dt, final_ours = ours_run()
        t_ours += dt
        dt, final_peer = peer_run()
        t_peer += dt
        t_single += single(i + 1)
        loads.append(os.getloadavg()[0])
    # FLOPs: a unit-step is one forward pass to layer3 and its input gradient (each convolution's
    # input gradient costs what the convolution costs): 2 × 81.1 MFLOP for ResNet-20 (read off the
    # jaxpr); the FFT parametrisation and the transforms are not counted
    from bench._peak import forward_flops
    from jaxinterp.models import forward

    per_image = forward_flops(lambda v, x: forward(model, v, x, ["layer3"])[1]["layer3"], variables,
                              np.zeros((1, 32, 32, 3), np.float32))
    emit("featvis", [units, 32, 32, 3], t_ours, f"torch {torch.__version__} Lucent loop (NCHW)", t_peer,
         flops=units * steps * 2 * per_image, peak="conv", steps=steps, segments=f"{segments} x {seg} steps, interleaved", layer="layer3", weights=weights,
         compile_seconds=round(compile_s, 2), unit_steps_per_s=round(units * steps / t_ours, 1),
         peer_unit_steps_per_s=round(units * steps / t_peer, 1),
         final_mean_activation_after_segment=round(final_ours, 4),
         peer_final_mean_activation_after_segment=round(final_peer, 4),
         torch_threads=torch.get_num_threads(),
         torch_probe_seconds_per_step={str(k): round(v, 3) for k, v in probes.items()},
         load_average=[round(v, 2) for v in loads])
    emit("featvis_one_at_a_time", [1, 32, 32, 3], t_ours,
         f"jaxinterp one unit per call x {units} (one unit timed, extrapolated)", t_single * units,
         steps=steps, seconds_per_unit=round(t_single, 3), load_average=[round(v, 2) for v in loads])
