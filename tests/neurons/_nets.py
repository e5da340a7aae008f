"""A tiny conv net in Flax and the same in PyTorch (shared weights), for parity tests."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxinterp.models.base import relu


class TinyNet(nn.Module):
    """conv3x3 3->6 + bias, ReLU, conv3x3 6->4, plus a 1x1 skip 3->4, ReLU: [H, W, 3] -> [H, W, 4].

    Its ReLUs are jaxinterp's model ReLU, so ``circuits.linear_mode`` linearises it."""

    @nn.compact
    def __call__(self, x):
        h = relu(nn.Conv(6, (3, 3), padding=((1, 1), (1, 1)), name="conv1")(x))
        h = nn.Conv(4, (3, 3), padding=((1, 1), (1, 1)), use_bias=False, name="conv2")(h)
        s = nn.Conv(4, (1, 1), use_bias=False, name="skip")(x)
        return relu(h + s)


def make(seed=0, size=8):
    net = TinyNet()
    params = net.init(jax.random.key(seed), jnp.zeros((1, size, size, 3)))
    fn = lambda x: net.apply(params, x[None])[0]  # [H, W, 3] -> [H, W, 4]
    return net, params, fn


def torch_net(params, dtype=None):
    """The same network in torch (NCHW); returns f(x [n, 3, H, W]) -> [n, 4, H, W]."""
    import torch

    dtype = dtype or torch.float32
    p = jax.tree_util.tree_map(np.asarray, params)["params"]
    t = lambda a: torch.tensor(np.asarray(a), dtype=dtype)
    w1 = t(p["conv1"]["kernel"]).permute(3, 2, 0, 1)
    b1 = t(p["conv1"]["bias"])
    w2 = t(p["conv2"]["kernel"]).permute(3, 2, 0, 1)
    ws = t(p["skip"]["kernel"]).permute(3, 2, 0, 1)
    F = torch.nn.functional

    def f(x):
        h = F.relu(F.conv2d(x, w1, b1, padding=1))
        return F.relu(F.conv2d(h, w2, padding=1) + F.conv2d(x, ws))

    return f
