"""capture: spatial-mean activations of a CIFAR-size CNN, jaxinterp vs the same network in PyTorch.

Both run the demo architecture at CIFAR size (``SmallCNNRGB``: 3 conv-BN-ReLU
blocks of 32/64/128 channels) with identical weights on the same uint8 images,
and return the spatial mean of ``relu2`` for every image (eval mode, batch 256).
"""

from __future__ import annotations

import jax
import numpy as np

from bench._harness import emit, seconds
from jaxinterp import models
from jaxinterp.capture import capture


def torch_net(model, variables):
    import torch
    from torch import nn

    params, stats = variables["params"], variables["batch_stats"]
    layers = []
    in_ch = model.IN_CHANNELS
    for i, (width, stride) in enumerate(zip(model.widths, (1, 2, 2)), start=1):
        conv = nn.Conv2d(in_ch, width, 3, stride, 1, bias=False)
        conv.weight.data = torch.tensor(np.asarray(params[f"conv{i}"]["kernel"]).transpose(3, 2, 0, 1))
        bn = nn.BatchNorm2d(width)
        bn.weight.data = torch.tensor(np.asarray(params[f"bn{i}"]["scale"]))
        bn.bias.data = torch.tensor(np.asarray(params[f"bn{i}"]["bias"]))
        bn.running_mean = torch.tensor(np.asarray(stats[f"bn{i}"]["mean"]))
        bn.running_var = torch.tensor(np.asarray(stats[f"bn{i}"]["var"]))
        layers += [conv, bn, nn.ReLU()]
        in_ch = width
    return nn.Sequential(*layers[:6]).eval()  # up to relu2


def run(quick: bool = False) -> None:
    import torch

    n = 1024 if quick else 10_000
    batch = 256
    model = models.get("small_cnn_rgb")
    variables = models.init(model, jax.random.key(0))
    images = np.random.default_rng(0).integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)

    ours = lambda: capture(model, variables, images, ["relu2"], "mean", batch, progress=False)

    mean = torch.tensor(model.MEAN).view(1, 3, 1, 1)
    std = torch.tensor(model.STD).view(1, 3, 1, 1)

    def make_peer(memory_format):
        net = torch_net(model, variables).to(memory_format=memory_format)

        @torch.inference_mode()
        def peer():
            out = np.empty((n, model.widths[1]), np.float32)
            for s in range(0, n, batch):
                x = torch.from_numpy(images[s:s + batch]).permute(0, 3, 1, 2).float() / 255
                x = ((x - mean) / std).contiguous(memory_format=memory_format)
                out[s:s + batch] = net(x).mean((2, 3)).numpy()
            return out

        return peer

    # FLOPs: n × the dense convolutions up to relu2 for one image (conv1 3->32 at 32×32, conv2
    # 32->64 stride 2 at 16×16: 2·(1024·32·27 + 256·64·288) = 11.2 MFLOP), read off the jaxpr
    from bench._peak import forward_flops
    from jaxinterp.models import forward

    flops = n * forward_flops(lambda v, x: forward(model, v, x, ["relu2"])[1]["relu2"], variables,
                              np.zeros((1, 32, 32, 3), np.float32))
    t_ours = seconds(ours, repeat=3)
    reference = ours()["relu2"]
    for label, fmt in (("NCHW", torch.contiguous_format), ("channels_last", torch.channels_last)):
        peer = make_peer(fmt)
        diff = float(np.max(np.abs(reference - peer())))
        t_peer = seconds(peer, repeat=3)
        emit("capture", [n, 32, 32, 3], t_ours, f"torch {torch.__version__} {label} inference_mode",
             t_peer, flops=flops, peak="conv", images_per_s=round(n / t_ours, 1), peer_images_per_s=round(n / t_peer, 1),
             layer="relu2 (spatial mean)", max_abs_diff=diff, torch_threads=torch.get_num_threads())
