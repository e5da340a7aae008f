"""Forward throughput of the Flax ResNet-20 against a plain PyTorch ResNet-20, same weights.

The peer is written here in plain ``torch.nn`` (akamaster's layout), given seeded
random weights and BatchNorm statistics, and converted with the jaxinterp
converter, so both run the identical network on the identical images
(10,000 CIFAR-size images; 512 with ``--quick``). JAX: NHWC, one jitted
function per batch shape. PyTorch: ``channels_last``, ``inference_mode``.
"""

from __future__ import annotations

import numpy as np

from bench._harness import emit, seconds


def _torch_resnet20():
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    class Block(nn.Module):
        def __init__(self, cin, planes, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, planes, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(planes)
            self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(planes)
            self.pad = planes // 4 if (stride != 1 or cin != planes) else 0

        def forward(self, x):
            out = F.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            short = F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.pad, self.pad)) if self.pad else x
            return F.relu(out + short)

    class ResNet20(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(16)
            cin, stages = 16, []
            for planes, stride in ((16, 1), (32, 2), (64, 2)):
                stages.append(nn.Sequential(*[Block(cin if i == 0 else planes, planes, stride if i == 0 else 1) for i in range(3)]))
                cin = planes
            self.layer1, self.layer2, self.layer3 = stages
            self.linear = nn.Linear(64, 10)

        def forward(self, x):
            out = F.relu(self.bn1(self.conv1(x)))
            out = self.layer3(self.layer2(self.layer1(out)))
            return self.linear(out.mean((2, 3)))

    torch.manual_seed(0)
    model = ResNet20()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.2)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0, 0.2)
    return model.eval()


def run(quick: bool) -> None:
    import jax
    import jax.numpy as jnp
    import torch

    from converters import to_variables
    from jaxinterp import models

    n, batch = (512, 256) if quick else (10_000, 500)
    images = np.random.default_rng(0).normal(size=(n, 32, 32, 3)).astype(np.float32)

    peer = _torch_resnet20()
    state = {k: v.numpy() for k, v in peer.state_dict().items()}
    model = models.get("cifar_resnet20")
    variables = jax.device_put(to_variables(state, model, "cifar_resnet20"))
    apply = jax.jit(lambda v, x: model.apply(v, x))
    batches = [jnp.asarray(images[i : i + batch]) for i in range(0, n, batch)]

    torch_images = torch.from_numpy(images.transpose(0, 3, 1, 2)).contiguous(memory_format=torch.channels_last)
    peer = peer.to(memory_format=torch.channels_last)
    torch_batches = [torch_images[i : i + batch] for i in range(0, n, batch)]

    def ours():
        return [apply(variables, x) for x in batches]

    def theirs():
        with torch.inference_mode():
            return [peer(x) for x in torch_batches]

    ours_logits = np.asarray(apply(variables, batches[0]))  # same network? check one batch
    with torch.inference_mode():
        their_logits = peer(torch_batches[0]).numpy()
    max_rel = float(np.abs(ours_logits - their_logits).max() / np.abs(their_logits).max())

    repeat = 3 if quick else 1  # a full pass is 30-90 s on the shared 2-core machine
    t_ours = seconds(ours, repeat=repeat)
    t_theirs = seconds(theirs, repeat=repeat)
    emit(
        "models.resnet20_forward",
        [n, 32, 32, 3],
        t_ours,
        f"torch {torch.__version__} channels_last, {torch.get_num_threads()} threads",
        t_theirs,
        batch=batch,
        images_per_s=round(n / t_ours, 1),
        peer_images_per_s=round(n / t_theirs, 1),
        logits_max_rel_diff=max_rel,
    )
