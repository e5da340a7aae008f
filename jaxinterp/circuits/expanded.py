"""Expanded weights between two named layers, through the linearised network (METHODS.md §6.5).

The expanded weight of target unit j on source unit i is

    W_exp(i -> j) = ∂ target_j(centre) / ∂ source_i(all positions)

taken through the *linearised* network (:func:`jaxinterp.door.cut.linear_mode`:
ReLU -> identity, max-pool -> average pool, BN in eval mode affine). The source
layer's output is replaced by a free tensor (:func:`jaxinterp.door.cut.subnetwork`),
so the map source -> target is affine and its Jacobian is the same at every input;
it is taken at zero, for all target units at once (one ``vjp``, ``vmap``-ed over
one-hot cotangents). For two adjacent convolutions this is the raw kernel:
``expanded_weights(...)[j, :, :, i] == kernel[:, :, i, j]`` (PyTorch's
``weight[j, i]``), positive = excitation, negative = inhibition. Through a
bottleneck it "jumps over" the layers in between; where the real interaction is
nonlinear it can cancel to zero (METHODS' caveat).

:func:`expanded_weights` works on any jaxinterp model and any pair of named
layers (checked by the model's :func:`jaxinterp.door.graph`); the neuron-role measures'
version on a :class:`jaxinterp.neurons.Level`, with its weight spectra, is
:mod:`jaxinterp.neurons.weights`.
"""

from __future__ import annotations

import functools
from typing import Sequence

import jax
import jax.numpy as jnp

from jaxinterp import door
from jaxinterp.door.cut import dependence, linear_mode, subnetwork
from jaxinterp.models.base import ImageModel


# --- between two named layers of a model ---------------------------------------------------


def _shapes(model, variables, source, target, input_shape):
    """(input shape, source [h, w, C], target [h, w, N] or [N]) after the checks of a cut."""
    g = door.graph(model, variables, input_shape)
    g.check_order(source, target)
    src = g.check_spatial(source, "the source of expanded weights (or 'input')").shape
    return g.input_shape, src, g[target].shape


def _cached(fn):
    """lru_cache that still works (uncached) for a model with unhashable fields."""
    cached = functools.lru_cache(maxsize=64)(fn)

    def call(*args):
        try:
            hash(args)
        except TypeError:
            return fn(*args)
        return cached(*args)

    return call


