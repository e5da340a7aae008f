"""The PyTorch peer of jaxinterp's L1 SAE (Sharkey): the same model, loss and Adam, one eager loop.

``x @ W_encᵀ + b_enc``, ReLU, decoder columns renormalised inside the graph (as
``sae.unit_columns``), ``mean((x - x̂)²) + λ·mean_batch(‖c‖₁)/K``, Adam; batch ``s`` is
rows ``perm[s·b mod (n - b) :][:b]`` of one random permutation. Used by ``bench/directions.py``
(one big SAE) and ``bench/sweep.py`` (many small ones, one after another).
"""

from __future__ import annotations

import numpy as np


def fit(xt, k: int, l1_coeff: float, batch: int, steps: int, seed: int = 0, lr: float = 1e-3):
    """Train one SAE on the float32 torch tensor ``xt`` [n, d]; returns (W_enc, b_enc, W_dec)."""
    import torch

    torch.manual_seed(seed)
    n, d = xt.shape
    w_enc = torch.nn.Parameter(torch.randn(k, d, dtype=torch.float32) * 0.05)
    b_enc = torch.nn.Parameter(torch.zeros(k))
    w_dec = torch.nn.Parameter(torch.nn.init.orthogonal_(torch.empty(d, k)))
    opt = torch.optim.Adam([w_enc, b_enc, w_dec], lr=lr)
    perm = torch.randperm(n)
    for s in range(steps):
        xb = xt[perm[(s * batch) % max(n - batch, 1):][:batch]]
        c = torch.relu(xb @ w_enc.T + b_enc)
        wd = w_dec / w_dec.norm(dim=0, keepdim=True)
        loss = ((xb - c @ wd.T) ** 2).mean() + l1_coeff * c.sum(1).mean() / k
        opt.zero_grad()
        loss.backward()
        opt.step()
    return w_enc.detach(), b_enc.detach(), w_dec.detach()


def as_tensor(x: np.ndarray):
    import torch

    return torch.from_numpy(np.ascontiguousarray(x, np.float32))
