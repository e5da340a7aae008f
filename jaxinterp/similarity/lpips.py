"""LPIPS v0.1 (Zhang et al. 2018; richzhang/PerceptualSimilarity) over all pairs at once.

METHODS.md §1.3. For images x, x'::

    z   = (v - shift) / scale,  shift = [-.030, -.088, -.188], scale = [.458, .448, .450]
    F_l = the backbone's ReLU outputs at five taps (torchvision module names)
    d   = Σ_l mean_{h,w} Σ_c w_{l,c} (ŷ_l - ŷ'_l)²,   ŷ = F / (sqrt(Σ_c F²) + 1e-10)

with v the network input in [-1, 1]. Each image goes through the backbone once
(:attr:`Similarity.featurize`); every pair then comes from Gram products with
the lin weights folded into the features (see :mod:`.perceptual`). The
similarity is s = -d (per layer s_l = -d_l).

Input conventions (``convention=``; images are [n, h, w, 3] in [0, 1] for both):

* ``"correct"``: v = 2x - 1, as ``lpips.LPIPS(normalize=True)`` on ``ToTensor`` images.
* ``"authors"``: v = 2z - 1 with z = (x - mean) / std, the CIFAR-normalised tensor,
  which is what the paper's code passed with ``normalize=True`` (METHODS §1.3 caveat 2).
  Pass the [0, 1] images; the CIFAR normalisation happens here.
"""

from __future__ import annotations

from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxinterp.similarity.base import Similarity
from jaxinterp.similarity.perceptual import TapsFn, perceptual_similarity, range_checker
from jaxinterp.similarity.taps import init_truncated, truncated_taps

SHIFT = (-0.030, -0.088, -0.188)
SCALE = (0.458, 0.448, 0.450)
CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2471, 0.2435, 0.2616)

# ReLU outputs of torchvision's ``features`` Sequential.
TAPS = {
    "alex": ("features.1", "features.4", "features.7", "features.9", "features.11"),
    "vgg": ("features.3", "features.8", "features.15", "features.22", "features.29"),
}
CHANNELS = {"alex": (64, 192, 384, 256, 256), "vgg": (64, 128, 256, 512, 512)}
MODEL_NAMES = {"alex": "alexnet", "vgg": "vgg16"}
CONVENTIONS = ("correct", "authors")


def _per_channel(values: Sequence[float], like: jax.Array) -> jax.Array:
    """[c] constants -> [1, ..., 1, c], to broadcast against ``like`` [..., c]."""
    return jnp.asarray(values, like.dtype).reshape((1,) * (like.ndim - 1) + (-1,))


def scaling_layer(v: jax.Array) -> jax.Array:
    """[..., 3] network input in [-1, 1] -> (v - shift) / scale (lpips ``ScalingLayer``)."""
    return (v - _per_channel(SHIFT, v)) / _per_channel(SCALE, v)


def lpips_input(images: jax.Array, convention: str = "correct",
                mean: Sequence[float] = CIFAR_MEAN, std: Sequence[float] = CIFAR_STD) -> jax.Array:
    """[n, h, w, 3] images in [0, 1] -> the [-1, 1]-convention input v of the chosen convention."""
    if convention == "correct":
        return 2.0 * images - 1.0
    if convention == "authors":
        z = (images - _per_channel(mean, images)) / _per_channel(std, images)
        return 2.0 * z - 1.0
    raise ValueError(f"unknown LPIPS convention {convention!r}; use one of {CONVENTIONS}")


def check_lin_weights(lin_weights: Sequence[Any], net: str, layers: Sequence[str]) -> tuple[np.ndarray, ...]:
    """Lin weights as L vectors [c_l]; refuses a wrong count, wrong sizes or negative weights."""
    ws = tuple(np.asarray(w, np.float32).reshape(-1) for w in lin_weights)
    if len(ws) != len(layers):
        raise ValueError(
            f"LPIPS({net}) taps {len(layers)} layers {list(layers)} but {len(ws)} lin weight "
            "vectors arrived; load them with converters.lpips_weights.load_lin(path)"
        )
    if layers == TAPS.get(net):
        sizes = tuple(w.size for w in ws)
        if sizes != CHANNELS[net]:
            raise ValueError(
                f"LPIPS({net}) lin weights must have {CHANNELS[net]} channels, got {sizes}; "
                "are these the weights of another backbone (alex.pth vs vgg.pth)?"
            )
    for layer, w in zip(layers, ws):
        if (w < 0).any():
            raise ValueError(
                f"LPIPS lin weights of {layer!r} have {(w < 0).sum()} negative values; the reference "
                "clamps them to >= 0 during training, so these are not LPIPS weights"
            )
    return ws


