"""Shared machinery of LPIPS-style similarities: channel-normalised, weighted layer features.

For layer l with activations F [h, w, c] and non-negative channel weights w_c
(the LPIPS "lin" layer; all ones for model features)::

    ŷ   = F / (sqrt(Σ_c F²) + 1e-10)                      # unit-normalise channels per position
    d_l = mean_{h,w} Σ_c w_c (ŷ - ŷ')²
        = ‖f‖² + ‖f'‖² - 2⟨f, f'⟩,   f = ŷ · sqrt(w_c / (h w)) flattened

so each image's features are computed once and every pair of a set comes from
one Gram product per layer. The similarity is s_l = -d_l and s = Σ_l s_l.
"""

from __future__ import annotations

import warnings
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxinterp.similarity.base import Similarity
from jaxinterp.similarity.gram import check_same_width, paired_squared_distances, squared_distances

EPS = 1e-10

# (variables, preprocessed images [n, h, w, c]) -> one activation [n, h', w', c'] (or [n, c']) per layer
TapsFn = Callable[[Any, jax.Array], Sequence[jax.Array]]


def unit_normalize(f: jax.Array, eps: float = EPS) -> jax.Array:
    """[..., c] -> the same divided by its channel norm (+ eps), as ``lpips.normalize_tensor``."""
    return f / (jnp.sqrt(jnp.sum(f * f, axis=-1, keepdims=True)) + eps)


def layer_features(act: jax.Array, weight: jax.Array | None) -> jax.Array:
    """[n, h, w, c] (or [n, c]) activation, [c] weights -> [n, h, w, c] features f = ŷ sqrt(w / hw)."""
    if act.ndim == 2:
        act = act[:, None, None, :]
    h, w = act.shape[1:3]
    scale = jnp.sqrt(jnp.asarray(1.0 if weight is None else weight, act.dtype) / (h * w))
    return unit_normalize(act) * scale.reshape((1,) * (act.ndim - scale.ndim) + scale.shape)


def pairwise_perceptual_layers(a: Sequence[jax.Array], b: Sequence[jax.Array]) -> jax.Array:
    """Per-layer features of two sets -> [a, b, L] similarities -d_l (one GEMM per layer)."""
    _check_pair(a, b)
    return jnp.stack([-squared_distances(x, y) for x, y in zip(a, b)], axis=-1)


def pairwise_perceptual(a: Sequence[jax.Array], b: Sequence[jax.Array]) -> jax.Array:
    """Per-layer features of two sets -> [a, b] similarities -Σ_l d_l."""
    return jnp.sum(pairwise_perceptual_layers(a, b), axis=-1)


def paired_perceptual_layers(a: Sequence[jax.Array], b: Sequence[jax.Array]) -> jax.Array:
    """[n]-row features, [n]-row features -> [n, L] exact -d_l(a_i, b_i) (difference first)."""
    _check_pair(a, b)
    return jnp.stack([-paired_squared_distances(x, y) for x, y in zip(a, b)], axis=-1)


def paired_perceptual(a: Sequence[jax.Array], b: Sequence[jax.Array]) -> jax.Array:
    """[n]-row features, [n]-row features -> [n] exact -d(a_i, b_i)."""
    return jnp.sum(paired_perceptual_layers(a, b), axis=-1)


def _check_pair(a, b) -> None:
    if len(a) != len(b):
        raise ValueError(f"the two feature sets have {len(a)} and {len(b)} layers; use one metric for both")
    for i, (x, y) in enumerate(zip(a, b)):
        check_same_width(x, y, f"layer {i}")


