"""circuits: rotation tuning of all 64 ResNet-20 ``layer3`` units, jaxinterp against a PyTorch loop.

Case ``rotation_tuning``: the converted pretrained ResNet-20 (``resnet20-12fca82f.th``; random
weights and images in a clone without ``../shared``), 100 exemplars (the first CIFAR-10 test
images of ``test_first932.npz``, one shared set) rotated by 360 angles (1° steps; 18 with
``--quick``) about the image centre, bilinear, white outside; the response of every
``layer3`` channel at the centre position (4, 4), averaged over the exemplars: [360, 64].

- Ours: :func:`jaxinterp.circuits.rotation_tuning`, one jitted program (``lax.map`` over angle
  chunks, exemplars in chunks, rotation inside); compiled by an untimed first call.
- Peer: the natural PyTorch loop on the same network (``tests/models/torch_refs.AkaResNet``
  with the same checkpoint): for each angle, ``affine_grid``/``grid_sample`` (bilinear,
  ``align_corners=True``, white fill) rotates the batch of exemplars, the net runs to
  ``layer3`` under ``inference_mode`` (channels_last), and the centre responses are averaged.
  It runs at whichever of 1 or 2 threads a short probe finds faster (on the loaded shared
  cores 2 OpenMP threads can be several times slower than 1).

Both results are compared (``max_abs_diff`` and relative to the largest response).
At the end, ``bench/_circuits_weights.py`` (expanded weights, another part of issue #13)
runs too when it exists.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np

from bench._harness import block, emit, seconds, shared_data

REPO = Path(__file__).resolve().parents[1]
WEIGHTS = "models/resnet20-12fca82f.th"
DATA = "cifar10/test_first932.npz"
LAYER, EXEMPLARS = "layer3", 100




def _setup():
    import jax

    from jaxinterp import models
    from jaxinterp.data.checks import to_unit_float

    shared = shared_data()
    model = models.get("cifar_resnet20")
    if (shared / WEIGHTS).exists() and (shared / DATA).exists():
        from converters import convert, load_state_dict

        variables = convert(shared / WEIGHTS, "cifar_resnet20")
        state = load_state_dict(shared / WEIGHTS)
        images = to_unit_float(np.load(shared / DATA)["images"][:EXEMPLARS])
        return model, variables, state, images, "resnet20-12fca82f.th"
    import torch  # a clone without ../shared: seeded random weights and images, said in the output

    from converters import to_variables

    sys.path.insert(0, str(REPO))
    from tests.models import torch_refs

    torch.manual_seed(0)
    state = {k: v.numpy() for k, v in torch_refs.AkaResNet(20).eval().state_dict().items()}
    variables = jax.device_put(to_variables(state, model, "cifar_resnet20"))
    images = np.random.default_rng(0).uniform(size=(EXEMPLARS, 32, 32, 3)).astype(np.float32)
    return model, variables, state, images, "random"


def torch_peer(state, images01: np.ndarray, angles: np.ndarray):
    """Returns run() -> [A, 64] numpy: the per-angle PyTorch loop described above."""
    import torch
    import torch.nn.functional as F

    sys.path.insert(0, str(REPO))
    from tests.models import torch_refs

    net = torch_refs.AkaResNet(20).eval()
    net.load_state_dict({k: torch.tensor(v) for k, v in state.items()})
    net = net.to(memory_format=torch.channels_last)
    x = torch.from_numpy(np.ascontiguousarray(images01.transpose(0, 3, 1, 2)))
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    n = x.shape[0]

    def layer3(z):
        out = F.relu(net.bn1(net.conv1(z)))
        return net.layer3(net.layer2(net.layer1(out)))

    def run():
        curves = []
        with torch.inference_mode():
            for deg in angles:
                t = np.deg2rad(float(deg))
                c, s = float(np.cos(t)), float(np.sin(t))
                # output pixel p reads input c + M (p - c), M = [[cos, -sin], [sin, cos]] (x, y down)
                theta = torch.tensor([[c, -s, 0.0], [s, c, 0.0]], dtype=torch.float32).expand(n, 2, 3)
                grid = F.affine_grid(theta, list(x.shape), align_corners=True)
                rot = F.grid_sample(x - 1.0, grid, mode="bilinear", padding_mode="zeros",
                                    align_corners=True) + 1.0
                z = ((rot - mean) / std).contiguous(memory_format=torch.channels_last)
                act = layer3(z)
                curves.append(act[:, :, act.shape[2] // 2, act.shape[3] // 2].mean(0))
        return torch.stack(curves).numpy()

    return run


def rotation_case(quick: bool) -> None:
    import torch

    from jaxinterp.circuits import rotation_tuning

    model, variables, state, images, weights = _setup()
    angles = np.arange(0.0, 360.0, 20.0 if quick else 1.0, dtype=np.float32)
    probes = {}
    probe_angles = angles[:2]
    for threads in (1, 2):
        torch.set_num_threads(threads)
        peer_probe = torch_peer(state, images, probe_angles)
        peer_probe()
        t0 = time.perf_counter()
        peer_probe()
        probes[threads] = (time.perf_counter() - t0) / len(probe_angles)
    torch.set_num_threads(min(probes, key=probes.get))

    def ours():
        return rotation_tuning(model, variables, LAYER, images, angles)

    t0 = time.perf_counter()
    got = np.asarray(block(ours()))
    compile_s = time.perf_counter() - t0
    loads = [os.getloadavg()[0]]
    t_ours = seconds(ours, repeat=1, warmup=0)
    loads.append(os.getloadavg()[0])
    peer = torch_peer(state, images, angles)
    t0 = time.perf_counter()
    ref = peer()
    t_peer = time.perf_counter() - t0
    loads.append(os.getloadavg()[0])
    diff = float(np.abs(got - ref).max())
    scale = float(np.abs(ref).max())
    forwards = len(angles) * len(images)
    # FLOPs: one forward pass to layer3 per (angle, exemplar): Σ_conv 2·H·W·C_out·C_in·9 = 81.1 MFLOP
    # for ResNet-20 at 32×32 (read off the jaxpr); the bilinear rotation is not counted
    from bench._peak import forward_flops
    from jaxinterp.models import forward

    per_image = forward_flops(lambda v, x: forward(model, v, x, [LAYER])[1][LAYER], variables,
                              np.zeros((1, 32, 32, 3), np.float32))
    emit("circuits.rotation_tuning", {"angles": len(angles), "exemplars": len(images), "units": got.shape[1],
                                      "image": [32, 32, 3], "layer": LAYER}, t_ours,
         f"torch {torch.__version__} per-angle loop (affine_grid/grid_sample, channels_last), "
         f"{torch.get_num_threads()} thread(s)", t_peer, flops=forwards * per_image, peak="conv",
         weights=weights, first_call_seconds=round(compile_s, 2),
         images_per_s=round(forwards / t_ours, 1), peer_images_per_s=round(forwards / t_peer, 1),
         max_abs_diff=diff, max_rel_diff=diff / scale if scale > 0 else None,
         torch_probe_seconds_per_angle={str(k): round(v, 4) for k, v in probes.items()},
         load_average=[round(v, 2) for v in loads])
    if not diff <= 1e-3 * max(scale, 1.0):
        raise AssertionError(f"rotation tuning disagrees with the PyTorch loop: max abs diff {diff} "
                             f"(largest response {scale})")


def run(quick: bool = False) -> None:
    rotation_case(quick)
    try:
        from bench import _circuits_weights
    except ImportError:
        return
    _circuits_weights.run(quick)