def backbone(net: str):
    """The registered model LPIPS(``net``) taps: ``alexnet`` or ``vgg16``."""
    if net not in TAPS:
        raise ValueError(f"unknown LPIPS net {net!r}; use one of {sorted(TAPS)}")
    from jaxinterp import models

    return models.get(MODEL_NAMES[net])


def init_backbone(key: jax.Array, net: str = "alex", input_size: int = 64) -> dict:
    """Random backbone variables up to the last LPIPS tap (no classifier): for tests and timing."""
    return init_truncated(backbone(net), key, TAPS[net], input_size)


def lpips(
    backbone_variables: Any,
    lin_weights: Sequence[Any],
    net: str = "alex",
    convention: str = "correct",
    *,
    model: Any = None,
    taps: TapsFn | None = None,
    layers: Sequence[str] | None = None,
    mean: Sequence[float] = CIFAR_MEAN,
    std: Sequence[float] = CIFAR_STD,
    chunk: int = 128,
) -> Similarity:
    """The LPIPS similarity (s = -d) as a :class:`Similarity`.

    Args:
      backbone_variables: Flax variables of the backbone (torchvision names, e.g. from
        ``converters``), ``{"params": {"features": {"0": {"kernel", "bias"}, ...}}}``.
      lin_weights: five non-negative vectors [c_l] (any shape with c_l values, e.g. the
        (1, c, 1, 1) tensors of ``alex.pth``); see ``converters.lpips_weights``.
      net: ``"alex"`` or ``"vgg"`` (picks the taps and the registered model).
      convention: ``"correct"`` or ``"authors"`` (module docstring).
      model: the backbone module (default: the registered ``alexnet`` / ``vgg16``).
      taps: (variables, scaled input) -> activations, replacing ``model`` entirely.
      layers: tap names (default: the reference taps of ``net``).
      mean, std: the normalisation of the ``authors`` convention (CIFAR-10 by default).
      chunk: images per backbone pass while featurising.

    Returns:
      ``Similarity("lpips_<net>", ...)`` with per-layer values and exact pair kernels;
      features are five arrays [n, h_l, w_l, c_l].

    Example::

        metric = lpips(alexnet_variables, load_lin("alex.pth"), net="alex")
        feats = metric.featurize(images)              # one backbone pass per image
        S = all_pairs(metric, feats)                  # [n, n], exact zero diagonal
    """
    if net not in TAPS:
        raise ValueError(f"unknown LPIPS net {net!r}; use one of {sorted(TAPS)}")
    if convention not in CONVENTIONS:
        raise ValueError(f"unknown LPIPS convention {convention!r}; use one of {CONVENTIONS}")
    layers = tuple(TAPS[net] if layers is None else layers)
    ws = check_lin_weights(lin_weights, net, layers)
    if taps is None:
        taps = truncated_taps(backbone(net) if model is None else model, layers)

    def preprocess(images):
        return scaling_layer(lpips_input(images, convention, mean, std))

    hint = (
        "LPIPS(convention='correct') maps [0, 1] images to [-1, 1] itself; pass ToTensor-style "
        "images, not [-1, 1] or normalised ones"
        if convention == "correct"
        else "LPIPS(convention='authors') applies the CIFAR normalisation itself; pass the [0, 1] "
        "images, not already-normalised tensors"
    )
    return perceptual_similarity(
        f"lpips_{net}", taps, backbone_variables, ws, preprocess, layers,
        range_checker(0.0, 1.0, hint), chunk=chunk,
    )