def map_in_chunks(fn: Callable[[jax.Array], Any], x: jax.Array, chunk: int) -> Any:
    """fn over [n, ...] in sequential chunks of ``chunk`` rows (``lax.map``), to bound memory."""
    n = x.shape[0]
    if n <= chunk:
        return fn(x)
    blocks = -(-n // chunk)
    padded = jnp.concatenate([x, jnp.zeros((blocks * chunk - n, *x.shape[1:]), x.dtype)])
    out = jax.lax.map(fn, padded.reshape(blocks, chunk, *x.shape[1:]))
    return jax.tree_util.tree_map(lambda o: o.reshape(blocks * chunk, *o.shape[2:])[:n], out)


class RangeWarning(UserWarning):
    """Images outside the range a similarity's input convention expects."""


def range_checker(lo: float, hi: float, hint: str) -> Callable[[jax.Array], None]:
    """A check that warns once (per metric) when concrete images leave [lo, hi]."""
    warned = [False]

    def check(images: jax.Array) -> None:
        if warned[0] or isinstance(images, jax.core.Tracer):
            return
        x = np.asarray(images)
        if x.size == 0:
            return
        low, high = float(x.min()), float(x.max())
        if low < lo - 1e-4 or high > hi + 1e-4:
            warned[0] = True
            warnings.warn(
                f"images span [{low:.3g}, {high:.3g}] but [{lo:g}, {hi:g}] is expected; {hint} "
                "(this warning is shown once per metric)",
                RangeWarning,
                stacklevel=3,
            )

    return check


def perceptual_similarity(
    name: str,
    taps: TapsFn,
    variables: Any,
    weights: Sequence[jax.Array] | None,
    preprocess: Callable[[jax.Array], jax.Array],
    layer_names: Sequence[str],
    check_range: Callable[[jax.Array], None],
    in_channels: int = 3,
    chunk: int = 128,
) -> Similarity:
    """A :class:`Similarity` over the weighted, unit-normalised activations of ``taps``.

    Args:
      taps: (variables, preprocessed images) -> one activation per layer.
      weights: one [c_l] non-negative weight vector per layer, or None (uniform 1).
      preprocess: images [n, h, w, c] in the user's range -> the network's input.
      chunk: images per forward pass while featurising (bounds memory).
    """
    n_layers = len(layer_names)
    weights = None if weights is None else tuple(jnp.asarray(w, jnp.float32) for w in weights)

    @jax.jit
    def _featurize(variables, weights, images):
        def batch(x):
            acts = list(taps(variables, preprocess(x)))
            ws = [None] * n_layers if weights is None else weights
            return tuple(layer_features(a, w) for a, w in zip(acts, ws))

        return map_in_chunks(batch, images, chunk)

    checked: set[tuple[int, ...]] = set()

    def featurize(images: jax.Array, labels: jax.Array | None = None) -> tuple[jax.Array, ...]:
        """[n, h, w, c] images -> one [n, h_l, w_l, c_l] feature array per layer."""
        del labels
        if images.ndim != 4 or images.shape[-1] != in_channels:
            raise ValueError(
                f"{name}: images must be [n, h, w, {in_channels}] (NHWC), got shape {images.shape}; "
                "transpose NCHW tensors with x.transpose(0, 2, 3, 1)"
            )
        check_range(images)
        if tuple(images.shape[1:]) not in checked:
            _check_taps(name, taps, preprocess, variables, weights, layer_names, images.shape)
            checked.add(tuple(images.shape[1:]))
        return _featurize(variables, weights, jnp.asarray(images, jnp.float32))

    return Similarity(
        name,
        featurize,
        pairwise_perceptual,
        pairwise_layers=pairwise_perceptual_layers,
        paired=paired_perceptual,
        paired_layers=paired_perceptual_layers,
        layer_names=tuple(layer_names),
    )


def _check_taps(name, taps, preprocess, variables, weights, layer_names, shape) -> None:
    """Shapes only (eval_shape): one activation per layer, and one weight per channel."""
    x = jax.ShapeDtypeStruct((1, *shape[1:]), jnp.float32)
    acts = jax.eval_shape(lambda v, x: list(taps(v, preprocess(x))), variables, x)
    if len(acts) != len(layer_names):
        raise ValueError(f"{name}: the backbone gave {len(acts)} activations for {len(layer_names)} layers")
    if weights is None:
        return
    for layer, act, w in zip(layer_names, acts, weights):
        if w.shape != (act.shape[-1],):
            raise ValueError(
                f"{name}: layer {layer!r} has {act.shape[-1]} channels but its lin weights have shape "
                f"{tuple(w.shape)}; the weights belong to another backbone (check net=)"
            )
