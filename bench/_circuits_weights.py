"""circuits (expanded weights): every unit pair between ResNet-20 ``layer2`` and ``layer3.1``.

W_exp [64, 16, 16, 32] = ∂ layer3.1_j(centre) / ∂ layer2_i(all positions) through the
linearised network (ReLU -> identity, BN affine): the weights of the 64 ``layer3.1`` units
on the 32 ``layer2`` units, jumping over the stride-2 block ``layer3.0`` (with its option-A
shortcut) and the residual block ``layer3.1``. jaxinterp computes all 64 target units in one
jitted call (a ``vjp`` vmapped over one-hot cotangents); the peer is the PyTorch loop:
one forward pass of the linearised torch network (``tests/models/torch_refs.AkaResNet``
blocks, ReLUs left out) and one ``autograd.grad`` per target unit. Both use the converted
``resnet20-12fca82f.th`` (random weights when ../shared is absent, said in the output);
the results must agree. The JSON line also gives the loop with a fresh forward pass per
unit. Both sides do the same dense work (64 backward passes through four 3x3 convs, about
1 GFLOP); jaxinterp batches them into one program. The three are timed in interleaved rounds (20; ``--quick``: 5), best of each.

Called by ``bench/circuits.py`` (``run(quick)``), or alone: ``python -c "import
bench._circuits_weights as b; b.run(True)"``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import jax
import numpy as np

from bench._harness import emit, seconds, shared_data

REPO = Path(__file__).resolve().parents[1]
WEIGHTS = "models/resnet20-12fca82f.th"
SOURCE, TARGET = "layer2", "layer3.1"




def torch_peer(state_dict: dict | None, reuse_forward: bool = True):
    """Returns run() -> [64, 16, 16, 32] expanded weights by a PyTorch autograd loop.

    reuse_forward: one forward pass and ``autograd.grad(..., retain_graph=True)`` per unit
    (the fast loop, the reported peer); False: a fresh forward and backward per unit.
    """
    import torch

    sys.path.insert(0, str(REPO))
    from tests.models import torch_refs

    net = torch_refs.AkaResNet(20).eval()
    if state_dict is not None:
        net.load_state_dict({k: torch.tensor(v) for k, v in state_dict.items()})
    for p in net.parameters():
        p.requires_grad_(False)

    def linear_block(block, x):  # AkaBasicBlock.forward without its two ReLUs
        return block.bn2(block.conv2(block.bn1(block.conv1(x)))) + block.shortcut(x)

    def forward():
        x = torch.zeros(1, 32, 16, 16, requires_grad=True)
        return x, linear_block(net.layer3[1], linear_block(net.layer3[0], x))  # [1, 64, 8, 8]

    def run():
        rows = []
        x, y = forward()
        for j in range(64):
            if not reuse_forward:
                x, y = forward()
            rows.append(torch.autograd.grad(y[0, j, 4, 4], x, retain_graph=reuse_forward)[0][0])
        return torch.stack(rows).permute(0, 2, 3, 1).numpy()  # [64, 16, 16, 32]

    return run


def run(quick: bool = False) -> dict:
    from converters import load_state_dict, to_variables
    from jaxinterp import circuits, models

    model = models.get("cifar_resnet20")
    path = shared_data() / WEIGHTS
    if path.exists():
        state, weights = load_state_dict(path), "resnet20-12fca82f.th"
    else:  # a clone without ../shared: seeded random weights, said in the output
        sys.path.insert(0, str(REPO))
        from tests.models import torch_refs

        net = torch_refs.build("cifar_resnet20", seed=0)
        state, weights = {k: v.numpy() for k, v in net.state_dict().items()}, "random"
    variables = to_variables(state, model)

    def ours():
        return circuits.expanded_weights(model, variables, SOURCE, TARGET, (32, 32, 3))

    t0 = time.perf_counter()
    mine = np.asarray(jax.block_until_ready(ours()))
    compile_s = time.perf_counter() - t0
    import torch

    peer, naive = torch_peer(state), torch_peer(state, reuse_forward=False)
    ref = peer()
    naive()
    # the load on the shared cores drifts: interleave the three, best of each
    best = {"ours": np.inf, "peer": np.inf, "naive": np.inf}
    for _ in range(5 if quick else 20):
        for name, fn in (("ours", ours), ("peer", peer), ("naive", naive)):
            best[name] = min(best[name], seconds(fn, repeat=1, warmup=0))
    t_ours, t_torch, t_naive = best["ours"], best["peer"], best["naive"]
    err = float(np.abs(mine - ref).max() / np.abs(ref).max())
    if not err < 1e-4:
        raise AssertionError(f"jaxinterp and the PyTorch loop disagree: max relative error {err:.2e}")
    from bench._peak import conv_flops

    # FLOPs: the linearised layer3.0 (conv 32->64 stride 2, conv 64->64 at 8×8) and layer3.1 (two
    # 64->64 convs at 8×8) once forward and once backward per target unit (an input gradient
    # costs what the forward convolution costs): (1 + 64) × 16.5 MFLOP
    chain = conv_flops(1, 8, 8, 32, 64) + 3 * conv_flops(1, 8, 8, 64, 64)
    return emit(
        "circuits_expanded_weights", [64, 16, 16, 32], t_ours,
        "torch loop: linearised forward + autograd.grad per target unit", t_torch,
        flops=(1 + 64) * chain, peak="conv",
        pairs=f"{SOURCE} (32 units) -> {TARGET} (64 units) at the centre (4, 4)",
        weights=weights, compile_seconds=round(compile_s, 3),
        max_rel_diff_vs_torch=err, torch_threads=torch.get_num_threads(),
        peer_fresh_forward_per_unit_seconds=round(t_naive, 6),
    )


if __name__ == "__main__":
    run(quick="--quick" in sys.argv)