@_cached
def _program(model, source, target, input_shape, at, window):
    """jit(variables, units [U]) -> (weights [U, h, w, C] cropped to the window when given,
    origin [2]: the source position of the window's top-left; (0, 0) without a window)."""

    def at_centre(variables, src):
        with linear_mode():
            out = subnetwork(model, variables, [source], target, input_shape)((src,))
        return out if at is None else out[at[0], at[1]]  # [N]

    def run(variables, units, src_shape, n_out):
        zeros = jnp.zeros(src_shape, jnp.float32)
        _, pullback = jax.vjp(lambda s: at_centre(variables, s), zeros)
        cot = jax.nn.one_hot(units, n_out, dtype=jnp.float32)
        (w,) = jax.vmap(pullback)(cot)  # [U, h, w, C]
        if window is None:
            return w, jnp.zeros(2, jnp.int32)
        # the receptive field of the target position on the source map
        support = dependence(model, variables, source, target, zeros,
                             None if at is None else jnp.asarray([at], jnp.int32), input_shape)[0]  # [h, w]
        start = []
        for axis in (1, 0):
            line = jnp.any(support, axis=axis)
            lo = jnp.argmax(line)
            hi = line.shape[0] - 1 - jnp.argmax(line[::-1])
            start.append(lo + (hi - lo + 1 - window) // 2)
        padded = jnp.pad(w, ((0, 0), (window, window), (window, window), (0, 0)))
        crop = jax.lax.dynamic_slice(padded, (0, start[0] + window, start[1] + window, 0),
                                     (w.shape[0], window, window, w.shape[-1]))
        return crop, jnp.stack(start).astype(jnp.int32)

    return jax.jit(run, static_argnums=(2, 3))


def expanded_weights(
    model: ImageModel,
    variables,
    source: str,
    target: str,
    input_shape: Sequence[int],
    at: tuple[int, int] | None = None,
    window: int | None = None,
    units: Sequence[int] | None = None,
) -> jax.Array:
    """W [N_target, h, w, C_source] = ∂ target_j(at) / ∂ source_i(all positions), linearised network.

    Args:
      model, variables: any jaxinterp model.
      source: the layer whose output is cut and becomes the free variable (any named
        layer with spatial axes, or ``"input"``: the *normalised* image).
      target: a layer computed after ``source`` ([1, h, w, n] or [1, n] activations).
      input_shape: [H, W, C] of one model input.
      at: (row, col) of the target position; default the centre ``(h // 2, w // 2)`` (the
        lower-right of the centre 2x2 for even sizes, like ``objectives.neuron``).
        Ignored for a target without spatial axes.
      window: crop to a ``window`` x ``window`` patch of the source map centred on the
        receptive field of the target position (zero outside the map); default the whole map.
      units: target units to return (default all N, in order).

    Returns:
      [len(units), h, w, C_source] float32: row j, channel i is the k x k (or h x w) map of
      how source unit i at each position drives target unit j at ``at``. With a window,
      :func:`window_origin` gives the source position of its top-left entry.
    """
    return _expanded(model, variables, source, target, input_shape, at, window, units)[0]


def window_origin(model: ImageModel, variables, source: str, target: str, input_shape: Sequence[int],
                  at: tuple[int, int] | None = None, window: int | None = None) -> tuple[int, int]:
    """(row, col) of the source map where :func:`expanded_weights`' ``window`` crop starts.

    It may be negative (or run past the map) near a border; those entries are zero.
    """
    origin = _expanded(model, variables, source, target, input_shape, at, window, [0])[1]
    return int(origin[0]), int(origin[1])


def _expanded(model, variables, source, target, input_shape, at, window, units):
    input_shape, src, tgt = _shapes(model, variables, source, target, input_shape)
    n_out = tgt[-1]
    if len(tgt) == 3:
        h, w = tgt[:2]
        at = (h // 2, w // 2) if at is None else tuple(int(a) for a in at)
        if len(at) != 2 or not (0 <= at[0] < h and 0 <= at[1] < w):
            raise ValueError(f"position at={at} is outside target {target!r}'s {h}x{w} map; "
                             f"rows 0..{h - 1}, columns 0..{w - 1}")
    else:
        at = None
    if window is not None and (int(window) != window or window < 1):
        raise ValueError(f"window must be a positive integer (the side of the crop), got {window!r}")
    idx = door.graph(model, variables, input_shape).check_units(target, units)
    run = _program(model, source, target, input_shape, at, None if window is None else int(window))
    return run(variables, jnp.asarray(idx, jnp.int32), src, n_out)


def connection_matrix(weights: jax.Array, how: str = "sum") -> jax.Array:
    """One number per connection: [N_t, h, w, C_s] -> [C_s, N_t] (upstream x downstream).

    how: ``"sum"`` (summed signed weight over positions: net excitation/inhibition),
    ``"norm"`` (L2 norm over positions) or ``"centre"`` (the weight at the middle position).
    """
    weights = _check_weights(weights)
    if how == "sum":
        m = jnp.sum(weights, axis=(1, 2))
    elif how == "norm":
        m = jnp.sqrt(jnp.sum(weights * weights, axis=(1, 2)))
    elif how == "centre":
        m = weights[:, weights.shape[1] // 2, weights.shape[2] // 2]
    else:
        raise ValueError(f"how must be 'sum', 'norm' or 'centre', got {how!r}")
    return m.T


def _check_weights(weights):
    weights = jnp.asarray(weights)
    if weights.ndim != 4:
        raise ValueError(f"expanded weights must be [N_target, h, w, C_source], got shape "
                         f"{tuple(weights.shape)}; pass the output of expanded_weights")
    return weights


def top_connections(weights: jax.Array, k: int, direction: str = "in", by: str = "norm"):
    """The k strongest connections of each unit: (indices [U, k], signed values [U, k]).

    Args:
      weights: [N_t, h, w, C_s] expanded weights.
      k: how many per unit.
      direction: ``"in"``: for each target unit (U = N_t) its strongest upstream source
        units; ``"out"``: for each source unit (U = C_s) the target units it drives most.
      by: ``"norm"`` ranks by the L2 norm of the connection's spatial map and returns
        ``sign(Σ w) · ‖w‖``; ``"sum"`` ranks by ``|Σ w|`` and returns ``Σ w``. Either way the
        values are signed: positive = net excitation, negative = net inhibition.
    """
    if by not in ("norm", "sum"):
        raise ValueError(f"by must be 'norm' or 'sum', got {by!r}")
    if direction not in ("in", "out"):
        raise ValueError(f"direction must be 'in' (upstream of each target) or 'out' (downstream of "
                         f"each source), got {direction!r}")
    m_sum = connection_matrix(weights, "sum")  # [C_s, N_t]
    strength = connection_matrix(weights, "norm") if by == "norm" else jnp.abs(m_sum)
    signed = jnp.sign(m_sum) * strength
    if direction == "in":
        strength, signed = strength.T, signed.T
    others = strength.shape[1]
    if int(k) != k or not 1 <= k <= others:
        raise ValueError(f"k={k!r} connections asked for, but each unit has {others} "
                         f"{'upstream' if direction == 'in' else 'downstream'} units; use 1 <= k <= {others}")
    _, idx = jax.lax.top_k(strength, int(k))
    return idx, jnp.take_along_axis(signed, idx, axis=1)
